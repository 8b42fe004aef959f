"""`scheduler-api repartition --to N`: the data moves to another partition count while the
replicas keep serving and delivering; nothing is lost, nothing is delivered twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from service import store as store_module
from service.app import create_app
from service.config import Settings
from service.connection import connect, disconnect
from service.fields import iso
from service.keys import Keys, Layout, partition_of
from service.partitioning import PartitionCountMismatch
from service.repartition import Repartition, RepartitionError
from service.store import Store
from tests.conftest import AUTH, NOWHERE
from tests.integration.test_replicas import body, iso_in, post_all
from tests.support import partitions as stored
from tests.support.async_sink import AsyncSink
from tests.support.polling import wait_until
from tests.support.processes import Fleet
from tests.support.redis_server import RedisServer
from tests.support.spawn import free_port

FAR = 32503680000000  # 3000-01-01 in ms: never due during a test


def move(settings: Settings, target: int, **options: Any) -> list[str]:
    """Run a repartition to `target` from this thread, as the command does; its output."""
    said: list[str] = []

    async def run() -> None:
        client = connect(settings)
        try:
            mover = Repartition(
                Store(client, Layout(settings.redis_key_prefix)),
                target=target,
                say=said.append,
                **options,
            )
            await mover.run()
        finally:
            await disconnect(client)

    asyncio.run(run())
    return said


def layout_of(client: TestClient) -> str:
    return str(client.app.state.runtime.store.layout.name)  # type: ignore[attr-defined]


def post(api: TestClient, body: dict[str, Any]) -> None:
    response = api.post("/messages", json=body, headers=AUTH)
    assert response.status_code == 200, response.text


def far(message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "scheduleTo": iso(FAR + int(message_id.removeprefix("far"))),
        "payload": {"id": message_id},
        "webhookUrl": NOWHERE,
        **extra,
    }


@pytest.fixture
def filled(start_app: Callable[..., TestClient], webhooks: AsyncSink) -> TestClient:
    """A replica on one partition holding every kind of data: pending (some labelled),
    dead letters, history, and a schedule with its pending fires."""
    api = start_app()
    for i in range(300):
        post(api, far(f"far{i}", labels={"team": "a" if i % 3 else "b"}))
    for i in range(20):
        post(api, {**far(f"far{1000 + i}"), "id": f"dead{i}", "scheduleTo": iso(0)})
        done = {"id": f"done{i}", "scheduleTo": iso(0), "webhookUrl": webhooks.url()}
        post(api, {**far(f"far{2000 + i}"), **done})
    # Yearly: no fire falls due while a test runs (an hourly one did when a run crossed
    # the hour, and the snapshots before and after a move differed by that fire).
    schedule = {"id": "yearly", "cron": "0 0 1 1 *", "payload": {}, "webhookUrl": NOWHERE}
    assert api.post("/schedules", json=schedule, headers=AUTH).status_code in (200, 201)
    assert wait_until(lambda: webhooks.unique() == 20, timeout=20)
    assert wait_until(
        lambda: api.get("/dead-letters", headers=AUTH).json()["count"] == 20, timeout=20
    )
    return api


def snapshot(api: TestClient) -> dict[str, Any]:
    """What the API shows of the data (not where it is kept)."""
    return {
        "pending": api.get("/messages", params={"limit": 1}, headers=AUTH).json()["count"],
        "team_b": api.get("/messages", params={"label": "team:b"}, headers=AUTH).json()["count"],
        "dead": api.get("/dead-letters", headers=AUTH).json()["count"],
        "schedule": api.get("/schedules/yearly", headers=AUTH).json()["nextRuns"],
        "done": [api.get(f"/messages/done{i}", headers=AUTH).json()["state"] for i in range(20)],
    }


class TestMoving:
    def test_everything_moves_to_sixteen_and_back(
        self, filled: TestClient, make_settings: Callable[..., Settings], raw_redis: redis.Redis
    ) -> None:
        before = snapshot(filled)
        assert before["done"] == ["delivered"] * 20
        said = move(make_settings(), 16)
        assert any("all on layout 1>16" in line for line in said), said
        assert wait_until(lambda: layout_of(filled) == "16", timeout=5)
        assert raw_redis.get("{scheduler:0}:partitions") == "16"
        assert raw_redis.get("{scheduler:0}:repartition") is None
        holding = [t for t in stored.per_partition(raw_redis) if raw_redis.hlen(f"{t}:msgs")]
        assert len(holding) == 16
        assert snapshot(filled) == before
        assert stored.size(raw_redis, "moving") == 0
        # Every message where the new count puts it, each once.
        for partition in range(16):
            for message_id in raw_redis.hkeys(Keys("scheduler", partition).msgs):
                assert Layout("scheduler", 16).for_id(message_id).partition == partition
        assert stored.size(raw_redis, "msgs") == before["pending"] + before["dead"]
        # A claim batch kept for a replica's loop (claim.lua, not expired) goes with its
        # partition.
        raw_redis.hset(Keys("scheduler", 5).claims, "a-replica", f"{FAR}:batch")

        move(make_settings(), 1)
        assert wait_until(lambda: layout_of(filled) == "1", timeout=5)
        assert snapshot(filled) == before
        assert stored.per_partition(raw_redis).keys() == {"{scheduler:0}"}

    def test_labels_cancel_and_edits_work_after_the_move(
        self, filled: TestClient, make_settings: Callable[..., Settings]
    ) -> None:
        move(make_settings(), 8)
        assert wait_until(lambda: layout_of(filled) == "8", timeout=5)
        response = filled.delete("/messages", params={"label": "team:b"}, headers=AUTH)
        assert response.json()["count"] == 100
        assert filled.delete("/messages/far1", headers=AUTH).status_code == 200
        patched = filled.patch("/messages/far2", json={"payload": {"x": 1}}, headers=AUTH)
        assert patched.status_code == 200, patched.text
        assert filled.post("/dead-letters/dead3/redrive", headers=AUTH).status_code == 200
        paused = filled.patch("/schedules/yearly", json={"paused": True}, headers=AUTH)
        assert paused.status_code == 200, paused.text
        assert filled.delete("/schedules/yearly", headers=AUTH).status_code == 200
        # An id that exists cannot be created again, wherever it lives now.
        assert filled.post("/messages", json=far("far5"), headers=AUTH).status_code == 409


class TestWhileDelivering:
    def test_messages_arriving_and_due_during_the_moves_are_delivered_once(
        self,
        start_app: Callable[..., TestClient],
        make_settings: Callable[..., Settings],
        webhooks: AsyncSink,
    ) -> None:
        replicas = [start_app(), start_app()]
        sent: list[str] = []
        stop = threading.Event()

        def keep_posting() -> None:
            # Due 0 to 3 s ahead, so deliveries go on in every phase of the moves.
            for n in range(3000):  # bounded: about 30 s at most
                if stop.is_set():
                    return
                message_id = f"m{n}"
                at = iso(int(time.time() * 1000) + (n % 30) * 100)
                body = {"id": message_id, "scheduleTo": at, "payload": {}}
                body["webhookUrl"] = webhooks.url()
                response = replicas[n % 2].post("/messages", json=body, headers=AUTH)
                assert response.status_code == 200, response.text
                sent.append(message_id)
                time.sleep(0.01)

        poster = threading.Thread(target=keep_posting)
        poster.start()
        try:
            time.sleep(1)
            move(make_settings(), 16)
            time.sleep(1)
            move(make_settings(), 1)
            time.sleep(1)
        finally:
            stop.set()
            poster.join(timeout=60)
        assert len(sent) > 200
        assert webhooks.wait_for_ids(set(sent), timeout=30) == set()
        counts = webhooks.counts()
        assert max(counts[i] for i in sent) == 1
        assert {layout_of(replica) for replica in replicas} == {"1"}

    def test_fires_in_flight_while_their_schedule_moves_are_counted(
        self,
        start_app: Callable[..., TestClient],
        make_settings: Callable[..., Settings],
        webhooks: AsyncSink,
    ) -> None:
        """A fire counts (delivered or dead) in the partition where it finishes; one in
        flight while the mover took its schedule elsewhere finishes where it was claimed,
        and the schedule's figures still count it."""
        api = start_app()
        schedule_id = next(f"ticks{n}" for n in range(100) if partition_of(f"ticks{n}", 16))
        every_second = {
            "id": schedule_id,
            "every": 1,
            "payload": {},
            "webhookUrl": webhooks.url("/slow/1500"),  # within the 2 s timeout
        }
        assert api.post("/schedules", json=every_second, headers=AUTH).status_code in (200, 201)
        assert wait_until(lambda: webhooks.open_requests >= 2, timeout=10)
        move(make_settings(), 16)
        assert wait_until(lambda: layout_of(api) == "16", timeout=5)
        paused = api.patch(f"/schedules/{schedule_id}", json={"paused": True}, headers=AUTH)
        assert paused.status_code == 200, paused.text
        assert wait_until(lambda: webhooks.open_requests == 0, timeout=15)

        def counted() -> bool:
            shown = api.get(f"/schedules/{schedule_id}", headers=AUTH).json()
            return bool(
                shown["firesDelivered"] == len(webhooks.counts())
                and shown["firesDeadLettered"] == 0
            )

        assert wait_until(counted, timeout=10), (
            api.get(f"/schedules/{schedule_id}", headers=AUTH).json()["firesDelivered"],
            len(webhooks.counts()),
        )
        assert max(webhooks.counts().values()) == 1


