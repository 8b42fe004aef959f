"""The Redis scripts, one behaviour at a time, against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import redis
from redis.asyncio import Redis

from service.history import Finished, HistoryRecord
from service.keys import Layout, LegacyKeys
from service.lua import source
from service.options import Options
from service.records import NewMessage, State
from service.schedule_store import Put, ScheduleStore
from service.store import Finish, LeaseLost, Store, Stored, _new
from tests.support.chaos_proxy import ChaosProxy
from tests.support.redis_server import RedisServer

T = TypeVar("T")
NOW = 1_700_000_000_000
HOME = Layout().home
NO_QUOTA = {"max_messages": 0, "max_bytes": 0}


def run(redis_url: str, scenario: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        client = Redis.from_url(redis_url)
        try:
            return await scenario(Store(client, Layout()))
        finally:
            await client.aclose()

    return asyncio.run(main())


def new(message_id: str, *, due_ms: int = NOW, created_ms: int = NOW, size: int = 7) -> NewMessage:
    payload = b'{"a":"' + b"x" * max(size - 8, 0) + b'"}'
    return NewMessage(message_id, due_ms, payload, "http://127.0.0.1:9/hook", created_ms)


async def claim_one(store: Store, *, timeout_ms: int = 60_000) -> Any:
    [claim] = (await store.claim(HOME, limit=1, claim_timeout_ms=timeout_ms)).claims
    return claim


async def leader(store: Store, owner: str = "me") -> str:
    fence = await store.lease_acquire(owner=owner, ttl_ms=10_000)
    return f"{owner}:{fence}"


def test_record_keeps_every_field(redis_url: str) -> None:
    async def scenario(store: Store) -> Any:
        message = NewMessage("r", NOW + 5, b'{"x":"a\\nb"}', "https://u:p@h/p?q=1", NOW)
        await store.schedule(message, **NO_QUOTA)
        return await store.get("r")

    record = run(redis_url, scenario)
    assert (record.meta.due_ms, record.meta.created_ms, record.meta.attempts) == (NOW + 5, NOW, 0)
    assert record.payload == b'{"x":"a\\nb"}'
    assert record.meta.url == "https://u:p@h/p?q=1"
    assert record.meta.state is State.PENDING
    assert record.next_run_ms == NOW + 5


def test_a_claim_whose_answer_was_lost_is_answered_again_when_asked_again(
    redis_server: RedisServer, redis_url: str
) -> None:
    """The claim ran (three messages are in flight) but its answer was lost with the
    connection. Asked again with the same request, the claim answers the same batch
    under the same token, which settles as usual; before, the batch waited in flight
    until its claim expired. A new request claims what is due now, nothing of that
    batch; a claimer that names no request keeps nothing."""
    proxy = ChaosProxy(upstream_port=redis_server.port).start()

    async def scenario(store: Store) -> Any:
        for name in ("a", "b", "c"):
            await store.schedule(new(name), **NO_QUOTA)
        lossy = Store(Redis(host="127.0.0.1", port=proxy.port), Layout())
        ask = {"limit": 10, "claim_timeout_ms": 60_000, "claimer": "loop-1"}
        try:
            await lossy.redis.script_load(source("claim"))  # only the claim's answer is lost
            proxy.lose_replies = b""
            with pytest.raises(redis.ConnectionError):
                await lossy.claim(HOME, request="7", **ask)
            in_flight = await store.redis.zcard(HOME.inflight)
            proxy.lose_replies = None
            again = (await lossy.claim(HOME, request="7", **ask)).claims
            tokens = {claim.token for claim in again}
            removed = await lossy.ack([Finish(claim, "") for claim in again])
            await store.schedule(new("d"), **NO_QUOTA)
            fresh = (await lossy.claim(HOME, request="8", **ask)).claims
            anonymous = await store.claim(HOME, limit=10, claim_timeout_ms=60_000)
        finally:
            await lossy.redis.aclose()
        return in_flight, again, tokens, removed, fresh, anonymous, proxy.replies_lost

    try:
        in_flight, again, tokens, removed, fresh, anonymous, lost = run(redis_url, scenario)
    finally:
        proxy.stop()
    assert lost >= 1 and in_flight == 3
    assert sorted(claim.id for claim in again) == ["a", "b", "c"] and len(tokens) == 1
    assert removed == 3
    assert [claim.id for claim in fresh] == ["d"]
    assert anonymous.claims == []


def test_the_batch_kept_for_a_claim_asked_again_goes_when_the_claim_expires(
    redis_url: str,
) -> None:
    """A claimer's last batch is kept while its claim holds; the housekeeper's recovery
    drops it with the expired claim, so that replicas come and go without leaving it."""

    async def scenario(store: Store) -> Any:
        await store.schedule(new("e"), **NO_QUOTA)
        await store.claim(HOME, limit=5, claim_timeout_ms=50, claimer="gone", request="1")
        kept = await store.redis.hkeys(HOME.claims)
        await asyncio.sleep(0.1)
        await store.recover_expired(HOME, lease_value=await leader(store), limit=10)
        return kept, await store.redis.hkeys(HOME.claims)

    assert run(redis_url, scenario) == ([b"gone"], [])


def test_a_patch_sent_again_after_its_answer_was_lost_answers_patched(redis_url: str) -> None:
    """The same patch.lua call run twice (its first answer lost) finds the record it
    wrote, with this request's incarnation, and answers patched again, not "changed
    since read"; another patch computed from the old record is still refused."""

    async def scenario(store: Store) -> Any:
        await store.schedule(new("p", due_ms=NOW + 60_000), **NO_QUOTA)
        read = await store.redis.hget(HOME.msgs, "p")
        changed = new("p", due_ms=NOW + 120_000)
        meta, body, size = changed.record(attempts=0, state="p")
        args = ("p", read, meta, body, size, changed.due_ms)
        answers = [await store.scripts.run("patch", HOME, *args) for _ in range(2)]
        other = new("p", due_ms=NOW + 180_000).record(attempts=0, state="p")
        answers.append(await store.scripts.run("patch", HOME, "p", read, *other, NOW + 180_000))
        return answers, await store.redis.zscore(HOME.due, "p")

    answers, due = run(redis_url, scenario)
    assert answers == [1, 1, -3]
    assert due == NOW + 120_000


