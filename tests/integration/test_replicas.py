"""Replica guarantees, proved on real processes: several `python -m service` on one Redis.

Each test starts its own Redis (append-only, fsync always), its own webhook sink and its
own replicas, then breaks something: a replica is killed, terminated or frozen, Redis
restarts, or the link to Redis goes bad. What must hold: every accepted message arrives,
no attempt is sent twice, one lease holder at a time, and the figures are measured.

Run: .venv/bin/pytest -m slow tests/test_replicas.py -s
The figures are printed and appended to bench/results/replicas.jsonl.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from service.keys import Layout
from service.records import NewMessage
from service.store import Store
from tests.support.async_sink import AsyncSink
from tests.support.chaos_proxy import ChaosProxy
from tests.support.polling import wait_until
from tests.support.processes import AUTH, Fleet, Replica
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow

LAYOUT = Layout("scheduler")
HOME = LAYOUT.home
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "replicas.jsonl"
COMMAND = ".venv/bin/pytest -m slow tests/test_replicas.py -s"


# -- helpers ---------------------------------------------------------------------------------


def report(test: str, **figures: Any) -> None:
    """Print the measured figures and append them to the results file the README quotes."""
    line = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "test": test, **figures}
    print(f"\n[replicas] {json.dumps(line)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps({**line, "command": COMMAND}) + "\n")


def seed(url: str, ids: list[str], webhook: str, *, due_ms: Callable[[int], int]) -> None:
    """Write messages straight through the store's schedule script, in one pipeline."""
    now_ms = int(time.time() * 1000)
    messages = [
        NewMessage(
            id=message_id,
            due_ms=due_ms(i),
            payload=json.dumps({"n": message_id}).encode(),
            url=webhook,
            created_ms=now_ms,
        )
        for i, message_id in enumerate(ids)
    ]

    async def write() -> list[int]:
        client = AsyncRedis.from_url(url)
        try:
            return await Store(client, LAYOUT).schedule_many(messages)
        finally:
            await client.aclose()

    assert set(asyncio.run(write())) <= {1, 2}


def orphan_claim(url: str, message_id: str, webhook: str) -> bool:
    """Schedule a message and claim it as a replica would, with a claim that expires at once.

    Nothing will deliver it until housekeeping returns the expired claim to the schedule.
    False if a replica's own loop claimed it first.
    """
    seed(url, [message_id], webhook, due_ms=lambda i: 1)

    async def claim() -> list[str]:
        client = AsyncRedis.from_url(url)
        try:
            batch = await Store(client, LAYOUT).claim(LAYOUT.home, limit=1, claim_timeout_ms=1)
        finally:
            await client.aclose()
        return [c.id for c in batch.claims]

    return asyncio.run(claim()) == [message_id]


def post_all(
    replicas: list[Replica],
    bodies: list[dict[str, Any]],
    *,
    concurrency: int = 16,
    during: Callable[[Counter[int]], None] | None = None,
) -> dict[str, int]:
    """POST every body, round robin over `replicas`; the status per id (0: no answer).

    `during` runs in a thread while the posting goes on; it sees the live status counts.
    """
    statuses: dict[str, int] = {}
    tally: Counter[int] = Counter()

    async def one(client: httpx.AsyncClient, i: int, body: dict[str, Any]) -> None:
        replica = replicas[i % len(replicas)]
        try:
            response = await client.post(replica.url("/messages"), json=body, headers=AUTH)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        statuses[body["id"]] = status
        tally[status] += 1

    async def main() -> None:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            queue = list(enumerate(bodies))
            side = asyncio.create_task(asyncio.to_thread(during, tally)) if during else None

            async def worker() -> None:
                while queue:
                    i, body = queue.pop(0)
                    await one(client, i, body)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            if side is not None:
                await side

    asyncio.run(main())
    return statuses


