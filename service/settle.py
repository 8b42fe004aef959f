"""Settling an attempt: the message is acked, retried later or dead-lettered, never left.

Every step is fenced by the claim's token in Redis: a settle from a claim that expired
(its message recovered, maybe claimed again elsewhere) changes nothing and is logged.
While Redis is away a step is retried for SETTLE_PATIENCE_SECONDS; after that the claim
expires and the message is delivered again, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from functools import partial
from typing import TypeVar

from .attempt import AttemptResult
from .callbacks import result_callback
from .cancellation import reraise_if_cancelling
from .config import Settings
from .history import AttemptEntry
from .metrics import Metrics
from .pause import Pause
from .policy import Backoff, Outcome, Verdict
from .records import Claim, NewMessage
from .store import Finish, Store
from .store_errors import STORE_OR_OS_ERRORS
from .webhook import WebhookResponse

log = logging.getLogger("service.delivery")
T = TypeVar("T")

SETTLE_PATIENCE_SECONDS = 30.0


class SettleGaveUp(Exception):
    """Redis stayed away for SETTLE_PATIENCE_SECONDS; the claim will expire and be redone."""


class Settlement(StrEnum):
    """What became of a message after one attempt."""

    DELIVERED = "delivered"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"


class Settler:
    """Writes the outcome of attempts; acks go through a batcher that owns its task."""

    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        metrics: Metrics,
        notify: Callable[[int, str], None],
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.notify = notify
        self.max_attempts = settings.delivery_max_attempts
        self.backoff = Backoff(
            settings.delivery_backoff_base_seconds, settings.delivery_backoff_max_seconds
        )
        self.acks = AckBatcher(store)

    async def settle(self, claim: Claim, result: AttemptResult) -> Settlement:
        """Ack, reschedule or dead-letter `claim` as the attempt's outcome says.

        Raises SettleGaveUp when Redis stayed away too long: the claim then expires.
        """
        outcome = result.outcome
        settlement = self.decide(claim, outcome)
        self.metrics.outcomes[settlement].inc()
        if claim.meta.opts.schedule is not None:
            self.metrics.fire_outcomes[settlement].inc()
        entry = log_entry(claim, result)
        if settlement is Settlement.DELIVERED:
            callback = result_callback(claim, result.answer, delivered=True, error=None)
            self.acks.add(Finish(claim, entry, callback))
            self._count_callback(callback)
        elif settlement is Settlement.RETRIED:
            await self._retry(Finish(claim, entry), outcome)
        else:
            await self._dead_letter(claim, result, entry)
        return settlement

    def decide(self, claim: Claim, outcome: Outcome) -> Settlement:
        if outcome.verdict is Verdict.DELIVERED:
            return Settlement.DELIVERED
        limit = claim.meta.opts.max_attempts or self.max_attempts
        if outcome.verdict is Verdict.RETRY and claim.attempt < limit:
            return Settlement.RETRIED
        return Settlement.DEAD_LETTERED

    async def _retry(self, finish: Finish, outcome: Outcome) -> None:
        claim = finish.claim
        delay = self.backoff.delay(claim.attempt, retry_after=outcome.retry_after)
        step = partial(self.store.retry, finish, delay_ms=int(delay * 1000), error=outcome.error)
        due = await settle_safely(step, claim.id)
        if due is None:
            _stale(claim, "retry")
        else:
            self.notify(due, claim.id)

    async def _dead_letter(self, claim: Claim, result: AttemptResult, entry: str) -> None:
        outcome = result.outcome
        error = outcome.error
        if outcome.verdict is Verdict.RETRY:
            error = f"gave up after {claim.attempt} attempts; last: {error}"
        callback = result_callback(claim, result.answer, delivered=False, error=error)
        step = partial(self.store.dead_letter, Finish(claim, entry, callback), error=error)
        if await settle_safely(step, claim.id):
            self._count_callback(callback)
        else:
            _stale(claim, "dead letter")

    def _count_callback(self, callback: NewMessage | None) -> None:
        if callback is not None:
            self.metrics.callbacks.inc()
            self.notify(callback.due_ms, callback.id)

    async def hand_back(self, claim: Claim) -> None:
        """Return an unfinished claim to the schedule, due now (shutdown ran out of grace)."""
        finish = Finish(claim, "")
        step = partial(self.store.retry, finish, delay_ms=0, error="interrupted by shutdown")
        if await settle_safely(step, claim.id) is None:
            _stale(claim, "hand-back")


def log_entry(claim: Claim, result: AttemptResult) -> str:
    """The attempts-log line for this attempt."""
    answer = result.answer
    return AttemptEntry(
        attempt=claim.attempt,
        started_ms=int(result.started * 1000),
        duration_ms=int(result.duration * 1000),
        status=answer.status if isinstance(answer, WebhookResponse) else None,
        error=result.outcome.error or None,
    ).encode()


def _stale(claim: Claim, step: str) -> None:
    # Expected when a claim outlived CLAIM_TIMEOUT_SECONDS or the message was deleted
    # meanwhile: the current holder (or nobody) owns it now, so this replica stays out.
    log.info("%s skipped: the claim is no longer current", step, extra={"message_id": claim.id})


class AckBatcher:
    """Removes delivered messages in batches: one script call for all acks ready at once.

    Under a burst this turns thousands of round trips into a few dozen; an ack that
    waits here a little longer only delays cleanup, never a delivery.
    """

    MAX_BATCH = 512

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[Finish] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="acks")

    def add(self, finish: Finish) -> None:
        self._pending.append(finish)
        self._idle.clear()
        self._ready.set()

    async def _run(self) -> None:
        while not (self._closing and not self._pending):
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                batch = self._pending[: self.MAX_BATCH]
                del self._pending[: self.MAX_BATCH]
                with contextlib.suppress(SettleGaveUp):
                    await settle_safely(partial(self.store.ack, batch), f"{len(batch)} acks")
            self._idle.set()

    async def flushed(self) -> None:
        """Wait until every ack added so far has been written (or given up on)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Write what is pending, then stop."""
        self._closing = True
        self._ready.set()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=SETTLE_PATIENCE_SECONDS + 5)


async def settle_safely(step: Callable[[], Awaitable[T]], what: str) -> T:
    """Run a settle step, retrying while Redis is away; SettleGaveUp if it never got through."""
    deadline = time.monotonic() + SETTLE_PATIENCE_SECONDS
    pause = Pause(cap=2.0)
    while True:
        try:
            return await step()
        except STORE_OR_OS_ERRORS as error:
            reraise_if_cancelling()
            wait = pause.next()
            if time.monotonic() + wait > deadline:
                log.error("could not settle %s; the claim will expire: %s", what, error)
                raise SettleGaveUp(what) from error
            await asyncio.sleep(wait)
