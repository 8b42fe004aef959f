"""Redis Cluster: the service on a real local cluster, through failovers and slot migrations.

The 3-primary cluster is the session's (tests/conftest.py), emptied per test; the
failover and migration tests start their own 3 primaries + 3 replicas and real
`python -m service` processes. The whole contract suite runs on a cluster too (add
`--redis-cluster-replicas 1` for 3 primaries + 3 replicas):
    .venv/bin/pytest --redis-cluster tests/integration/test_api.py \
        tests/integration/test_delivery.py
Figures are printed and appended to bench/results/cluster.jsonl.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from redis.cluster import key_slot

from service.cluster_client import memory_of
from service.config import Settings
from service.connection import connect, disconnect
from service.keys import Keys, Layout
from service.options import Options
from service.records import NewMessage
from service.store import Finish, Store, Stored
from service.store_errors import Condition, classify
from tests.conftest import AUTH, NOWHERE, message
from tests.integration.test_api import TestAuthentication as _Authentication
from tests.integration.test_api import TestOriginalContract as _OriginalContract
from tests.integration.test_repartition import TestMoving as _Moving
from tests.integration.test_repartition import TestWhileDelivering as _WhileDelivering
from tests.integration.test_repartition import filled  # noqa: F401 (a fixture they use)
from tests.integration.test_replicas import body, post_all
from tests.support import partitions as stored
from tests.support.async_sink import AsyncSink
from tests.support.polling import wait_until
from tests.support.processes import AUTH as FLEET_AUTH
from tests.support.processes import Fleet, Replica
from tests.support.redis_cluster import Access, LocalCluster
from tests.support.redis_server import RedisServer
from tests.support.sink import Sink
from tests.support.tls_files import TlsFiles, make_tls_files

HOME = Layout("scheduler").home
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "cluster.jsonl"
COMMAND = ".venv/bin/pytest -m slow tests/integration/test_cluster.py -s"


def report(test: str, **figures: Any) -> None:
    line = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "test": test, **figures}
    print(f"\n[cluster] {json.dumps(line)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps({**line, "command": COMMAND}) + "\n")


@pytest.fixture
def cluster(redis_cluster: LocalCluster) -> LocalCluster:
    redis_cluster.flush()
    return redis_cluster


@pytest.fixture
def on_cluster(cluster: LocalCluster) -> dict[str, Any]:
    """Settings that reach the session's cluster (and nothing else)."""
    return {"redis_url": None, "redis_cluster_nodes": cluster.seeds}


# -- the original contract, on a cluster ------------------------------------------------------


class TestOriginalContractOnACluster(_OriginalContract):
    """Every request of the original README, verbatim, answered from a 3-primary cluster."""

    @pytest.fixture
    def redis_backend(self, on_cluster: dict[str, Any]) -> dict[str, Any]:
        return on_cluster


class TestAuthenticationOnACluster(_Authentication):
    @pytest.fixture
    def redis_backend(self, on_cluster: dict[str, Any]) -> dict[str, Any]:
        return on_cluster


class TestRepartitionOnACluster(_Moving, _WhileDelivering):
    """1 -> 16 -> 1 with every kind of data, and with two replicas delivering throughout:
    the moves run script by script across the primaries."""

    @pytest.fixture
    def redis_backend(self, on_cluster: dict[str, Any]) -> dict[str, Any]:
        return on_cluster


# -- what only a cluster needs ------------------------------------------------------------------


def test_a_message_is_delivered_and_its_history_read_back(
    start_app: Callable[..., TestClient], on_cluster: dict[str, Any], sink: Sink
) -> None:
    api = start_app(**on_cluster)
    assert api.post("/messages", json=message("c1", sink.url()), headers=AUTH).status_code == 200
    assert sink.wait_for(1)[0].message_id == "c1"
    assert wait_until(
        lambda: api.get("/messages/c1", headers=AUTH).json().get("state") == "delivered"
    )
    assert api.get("/messages/nope", headers=AUTH).status_code == 404