def test_a_cancel_sent_again_after_its_answer_was_lost_answers_cancelled(redis_url: str) -> None:
    """The same cancel.lua call run twice (its first answer lost) finds, in the message's
    history, that this request cancelled it, and answers cancelled again, not "no such
    message"; another request for the gone message is answered 0 (a 404), as before."""

    async def scenario(store: Store) -> Any:
        await store.schedule(new("c", due_ms=NOW + 60_000), **NO_QUOTA)
        args = ("c", "0", "1", "request-1")
        answers = [await store.scripts.run("cancel", HOME, *args) for _ in range(2)]
        answers.append(await store.cancel("c"))
        return answers, await store.get("c")

    answers, record = run(redis_url, scenario)
    assert answers == [1, 1, False]
    assert isinstance(record, HistoryRecord) and record.state is Finished.CANCELLED


def test_a_redrive_sent_again_after_its_answer_was_lost_answers_redriven(redis_url: str) -> None:
    """The same redrive.lua call run twice (its first answer lost) finds its own line in
    the attempts log and answers with the due time it set, not "not dead-lettered"; so it
    does after the redriven message died again (it is not redriven twice) and after it was
    delivered (the line went into its history). The line is not shown as an attempt, and
    another request for a message that is not dead is answered 0 (a 409), as before."""

    async def die(store: Store) -> None:
        await store.dead_letter(Finish(await claim_one(store), ""), error="refused")

    async def scenario(store: Store) -> Any:
        await store.schedule(new("r"), **NO_QUOTA)
        await die(store)
        args = ("r", "request-1")
        answers = [await store.scripts.run("redrive", HOME, *args) for _ in range(2)]
        shown = (await store.get("r")).log
        another = await store.redrive("r")
        await die(store)
        answers.append(await store.scripts.run("redrive", HOME, *args))
        still_dead = await store.redis.zscore(HOME.dead, "r") is not None
        await store.redrive("r")
        await store.ack([Finish(await claim_one(store), "")])
        answers.append(await store.scripts.run("redrive", HOME, *args))
        return answers, shown, another, still_dead, await store.get("r")

    answers, shown, another, still_dead, record = run(redis_url, scenario)
    assert answers[0] > 0 and answers == [answers[0]] * 4
    assert shown == [] and another is None
    assert still_dead
    assert isinstance(record, HistoryRecord) and record.state is Finished.DELIVERED


