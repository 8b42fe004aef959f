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

from redis.exceptions import RedisError

from .cancellation import reraise_if_cancelling
from .config import Settings
from .metrics import Metrics
from .pause import Pause
from .policy import Backoff, Outcome, Verdict
from .records import Claim
from .store import Store

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
        self, *, store: Store, settings: Settings, metrics: Metrics, notify: Callable[[int], None]
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.notify = notify
        self.max_attempts = settings.delivery_max_attempts
        self.backoff = Backoff(
            settings.delivery_backoff_base_seconds, settings.delivery_backoff_max_seconds
        )
        self.acks = AckBatcher(store)

    async def settle(self, claim: Claim, outcome: Outcome) -> Settlement:
        """Ack, reschedule or dead-letter `claim` as `outcome` says; counts it in metrics.

        Raises SettleGaveUp when Redis stayed away too long: the claim then expires.
        """
        settlement = self.decide(claim, outcome)
        self.metrics.outcomes[settlement].inc()
        if settlement is Settlement.DELIVERED:
            self.acks.add(claim)
        elif settlement is Settlement.RETRIED:
            await self._retry(claim, outcome)
        else:
            await self._dead_letter(claim, outcome)
        return settlement

    def decide(self, claim: Claim, outcome: Outcome) -> Settlement:
        if outcome.verdict is Verdict.DELIVERED:
            return Settlement.DELIVERED
        if outcome.verdict is Verdict.RETRY and claim.attempt < self.max_attempts:
            return Settlement.RETRIED
        return Settlement.DEAD_LETTERED

    async def _retry(self, claim: Claim, outcome: Outcome) -> None:
        delay = self.backoff.delay(claim.attempt, retry_after=outcome.retry_after)
        step = partial(self.store.retry, claim, delay_ms=int(delay * 1000), error=outcome.error)
        due = await settle_safely(step, claim.id)
        if due is None:
            _stale(claim, "retry")
        else:
            self.notify(due)

    async def _dead_letter(self, claim: Claim, outcome: Outcome) -> None:
        error = outcome.error
        if outcome.verdict is Verdict.RETRY:
            error = f"gave up after {claim.attempt} attempts; last: {error}"
        if not await settle_safely(partial(self.store.dead_letter, claim, error=error), claim.id):
            _stale(claim, "dead letter")

    async def hand_back(self, claim: Claim) -> None:
        """Return an unfinished claim to the schedule, due now (shutdown ran out of grace)."""
        step = partial(self.store.retry, claim, delay_ms=0, error="interrupted by shutdown")
        if await settle_safely(step, claim.id) is None:
            _stale(claim, "hand-back")


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
        self._pending: list[Claim] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="acks")

    def add(self, claim: Claim) -> None:
        self._pending.append(claim)
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
        except (RedisError, OSError) as error:
            reraise_if_cancelling()
            wait = pause.next()
            if time.monotonic() + wait > deadline:
                log.error("could not settle %s; the claim will expire: %s", what, error)
                raise SettleGaveUp(what) from error
            await asyncio.sleep(wait)