def test_a_batch_reaches_primaries_that_lost_their_scripts(
    start_app: Callable[..., TestClient], on_cluster: dict[str, Any], cluster: LocalCluster
) -> None:
    """A promoted replica or a restarted node has an empty script cache; a pipeline of
    scripts (POST /messages/batch) must load them there rather than fail."""
    api = start_app(**on_cluster)
    first = [message(f"a{i}", "http://127.0.0.1:9/", at="2999-01-01T00:00:00Z") for i in range(3)]
    assert api.post("/messages/batch", json={"messages": first}, headers=AUTH).status_code == 200
    for node in cluster.primaries():
        with cluster.client(node) as client:
            client.script_flush()
    second = [message(f"b{i}", "http://127.0.0.1:9/", at="2999-01-01T00:00:00Z") for i in range(3)]
    response = api.post("/messages/batch", json={"messages": second}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert api.get("/messages", headers=AUTH).json()["count"] == 6


def test_memory_is_read_from_the_primary_holding_the_schedule(
    make_settings: Callable[..., Settings], on_cluster: dict[str, Any], cluster: LocalCluster
) -> None:
    owner = cluster.owner(cluster.slot_of(HOME.probe))
    with cluster.client(owner) as client:
        client.config_set("maxmemory", "300mb")
    try:
        used, limit = asyncio.run(_memory(make_settings(**on_cluster)))
    finally:
        with cluster.client(owner) as client:
            client.config_set("maxmemory", "0")
    assert limit == 300 * 1024 * 1024 and used > 0


def test_memory_of_many_partitions_is_the_fullest_primary(
    make_settings: Callable[..., Settings], on_cluster: dict[str, Any], cluster: LocalCluster
) -> None:
    """16 partitions land on every primary; the one nearest its maxmemory is reported."""
    probes = [Keys("scheduler", n).probe for n in range(16)]
    owners = {cluster.owner(cluster.slot_of(key)).port for key in probes}
    assert owners == {node.port for node in cluster.primaries()}
    limits = {port: 200 * 10**i * 1024 * 1024 for i, port in enumerate(sorted(owners))}
    for node in cluster.primaries():
        with cluster.client(node) as client:
            client.config_set("maxmemory", limits[node.port])
    try:
        _used, limit = asyncio.run(_memory(make_settings(**on_cluster), probes))
    finally:
        for node in cluster.primaries():
            with cluster.client(node) as client:
                client.config_set("maxmemory", "0")
    # The nodes use about the same memory and the limits are 10 times apart: the smallest
    # limit is the fullest node.
    assert limit == min(limits.values())


def test_sixteen_partitions_put_messages_on_every_primary(
    start_app: Callable[..., TestClient], on_cluster: dict[str, Any], cluster: LocalCluster
) -> None:
    """What a Cluster is for: with 16 partitions the schedule is spread over the
    primaries, each holding keys of its own partitions and no other's."""
    api = start_app(**on_cluster, redis_partitions=16)
    count = 300
    for i in range(count):
        body = message(f"spread{i:03d}", NOWHERE, at="2999-01-01T00:00:00Z")
        assert api.post("/messages", json=body, headers=AUTH).status_code == 200
    sizes = cluster.dbsize()
    assert len(sizes) == 3 and all(size > 0 for size in sizes.values()), sizes
    tags: dict[int, set[str]] = {}
    held: dict[int, int] = {}
    for node in cluster.primaries():
        with cluster.client(node) as client:
            tags[node.port] = set(stored.per_partition(client))
            held[node.port] = stored.size(client, "msgs")
    assert all(tags.values()), tags
    assert all(held.values()) and sum(held.values()) == count, held
    everywhere = [tag for node_tags in tags.values() for tag in node_tags]
    assert sorted(everywhere) == sorted(Keys("scheduler", n).tag for n in range(16)), tags
    # The partitions' slots are spread: the three equal slot ranges hold 6, 5 and 5.
    assert sorted(len(node_tags) for node_tags in tags.values()) == [5, 5, 6], tags
    assert api.get("/messages", headers=AUTH).json()["count"] == count


async def _memory(settings: Settings, keys: list[str] | None = None) -> tuple[int, int]:
    client = connect(settings)
    try:
        return await memory_of(client, keys or [HOME.probe])
    finally:
        await disconnect(client)


def test_no_seed_answering_is_503_not_500(make_settings: Callable[..., Settings]) -> None:
    from service.app import create_app

    settings = make_settings(
        redis_url=None, redis_cluster_nodes="127.0.0.1:1,127.0.0.1:2", redis_timeout_seconds=0.5
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as api:
        body = message("x", "http://127.0.0.1:9/")
        response = api.post("/messages", json=body, headers=AUTH)
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "redis_unavailable"
        assert response.headers.get("retry-after")
        assert api.get("/health").status_code == 503


# A script that counts its runs, then holds its node for 0.4 s (Redis's clock: the script
# may read it), so that its answer is still to come while other requests are answered.
COUNT_THEN_HOLD = """
redis.call('INCR', KEYS[1])
local start = redis.call('TIME')
local held = 0
repeat
  local now = redis.call('TIME')
  held = (now[1] - start[1]) * 1000000 + (now[2] - start[2])
until held > 400000
return 1
"""


@pytest.mark.slow
def test_moved_answers_never_close_the_connection_another_request_waits_on(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """Slots move (resharding) while the client still maps them to their old node: each
    request to them is answered MOVED and sent on. Meanwhile a script that has run on a
    third node keeps its connection and brings back its answer, so it runs once. (redis-py
    by default rebuilds its map on every fifth MOVED by closing every connection; the
    script's answer was then lost and the script sent again: run twice.)"""
    own = LocalCluster(tmp_path / "cluster", primaries=3).start()
    try:
        counter = "{held}:runs"
        held_on = own.owner(own.slot_of(counter))
        source, target = (node for node in own.primaries() if node is not held_on)
        stale: dict[int, str] = {}  # six keys of six slots that `source` serves
        for key in (f"moving-{i}" for i in range(1_000)):
            slot = key_slot(key.encode())
            if len(stale) < 6 and slot not in stale and own.owner(slot) is source:
                stale[slot] = key
        assert len(stale) == 6
        settings = make_settings(redis_url=None, redis_cluster_nodes=own.seeds)

        async def scenario() -> tuple[Any, int]:
            client = connect(settings)
            try:
                for key in stale.values():  # the client maps their slots to `source`
                    await client.get(key)
                for slot in stale:
                    own.migrate_slot(slot, target)  # no keys: only the owner changes
                held = asyncio.create_task(client.eval(COUNT_THEN_HOLD, 1, counter))
                await asyncio.sleep(0.1)  # the script is running
                for key in stale.values():
                    assert await client.get(key) is None  # MOVED, then answered by `target`
                answer = await held
                return answer, int(await client.get(counter))
            finally:
                await disconnect(client)

        assert asyncio.run(scenario()) == (1, 1)
    finally:
        own.stop()


def _home_slot_and_primaries(own: LocalCluster) -> tuple[int, RedisServer, RedisServer]:
    """The home partition's slot, the primary that holds it, and another to move it to."""
    slot = own.slot_of(HOME.msgs)
    source = own.owner(slot)
    return slot, source, next(node for node in own.primaries() if node is not source)


@pytest.mark.slow
def test_a_create_meeting_its_label_index_moved_writes_nothing_and_is_tried_again(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """A slot migrates key by key, and a label index (a key scripts build, not declare) has
    already moved when a labelled message is created on the old node, where every key the
    script names still is: the node stops the script at that index. It stops before any
    write (the message is not half stored, without its label entry), the error is an
    outage to try again, and once the slot has moved the create goes through whole."""
    own = LocalCluster(tmp_path / "cluster", primaries=3).start()
    try:
        settings = make_settings(redis_url=None, redis_cluster_nodes=own.seeds, redis_partitions=1)
        home = HOME
        slot, source, target = _home_slot_and_primaries(own)
        now = int(time.time() * 1000)
        labelled = NewMessage(
            "m", now + 60_000, b"{}", NOWHERE, now, options=Options(labels={"team": "a"})
        )

        async def scenario() -> tuple[Condition | None, bool, bool, Stored, list[str]]:
            client = connect(settings)
            store = Store(client, Layout("scheduler", 1))
            try:
                # Every key schedule.lua names exists, as in a store that has been used.
                await client.hset(home.bodies, "b", "x")
                await client.hset(home.hist, "h", "x")
                await client.zadd(home.histidx, {"h": 1})
                await store.schedule(
                    NewMessage("n", now + 60_000, b"{}", NOWHERE, now, options=labelled.options),
                    max_messages=0, max_bytes=0,
                )  # fmt: skip
                own.migrate_keys(slot, target, [home.label("team", "a")])
                try:
                    await store.schedule(labelled, max_messages=0, max_bytes=0)
                    condition = None
                except redis.ResponseError as error:
                    condition = classify(error)
                with own.client(source) as old:
                    half_stored = (
                        bool(old.hexists(home.msgs, "m")) or old.zscore(home.due, "m") is not None
                    )
                own.finish_migration(slot, source, target)
                again = await store.schedule(labelled, max_messages=0, max_bytes=0)
                indexed = await client.zrange(home.label("team", "a"), 0, -1)
                return condition, half_stored, again, [i.decode() for i in indexed]
            finally:
                await disconnect(client)

        condition, half_stored, again, indexed = asyncio.run(scenario())
        assert condition is not None and condition.code == "redis_cluster_down"
        assert not half_stored
        assert again is Stored.STORED
        assert sorted(indexed) == ["m", "n"]
    finally:
        own.stop()


# Every key a script may name, with a placeholder entry: a key missing from a migrating
# slot's old node sends the whole call to the new one (ASK), so the tests below would not
# reach the case they are about, a script stopped by a key it builds itself.
_PLACEHOLDERS: dict[str, tuple[str, Any]] = {
    "msgs": ("hash", {"~": "x"}), "bodies": ("hash", {"~": "x"}), "log": ("hash", {"~": "x"}),
    "hist": ("hash", {"~": "x"}), "sched": ("hash", {"~": "1\n{}"}),
    "schedbody": ("hash", {"~": "x"}), "schedstat": ("hash", {"~": "1"}),
    "moving": ("hash", {"~": "x"}), "due": ("zset", {"~": 10**15}),
    "retrying": ("zset", {"~": 10**15}), "inflight": ("zset", {"~": 10**15}),
    "dead": ("zset", {"~": 10**15}), "histidx": ("zset", {"~": 1}),
    "schedidx": ("zset", {"~": 10**15}), "schedall": ("zset", {"~": 1}),
    "lease": ("string", "nobody:0"), "fence": ("string", "0"), "seq": ("string", "0"),
    "bytes": ("string", "0"),
}  # fmt: skip


async def _fill_every_key(client: Any, keys: Keys) -> None:
    for name, (kind, value) in _PLACEHOLDERS.items():
        key = getattr(keys, name)
        if kind == "hash":
            await client.hset(key, mapping=value)
        elif kind == "zset":
            await client.zadd(key, value)
        else:
            await client.set(key, value)


async def _settle_step(store: Store, step: str, claim: Any, callback: NewMessage) -> Any:
    if step == "ack with a callback":
        return await store.ack([Finish(claim, "", callback)])
    if step == "retry":
        return await store.retry(Finish(claim, ""), delay_ms=60_000, error="503")
    if step == "dead letter":
        return await store.dead_letter(Finish(claim, "", callback), error="410")
    return await store.cancel("m")


# Per step: its answer once the slot has moved, and what the label indexes of team=a
# then hold (a callback is stored as due, in the live index; `dead:` the dead one's).
_AFTER_MIGRATION: dict[str, tuple[Any, set[str]]] = {
    "ack with a callback": (1, {"cb"}),
    "retry": (None, {"m"}),
    "dead letter": (True, {"cb", "dead:m"}),
    "cancel": (True, set()),
}


@pytest.mark.parametrize("step", ["ack with a callback", "retry", "dead letter", "cancel"])
def test_a_settle_or_cancel_meeting_its_label_index_moved_changes_nothing_and_is_tried_again(
    tmp_path: Path, make_settings: Callable[..., Settings], step: str
) -> None:
    """As for a create: a message in flight with the label team=a, whose label index has
    moved to the new node while the rest of the slot has not. Settling it (with a
    callback carrying the same label) or cancelling it stops at that index. Before any
    write: the message is still in flight, as it was, and the callback is not lost (an
    ack stopped after removing the message would be retried, find no claim, and never
    store the callback). Once the slot has moved, the same step goes through whole, and
    the label index is right."""
    own = LocalCluster(tmp_path / "cluster", primaries=3).start()
    try:
        settings = make_settings(redis_url=None, redis_cluster_nodes=own.seeds, redis_partitions=1)
        home = HOME
        slot, source, target = _home_slot_and_primaries(own)
        team = Options(labels={"team": "a"})
        now = int(time.time() * 1000)
        callback = NewMessage("cb", now + 60_000, b"{}", NOWHERE, now, options=team)

        async def scenario() -> tuple[Condition | None, bool, Any, dict[str, float]]:
            client = connect(settings)
            store = Store(client, Layout("scheduler", 1))

            async def settle(claim: Any) -> Any:
                return await _settle_step(store, step, claim, callback)

            try:
                await _fill_every_key(client, home)
                message_ = NewMessage("m", now - 1, b"{}", NOWHERE, now, options=team)
                await store.schedule(message_, max_messages=0, max_bytes=0)
                [claim] = (await store.claim(home, limit=5, claim_timeout_ms=60_000)).claims
                before = await client.hget(home.msgs, "m")
                own.migrate_keys(slot, target, [home.label("team", "a")])
                try:
                    await settle(claim)
                    condition = None
                except redis.ResponseError as error:
                    condition = classify(error)
                with own.client(source) as old:
                    untouched = (
                        old.hget(home.msgs, "m") == before.decode()
                        and old.zscore(home.inflight, "m") is not None
                        and not old.hexists(home.msgs, "cb")
                    )
                own.finish_migration(slot, source, target)
                again = await settle(claim)
                index = await client.zrange(home.label("team", "a"), 0, -1, withscores=True)
                dead = await client.zrange(home.label("team", "a", dead=True), 0, -1)
                entries = {member.decode(): score for member, score in index}
                entries.update({f"dead:{member.decode()}": 0.0 for member in dead})
                return condition, untouched, again, entries
            finally:
                await disconnect(client)

        condition, untouched, again, entries = asyncio.run(scenario())
        assert condition is not None and condition.code == "redis_cluster_down"
        assert untouched
        answer, indexed = _AFTER_MIGRATION[step]
        assert set(entries) == indexed
        if step == "retry":
            assert entries["m"] == again  # (indexed by its new due time)
        else:
            assert again == answer
    finally:
        own.stop()


# -- TLS and an ACL user --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


SECURE = {"redis_username": "scheduler", "redis_password": "acl-secret-0123", "redis_tls": True}


def _delivers(api: TestClient, sink: Sink) -> None:
    """A message, a batch and a read back: scripts, pipelines and transactions all work."""
    assert api.get("/health").status_code == 200
    assert api.post("/messages", json=message("s1", sink.url()), headers=AUTH).status_code == 200
    batch = {"messages": [message(f"s{i}", sink.url()) for i in range(2, 6)]}
    assert api.post("/messages/batch", json=batch, headers=AUTH).status_code == 200
    received = sink.wait_for(5)
    assert sorted(r.message_id for r in received) == [f"s{i}" for i in range(1, 6)]
    assert api.get("/messages/s1", headers=AUTH).status_code == 200


@pytest.fixture
def secure_cluster(tmp_path: Path, tls_files: TlsFiles) -> Iterator[LocalCluster]:
    """3 primaries that speak TLS only and know one ACL user (the default user is off)."""
    access = Access(tls=tls_files, user="scheduler", password=SECURE["redis_password"])
    cluster = LocalCluster(tmp_path / "cluster", access=access)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def test_a_cluster_over_tls_as_an_acl_user(
    secure_cluster: LocalCluster,
    tls_files: TlsFiles,
    start_app: Callable[..., TestClient],
    sink: Sink,
) -> None:
    settings = {"redis_url": None, "redis_cluster_nodes": secure_cluster.seeds, **SECURE}
    _delivers(start_app(**settings, redis_tls_ca_file=tls_files.ca), sink)


@pytest.fixture
def secure_redis(tmp_path: Path, tls_files: TlsFiles) -> Iterator[RedisServer]:
    """One Redis, TLS only, one ACL user (the default user off)."""
    server = RedisServer(tmp_path / "redis")
    access = Access(tls=tls_files, user="scheduler", password=SECURE["redis_password"])
    server.start(*access.server_args(server.port)[:-4], wait=False)  # no --master* on its own
    try:
        assert wait_until(lambda: _answers(server, access), timeout=10)
        yield server
    finally:
        server.kill()


def test_one_redis_over_tls_as_an_acl_user(
    secure_redis: RedisServer,
    tls_files: TlsFiles,
    start_app: Callable[..., TestClient],
    sink: Sink,
) -> None:
    settings = {"redis_url": None, "redis_host": "127.0.0.1", "redis_port": secure_redis.port}
    _delivers(start_app(**settings, **SECURE, redis_tls_ca_file=tls_files.ca), sink)


def _answers(server: RedisServer, access: Access) -> bool:
    options = access.client_options()
    try:
        with redis.Redis("127.0.0.1", server.port, socket_timeout=1, **options) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.mark.slow
def test_a_thousand_due_at_once_are_delivered_once_each(
    start_app: Callable[..., TestClient], on_cluster: dict[str, Any], sink: Sink
) -> None:
    count = 1200
    api = start_app(**on_cluster)
    api.app.state.runtime.dispatcher.stop_claiming()  # type: ignore[attr-defined]
    for start in range(0, count, 400):
        batch = [message(f"k{i:04d}", sink.url()) for i in range(start, start + 400)]
        response = api.post("/messages/batch", json={"messages": batch}, headers=AUTH)
        assert response.status_code == 200
    api.__exit__(None, None, None)
    started = time.monotonic()
    start_app(**on_cluster)
    received = sink.wait_for(count, timeout=60)
    seconds = time.monotonic() - started
    time.sleep(1.0)  # a duplicate would arrive meanwhile
    counts = Counter(r.message_id for r in sink.received)
    assert sorted(counts) == sorted(f"k{i:04d}" for i in range(count))
    assert max(counts.values()) == 1
    report(
        "burst_on_three_primaries", due=count, delivered=len(received), seconds=round(seconds, 2)
    )


# -- failover and resharding, on 3 primaries + 3 replicas, with real processes -----------------


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "cluster", primaries=3, replicas=1)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def services(tmp_path: Path, replicated: LocalCluster) -> Iterator[Fleet]:
    fleet = Fleet(
        tmp_path / "replicas",
        redis_url="",  # REDIS_URL empty is unset: the cluster is the only Redis
        REDIS_CLUSTER_NODES=replicated.seeds,
        CLAIM_TIMEOUT_SECONDS="4",
        DELIVERY_TIMEOUT_SECONDS="2",
    )
    try:
        yield fleet
    finally:
        fleet.end_all()


class Prober:
    """GETs /messages on a replica every few milliseconds from a thread: status counts."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            for _ in range(100_000):
                if self._stop.is_set():
                    return
                try:
                    url = self.replica.url("/messages?limit=5")
                    status = client.get(url, headers=FLEET_AUTH).status_code
                except httpx.HTTPError:
                    status = 0
                self.statuses[status] += 1
                time.sleep(0.01)


def _settle(webhooks: AsyncSink, accepted: set[str], replicas: list[Replica]) -> dict[str, int]:
    """Wait for every accepted message; the duplicates (id: arrivals) once all are in."""
    missing = webhooks.wait_for_ids(accepted, timeout=120)
    assert not missing, f"lost {len(missing)} accepted messages, e.g. {sorted(missing)[:5]}"
    for replica in replicas:
        replica.wait_ready(timeout=30)
    time.sleep(5)  # past CLAIM_TIMEOUT_SECONDS: a claim lost with the primary comes back
    return {i: n for i, n in webhooks.counts().items() if n > 1}


@pytest.mark.slow
def test_a_primary_killed_mid_burst_loses_nothing_and_the_api_recovers(
    replicated: LocalCluster, services: Fleet, webhooks: AsyncSink
) -> None:
    count, kill_after = 1500, 400
    replicas = services.start(2)
    slot = replicated.slot_of(HOME.due)
    victim = replicated.owner(slot)
    bodies = [body(f"f{i:04d}", webhooks.url()) for i in range(count)]
    outage: dict[str, Any] = {}

    def kill_midway(tally: Counter[int]) -> None:
        assert wait_until(lambda: tally[200] >= kill_after, timeout=60, interval=0.01)
        outage["accepted_before"] = tally[200]
        outage["delivered_before"] = webhooks.unique()
        started = time.monotonic()
        replicated.kill(victim)
        promoted = replicated.wait_promoted(victim, slot, timeout=30)
        outage["promoted_after_s"] = round(time.monotonic() - started, 2)
        outage["promoted"] = promoted.port

    with Prober(replicas[0]) as prober:
        statuses = post_all(replicas, bodies, concurrency=16, during=kill_midway)
        assert wait_until(
            lambda: replicas[1].post_message(body("after", webhooks.url())) == 200, timeout=30
        ), "the API did not recover by itself"
        recovered = Counter(prober.statuses)
    accepted = {i for i, s in statuses.items() if s == 200} | {"after"}
    refused = Counter(s for s in statuses.values() if s != 200)
    assert "promoted" in outage, "the burst ended before the kill"
    assert 500 not in refused and 500 not in recovered, (refused, recovered)
    assert set(refused) <= {503}, f"a POST during the failover got {dict(refused)}"

    duplicates = _settle(webhooks, accepted, replicas)
    report(
        "primary_killed_mid_burst",
        posted=count,
        accepted=len(accepted) - 1,
        refused=dict(refused),
        gets=dict(recovered),
        duplicates=len(duplicates),
        **outage,
    )
    # Only claims whose ack died with the primary come back: at most what was in flight.
    assert len(duplicates) <= 2 * 64, duplicates


@pytest.mark.slow
def test_a_slot_migration_mid_burst_loses_nothing_and_never_500(
    replicated: LocalCluster, services: Fleet, webhooks: AsyncSink
) -> None:
    count, move_after = 1500, 300
    replicas = services.start(2)
    slot = replicated.slot_of(HOME.due)
    source = replicated.owner(slot)
    target = next(node for node in replicated.primaries() if node is not source)
    bodies = [body(f"m{i:04d}", webhooks.url()) for i in range(count)]
    moved: dict[str, Any] = {}

    def migrate_midway(tally: Counter[int]) -> None:
        assert wait_until(lambda: tally[200] >= move_after, timeout=60, interval=0.01)
        started = time.monotonic()
        moved["keys"] = replicated.migrate_slot(slot, target, batch=1, pause=0.2)
        moved["seconds"] = round(time.monotonic() - started, 2)

    with Prober(replicas[0]) as prober:
        statuses = post_all(replicas, bodies, concurrency=16, during=migrate_midway)
        gets = Counter(prober.statuses)
    accepted = {i for i, s in statuses.items() if s == 200}
    refused = Counter(s for s in statuses.values() if s != 200)
    assert "seconds" in moved, "the burst ended before the migration"
    assert replicated.owner(slot) is target
    assert 500 not in refused and 500 not in gets, (refused, gets)

    duplicates = _settle(webhooks, accepted, replicas)
    report(
        "slot_migrated_mid_burst",
        posted=count,
        accepted=len(accepted),
        refused=dict(refused),
        gets=dict(gets),
        keys_moved=moved["keys"],
        migration_s=moved["seconds"],
        duplicates=len(duplicates),
    )
    # Once each, and no 409: a request that meets the slot half-moved answers 503 and
    # changed nothing; a create that ran is not stored again when its answer is lost
    # (schedule.lua knows its own message), and MOVED answers do not make the client close
    # the connections other requests are waiting on.
    assert set(refused) <= {503}, f"a POST during the migration got {dict(refused)}"
    assert not duplicates, duplicates
    with replicated.client(target) as client:
        assert client.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) > 0
