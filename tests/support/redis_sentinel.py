"""Redis behind Sentinel on 127.0.0.1: a primary, one replica and three sentinels.

For the Sentinel tests, and for the contract suite on Sentinel (`--redis-sentinel`).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import redis

from tests.support.polling import wait_until
from tests.support.redis_cluster import Access
from tests.support.redis_server import RedisServer, free_port, server_binary

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

    def flush(self) -> None:
        """Empty the master (the replica follows)."""
        options = self.access.client_options()
        with redis.Redis("127.0.0.1", self.master_port(), **options) as client:
            client.flushall()
