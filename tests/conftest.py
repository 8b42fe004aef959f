"""Shared fixtures: a real Redis started by the suite, a real webhook sink, the app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.support.redis_cluster import LocalCluster
from tests.support.redis_sentinel import MASTER, SentinelSet
from tests.support.redis_server import RedisServer
from tests.support.sink import Sink

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# A loopback address nothing listens on: for messages that are never meant to arrive.
NOWHERE = "http://127.0.0.1:9"

# Short timings so retries, leases and drains happen within a test's patience.
FAST = {
    "delivery_backoff_base_seconds": 0.05,
    "delivery_backoff_max_seconds": 0.2,
    "delivery_max_attempts": 3,
    "delivery_timeout_seconds": 2.0,
    "claim_timeout_seconds": 5.0,
    "leader_lease_seconds": 2.0,
    "shutdown_grace_seconds": 2.0,
    "shutdown_delay_seconds": 0.0,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-cluster",
        action="store_true",
        help="run the tests on the suite's Redis against a 3-primary Redis Cluster instead",
    )
    parser.addoption(
        "--redis-sentinel",
        action="store_true",
        help="run the tests on the suite's Redis against a master found through 3 Sentinels",
    )
    parser.addoption(
        "--redis-cluster-replicas",
        type=int,
        default=0,
        help="with --redis-cluster: replicas per primary (1 makes the 3 + 3 cluster)",
    )


@pytest.fixture(scope="session")
def redis_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    """Three primaries (with `--redis-cluster-replicas` replicas each): for the contract on
    a Cluster (`--redis-cluster`)."""
    replicas = int(request.config.getoption("--redis-cluster-replicas"))
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), replicas=replicas)
    try:  # stop() also runs when start() fails half-way
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSet]:
    """A master, its replica and three Sentinels: for the contract on Sentinel
    (`--redis-sentinel`)."""
    sentinels = SentinelSet(tmp_path_factory.mktemp("sentinel"))
    try:  # stop() also runs when start() fails half-way
        yield sentinels.start()
    finally:
        sentinels.stop()


@pytest.fixture
def redis_backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings that reach the suite's Redis, emptied for this test: the session
    server, with `--redis-cluster` the session cluster, with `--redis-sentinel` the
    session's master found through its Sentinels."""
    if request.config.getoption("--redis-sentinel"):
        sentinels: SentinelSet = request.getfixturevalue("redis_sentinels")
        sentinels.flush()
        master = {"redis_sentinels": sentinels.addresses, "redis_sentinel_master": MASTER}
        return {"redis_url": None, **master}
    if not request.config.getoption("--redis-cluster"):
        return {"redis_url": request.getfixturevalue("redis_url")}
    cluster: LocalCluster = request.getfixturevalue("redis_cluster")
    cluster.flush()
    return {"redis_url": None, "redis_cluster_nodes": cluster.seeds}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_server: RedisServer) -> str:
    """The session server, emptied for this test."""
    for option in ("--redis-cluster", "--redis-sentinel"):
        if request.config.getoption(option):
            pytest.skip(f"addresses one Redis by its URL; {option} runs the suite elsewhere")
    if redis_server.process is None:
        redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def raw_redis(
    request: pytest.FixtureRequest, redis_backend: dict[str, Any]
) -> Iterator[redis.Redis | redis.RedisCluster]:
    """A plain client for looking at what the service wrote (a cluster one on a cluster)."""
    if redis_backend.get("redis_sentinels"):
        sentinels: SentinelSet = request.getfixturevalue("redis_sentinels")
        with redis.Redis("127.0.0.1", sentinels.master_port(), decode_responses=True) as master:
            yield master
        return
    if redis_backend["redis_url"] is None:
        host, port = redis_backend["redis_cluster_nodes"].split(",")[0].split(":")
        with redis.RedisCluster(host=host, port=int(port), decode_responses=True) as cluster:
            yield cluster
        return
    with redis.Redis.from_url(redis_backend["redis_url"], decode_responses=True) as client:
        yield client


@pytest.fixture
def sink() -> Iterator[Sink]:
    receiver = Sink().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def partitions() -> int:
    """REDIS_PARTITIONS of the apps a test starts; the contract modules override this
    fixture to run each of their tests with 1 and with 16 partitions."""
    return 1


@pytest.fixture
def make_settings(redis_backend: dict[str, Any], partitions: int) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        # A test that names its own Redis (a URL, Sentinels) gets only that one.
        own = {"redis_url", "redis_sentinels", "redis_cluster_nodes"} & overrides.keys()
        backend = {} if own else redis_backend
        values: dict[str, Any] = {"api_token": TOKEN, **backend, **FAST}
        values["redis_partitions"] = partitions
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
def start_app(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Start the app in-process (lifespan included) with settings overrides."""
    clients: list[TestClient] = []

    def start(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def api(start_app: Callable[..., TestClient]) -> TestClient:
    """The app with default test settings."""
    return start_app()


def message(
    message_id: str, url: str, *, at: str = "2020-01-01T00:00:00Z", **extra: Any
) -> dict[str, Any]:
    """A POST /messages body; due in the past (so at once) unless `at` says otherwise."""
    return {
        "id": message_id,
        "scheduleTo": at,
        "payload": {"n": message_id},
        "webhookUrl": url,
        **extra,
    }
