"""Redis behind Sentinel: the service finds the master there, and follows a failover."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
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
from tests.support.redis_server import RedisServer, free_port, server_binary
from tests.support.sink import Sink
from tests.support.tls_files import make_tls_files

MASTER = "scheduler"


class SentinelSet:
    """A primary, one replica and three sentinels on 127.0.0.1, in one folder; with an
    `access` of TLS and an ACL user, every node speaks TLS only, the data nodes know only
    that user, and the Sentinels reach them as it."""

    def __init__(self, directory: Path, access: Access | None = None) -> None:
        self.primary = RedisServer(directory / "primary")
        self.replica = RedisServer(directory / "replica")
        self.directory = directory
        self.access = access or Access()
        self.ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    def start(self) -> SentinelSet:
        access, plain = self.access, self.access.tls is None
        self.primary.start(*access.server_args(self.primary.port), wait=plain)
        replica_of = ["--replicaof", "127.0.0.1", str(self.primary.port)]
        self.replica.start(*access.server_args(self.replica.port), *replica_of, wait=plain)
        assert wait_until(self._link_up, timeout=15)
        for port in self.ports:
            conf = self.directory / f"sentinel-{port}.conf"
            conf.write_text(
                f"{self._listen(port)}bind 127.0.0.1\ndir {self.directory}\n"
                "sentinel resolve-hostnames no\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary.port} 2\n"
                f"{self._auth()}"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 5000\n"
            )
            self.sentinels.append(
                subprocess.Popen(
                    [server_binary(), str(conf), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.STDOUT,
                )
            )
        assert wait_until(self._converged, timeout=20)
        return self

    def _listen(self, port: int) -> str:
        tls = self.access.tls
        if tls is None:
            return f"port {port}\n"
        return (
            f"port 0\ntls-port {port}\ntls-cert-file {tls.cert}\ntls-key-file {tls.key}\n"
            f"tls-ca-cert-file {tls.ca}\ntls-auth-clients no\ntls-replication yes\n"
        )

    def _auth(self) -> str:
        user = self.access.user
        if user is None:
            return ""
        password = self.access.password
        return f"sentinel auth-user {MASTER} {user}\nsentinel auth-pass {MASTER} {password}\n"

    def _sentinel(self, port: int) -> redis.Redis:
        """A client of one Sentinel (TLS when the set speaks it; Sentinels have no ACL user)."""
        tls = self.access.tls
        options: dict[str, Any] = {} if tls is None else {"ssl": True, "ssl_ca_certs": str(tls.ca)}
        return redis.Redis("127.0.0.1", port, decode_responses=True, **options)

    def _link_up(self) -> bool:
        options = self.access.client_options()
        try:
            with redis.Redis("127.0.0.1", self.replica.port, socket_timeout=1, **options) as r:
                return bool(r.info("replication").get("master_link_status") == "up")
        except redis.RedisError:
            return False

    def _converged(self) -> bool:
        try:
            for port in self.ports:
                with self._sentinel(port) as sentinel:
                    state = sentinel.sentinel_master(MASTER)
                    if state["num-slaves"] != 1 or state["num-other-sentinels"] != 2:
                        return False
        except redis.RedisError:
            return False
        return True

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def master_port(self) -> int:
        with self._sentinel(self.ports[0]) as sentinel:
            _host, port = sentinel.sentinel_get_master_addr_by_name(MASTER)
            return int(port)

    def stop(self) -> None:
        for process in self.sentinels:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.replica.kill()
        self.primary.kill()


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