def body(message_id: str, webhook: str, at: str = "2020-01-01T00:00:00Z") -> dict[str, Any]:
    return {"id": message_id, "scheduleTo": at, "payload": {"n": message_id}, "webhookUrl": webhook}


def iso_in(seconds: float) -> str:
    moment = datetime.fromtimestamp(time.time() + seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lease(db: redis.Redis) -> tuple[str, int] | None:
    value = db.get(HOME.lease)
    if value is None:
        return None
    owner, _, fence = str(value).rpartition(":")
    return owner, int(fence)


def backlog(db: redis.Redis) -> tuple[int, int, int]:
    """(due, in flight, dead) sizes."""
    return db.zcard(HOME.due), db.zcard(HOME.inflight), db.zcard(HOME.dead)


def wait_drained(db: redis.Redis, *, timeout: float) -> bool:
    return wait_until(lambda: backlog(db) == (0, 0, 0), timeout=timeout, interval=0.1)


def in_flight(replica: Replica) -> float:
    """Deliveries started (lateness observed) minus deliveries finished, from /metrics."""
    samples = replica.metrics(timeout=1.0)
    started = samples.get("scheduler_api_delivery_lateness_seconds_count", 0.0)
    finished = sum(v for k, v in samples.items() if k.startswith("scheduler_api_deliveries_total{"))
    return started - finished


def logged_after(replica: Replica, message: str, wall: float) -> list[dict[str, Any]]:
    """Log records with `message` whose timestamp is at or after `wall` (Unix seconds)."""
    found = []
    for record in replica.logged(message):
        when = datetime.fromisoformat(str(record["time"])).timestamp()
        if when >= wall - 0.001:
            found.append(record)
    return found


def returned_claims(replicas: list[Replica]) -> dict[str, int]:
    """Expired claims each replica's housekeeping returned to the schedule (from its log)."""
    totals = {}
    for replica in replicas:
        records = replica.logged("expired claims to the schedule")
        totals[replica.name] = sum(int(str(r["message"]).split()[1]) for r in records)
    return totals


# -- the tests -------------------------------------------------------------------------------


def test_three_replicas_share_a_burst_and_deliver_each_message_exactly_once(
    fleet: Fleet, webhooks: AsyncSink, own_redis: RedisServer, db: redis.Redis
) -> None:
    count = 3000
    replicas = fleet.start(3)
    ids = [f"burst-{i:04d}" for i in range(count)]
    second = math.ceil(time.time()) + 2  # a whole second, far enough for the write to land
    seed(own_redis.url, ids, webhooks.url(), due_ms=lambda i: second * 1000 + i % 1000)

    missing = webhooks.wait_for_ids(set(ids), timeout=120)
    assert not missing, f"{len(missing)} messages never arrived, e.g. {sorted(missing)[:5]}"
    assert wait_drained(db, timeout=30), f"left in Redis: {backlog(db)}"
    time.sleep(1.5)  # longer than a replica's idle look: a late duplicate would show now
    arrivals = webhooks.snapshot()
    counts = webhooks.counts()
    duplicates = {i: n for i, n in counts.items() if n > 1}
    assert not duplicates, f"delivered more than once: {dict(list(duplicates.items())[:10])}"
    assert len(arrivals) == count

    assert wait_until(lambda: sum(len(r.delivered_ids()) for r in replicas) >= count, timeout=15), (
        "not every delivery was logged"
    )
    per_replica = {r.name: len(r.delivered_ids()) for r in replicas}
    logged = Counter(i for r in replicas for i in r.delivered_ids())
    assert set(logged) == set(ids) and max(logged.values()) == 1, "a delivery logged twice"
    assert all(n > 0 for n in per_replica.values()), f"a replica delivered nothing: {per_replica}"
    first = min(a.at for a in arrivals)
    last = max(a.at for a in arrivals)
    report(
        "burst_exactly_once",
        messages=count,
        replicas=3,
        delivered_per_replica=per_replica,
        duplicates=0,
        first_arrival_after_due_s=round(first - second, 3),
        burst_seconds=round(last - first, 3),
        deliveries_per_second=round(count / max(last - first, 1e-3)),
    )


def test_sigkill_of_the_lease_holder_mid_burst_loses_nothing_and_the_lease_moves(
    fleet: Fleet, webhooks: AsyncSink, own_redis: RedisServer, db: redis.Redis
) -> None:
    claim_timeout, lease_ttl, count = 3.0, 2.0, 2000
    fleet.settings.update(
        CLAIM_TIMEOUT_SECONDS=str(claim_timeout),
        DELIVERY_TIMEOUT_SECONDS="2",
        LEADER_LEASE_SECONDS=str(lease_ttl),
    )
    replicas = fleet.start(3)
    victim = fleet.leader()
    survivors = [r for r in replicas if r is not victim]
    before = lease(db)
    assert before is not None
    ids = [f"kill-{i:04d}" for i in range(count)]
    # A short webhook delay keeps a full window of deliveries open on every replica.
    seed(own_redis.url, ids, webhooks.url("/slow/50"), due_ms=lambda i: 0)

    assert wait_until(lambda: webhooks.unique() >= count // 4, timeout=60), "burst never started"
    open_on_victim = in_flight(victim)
    victim.signal(signal.SIGKILL)
    killed_at, killed_wall = time.monotonic(), time.time()
    assert victim.wait_exit(timeout=10) == -signal.SIGKILL
    arrived_at_kill = webhooks.unique()

    def moved() -> bool:
        now = lease(db)
        return now is not None and now[0] != before[0]

    assert wait_until(moved, timeout=lease_ttl + 10, interval=0.01), "the lease never moved"
    takeover = time.monotonic() - killed_at
    after = lease(db)
    assert after is not None and after[1] > before[1], "the new holder has no higher fence"

    missing = webhooks.wait_for_ids(set(ids), timeout=claim_timeout + 60)
    all_arrived = time.time() - killed_wall
    assert not missing, f"lost {len(missing)} messages, e.g. {sorted(missing)[:5]}"
    assert wait_drained(db, timeout=claim_timeout + 15), f"left in Redis: {backlog(db)}"
    time.sleep(1.5)

    arrivals = webhooks.snapshot()
    counts = webhooks.counts()
    duplicates = {i: n for i, n in counts.items() if n > 1}
    by_survivors: dict[str, list[int]] = {}
    for replica in survivors:
        for record in replica.logged("delivery attempt delivered"):
            by_survivors.setdefault(str(record["message_id"]), []).append(int(record["attempt"]))
    for message_id, times in duplicates.items():
        sent = sorted((a for a in arrivals if a.message_id == message_id), key=lambda a: a.at)
        # Only a claim the killed replica held (sent, not yet acknowledged) is sent again:
        # its first attempt was on the wire at the kill (the sink stamps it a moment later,
        # never as late as a claim expiry), and the survivors delivered it once, as a later
        # attempt after the claim expired.
        first_sent_by_victim = sent[0].attempt == 1 and sent[0].at < killed_wall + 1.0
        assert first_sent_by_victim, f"{message_id}: {sent}"
        assert by_survivors.get(message_id, [0])[0] >= 2, f"{message_id}: {by_survivors}"
        assert len(by_survivors[message_id]) == 1, f"{message_id} redelivered twice"
        assert len({a.idempotency_key for a in sent}) == 1  # one key across its attempts
        assert sorted(a.attempt for a in sent) == list(range(1, times + 1))
    retried = [a for a in arrivals if a.attempt > 1]
    recovered_after = max((a.at - killed_wall for a in retried), default=0.0)
    # Recovery needs the claim to expire and the new holder's next one-second pass.
    assert recovered_after <= claim_timeout + lease_ttl + 10
    assert takeover <= lease_ttl + 1.5, f"lease moved after {takeover:.2f}s"
    report(
        "sigkill_lease_holder_mid_burst",
        messages=count,
        arrived_before_kill=arrived_at_kill,
        in_flight_on_victim_at_kill=open_on_victim,
        lease_ttl_s=lease_ttl,
        lease_takeover_after_sigkill_s=round(takeover, 3),
        fence=[before[1], after[1]],
        claim_timeout_s=claim_timeout,
        redelivered_attempts=len(retried),
        last_redelivery_after_kill_s=round(recovered_after, 3),
        all_arrived_after_kill_s=round(all_arrived, 3),
        lost=0,
        duplicates=len(duplicates),
        duplicate_ids=sorted(duplicates)[:10],
    )


def test_sigterm_of_the_lease_holder_hands_the_lease_over_and_finishes_its_deliveries(
    fleet: Fleet, webhooks: AsyncSink, db: redis.Redis
) -> None:
    # A lease far longer than the measured handover: only the release can explain it.
    lease_ttl, count = 10.0, 150
    fleet.settings.update(
        LEADER_LEASE_SECONDS=str(lease_ttl),
        SHUTDOWN_GRACE_SECONDS="10",
        DELIVERY_TIMEOUT_SECONDS="5",
    )
    replicas = fleet.start(3)
    holder = fleet.leader()
    others = [r for r in replicas if r is not holder]
    before = lease(db)
    assert before is not None
    ids = [f"term-{i:03d}" for i in range(count)]
    # All due at one instant, posted to the holder: its loop is set to wake at that very
    # moment, while the others only look once a second, so the holder claims a full window.
    due = iso_in(4)
    statuses = post_all([holder], [body(i, webhooks.url("/slow/500"), at=due) for i in ids])
    assert set(statuses.values()) == {200}
    assert wait_until(lambda: in_flight(holder) >= 1, timeout=30, interval=0.02)
    busy = in_flight(holder)
    holder.terminate()
    signalled, signalled_wall = time.monotonic(), time.time()

    def moved() -> bool:
        now = lease(db)
        return now is not None and now[0] != before[0]

    assert wait_until(moved, timeout=lease_ttl, interval=0.005), "the lease never moved"
    lease_moved = time.monotonic() - signalled
    assert wait_until(lambda: any(r.is_leader(timeout=1) for r in others), timeout=5)
    leader_reported = time.monotonic() - signalled

    exit_code = holder.wait_exit(timeout=30)
    exited = time.monotonic() - signalled
    assert exit_code == 0, f"exit code {exit_code}:\n{holder.tail()}"
    missing = webhooks.wait_for_ids(set(ids), timeout=60)
    assert not missing, f"never arrived: {sorted(missing)[:5]}"
    assert wait_drained(db, timeout=15), f"left in Redis: {backlog(db)}"
    time.sleep(1.5)
    counts = webhooks.counts()
    assert {i: n for i, n in counts.items() if n != 1} == {}, "a delivery was cut off or repeated"
    finished_in_drain = logged_after(holder, "delivery attempt delivered", signalled_wall)
    assert finished_in_drain, "no delivery was in flight on the holder at SIGTERM"
    assert not holder.logged("unfinished deliveries"), "the drain cut deliveries off"
    assert lease_moved < 1.0, f"lease moved after {lease_moved:.3f}s"
    report(
        "sigterm_lease_holder",
        lease_ttl_s=lease_ttl,
        in_flight_on_holder_at_sigterm=busy,
        lease_takeover_after_sigterm_s=round(lease_moved, 3),
        other_replica_reports_leader_after_s=round(leader_reported, 3),
        completed_during_drain=len(finished_in_drain),
        exit_code=exit_code,
        exited_after_s=round(exited, 3),
        messages=count,
        duplicates=0,
    )


def test_a_paused_lease_holder_is_fenced_out_when_it_resumes(
    fleet: Fleet, webhooks: AsyncSink, db: redis.Redis
) -> None:
    claim_timeout, lease_ttl = 3.0, 2.0
    fleet.settings.update(
        CLAIM_TIMEOUT_SECONDS=str(claim_timeout),
        DELIVERY_TIMEOUT_SECONDS="2",
        LEADER_LEASE_SECONDS=str(lease_ttl),
    )
    replicas = fleet.start(3)
    holder = fleet.leader()
    others = [r for r in replicas if r is not holder]
    before = lease(db)
    assert before is not None

    # The holder claims a slow delivery (it is woken by its own POST; the others look only
    # once a second, so a retry is rarely needed), then freezes with the request open.
    message_id = ""
    for attempt in range(5):
        candidate = f"frozen-{attempt}"
        assert holder.post_message(body(candidate, webhooks.url("/slow/1000"))) == 200
        started = attempt + 1
        assert wait_until(
            lambda n=started: webhooks.started_requests >= n, timeout=10, interval=0.01
        )
        if in_flight(holder) >= 1:
            message_id = candidate
            break
        assert wait_until(lambda c=candidate: webhooks.counts()[c] >= 1, timeout=10)
    assert message_id, "the holder never claimed the message itself"
    holder.pause()
    paused_at = time.monotonic()

    def moved() -> bool:
        now = lease(db)
        return now is not None and now[0] != before[0]

    assert wait_until(moved, timeout=lease_ttl + 10, interval=0.01), "nobody took over"
    takeover = time.monotonic() - paused_at
    taken = lease(db)
    assert taken is not None
    new_holder = fleet.leader(among=others)
    # The frozen claim expires and the new holder hands it to a live replica.
    assert wait_until(
        lambda: any(a.message_id == message_id and a.attempt == 2 for a in webhooks.snapshot()),
        timeout=claim_timeout + 15,
        interval=0.02,
    ), "the frozen claim was never recovered"
    paused_for = time.monotonic() - paused_at

    # Read the clocks before the signal: the resumed process may log within microseconds.
    resumed_wall, resumed = time.time(), time.monotonic()
    holder.resume()
    assert wait_until(lambda: holder.is_leader(timeout=2) is False, timeout=10, interval=0.01)
    stepped_down = time.monotonic() - resumed
    assert wait_until(
        lambda: holder.metrics(timeout=2).get("scheduler_api_leader") == 0.0, timeout=5
    )
    samples = 0
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:  # watch both for a while: one holder, never two
        assert holder.is_leader(timeout=2) is False
        assert lease(db) == taken, "the lease changed hands after the resume"
        assert holder.metrics(timeout=2).get("scheduler_api_leader") == 0.0
        samples += 1
        time.sleep(0.1)
    assert new_holder.is_leader() is True

    assert wait_until(lambda: new_holder.message_state(message_id) == "delivered", timeout=15)
    assert wait_drained(db, timeout=15), f"left in Redis: {backlog(db)}"
    time.sleep(1.5)
    sent = [a for a in webhooks.snapshot() if a.message_id == message_id]
    recovered = returned_claims(replicas)
    assert sorted(a.attempt for a in sent) == [1, 2], f"attempts sent: {sent}"
    assert len({a.idempotency_key for a in sent}) == 1  # one key across its attempts
    assert sum(recovered.values()) == 1, f"claims returned: {recovered}"
    assert recovered[holder.name] == 0
    assert not logged_after(holder, "took the housekeeping lease", resumed_wall)
    assert logged_after(holder, "lost the housekeeping lease", resumed_wall)
    assert int(db.get(HOME.fence) or 0) == taken[1] > before[1]
    report(
        "sigstop_lease_holder",
        lease_ttl_s=lease_ttl,
        lease_takeover_while_paused_s=round(takeover, 3),
        paused_for_s=round(paused_for, 3),
        old_holder_reports_not_leader_after_resume_s=round(stepped_down, 3),
        fence=[before[1], taken[1]],
        samples_with_one_holder=samples,
        claims_recovered=recovered,
        attempts_of_frozen_message=len(sent),
    )


def test_a_redis_restart_mid_burst_loses_no_accepted_message(
    fleet: Fleet, webhooks: AsyncSink, own_redis: RedisServer, db: redis.Redis
) -> None:
    count, restart_after = 1500, 400
    fleet.settings.update(CLAIM_TIMEOUT_SECONDS="3", DELIVERY_TIMEOUT_SECONDS="2")
    replicas = fleet.start(3)
    # Half due at once, half a few seconds later: those wait in Redis across the restart.
    bodies = [
        body(f"restart-{i:04d}", webhooks.url(), at=iso_in(4) if i % 2 else "2020-01-01T00:00:00Z")
        for i in range(count)
    ]
    outage: dict[str, float] = {}

    def restart_midway(tally: Counter[int]) -> None:
        assert wait_until(lambda: tally[200] >= restart_after, timeout=60, interval=0.01)
        outage["accepted_before"] = tally[200]
        started = time.monotonic()
        own_redis.stop()
        time.sleep(1.0)
        own_redis.start()
        outage["seconds"] = time.monotonic() - started

    statuses = post_all(replicas, bodies, concurrency=16, during=restart_midway)
    accepted = {i for i, s in statuses.items() if s == 200}
    refused = Counter(s for s in statuses.values() if s != 200)
    assert "seconds" in outage, "the burst ended before the restart"
    assert 500 not in refused, f"the API answered 500 during the restart: {dict(refused)}"
    assert len(accepted) > restart_after

    missing = webhooks.wait_for_ids(accepted, timeout=90)
    assert not missing, f"lost {len(missing)} accepted messages, e.g. {sorted(missing)[:5]}"
    assert wait_drained(db, timeout=30), f"left in Redis: {backlog(db)}"
    for replica in replicas:
        replica.wait_ready(timeout=15)
    counts = webhooks.counts()
    duplicates = {i: n for i, n in counts.items() if n > 1}
    report(
        "redis_restart_mid_burst",
        posted=count,
        accepted=len(accepted),
        refused=dict(refused),
        accepted_before_restart=outage["accepted_before"],
        redis_down_s=round(outage["seconds"], 3),
        lost=0,
        delivered_not_accepted=len(set(counts) - accepted),
        duplicates=len(duplicates),
    )


def test_a_replica_cut_off_from_redis_recovers_while_the_others_carry_on(
    fleet: Fleet, webhooks: AsyncSink, own_redis: RedisServer, db: redis.Redis
) -> None:
    fleet.settings.update(CLAIM_TIMEOUT_SECONDS="3", DELIVERY_TIMEOUT_SECONDS="2")
    steady = fleet.start(2)
    fleet.leader()  # the lease settles on a replica with a clean link
    proxy = ChaosProxy(upstream_port=own_redis.port).start()
    try:
        cut = fleet.add("replica-cut", redis_url=f"redis://127.0.0.1:{proxy.port}/0")
        cut.wait_ready()
        figures = _chaos_phases(fleet, steady, cut, proxy, webhooks, db)
    finally:
        proxy.stop()
    report("chaos_link_to_redis", **figures)


def test_a_claim_whose_answer_is_lost_is_delivered_at_once_not_when_it_expires(
    fleet: Fleet, webhooks: AsyncSink, own_redis: RedisServer, db: redis.Redis
) -> None:
    """The replica's claim runs in Redis, and its answer is lost with the connection
    (every answer naming the message is dropped for a moment). The replica asks
    again with the same request once the link is back, gets the same batch and delivers
    it then, once; before, the message waited in flight for its claim to expire (60 s)."""
    proxy = ChaosProxy(upstream_port=own_redis.port).start()
    try:
        replica = fleet.add("lossy", redis_url=f"redis://127.0.0.1:{proxy.port}/0")
        replica.wait_ready()
        posted = post_all([replica], [body("lost-answer", webhooks.url(), iso_in(2.0))])
        assert posted == {"lost-answer": 200}
        assert wait_until(lambda: db.zcard(HOME.due) == 1, timeout=5)
        proxy.lose_replies = b"lost-answer"  # the claim's answer names the message
        claimed = wait_until(lambda: db.zcard(HOME.inflight) == 1, timeout=10)
        time.sleep(0.5)  # (asked again meanwhile, answers lost too)
        lost = proxy.replies_lost
        proxy.lose_replies = None
        healed = time.time()
        missing = webhooks.wait_for_ids({"lost-answer"}, timeout=30)
    finally:
        proxy.stop()
    assert claimed and lost > 0 and not missing
    [arrival] = [a for a in webhooks.arrivals if a.message_id == "lost-answer"]
    assert arrival.at - healed < 10, "delivered only when the claim expired"
    report(
        "lost_claim_answer", answers_lost=lost, delivered_after_heal_s=round(arrival.at - healed, 3)
    )


def _chaos_phases(
    fleet: Fleet,
    steady: list[Replica],
    cut: Replica,
    proxy: ChaosProxy,
    webhooks: AsyncSink,
    db: redis.Redis,
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    everyone = [*steady, cut]
    expected: set[str] = set()

    def batch(name: str, targets: list[Replica], size: int) -> set[str]:
        ids = [f"{name}-{i:03d}" for i in range(size)]
        statuses = post_all(targets, [body(i, webhooks.url()) for i in ids], concurrency=8)
        accepted = {i for i, s in statuses.items() if s == 200}
        expected.update(accepted)
        refused = Counter(s for s in statuses.values() if s != 200)
        if refused:
            print(f"[chaos] batch {name}: not accepted {dict(refused)}")
        assert 500 not in refused, f"batch {name}: the API answered 500 (a bug, always)"
        return accepted

    def delivered_by_cut() -> int:
        return len(cut.delivered_ids())

    # Clean link: the replica behind the proxy delivers like the others.
    assert len(batch("clean", [cut], 40)) == 40
    assert not webhooks.wait_for_ids(expected, timeout=30)
    assert wait_until(lambda: delivered_by_cut() > 0, timeout=10)

    # Latency: slower, but still ready and still delivering.
    proxy.latency_ms = 150
    assert len(batch("latency", everyone, 150)) == 150
    assert not webhooks.wait_for_ids(expected, timeout=60)
    answer = cut.health(timeout=5)
    figures["health_under_150ms_latency"] = None if answer is None else answer[0]
    proxy.latency_ms = 0

    # Resets: every connection torn down every 200 ms while a batch goes through.
    stop_resets = threading.Event()

    def keep_resetting() -> None:
        for _ in range(40):  # 8 s at most
            if stop_resets.wait(0.2):
                return
            proxy.reset_all()

    resetter = threading.Thread(target=keep_resetting, daemon=True)
    resetter.start()
    try:
        batch("reset", everyone, 150)
        assert not webhooks.wait_for_ids(expected, timeout=60)
    finally:
        stop_resets.set()
        resetter.join(10)

    # Blackhole: the cut replica turns unready, the others deliver everything meanwhile.
    before_cut = delivered_by_cut()
    proxy.blackhole = True
    cut_at = time.monotonic()
    assert wait_until(lambda: (cut.health(timeout=3) or (0,))[0] == 503, timeout=15)
    figures["unready_after_blackhole_s"] = round(time.monotonic() - cut_at, 3)
    during = batch("blackhole", steady, 300)
    assert len(during) == 300
    assert not webhooks.wait_for_ids(during, timeout=60), "the others stopped delivering"
    figures["others_delivered_during_cut"] = len(during)
    assert (cut.health(timeout=3) or (0,))[0] == 503, "blackhole healed by itself?"

    # Heal: ready again, and delivering again.
    proxy.heal()
    healed_at, healed_wall = time.monotonic(), time.time()
    assert wait_until(lambda: (cut.health(timeout=3) or (0,))[0] == 200, timeout=30)
    figures["ready_after_heal_s"] = round(time.monotonic() - healed_at, 3)
    after = batch("healed", [cut], 60)
    assert len(after) == 60
    assert not webhooks.wait_for_ids(expected, timeout=60)
    assert wait_until(
        lambda: logged_after(cut, "delivery attempt delivered", healed_wall), timeout=15
    ), "the healed replica delivered nothing"
    figures["delivered_by_cut_after_heal"] = len(
        logged_after(cut, "delivery attempt delivered", healed_wall)
    )
    figures["delivered_by_cut_before_blackhole"] = before_cut
    assert wait_drained(db, timeout=30), f"left in Redis: {backlog(db)}"
    counts = webhooks.counts()
    figures["messages"] = len(expected)
    figures["lost"] = len(expected - set(counts))
    figures["duplicates"] = sum(1 for n in counts.values() if n > 1)
    figures["proxy_connections"] = proxy.connections
    assert figures["lost"] == 0
    assert all(r.alive() for r in fleet)
    return figures


def test_connection_resets_leave_every_loop_of_a_replica_alive_and_never_500(
    fleet: Fleet, webhooks: AsyncSink, own_redis: RedisServer, db: redis.Redis
) -> None:
    """Resets of idle pooled connections must read as Redis errors, never kill a loop."""
    lease_ttl = 2.0
    fleet.settings.update(
        CLAIM_TIMEOUT_SECONDS="3",
        DELIVERY_TIMEOUT_SECONDS="2",
        LEADER_LEASE_SECONDS=str(lease_ttl),
    )
    proxy = ChaosProxy(upstream_port=own_redis.port).start()
    try:
        alone = fleet.add("replica-reset", redis_url=f"redis://127.0.0.1:{proxy.port}/0")
        alone.wait_ready()
        fleet.leader()
        statuses: Counter[int] = Counter()
        for round_ in range(30):  # about 6 s of resets, with API calls in between
            proxy.reset_all()
            time.sleep(0.1)
            statuses[alone.post_message(body(f"during-{round_}", webhooks.url()))] += 1
            time.sleep(0.1)
        proxy.heal()
        assert wait_until(lambda: (alone.health(timeout=3) or (0,))[0] == 200, timeout=20)

        # The delivery loop still claims what it was never told about (no API call).
        seed(own_redis.url, ["seeded-after-resets"], webhooks.url(), due_ms=lambda i: 0)
        delivering = not webhooks.wait_for_ids({"seeded-after-resets"}, timeout=10)
        # Housekeeping still returns an expired claim (a replica claimed it, then died).
        orphans = [f"orphan-{n}" for n in range(5)]
        orphan = next((o for o in orphans if orphan_claim(own_redis.url, o, webhooks.url())), "")
        assert orphan, "the replica claimed every would-be orphan itself"
        recovering = not webhooks.wait_for_ids({orphan}, timeout=10)
        # The lease loop still renews: leader throughout three lease periods.
        leading = True
        for _ in range(30):  # six seconds: three lease periods
            leading = leading and alone.is_leader(timeout=2) is True
            time.sleep(0.2)
        logs = alone.tail(400)
    finally:
        proxy.stop()
    report(
        "connection_resets_single_replica",
        api_statuses_during_resets=dict(statuses),
        delivery_loop_alive=delivering,
        housekeeping_alive=recovering,
        lease_loop_alive=leading,
        runtime_errors_logged=logs.count("RuntimeError"),
    )
    assert statuses[500] == 0, f"API answered 500 while the link was reset: {dict(statuses)}"
    assert delivering, "the delivery loop died: a due message was never claimed"
    assert recovering, "housekeeping died: an expired claim was never recovered"
    assert leading, "the lease loop died: the only replica lost the lease for good"