class TestChangesMeetingAMove:
    def test_a_cancel_waits_for_a_message_on_its_way_then_answers_503(
        self,
        filled: TestClient,
        make_settings: Callable[..., Settings],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(store_module, "MOVING_WAIT_SECONDS", 0.3)

        async def take_out() -> None:
            client = connect(make_settings())
            try:
                await Store(client, Layout()).scripts.run("move_out", Keys(), "m", "far7")
            finally:
                await disconnect(client)

        asyncio.run(take_out())
        response = filled.delete("/messages/far7", headers=AUTH)
        assert response.status_code == 503
        assert response.json()["code"] == "repartitioning"
        assert "being moved" in response.json()["detail"]
        # The copy kept by the interrupted move is finished by the next run.
        move(make_settings(), 4)
        assert wait_until(lambda: layout_of(filled) == "4", timeout=5)
        assert filled.get("/messages/far7", headers=AUTH).json()["state"] == "pending"
        assert filled.delete("/messages/far7", headers=AUTH).status_code == 200


class TestTheRecordedState:
    def test_a_replica_started_with_either_count_joins_a_move_in_progress(
        self,
        start_app: Callable[..., TestClient],
        make_settings: Callable[..., Settings],
        raw_redis: redis.Redis,
    ) -> None:
        start_app().__exit__(None, None, None)  # records 1
        raw_redis.set("{scheduler:0}:repartition", "16")  # as a mover does when it begins
        assert layout_of(start_app(redis_partitions=16)) == "1>16"
        assert layout_of(start_app(redis_partitions=1)) == "1>16"
        with pytest.raises(PartitionCountMismatch, match="being moved from 1 to 16"):
            TestClient(create_app(make_settings(redis_partitions=4))).__enter__()

    def test_a_mover_waits_for_replicas_and_refuses_when_one_does_not_follow(
        self,
        start_app: Callable[..., TestClient],
        make_settings: Callable[..., Settings],
        raw_redis: redis.Redis,
    ) -> None:
        api = start_app()
        for i in range(20):
            post(api, far(f"far{i}"))
        # A replica listed with the old layout that never reads again (hung): 10 s to live.
        expiry = int(time.time() * 1000) + 10_000
        raw_redis.hset("{scheduler:0}:replicas", "hung", f"1|{expiry}")
        with pytest.raises(RepartitionError, match="hung"):
            move(make_settings(), 16, replica_wait_seconds=1.5)
        # Nothing moved; the move stays begun and a second run finishes it once the
        # hung replica's report has expired.
        assert raw_redis.get("{scheduler:0}:repartition") == "16"
        assert raw_redis.hlen("{scheduler:0}:msgs") == 20
        said = move(make_settings(), 16, replica_wait_seconds=15)
        assert raw_redis.get("{scheduler:0}:partitions") == "16"
        assert any(line.startswith("done in") for line in said)

    def test_another_target_while_one_is_in_progress_is_refused(
        self,
        start_app: Callable[..., TestClient],
        make_settings: Callable[..., Settings],
        raw_redis: redis.Redis,
    ) -> None:
        start_app()
        with pytest.raises(RepartitionError, match="nothing is recorded"):
            move(make_settings(redis_key_prefix="other"), 4)
        raw_redis.set("{scheduler:0}:repartition", "8")
        with pytest.raises(RepartitionError, match="repartition --to 8"):
            move(make_settings(), 4)


@pytest.fixture
def command_env(make_settings: Callable[..., Settings]) -> Iterator[dict[str, str]]:
    settings = make_settings()
    if settings.redis_url is None:
        pytest.skip("the command test runs on a plain Redis")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OTEL_"))}
    env.update(API_TOKEN="x" * 32, REDIS_URL=settings.redis_url.get_secret_value())
    yield env


def command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`scheduler-api repartition ...` as an operator runs it (`python -m service`)."""
    return subprocess.run(
        [sys.executable, "-m", "service", "repartition", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_moves_and_says_what_it_did(
    filled: TestClient, command_env: dict[str, str]
) -> None:
    done = command(command_env, "--to", "4")
    assert done.returncode == 0, done.stderr
    assert "the data now has 4 partitions" in done.stdout
    assert "Set REDIS_PARTITIONS=4" in done.stdout
    refused = command(command_env, "--to", "0")
    assert refused.returncode == 2
    assert "--to must be between 1 and 1024" in refused.stderr


def test_the_command_says_when_redis_does_not_answer(command_env: dict[str, str]) -> None:
    closed = {**command_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    stopped = command(closed, "--to", "4")
    assert stopped.returncode == 1
    assert "repartition stopped: Redis answered" in stopped.stderr
    assert "Nothing is lost" in stopped.stderr
    assert "Traceback" not in stopped.stderr


@pytest.mark.slow
@pytest.mark.parametrize("killed", ["before it follows", "once both follow"])
def test_a_replica_killed_during_a_move_loses_nothing(
    killed: str, fleet: Fleet, own_redis: RedisServer, db: redis.Redis, webhooks: AsyncSink
) -> None:
    """Two `python -m service` processes deliver to a slow receiver while the data moves
    from 1 to 16 partitions; one is SIGKILLed with claims in flight, as the move begins
    (the mover waits until its report expires) or once both run the moving layout (the
    mover moves on, and waits for its claims). Its claims expire and are recovered in the
    partition they were claimed in, the mover moves them once they are due again, and
    everything arrives."""
    timeouts = {"CLAIM_TIMEOUT_SECONDS": "4", "DELIVERY_TIMEOUT_SECONDS": "2"}
    replicas = [fleet.add(**timeouts) for _ in range(2)]
    for replica in replicas:
        replica.wait_ready(timeout=60)
    slow = webhooks.url("/slow/300")  # claims stay in flight long enough to be killed
    # Due over 12 s: on a loaded machine the replicas take seconds to follow the move, and
    # claims must still be coming when they do.
    bodies = [body(f"k{i:03d}", slow, at=iso_in(2 + i / 50)) for i in range(600)]
    statuses = post_all(replicas, bodies)
    assert set(statuses.values()) == {200}
    assert wait_until(lambda: webhooks.unique() >= 30, timeout=30), "deliveries did not start"
    failures: list[BaseException] = []
    said: list[str] = []

    def run_mover() -> None:
        try:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, api_token="x" * 32, redis_url=own_redis.url
            )
            said.extend(move(settings, 16, replica_wait_seconds=30, settle_wait_seconds=60))
        except BaseException as error:  # reported by the test thread
            failures.append(error)

    mover = threading.Thread(target=run_mover)
    mover.start()
    assert wait_until(lambda: db.get("{scheduler:0}:repartition") == "16", timeout=30)
    if killed == "once both follow":
        reports = "{scheduler:0}:replicas"
        assert wait_until(
            lambda: [v.split("|")[0] for v in db.hvals(reports)] == ["1>16", "1>16"], timeout=10
        )
    replicas[1].kill()
    # Counted after the kill: the killed replica's claims stay in flight until they expire
    # (4 s), so this bounds what it held when it died, claims it made a moment before too.
    in_flight = stored.size(db, "inflight")
    mover.join(timeout=150)
    assert not mover.is_alive() and not failures, failures
    assert in_flight > 0, "nothing was in flight when the replica was killed"
    assert db.get("{scheduler:0}:partitions") == "16"
    ids = {item["id"] for item in bodies}
    assert webhooks.wait_for_ids(ids, timeout=90) == set()
    counts = webhooks.counts()
    # At least once: only deliveries in flight on the killed replica may come twice.
    assert sum(counts[i] - 1 for i in ids) <= in_flight
    assert stored.size(db, "moving") == 0
    assert replicas[0].logged("expired claims"), "the killed replica had no claim in flight"
    print(f"\n[repartition] killed {killed} with {in_flight} in flight; mover: {said}")
