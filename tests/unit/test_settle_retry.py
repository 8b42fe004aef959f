"""Settling outlives every kind of Redis outage the client can report, Cluster ones too."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException

from service.settle import settle_safely


@pytest.mark.parametrize(
    "outage",
    [
        RedisConnectionError("Connection refused"),
        RedisClusterException("All slots are not covered after query all startup_nodes."),
        OSError("Network is unreachable"),
    ],
    ids=["connection", "cluster", "socket"],
)
def test_a_settle_step_is_retried_until_redis_answers(outage: Exception) -> None:
    calls = 0

    async def step() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise outage
        return "settled"

    assert asyncio.run(settle_safely(step, "m1")) == "settled"
    assert calls == 3


def test_a_bug_in_a_settle_step_is_not_retried() -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        asyncio.run(settle_safely(step, "m1"))
    assert calls == 1
