"""The delivery loop every replica runs: claim what is due, deliver it, settle the outcome.

    claim (here) -> attempt (attempt.py) -> settle (settle.py)

The claim loop sleeps until the earliest due message, or MAX_IDLE_SECONDS when nothing
is due, and is woken at once by `notify` when a message is scheduled before its alarm.
Workers, one per delivery slot, run attempts; whatever happens inside an attempt, its
claim is settled (retried or dead-lettered with the error), never left to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
import uuid
from typing import Protocol

from .attempt import AttemptResult, Sender, log_attempt
from .cancellation import reraise_if_cancelling
from .config import Settings
from .due_board import DueBoard
from .keys import Keys, Layout
from .metrics import Metrics
from .pause import Pause
from .policy import internal_failure
from .records import Claim, ClaimBatch
from .settle import SettleGaveUp, Settler
from .webhook import WebhookError

log = logging.getLogger("service.delivery")

# With nothing due the loop still looks every second: a message accepted by a replica
# that died before its notify reached anyone, and claims recovered by the housekeeper,
# are found within this.
MAX_IDLE_SECONDS = 1.0


class ClaimSource(Protocol):
    """Where due messages come from (the store)."""

    async def claim(
        self,
        keys: Keys,
        *,
        limit: int,
        claim_timeout_ms: int,
        claimer: str = "",
        request: str = "",
    ) -> ClaimBatch: ...

    async def next_due(self) -> list[int | None]: ...


class Alarm:
    """When the claim loop next looks, and whether a newly scheduled message is earlier."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.next_due_ms = math.inf

    def notify(self, due_ms: int) -> None:
        if due_ms < self.next_due_ms:
            self.event.set()

    def delay_for(self, batch: ClaimBatch) -> float:
        """Seconds until the earliest due message, at most MAX_IDLE_SECONDS."""
        delay = MAX_IDLE_SECONDS
        if batch.next_due_ms is not None:
            delay = min(delay, max(0.0, (batch.next_due_ms - batch.now_ms) / 1000))
        return delay

    async def sleep(self, delay: float, *, now_ms: float = 0.0) -> None:
        """Sleep `delay` seconds or until notify() (or stop) sets the event."""
        if delay <= 0 or self.event.is_set():
            return
        self.next_due_ms = now_ms + delay * 1000 if now_ms else math.inf
        alarm = asyncio.get_running_loop().call_later(delay, self.event.set)
        try:
            await self.event.wait()
        finally:
            alarm.cancel()
            self.next_due_ms = math.inf


