"""The delivery loop without Redis or network: wake-ups, drain and settling.

The claim source and the settle store are in-memory stand-ins for the store's
interface, and the webhook client a fake behind the client interface (as httpx's
MockTransport is), so these run in milliseconds; the same paths run against a real
Redis and real receivers in tests/integration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from service.attempt import Sender
from service.config import Settings
from service.delivery import MAX_IDLE_SECONDS, Alarm, Dispatcher
from service.keys import Keys, Layout
from service.metrics import Metrics
from service.records import Claim, ClaimBatch, Meta, NewMessage
from service.settle import Settler
from service.store import Finish
from service.telemetry import Tracing
from service.webhook import WebhookRequest, WebhookResponse

SETTINGS = Settings(  # type: ignore[call-arg]
    _env_file=None,
    api_token="unit-test-token",
    redis_host="unused",
    delivery_concurrency=4,
    delivery_max_attempts=3,
    delivery_backoff_base_seconds=0.01,
    delivery_backoff_max_seconds=0.02,
)


def now_ms() -> int:
    return int(time.time() * 1000)


def claim(message_id: str, due_ms: int) -> Claim:
    meta = Meta.decode(NewMessage(message_id, due_ms, b"{}", "http://h/", 0).stored()[0])
    return Claim(message_id, due_ms, meta, b"{}", {})


@dataclass
class Schedule:
    """The store's claim and settle operations, in memory."""

    due: list[Claim] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    retried: list[tuple[str, str]] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)

    async def claim(
        self, keys: Keys, *, limit: int, claim_timeout_ms: int, claimer: str = "", request: str = ""
    ) -> ClaimBatch:
        now = now_ms()
        ready = [c for c in self.due if c.due_ms <= now][:limit]
        self.due = [c for c in self.due if c not in ready]
        later = min((c.due_ms for c in self.due), default=None)
        return ClaimBatch(ready, now_ms=now, next_due_ms=later)

    async def ack(self, finished: list[Finish]) -> int:
        self.acked += [f.claim.id for f in finished]
        return len(finished)

    async def retry(self, finish: Finish, *, delay_ms: int, error: str) -> int:
        self.retried.append((finish.claim.id, error))
        return now_ms() + delay_ms

    async def dead_letter(self, finish: Finish, *, error: str) -> bool:
        self.dead.append((finish.claim.id, error))
        return True


class FakeClient:
    """Answers every request after `delay` with `status`, or runs `fail`."""

    def __init__(self, *, delay: float = 0.0, status: int = 200) -> None:
        self.delay = delay
        self.status = status
        self.sent: list[tuple[str, float]] = []
        self.fail: Callable[[], Awaitable[Any]] | None = None

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        self.sent.append((request.headers["webhook-id"], time.time()))
        if self.fail is not None:
            await self.fail()
        await asyncio.sleep(self.delay)
        return WebhookResponse(self.status, None, None, b"")

    async def aclose(self) -> None:
        return None


def dispatcher(schedule: Schedule, client: FakeClient) -> Dispatcher:
    metrics = Metrics()
    tracing = Tracing(environ={})
    holder: list[Dispatcher] = []
    settler = Settler(
        store=schedule,  # type: ignore[arg-type]
        settings=SETTINGS,
        metrics=metrics,
        notify=lambda due, message_id: holder[0].notify(due, message_id),
    )
    sender = Sender(client=client, settings=SETTINGS, metrics=metrics, tracing=tracing)
    built = Dispatcher(
        source=schedule,
        layout=Layout(),
        sender=sender,
        settler=settler,
        settings=SETTINGS,
        metrics=metrics,
    )
    holder.append(built)
    return built


async def until(predicate: Callable[[], bool], within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.005)
    return predicate()


def test_the_alarm_wakes_only_for_earlier_messages() -> None:
    async def scenario() -> tuple[bool, bool]:
        alarm = Alarm()
        sleeper = asyncio.create_task(alarm.sleep(10.0, now_ms=1_000.0))
        await asyncio.sleep(0.01)
        alarm.notify(20_000)  # after the alarm: no reason to wake
        await asyncio.sleep(0.01)
        later_woke = sleeper.done()
        alarm.notify(5_000)  # before the alarm: wake now
        await asyncio.wait_for(sleeper, 1.0)
        return later_woke, sleeper.done()

    assert asyncio.run(scenario()) == (False, True)


def test_the_loop_sleeps_until_the_earliest_due_message_not_a_tick() -> None:
    async def scenario() -> float:
        schedule, client = Schedule(), FakeClient()
        due = now_ms() + 300
        schedule.due.append(claim("soon", due))
        loop = dispatcher(schedule, client)
        task = asyncio.create_task(loop.run())
        assert await until(lambda: bool(client.sent))
        loop.stop_claiming()
        await asyncio.wait_for(task, 5)
        return client.sent[0][1] * 1000 - due

    late_ms = asyncio.run(scenario())
    assert 0 <= late_ms < MAX_IDLE_SECONDS * 1000 / 2


def test_notify_wakes_an_idle_loop_at_once() -> None:
    async def scenario() -> float:
        schedule, client = Schedule(), FakeClient()
        loop = dispatcher(schedule, client)
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.05)  # idle: nothing due, asleep for up to a second
        due = now_ms()
        schedule.due.append(claim("new", due))
        loop.notify(due)
        assert await until(lambda: bool(client.sent))
        loop.stop_claiming()
        await asyncio.wait_for(task, 5)
        return client.sent[0][1] * 1000 - due

    assert asyncio.run(scenario()) < MAX_IDLE_SECONDS * 1000 / 2


def test_drain_lets_running_deliveries_finish_within_the_grace() -> None:
    async def scenario() -> Schedule:
        schedule, client = Schedule(), FakeClient(delay=0.2)
        schedule.due += [claim(f"m{i}", now_ms()) for i in range(3)]
        loop = dispatcher(schedule, client)
        task = asyncio.create_task(loop.run())
        assert await until(lambda: len(client.sent) == 3)
        await loop.drain(grace=5.0)
        await asyncio.wait_for(task, 5)
        return schedule

    schedule = asyncio.run(scenario())
    assert sorted(schedule.acked) == ["m0", "m1", "m2"]
    assert schedule.retried == []


def test_drain_hands_back_what_outlives_the_grace() -> None:
    async def scenario() -> Schedule:
        schedule, client = Schedule(), FakeClient(delay=5.0)
        schedule.due += [claim(f"m{i}", now_ms()) for i in range(2)]
        loop = dispatcher(schedule, client)
        task = asyncio.create_task(loop.run())
        assert await until(lambda: len(client.sent) == 2)
        await loop.drain(grace=0.1)
        await asyncio.wait_for(task, 5)
        return schedule

    schedule = asyncio.run(scenario())
    assert sorted(schedule.retried) == [
        ("m0", "interrupted by shutdown"),
        ("m1", "interrupted by shutdown"),
    ]
    assert schedule.acked == []


def test_an_exception_in_an_attempt_is_settled_not_dropped() -> None:
    async def scenario() -> Schedule:
        schedule, client = Schedule(), FakeClient()

        async def explode() -> None:
            raise ValueError("unexpected")

        client.fail = explode
        schedule.due.append(claim("boom", now_ms()))
        loop = dispatcher(schedule, client)
        task = asyncio.create_task(loop.run())
        assert await until(lambda: bool(schedule.retried))
        loop.stop_claiming()
        await asyncio.wait_for(task, 5)
        return schedule

    [(message_id, error)] = asyncio.run(scenario()).retried
    assert message_id == "boom"
    assert "internal error during the attempt: ValueError: unexpected" in error
