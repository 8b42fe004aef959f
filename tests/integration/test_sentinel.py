"""Redis behind Sentinel: the service finds the master there, and follows a failover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from service import connection
from service.app import create_app
from tests.conftest import AUTH, message
from tests.support.polling import wait_until
from tests.support.redis_cluster import Access
from tests.support.redis_sentinel import MASTER, SentinelSet
from tests.support.sink import Sink
from tests.support.tls_files import make_tls_files


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    cluster = SentinelSet(tmp_path)
    try:  # stop() also runs when start() fails half-way, so no server outlives the test
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.mark.slow
def test_service_follows_the_master_through_a_failover(
    sentinels: SentinelSet, make_settings: Any, sink: Sink
) -> None:
    settings = make_settings(
        redis_url=None,
        redis_sentinels=sentinels.addresses,
        redis_sentinel_master=MASTER,
        redis_timeout_seconds=1.0,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as api:
        assert api.get("/health").status_code == 200
        first = message("before", sink.url())
        assert api.post("/messages", json=first, headers=AUTH).status_code == 200
        assert sink.wait_for(1)[0].message_id == "before"

        later = message("across", sink.url(), at="2999-01-01T00:00:00Z")
        assert api.post("/messages", json=later, headers=AUTH).status_code == 200
        with redis.Redis(port=sentinels.primary.port) as primary:
            primary.wait(1, 5000)  # replicated before the primary dies
        old = sentinels.master_port()
        sentinels.primary.kill()
        assert wait_until(lambda: sentinels.master_port() != old, timeout=30)
        assert wait_until(lambda: api.get("/health").status_code == 200, timeout=30)

        assert api.get("/messages/across", headers=AUTH).status_code == 200
        after = message("after", sink.url())
        assert wait_until(
            lambda: api.post("/messages", json=after, headers=AUTH).status_code == 200,
            timeout=15,
        )
        assert wait_until(lambda: "after" in sink.ids(), timeout=15)
        time.sleep(0.5)
        assert sorted(sink.ids()) == ["after", "before"]


async def _ping_while_the_pool_is_busy(settings: Any) -> tuple[bool, float]:
    """Hold every connection with a 1 s BLPOP, then PING: it must wait, not fail."""
    client = connection.connect(settings)
    try:
        blockers = [
            asyncio.create_task(client.blpop([f"nothing-{n}"], timeout=1))
            for n in range(connection.MAX_CONNECTIONS)
        ]
        await asyncio.sleep(0.3)
        started = time.monotonic()
        answered = bool(await client.ping())
        waited = time.monotonic() - started
        await asyncio.gather(*blockers)
        return answered, waited
    finally:
        await connection.disconnect(client)


@pytest.mark.slow
def test_a_sentinel_pool_waits_for_a_free_connection_instead_of_failing(
    sentinels: SentinelSet, make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "MAX_CONNECTIONS", 2)
    settings = make_settings(
        redis_url=None,
        redis_sentinels=sentinels.addresses,
        redis_sentinel_master=MASTER,
        redis_timeout_seconds=3.0,
    )
    answered, waited = asyncio.run(_ping_while_the_pool_is_busy(settings))
    assert answered
    assert waited > 0.3  # it queued behind the BLPOPs rather than raising "Too many connections"


def test_a_plain_pool_waits_for_a_free_connection_too(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "MAX_CONNECTIONS", 2)
    answered, waited = asyncio.run(
        _ping_while_the_pool_is_busy(make_settings(redis_timeout_seconds=3.0))
    )
    assert answered and waited > 0.3


USER, PASSWORD = "scheduler", "acl-secret-0123"


@pytest.fixture
def secure_sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    tls = make_tls_files(tmp_path / "tls")
    cluster = SentinelSet(tmp_path, Access(tls=tls, user=USER, password=PASSWORD))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def test_sentinel_over_tls_as_an_acl_user(
    secure_sentinels: SentinelSet, make_settings: Any, sink: Sink
) -> None:
    """TLS to the Sentinels and to the master they name; the ACL user to the master."""
    tls = secure_sentinels.access.tls
    assert tls is not None
    settings = make_settings(
        redis_url=None,
        redis_sentinels=secure_sentinels.addresses,
        redis_sentinel_master=MASTER,
        redis_username=USER,
        redis_password=PASSWORD,
        redis_tls=True,
        redis_tls_ca_file=tls.ca,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as api:
        assert api.get("/health").status_code == 200
        assert (
            api.post("/messages", json=message("tls", sink.url()), headers=AUTH).status_code == 200
        )
        assert sink.wait_for(1)[0].message_id == "tls"
        # The ack follows the webhook's answer: wait for it, bounded.
        assert wait_until(
            lambda: api.get("/messages/tls", headers=AUTH).json()["state"] == "delivered",
            timeout=10,
        )