def test_on_one_redis_labelled_writes_do_not_look_at_their_label_indexes_first(
    redis_url: str,
) -> None:
    """Looking at each label index before the first write (_lib.lua, reach_labels) only
    matters where a slot can migrate mid-script, a Cluster (its tests move an index and
    see a settle stop before any write). On one Redis the scripts skip it: a labelled
    message is written, claimed, acked and its label index emptied without an EXISTS."""

    async def scenario(store: Store) -> Any:
        await store.redis.config_resetstat()
        labelled = NewMessage(
            "l", NOW, b"{}", "http://127.0.0.1:9/hook", NOW, options=Options(labels={"a": "b"})
        )
        await store.schedule(labelled, **NO_QUOTA)
        indexed = await store.redis.zcard(HOME.label("a", "b"))
        await store.ack([Finish(await claim_one(store), "")])
        stats = await store.redis.info("commandstats")
        return indexed, await store.redis.zcard(HOME.label("a", "b")), stats

    indexed, left, stats = run(redis_url, scenario)
    assert (indexed, left) == (1, 0)
    assert "cmdstat_exists" not in stats
    assert "redis.call('EXISTS'" in source("ack")  # what a Cluster's store runs
    assert "redis.call('EXISTS'" not in source("ack", cluster=False)


def test_an_id_is_stored_once(redis_url: str) -> None:
    async def scenario(store: Store) -> list[Stored]:
        return [await store.schedule(new("twice"), **NO_QUOTA) for _ in range(2)]

    assert run(redis_url, scenario) == [Stored.STORED, Stored.EXISTS]


def test_a_create_sent_again_after_its_answer_was_lost_is_stored_once(redis_url: str) -> None:
    """A client sends a call again when its answer was lost (a Cluster client drops every
    connection when it refreshes its slot map): the same schedule.lua call, run twice,
    answers "stored" both times and stores one message, even when the first one was
    delivered in between. A new request for the id (a new incarnation) is refused while
    the message is pending and stored once it has finished, as before."""

    async def scenario(store: Store) -> Any:
        args = _new(new("again"), 0, 0)
        answers = [await store.scripts.run("schedule", HOME, *args) for _ in range(2)]
        pending_twice = await store.redis.zcard(HOME.due)
        other_request = await store.schedule(new("again"), **NO_QUOTA)
        await store.ack([Finish(await claim_one(store), "")])
        answers.append(await store.scripts.run("schedule", HOME, *args))
        after_delivery = await store.redis.zcard(HOME.due), await store.get("again")
        reborn = await store.schedule(new("again"), **NO_QUOTA)
        return answers, pending_twice, other_request, after_delivery, reborn

    answers, pending_twice, other_request, (pending, record), reborn = run(redis_url, scenario)
    assert answers == [1, 1, 1]
    assert pending_twice == 1
    assert other_request is Stored.EXISTS
    assert pending == 0 and isinstance(record, HistoryRecord)  # not stored again
    assert reborn is Stored.STORED


def test_a_schedule_written_again_after_its_answer_was_lost_answers_what_it_did(
    redis_url: str,
) -> None:
    """A create or an edit of a recurring schedule, sent again as it was: the second run
    answers the version the first one wrote. Another request still meets 409: a create
    made at another moment, an edit of another definition from the same version."""

    async def scenario(store: Store) -> list[int]:
        schedules = ScheduleStore(store)

        def put(version: int | None, definition: bytes, created_ms: int = NOW) -> Any:
            return schedules.put(
                "s1", version=version, definition=definition, body=b"\n{}",
                next_fire_ms=None, created_ms=created_ms, fires=[],
            )  # fmt: skip

        return [
            await put(None, b'{"every":60}'),
            await put(None, b'{"every":60}'),  # the create again
            await put(None, b'{"every":60}', created_ms=NOW + 1),  # another create
            await put(1, b'{"every":30}'),
            await put(1, b'{"every":30}'),  # the edit again
            await put(1, b'{"every":10}'),  # another edit of version 1
        ]

    assert run(redis_url, scenario) == [1, 1, Put.MISSING_OR_EXISTS, 2, 2, Put.CHANGED]


