"""While Redis loads its append-only file after a restart, the API says "not now" (503 with
Retry-After, never 500), readiness fails, liveness holds, and delivery resumes by itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import AUTH, message
from tests.support.loading import pad_and_rewrite, raw_ping, restart_loading
from tests.support.polling import wait_until
from tests.support.redis_server import RedisServer
from tests.support.sink import Sink

pytestmark = pytest.mark.slow


def at(seconds_from_now: float) -> str:
    due = time.time() + seconds_from_now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(due)) + f".{int(due % 1 * 1000):03d}Z"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


def test_the_api_answers_503_while_redis_loads_and_delivers_after(
    start_app: Callable[..., TestClient], server: RedisServer, sink: Sink
) -> None:
    api = start_app(redis_url=server.url)
    accepted = api.post("/messages", json=message("kept", sink.url(), at=at(2.0)), headers=AUTH)
    assert accepted.status_code == 200
    pad_and_rewrite(server)

    restart_loading(server)
    # The message comes due while Redis is still loading: nothing can claim it yet.
    refused = api.post("/messages", json=message("new", sink.url()), headers=AUTH)
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["code"] == "redis_loading"
    assert "loading" in refused.json()["detail"]
    read = api.get("/messages/kept", headers=AUTH)
    assert (read.status_code, read.json()["code"]) == (503, "redis_loading")
    health = api.get("/health")
    assert (health.status_code, health.json()["redis"]) == (503, "loading")
    assert api.get("/livez").status_code == 200
    assert raw_ping(server.port).startswith(b"-LOADING"), "the load ended before the checks"
    assert sink.received == []

    server.wait_ready(timeout=60)
    received = sink.wait_for(1, timeout=30)
    assert [r.message_id for r in received] == ["kept"]
    assert wait_until(lambda: api.get("/health").status_code == 200)
    assert api.post("/messages", json=message("new", sink.url()), headers=AUTH).status_code == 200


def test_a_replica_started_while_redis_loads_comes_up_unready_and_delivers(
    make_settings: Callable[..., Any], server: RedisServer, sink: Sink
) -> None:
    from service.app import create_app

    pad_and_rewrite(server)
    restart_loading(server)
    # A pod that (re)starts during the load must come up, unready, rather than crash-loop.
    settings = make_settings(redis_url=server.url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as api:
        assert api.get("/livez").status_code == 200
        assert api.get("/health").status_code == 503
        refused = api.post("/messages", json=message("late", sink.url()), headers=AUTH)
        assert (refused.status_code, refused.json()["code"]) == (503, "redis_loading")
        server.wait_ready(timeout=60)
        assert wait_until(lambda: api.get("/health").status_code == 200)
        accepted = api.post("/messages", json=message("late", sink.url()), headers=AUTH)
        assert accepted.status_code == 200
        assert [r.message_id for r in sink.wait_for(1, timeout=30)] == ["late"]