class Dispatcher:
    """Claims due messages in batches and delivers them with bounded concurrency."""

    def __init__(
        self,
        *,
        source: ClaimSource,
        layout: Layout,
        sender: Sender,
        settler: Settler,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.source = source
        self.layout = layout
        self.partitions = layout.partitions()
        self.board = DueBoard(layout.count)
        self._clock = (0.0, time.monotonic())  # (Redis ms, monotonic s) at the last claim
        self._looked_everywhere = time.monotonic()
        self.sender = sender
        self.settler = settler
        self.metrics = metrics
        self.concurrency = settings.delivery_concurrency
        self.claim_timeout_ms = int(settings.claim_timeout_seconds * 1000)
        self.alarm = Alarm()
        self._inbox: asyncio.Queue[Claim] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._busy = 0  # claims handed to workers and not yet settled
        self._settled = asyncio.Event()
        self._settled.set()
        self._slot_freed = asyncio.Event()
        self._claiming = True
        # Claims are named (claim.lua): this loop, and per partition the request that got
        # no answer yet, asked again (first) until one comes, so that a batch whose
        # answer was lost is delivered now, not when its claim expires.
        self._claimer = uuid.uuid4().hex
        self._requests = itertools.count(1)
        self._unanswered: dict[int, str] = {}

    # -- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and deliver until stop_claiming() is called, then until all is settled."""
        self.settler.acks.start()
        # Long-lived workers, one per slot: cheaper than a task per delivery in a burst.
        self._workers = [
            asyncio.create_task(self._work(), name=f"delivery-{n}") for n in range(self.concurrency)
        ]
        try:
            await self._claim_loop()
            # Deliveries still running (a drain) settle through the batcher: keep it open.
            await self._settled.wait()
        finally:
            for worker in self._workers:
                worker.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            await self.settler.acks.close()

    async def _claim_loop(self) -> None:
        pause = Pause()
        while self._claiming:
            reraise_if_cancelling()
            free = self.concurrency - self._busy
            if free <= 0:
                await self._wait_for_slots()
                continue
            # Cleared before the claim, not before the sleep: a message scheduled while the
            # claim is on its way must still cut the coming sleep short.
            self.alarm.event.clear()
            try:
                free = await self._claim_due(free)
            except Exception as error:  # the loop must outlive any failure; Redis ones expected
                reraise_if_cancelling()
                self.metrics.redis_up.set(0)
                wait = pause.next()
                log.warning("claim failed, retrying in %.2fs: %r", wait, error)
                await self.alarm.sleep(wait)
                continue
            self.metrics.redis_up.set(1)
            pause.reset()
            if free == 0:
                await self._wait_for_slots()
            else:
                await self._sleep_until_due()

    def relayout(self, layout: Layout) -> None:
        """Claim from the partitions of `layout` from now on (a repartition began or ended)."""
        self.layout = layout
        self.partitions = layout.partitions()
        self.board = DueBoard(layout.count)
        self._unanswered.clear()  # (numbered in the old layout; they expire as before)

    async def _claim_due(self, free: int) -> int:
        """Claim up to `free` messages from the partitions that are due, earliest first;
        the slots still free afterwards."""
        partitions, board = self.partitions, self.board  # as they were when this began
        for partition in dict.fromkeys([*self._unanswered, *board.due(self._now_ms())]):
            request = self._unanswered.setdefault(partition, str(next(self._requests)))
            batch = await self.source.claim(
                partitions[partition],
                limit=free,
                claim_timeout_ms=self.claim_timeout_ms,
                claimer=self._claimer,
                request=request,
            )
            self._unanswered.pop(partition, None)
            self._clock = (batch.now_ms, time.monotonic())
            board.note(partition, batch.next_due_ms)
            for claim in batch.claims:
                self._hand_over(claim)
            free -= len(batch.claims)
            if free == 0 or not self._claiming:
                break
        return free

    async def _sleep_until_due(self) -> None:
        now_ms = self._now_ms()
        delay = min(MAX_IDLE_SECONDS, max(0.0, (self.board.earliest() - now_ms) / 1000))
        await self.alarm.sleep(delay, now_ms=now_ms)
        if time.monotonic() - self._looked_everywhere >= MAX_IDLE_SECONDS:
            # Other replicas schedule and recover claims without telling this one.
            self._looked_everywhere = time.monotonic()
            await self._look_everywhere()

    async def _look_everywhere(self) -> None:
        """Learn every partition's next due time: with one partition, by claiming at once
        (as the loop does next anyway); with several, in one read of them all."""
        if self.board.count == 1:
            self.board.forget()
            return
        try:
            heads = await self.source.next_due()
        except Exception as error:  # the claim that follows meets the failure, and handles it
            reraise_if_cancelling()
            log.debug("reading next due times failed: %r", error)
            self.board.forget()
            return
        if len(heads) != self.board.count:
            return  # the layout changed meanwhile; the new board looks everywhere anyway
        for partition, next_due_ms in enumerate(heads):
            self.board.note(partition, next_due_ms)

    def _now_ms(self) -> float:
        """Redis's clock as of now: its time at the last claim plus what passed since."""
        redis_ms, at = self._clock
        return redis_ms + (time.monotonic() - at) * 1000

    def notify(self, due_ms: int, message_id: str | None = None) -> None:
        """A message was scheduled for `due_ms`: wake the loop if that is before its alarm."""
        partition = None if message_id is None else self.layout.for_id(message_id).partition
        self.board.lower(partition, due_ms)
        self.alarm.notify(due_ms)

    def stop_claiming(self) -> None:
        self._claiming = False
        self.alarm.event.set()
        self._slot_freed.set()

    async def drain(self, grace: float) -> None:
        """Let in-flight deliveries finish for `grace` seconds, then hand the rest back."""
        self.stop_claiming()
        try:
            await asyncio.wait_for(self._settled.wait(), grace)
        except TimeoutError:
            log.warning("returning %d unfinished deliveries to the schedule", self._busy)
            await self._hand_back_all()
        await self.settler.acks.flushed()

    async def _hand_back_all(self) -> None:
        while not self._inbox.empty():
            await self._hand_back(self._inbox.get_nowait())
            self._settled_one()
        for worker in self._workers:
            worker.cancel()  # a worker mid-delivery hands its claim back as it stops
        await asyncio.wait_for(self._settled.wait(), 5.0)

    def _hand_over(self, claim: Claim) -> None:
        self._busy += 1
        self._settled.clear()
        self._inbox.put_nowait(claim)

    def _settled_one(self) -> None:
        self._busy -= 1
        self._slot_freed.set()
        if self._busy == 0:
            self._settled.set()

    async def _wait_for_slots(self) -> None:
        # Wait for a quarter of the slots so claims come in batches, not one by one.
        wanted = max(1, self.concurrency // 4)
        while self._claiming and self.concurrency - self._busy < wanted and self._busy:
            self._slot_freed.clear()
            await self._slot_freed.wait()

    # -- workers ----------------------------------------------------------------------

    async def _work(self) -> None:
        """One delivery slot: attempt, then settle; any failure inside is the attempt's error.

        Attempt and settle are awaited from here directly: each coroutine between the
        worker and the HTTP client is resumed at every suspension of an attempt.
        """
        while True:
            claim = await self._inbox.get()
            try:
                try:
                    result = await self.sender.attempt(claim)
                except asyncio.CancelledError:
                    await self._hand_back(claim)  # shutdown ran out of grace
                    raise
                except Exception as error:  # a bug or a hostile answer must not strand it
                    result = _broken_attempt(claim, error)
                await self._settle(claim, result)
            finally:
                self._settled_one()

    async def _hand_back(self, claim: Claim) -> None:
        with contextlib.suppress(SettleGaveUp):
            await self.settler.hand_back(claim)

    async def _settle(self, claim: Claim, result: AttemptResult) -> None:
        try:
            settlement = await self.settler.settle(claim, result)
        except SettleGaveUp:
            return
        except Exception:
            reraise_if_cancelling()
            log.exception("settling %s failed; its claim will expire", claim.id)
            return
        log_attempt(claim, result, settlement)


def _broken_attempt(claim: Claim, error: Exception) -> AttemptResult:
    log.error("attempt of %s failed inside the service", claim.id, exc_info=error)
    answer = WebhookError("internal_error", f"{type(error).__name__}: {error}"[:300])
    return AttemptResult(answer, internal_failure(error), 0.0, 0.0, 0.0, "00-0-0-00")
