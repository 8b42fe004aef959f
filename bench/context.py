"""What every scenario shares: the scale, Redis, the sink, and how to start the service."""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.procs import PYTHON, TOKEN
from tests.support.redis_server import RedisServer
from tests.support.spawn import HOST, Proc, free_port, spawn, wait_http


@dataclass(frozen=True, kw_only=True)
class Scale:
    """How big each scenario is; `full` is what the docs report, `quick` is for iterating."""

    name: str
    create_seconds: int
    create_warmup_seconds: int
    create_clients: tuple[int, ...]
    spread_count: int
    spread_seconds: float
    steady_rate: int
    steady_seconds: float
    burst_count: int
    burst_option_pairs: int  # plain and option bursts back to back, this many times
    batch_rounds: int  # single and batch runs back to back, this many times
    backlog_count: int
    backlog_wrk_seconds: int
    replica_count: int
    replicas: tuple[int, ...]
    cancel_count: int
    cancel_baseline_seconds: float
    schedule_count: int  # recurring schedules, each firing every schedule_every_seconds
    schedule_every_seconds: int
    schedule_seconds: int  # how long they fire (a whole number of intervals)
    profile_seconds: int
    pagecost_count: int  # messages per payload size, and so rows in the page timed
    pagecost_big_bytes: int
    pagecost_repeats: int
    partition_pairs: int  # REDIS_PARTITIONS 1 and 16 back to back, this many times
    cluster_rounds: int  # one Redis (P=1, P=16) and a 3-primary Cluster, in turn, this many
    cluster_memory_count: int  # pending messages written to each to weigh them
    transports: tuple[str, ...] = ("httpx", "httpx-aiohttp", "aiohttp")


MIB = 1024 * 1024

FULL = Scale(
    name="full",
    create_seconds=10,
    create_warmup_seconds=2,
    create_clients=(16, 32, 64),
    spread_count=1000,
    spread_seconds=10.0,
    steady_rate=500,
    steady_seconds=20.0,
    burst_count=10_000,
    burst_option_pairs=3,
    batch_rounds=3,
    backlog_count=1_000_000,
    backlog_wrk_seconds=8,
    replica_count=10_000,
    replicas=(1, 2, 3),
    cancel_count=100_000,
    cancel_baseline_seconds=5.0,
    schedule_count=10_000,
    schedule_every_seconds=10,
    schedule_seconds=60,
    profile_seconds=8,
    pagecost_count=1000,
    pagecost_big_bytes=MIB,
    pagecost_repeats=21,
    partition_pairs=3,
    cluster_rounds=6,
    cluster_memory_count=100_000,
)
QUICK = Scale(
    name="quick",
    create_seconds=3,
    create_warmup_seconds=0,
    create_clients=(16, 64),
    spread_count=200,
    spread_seconds=2.0,
    steady_rate=500,
    steady_seconds=4.0,
    burst_count=2_000,
    burst_option_pairs=1,
    batch_rounds=1,
    backlog_count=50_000,
    backlog_wrk_seconds=3,
    replica_count=2_000,
    replicas=(1, 2),
    cancel_count=10_000,
    cancel_baseline_seconds=2.0,
    schedule_count=1_000,
    schedule_every_seconds=5,
    schedule_seconds=15,
    profile_seconds=4,
    # Still a page of 1,000 rows, over 128 MiB of payloads instead of a GiB: a page that
    # copied payloads would still stand out, at an eighth of the memory and load time.
    pagecost_count=1000,
    pagecost_big_bytes=128 * 1024,
    pagecost_repeats=9,
    partition_pairs=2,
    cluster_rounds=3,
    cluster_memory_count=20_000,
    # Without httpx's own transport: at a few hundred deliveries/s it alone would take
    # half the minute.
    transports=("httpx-aiohttp", "aiohttp"),
)

DELIVERY_CONCURRENCY = 64
TIME_LIMIT_SECONDS = 20 * 60  # a whole run stops by itself after this: only a hang gets there
DEFAULT_TRANSPORT = "aiohttp"


class Sink:
    """Client for the sink process's control paths."""

    def __init__(self, proc: Proc, port: int) -> None:
        self.proc, self.port = proc, port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hook"

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://{HOST}:{self.port}/_sink/{path}", timeout=30) as r:
            return orjson.loads(r.read())

    def count(self) -> int:
        return int(self._get("count")["count"])

    def records(self) -> dict[str, Any]:
        return dict(self._get("records"))

    def reset(self) -> None:
        self._get("reset")

    def wait_for(self, count: int, *, timeout: float) -> bool:
        """Poll until `count` calls arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= count:
                return True
            time.sleep(0.02)
        return False


@dataclass
class Bench:
    """One run: its scale, its output folder, and the long-lived Redis and sink."""

    scale: Scale
    results: Path
    redis: RedisServer
    sink: Sink

    def service_env(self, port: int, **overrides: str) -> dict[str, str]:
        env = {
            "API_TOKEN": TOKEN,
            "API_HOST": HOST,
            "API_PORT": str(port),
            "REDIS_HOST": HOST,
            "REDIS_PORT": str(self.redis.port),
            "DELIVERY_CONCURRENCY": str(DELIVERY_CONCURRENCY),
            "WEBHOOK_TRANSPORT": DEFAULT_TRANSPORT,
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
            "SHUTDOWN_GRACE_SECONDS": "2",
            "SHUTDOWN_DELAY_SECONDS": "0",
        }
        env.pop("REDIS_URL", None)
        if overrides.get("REDIS_CLUSTER_NODES"):  # a Cluster is the only Redis it may name
            del env["REDIS_HOST"], env["REDIS_PORT"]
        return {**env, **overrides}

    def start_service(self, name: str = "service", **env: str) -> tuple[Proc, str, float]:
        """Start `python -m service`; return it, its base URL and seconds until /health was 200."""
        port = free_port()
        workdir = self.results / "cwd"  # an empty cwd, so no stray .env is read
        workdir.mkdir(exist_ok=True)
        proc = spawn(
            f"{name}-{port}",
            [PYTHON, "-m", "service"],
            logdir=self.results,
            env=self.service_env(port, **env),
            cwd=workdir,
        )
        base = f"http://{HOST}:{port}"
        try:
            ready = wait_http(f"{base}/health", proc=proc, timeout=60)
        except BaseException:
            proc.stop()
            raise
        return proc, base, ready

    @contextlib.contextmanager
    def service(self, name: str = "service", **env: str) -> Iterator[tuple[Proc, str, float]]:
        proc, base, ready = self.start_service(name, **env)
        try:
            yield proc, base, ready
        finally:
            proc.stop()

    @contextlib.contextmanager
    def services(self, count: int, **env: str) -> Iterator[list[tuple[Proc, str, float]]]:
        started: list[tuple[Proc, str, float]] = []
        try:
            for i in range(count):
                started.append(self.start_service(f"replica{i + 1}", **env))
            yield started
        finally:
            for proc, _, _ in started:
                proc.stop()

    def fresh(self) -> None:
        """An empty Redis and an empty sink record, between scenarios."""
        self.redis.flush()
        self.sink.reset()
