"""Fixtures of the multi-process tests: one Redis, one sink, one fleet per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.async_sink import AsyncSink
from tests.support.processes import Fleet
from tests.support.redis_server import RedisServer


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def db(own_redis: RedisServer) -> Iterator[redis.Redis]:
    """A plain client on the test's Redis, patient enough for a restart in between."""
    client = redis.Redis.from_url(own_redis.url, decode_responses=True, socket_timeout=5)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def webhooks() -> Iterator[AsyncSink]:
    sink = AsyncSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def fleet(tmp_path: Path, own_redis: RedisServer) -> Iterator[Fleet]:
    replicas = Fleet(tmp_path / "replicas", redis_url=own_redis.url)
    try:
        yield replicas
    finally:
        replicas.end_all()