def test_a_batch_survives_a_redis_that_forgot_its_scripts(redis_url: str) -> None:
    """A restarted or failed-over Redis answers NOSCRIPT: the batch loads the script and
    runs each call once (the ones refused never ran, the others are not repeated)."""

    async def scenario(store: Store) -> Any:
        first = await store.schedule_many([new("n1"), new("n2")])
        await store.redis.script_flush()
        second = await store.schedule_many([new("n2"), new("n3"), new("n4")])
        return first, second, await store.redis.zcard(HOME.due)

    first, second, pending = run(redis_url, scenario)
    assert first == [Stored.STORED, Stored.STORED]
    assert second == [Stored.EXISTS, Stored.STORED, Stored.STORED]
    assert pending == 4


def test_an_error_in_a_batch_is_raised(redis_url: str) -> None:
    async def scenario(store: Store) -> Any:
        await store.redis.set(HOME.due, "not a sorted set")
        return await store.schedule_many([new("w1")])

    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        run(redis_url, scenario)


def test_concurrent_claims_hand_each_message_to_one_caller(redis_url: str) -> None:
    async def scenario(store: Store) -> list[list[str]]:
        await store.schedule_many([new(f"c{i}") for i in range(500)])

        async def claimer() -> list[str]:
            got: list[str] = []
            for _ in range(200):
                batch = await store.claim(HOME, limit=7, claim_timeout_ms=60_000)
                got += [claim.id for claim in batch.claims]
            return got

        return list(await asyncio.gather(*(claimer() for _ in range(4))))

    results = run(redis_url, scenario)
    every = [message_id for got in results for message_id in got]
    assert sorted(every) == sorted(f"c{i}" for i in range(500))
    assert all(results), "every claimer got some"


def test_every_claim_gets_a_new_token(redis_url: str) -> None:
    async def scenario(store: Store) -> tuple[str, str]:
        await store.schedule(new("t"), **NO_QUOTA)
        first = await claim_one(store)
        await store.retry(Finish(first, ""), delay_ms=0, error="again")
        second = await claim_one(store)
        return first.token, second.token

    first, second = run(redis_url, scenario)
    assert first and second and first != second


class TestLateSettlesFromExpiredClaims:
    """A claim expires, housekeeping recovers it, then its replica wakes up and settles."""

    @staticmethod
    async def expired_then_recovered(store: Store) -> Any:
        await store.schedule(new("late"), **NO_QUOTA)
        stale = await claim_one(store, timeout_ms=0)
        assert await store.recover_expired(HOME, lease_value=await leader(store), limit=10) == 1
        return stale

    def test_late_dead_letter_changes_nothing(self, redis_url: str, raw_redis: Any) -> None:
        async def scenario(store: Store) -> Any:
            stale = await self.expired_then_recovered(store)
            return await store.dead_letter(Finish(stale, ""), error="too late")

        assert run(redis_url, scenario) is False
        assert raw_redis.zrange("{scheduler:0}:due", 0, -1) == ["late"]
        assert raw_redis.zcard("{scheduler:0}:dead") == 0

    def test_late_retry_and_ack_change_nothing(self, redis_url: str, raw_redis: Any) -> None:
        async def scenario(store: Store) -> Any:
            stale = await self.expired_then_recovered(store)
            return await store.retry(
                Finish(stale, ""), delay_ms=99_999, error="x"
            ), await store.ack([Finish(stale, "")])

        assert run(redis_url, scenario) == (None, 0)
        assert raw_redis.zrange("{scheduler:0}:due", 0, -1) == ["late"]
        assert raw_redis.hexists("{scheduler:0}:msgs", "late")

    def test_late_dead_letter_cannot_stop_the_new_claims_delivery(self, redis_url: str) -> None:
        async def scenario(store: Store) -> Any:
            stale = await self.expired_then_recovered(store)
            current = await claim_one(store)
            refused = await store.dead_letter(Finish(stale, ""), error="too late")
            # A redrive now would make it claimable while `current` is being delivered.
            redriven = await store.redrive("late")
            acked = await store.ack([Finish(current, "")])
            return refused, redriven, acked, await store.get("late")

        refused, redriven, acked, record = run(redis_url, scenario)
        assert (refused, redriven, acked) == (False, None, 1)
        assert isinstance(record, HistoryRecord) and record.state is Finished.DELIVERED

    def test_a_stale_claim_cannot_reschedule_while_the_new_one_can(self, redis_url: str) -> None:
        async def scenario(store: Store) -> Any:
            stale = await self.expired_then_recovered(store)
            current = await claim_one(store)
            return (
                stale.attempt,
                current.attempt,
                await store.retry(Finish(stale, ""), delay_ms=0, error="old"),
                await store.retry(Finish(current, ""), delay_ms=0, error="new"),
            )

        first, second, stale, current = run(redis_url, scenario)
        assert (first, second, stale) == (1, 2, None)
        assert current is not None and current > 0


