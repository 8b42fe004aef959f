"""A real Redis Cluster for the tests: N primaries (and replicas) on free loopback ports.

Each node is a `RedisServer` with `--cluster-enabled yes` in a folder of its own;
`redis-cli --cluster create` assigns the slots. Every wait is bounded, and `stop()`
kills whatever was started, also after a start that failed half-way.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from tests.support.redis_server import RedisServer
from tests.support.spawn import HOST
from tests.support.tls_files import TlsFiles

# Short enough for a failover within a test (a primary is declared failed after this),
# long enough that a busy 2-core machine does not fail nodes over by itself.
NODE_TIMEOUT_MS = 2000


def redis_cli() -> str:
    found = shutil.which("redis-cli") or shutil.which("valkey-cli")
    if found is None:
        raise RuntimeError("redis-cli is needed to create a Redis Cluster")
    return found


def cluster_port() -> int:
    """A free port whose cluster bus port (10000 higher, so at most 55535) is free too."""
    for _ in range(1000):
        port = random.randint(20_000, 55_535)
        if _free(port) and _free(port + 10_000):
            return port
    raise RuntimeError("no free pair of ports for a cluster node")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Access:
    """How clients reach the nodes: over TLS only, as an ACL user only (the default user
    off), both, or neither."""

    tls: TlsFiles | None = None
    user: str | None = None
    password: str = ""

    def server_args(self, port: int) -> list[str]:
        args: list[str] = []
        if self.tls:
            args += ["--port", "0", "--tls-port", str(port), *self.tls.server_args()]
            args += ["--tls-cluster", "yes", "--tls-replication", "yes"]
        if self.user:
            args += ["--user", "default", "off"]
            args += ["--user", self.user, "on", f">{self.password}", "~*", "&*", "+@all"]
            args += ["--masteruser", self.user, "--masterauth", self.password]
        return args

    def cli_args(self) -> list[str]:
        args = ["--tls", "--cacert", str(self.tls.ca)] if self.tls else []
        if self.user:
            args += ["--user", self.user, "--pass", self.password, "--no-auth-warning"]
        return args

    def client_options(self) -> dict[str, Any]:
        """redis-py arguments for a client of one node."""
        options: dict[str, Any] = {}
        if self.tls:
            options |= {"ssl": True, "ssl_ca_certs": str(self.tls.ca)}
        if self.user:
            options |= {"username": self.user, "password": self.password}
        return options


class LocalCluster:
    """`primaries` primaries with `replicas` replicas each, loopback only."""

    def __init__(
        self, directory: Path, *, primaries: int = 3, replicas: int = 0, access: Access = Access()
    ) -> None:
        self.directory = directory
        self.replicas = replicas
        self.access = access
        count = primaries * (1 + replicas)
        self.nodes = [
            RedisServer(directory / f"node-{n}", port=cluster_port(), appendonly=False)
            for n in range(count)
        ]

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, *, timeout: float = 30.0) -> LocalCluster:
        for node in self.nodes:
            node.start(
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node.directory / "nodes.conf"),
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                *self.access.server_args(node.port),
                wait=False,
            )  # fmt: skip
        for node in self.nodes:
            self._wait_answering(node, timeout=timeout)
        create = [redis_cli(), "--cluster", "create", *self.addresses()]
        create += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        create += self.access.cli_args()
        subprocess.run(create, check=True, capture_output=True, timeout=timeout)
        self.wait_healthy(timeout=timeout)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()

    def _wait_answering(self, node: RedisServer, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.process is not None and node.process.poll() is not None:
                raise RuntimeError(f"redis-server exited early:\n{node.log_tail()}")
            try:
                with self.client(node) as client:
                    if client.ping():
                        return
            except redis.RedisError:
                time.sleep(0.02)
        raise TimeoutError(f"node {node.port} not answering within {timeout} s")

    def wait_healthy(self, *, timeout: float = 30.0) -> None:
        """Until every live node says cluster_state:ok, agrees on the slot map, and every
        replica's link to its primary is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._healthy():
                return
            time.sleep(0.05)
        raise TimeoutError(f"cluster not healthy within {timeout} s: {self.describe()}")

    def _healthy(self) -> bool:
        try:
            maps = set()
            for node in self.live():
                with self.client(node) as client:
                    if _state(client) != "ok":
                        return False
                    maps.add(_slot_map(client))
                    role = client.info("replication")
                    if role["role"] == "slave" and role["master_link_status"] != "up":
                        return False
            return len(maps) == 1
        except (redis.RedisError, KeyError):
            return False

    # -- a look inside -----------------------------------------------------------------

    def live(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.process is not None]

    def addresses(self) -> list[str]:
        return [f"{HOST}:{node.port}" for node in self.nodes]

    @property
    def seeds(self) -> str:
        """REDIS_CLUSTER_NODES for the service: every node, so any survivor can answer."""
        return ",".join(self.addresses())

    def client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(
            host=HOST,
            port=node.port,
            decode_responses=True,
            socket_timeout=5,
            **self.access.client_options(),
        )

    def by_port(self, port: int) -> RedisServer:
        return next(node for node in self.nodes if node.port == port)

    def primaries(self) -> list[RedisServer]:
        return [node for node in self.live() if self.role(node) == "master"]

    def role(self, node: RedisServer) -> str:
        with self.client(node) as client:
            return str(client.info("replication")["role"])

    def node_id(self, node: RedisServer) -> str:
        with self.client(node) as client:
            return str(client.execute_command("CLUSTER", "MYID"))

    def slot_of(self, key: str) -> int:
        with self.client(self.live()[0]) as client:
            return int(client.execute_command("CLUSTER", "KEYSLOT", key))

    def owner(self, slot: int) -> RedisServer:
        """The primary serving `slot`, as the first live node sees it."""
        with self.client(self.live()[0]) as client:
            for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return self.by_port(int(primary[1]))
        raise LookupError(f"slot {slot} is not served")

    def dbsize(self) -> dict[int, int]:
        """Keys per primary, by port."""
        sizes = {}
        for node in self.primaries():
            with self.client(node) as client:
                sizes[node.port] = int(client.dbsize())
        return sizes

    def flush(self) -> None:
        for node in self.primaries():
            with self.client(node) as client:
                client.flushall()

    def describe(self) -> str:
        parts = []
        for node in self.live():
            try:
                with self.client(node) as client:
                    parts.append(f"{node.port}: {_state(client)}")
            except redis.RedisError as error:
                parts.append(f"{node.port}: {error}")
        return ", ".join(parts)

    # -- what operators do ---------------------------------------------------------------

    def kill(self, node: RedisServer) -> None:
        """SIGKILL: the node's replica is promoted once the others notice (NODE_TIMEOUT_MS)."""
        node.kill()

    def wait_promoted(self, old: RedisServer, slot: int, *, timeout: float = 30.0) -> RedisServer:
        """The replica that took over `slot` from `old`, once the cluster is healthy again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                owner = self.owner(slot)
                if owner is not old and self._healthy():
                    return owner
            except (redis.RedisError, LookupError, StopIteration):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"no replica took over slot {slot} within {timeout} s")

    def migrate_keys(self, slot: int, target: RedisServer, keys: list[str]) -> None:
        """Open `slot`'s migration to `target` and move only `keys`: the slot half-moved,
        as `redis-cli --cluster reshard` leaves it between two batches."""
        source = self.owner(slot)
        with self.client(source) as src, self.client(target) as dst:
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source))
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(target))
            if keys:
                src.execute_command("MIGRATE", HOST, target.port, "", 0, 5000, "KEYS", *keys)

    def finish_migration(
        self,
        slot: int,
        source: RedisServer,
        target: RedisServer,
        *,
        batch: int = 100,
        pause: float = 0.0,
    ) -> int:
        """Move the rest of a slot opened by migrate_keys, `batch` keys at a time, and give
        it to `target`; returns the keys moved."""
        moved = 0
        with self.client(source) as src:
            for _ in range(100_000):
                keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch)
                if not keys:
                    break
                src.execute_command("MIGRATE", HOST, target.port, "", 0, 5000, "KEYS", *keys)
                moved += len(keys)
                time.sleep(pause)
        target_id = self.node_id(target)
        for node in self.primaries():
            with self.client(node) as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        return moved

    def migrate_slot(
        self, slot: int, target: RedisServer, *, batch: int = 10, pause: float = 0.01
    ) -> int:
        """Move `slot` to `target` the way `redis-cli --cluster reshard` does, a few keys at
        a time (so clients meet ASK and TRYAGAIN meanwhile); returns the keys moved."""
        source = self.owner(slot)
        self.migrate_keys(slot, target, [])
        return self.finish_migration(slot, source, target, batch=batch, pause=pause)


def _slot_map(client: redis.Redis) -> tuple[tuple[int, int, int], ...]:
    """(first slot, last slot, primary port) of each range, as one node sees them."""
    rows = client.execute_command("CLUSTER", "SLOTS")
    return tuple(sorted((int(r[0]), int(r[1]), int(r[2][1])) for r in rows))


def _state(client: redis.Redis) -> str:
    """cluster_state (ok or fail) from CLUSTER INFO."""
    info = str(client.execute_command("CLUSTER", "INFO"))
    return info.split("cluster_state:", 1)[1].split()[0]