def test_ack_spares_a_new_message_that_reuses_the_id(redis_url: str) -> None:
    async def scenario(store: Store) -> Any:
        await store.schedule(new("same", created_ms=NOW), **NO_QUOTA)
        claim = await claim_one(store)
        await store.cancel("same")
        await store.schedule(new("same", created_ms=NOW + 1, due_ms=NOW + 10**9), **NO_QUOTA)
        return await store.ack([Finish(claim, "")]), await store.get("same")

    removed, record = run(redis_url, scenario)
    assert removed == 0
    assert record is not None and record.meta.created_ms == NOW + 1


def test_housekeeping_scripts_refuse_a_former_lease_holder(redis_url: str) -> None:
    async def scenario(store: Store) -> Any:
        old = await leader(store, "old")
        await store.lease_release(lease_value=old)
        newer = await leader(store, "new")
        refusals = []
        for step in (
            store.recover_expired(HOME, lease_value=old, limit=10),
            store.purge_dead(HOME, lease_value=old, retention_ms=0, limit=10),
        ):
            with pytest.raises(LeaseLost):
                await step
            refusals.append(True)
        return old, newer, refusals, await store.recover_expired(HOME, lease_value=newer, limit=10)

    old, newer, refusals, allowed = run(redis_url, scenario)
    assert int(newer.split(":")[1]) == int(old.split(":")[1]) + 1
    assert refusals == [True, True]
    assert allowed == 0


@pytest.mark.parametrize("renewals", [1, 3])
def test_lease_renewal_keeps_the_fence_and_excludes_others(redis_url: str, renewals: int) -> None:
    async def scenario(store: Store) -> Any:
        tokens = [await store.lease_acquire(owner="a", ttl_ms=10_000) for _ in range(renewals)]
        other = await store.lease_acquire(owner="b", ttl_ms=10_000)
        return tokens, other

    tokens, other = run(redis_url, scenario)
    assert len(set(tokens)) == 1 and tokens[0] > 0
    assert other == 0


class TestQuotas:
    def test_message_quota_counts_every_stored_message(self, redis_url: str) -> None:
        async def scenario(store: Store) -> list[Stored]:
            return [
                await store.schedule(new(f"q{i}"), max_messages=2, max_bytes=0) for i in range(3)
            ]

        assert run(redis_url, scenario) == [Stored.STORED, Stored.STORED, Stored.OVER_MESSAGE_QUOTA]

    @pytest.mark.parametrize("size", [100, 1000], ids=["inline", "stored-apart"])
    def test_byte_quota_is_freed_by_every_way_a_message_leaves(
        self, redis_url: str, size: int
    ) -> None:
        async def scenario(store: Store) -> list[Any]:
            quota = {"max_messages": 0, "max_bytes": int(size * 2.5)}
            seen = [await store.schedule(new(f"b{i}", size=size), **quota) for i in range(3)]
            claim = await claim_one(store)
            await store.ack([Finish(claim, "")])  # delivered: its bytes are free again
            seen.append(await store.schedule(new("b3", size=size), **quota))
            await store.cancel("b1")
            seen.append(await store.schedule(new("b4", size=size), **quota))
            seen.append((await store.stats()).body_bytes)
            return seen

        *stored, body_bytes = run(redis_url, scenario)
        assert stored == [
            Stored.STORED,
            Stored.STORED,
            Stored.OVER_BYTE_QUOTA,
            Stored.STORED,
            Stored.STORED,
        ]
        assert body_bytes == 2 * (size + 1)  # two payloads, each after its newline


def test_page_reads_no_body(redis_url: str, raw_redis: redis.Redis) -> None:
    """Listing costs the same whatever the payload: page.lua never touches bodies."""

    async def scenario(store: Store) -> Any:
        await store.schedule_many([new(f"p{i}", due_ms=NOW + i, size=100_000) for i in range(5)])
        raw_redis.config_resetstat()
        page = await store.page(index="due", limit=10, after=None)
        return page

    page = run(redis_url, scenario)
    assert [row.id for row in page.rows] == [f"p{i}" for i in range(5)]
    stats = raw_redis.info("commandstats")
    assert stats["cmdstat_hmget"]["calls"] == 1  # the five records, in one call
    assert "cmdstat_hget" not in stats  # and no body
    assert raw_redis.hlen("{scheduler:0}:bodies") == 5


class TestFirstLayoutMigration:
    """Messages written by the first storage layout move over with nothing lost."""

    @staticmethod
    def write_legacy(raw: redis.Redis) -> None:
        tag = LegacyKeys().tag  # records: due, created, attempts, state, dead-at, url, trace, error
        raw.hset(f"{tag}:messages", "pend", "lhb0w0g0\nlhb0w0g0\n0\np\n\nhttp://a/\n\n\n{}")
        raw.zadd(f"{tag}:due", {"pend": NOW})
        raw.hset(f"{tag}:messages", "fly", "lhb0w0g0\nlhb0w0g0\n1\ni\n\nhttp://b/\n\n\n[1]")
        raw.zadd(f"{tag}:inflight", {"fly": NOW + 60_000})
        raw.hset(
            f"{tag}:messages", "died", f"lhb0w0g0\nlhb0w0g0\n3\nd\n{NOW}\nhttp://c/\n\nboom\n2"
        )
        raw.zadd(f"{tag}:dead", {"died": NOW})

    def test_pending_in_flight_and_dead_messages_all_move(
        self, redis_url: str, raw_redis: redis.Redis
    ) -> None:
        self.write_legacy(raw_redis)

        async def scenario(store: Store) -> Any:
            steps = [await store.migrate_legacy(limit=10) for _ in range(4)]
            records = {i: await store.get(i) for i in ("pend", "fly", "died")}
            return steps, records

        steps, records = run(redis_url, scenario)
        # Due messages first, then those an old replica had in flight, then dead letters.
        assert steps == [(1, 2), (1, 1), (1, 0), (0, 0)]
        assert records["pend"].meta.state is State.PENDING and records["pend"].payload == b"{}"
        assert records["fly"].meta.state is State.PENDING and records["fly"].payload == b"[1]"
        assert records["died"].meta.state is State.DEAD
        assert records["died"].meta.dead_ms == NOW and records["died"].meta.error == "boom"
        assert raw_redis.zcard("{scheduler:0}:due") == 2
        assert raw_redis.zscore("{scheduler:0}:dead", "died") == NOW
        assert not raw_redis.exists("{scheduler}:messages", "{scheduler}:due", "{scheduler}:dead")


def test_the_label_index_the_service_names_is_the_one_the_scripts_write(redis_url: str) -> None:
    """Keys.label (read by repartition to move a schedule with its fires) and _lib.lua's
    label_key (which writes the index) must name the same key."""
    labelled = NewMessage(
        "lab", NOW, b"{}", "http://127.0.0.1:9/hook", NOW, options=Options(labels={"t": "x"})
    )

    async def scenario(store: Store) -> list[int]:
        await store.schedule(labelled, **NO_QUOTA)
        return [
            await store.redis.zcard(HOME.label("t", "x")),
            await store.redis.zcard(HOME.label("t", "x", dead=True)),
        ]

    assert run(redis_url, scenario) == [1, 0]
