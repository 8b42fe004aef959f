"""The delivery loop every replica runs: claim what is due, deliver it, settle the outcome."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from opentelemetry.trace import Span, StatusCode
from redis.exceptions import RedisError

from . import __version__
from .cancellation import reraise_if_cancelling
from .config import Settings
from .metrics import Metrics
from .policy import Backoff, Outcome, Verdict, judge
from .records import Claim, ClaimBatch
from .signing import decode_secret, sign
from .store import Store
from .telemetry import Tracing, outgoing_traceparent
from .webhook import WebhookClient, WebhookError, WebhookResponse

log = logging.getLogger("service.delivery")
T = TypeVar("T")

# With nothing due the loop still looks every second: it finds messages that another
# replica accepted and then died before delivering, and retries it rescheduled.
MAX_IDLE_SECONDS = 1.0
# Settling (ack, retry, dead-letter) is retried this long while Redis is away; after
# that the claim expires and the message is delivered again, never lost.
SETTLE_PATIENCE_SECONDS = 30.0


class Dispatcher:
    """Claims due messages in batches and delivers them with bounded concurrency."""

    def __init__(
        self,
        *,
        store: Store,
        client: WebhookClient,
        settings: Settings,
        metrics: Metrics,
        tracing: Tracing,
    ) -> None:
        self.store = store
        self.client = client
        self.metrics = metrics
        self.tracing = tracing
        self.concurrency = settings.delivery_concurrency
        self.max_attempts = settings.delivery_max_attempts
        self.claim_timeout_ms = int(settings.claim_timeout_seconds * 1000)
        self.backoff = Backoff(
            settings.delivery_backoff_base_seconds, settings.delivery_backoff_max_seconds
        )
        secret = settings.webhook_signing_secret
        self.signing_key = decode_secret(secret.get_secret_value()) if secret else None
        self.user_agent = f"scheduler-api/{__version__}"
        self._inbox: asyncio.Queue[Claim] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._busy = 0  # claims handed to workers and not yet settled
        self._settled = asyncio.Event()
        self._settled.set()
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._next_due_ms = math.inf
        self._claiming = True
        self.acks = AckBatcher(store)

    # -- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and deliver until stop_claiming() is called, then until all is settled."""
        acks = asyncio.create_task(self.acks.run(), name="acks")
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
            await self.acks.close(acks)

    async def _claim_loop(self) -> None:
        pause = 0.05
        while self._claiming:
            reraise_if_cancelling()
            free = self.concurrency - self._busy
            if free <= 0:
                await self._wait_for_slots()
                continue
            # Cleared before the claim, not before the sleep: a message scheduled while the
            # claim is on its way must still cut the coming sleep short.
            self._wake.clear()
            try:
                batch = await self.store.claim(limit=free, claim_timeout_ms=self.claim_timeout_ms)
            except Exception as error:  # the loop must outlive any failure; Redis ones expected
                reraise_if_cancelling()
                self.metrics.redis_up.set(0)
                log.warning("claim failed, retrying in %.2fs: %r", pause, error)
                await self._sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            self.metrics.redis_up.set(1)
            pause = 0.05
            for claim in batch.claims:
                self._hand_over(claim)
            if len(batch.claims) == free:
                await self._wait_for_slots()
            else:
                await self._sleep_until_due(batch)

    def notify(self, due_ms: int) -> None:
        """A message was scheduled for `due_ms`: wake the loop if that is before its alarm."""
        if due_ms < self._next_due_ms:
            self._wake.set()

    def stop_claiming(self) -> None:
        self._claiming = False
        self._wake.set()
        self._slot_freed.set()

    async def drain(self, grace: float) -> None:
        """Let in-flight deliveries finish for `grace` seconds, then hand the rest back."""
        self.stop_claiming()
        try:
            await asyncio.wait_for(self._settled.wait(), grace)
        except TimeoutError:
            log.warning("returning %d unfinished deliveries to the schedule", self._busy)
            await self._hand_back_all()
        await self.acks.flushed()

    async def _hand_back_all(self) -> None:
        while not self._inbox.empty():
            claim = self._inbox.get_nowait()
            await settle_safely(partial(self._hand_back, claim), claim.id)
            self._settled_one()
        for worker in self._workers:
            worker.cancel()  # a worker mid-delivery hands its claim back as it stops
        await asyncio.wait_for(self._settled.wait(), 5.0)

    @property
    def in_flight(self) -> int:
        return self._busy

    def _hand_over(self, claim: Claim) -> None:
        self._busy += 1
        self._settled.clear()
        self._inbox.put_nowait(claim)

    def _settled_one(self) -> None:
        self._busy -= 1
        self._slot_freed.set()
        if self._busy == 0:
            self._settled.set()

    async def _work(self) -> None:
        while True:
            claim = await self._inbox.get()
            try:
                await self._deliver(claim)
            except Exception:  # a bug in one delivery must not take the worker down
                reraise_if_cancelling()
                log.exception("delivery of %s failed", claim.id)
            finally:
                self._settled_one()

    async def _wait_for_slots(self) -> None:
        # Wait for a quarter of the slots so claims come in batches, not one by one.
        wanted = max(1, self.concurrency // 4)
        while self._claiming and self.concurrency - self._busy < wanted and self._busy:
            self._slot_freed.clear()
            await self._slot_freed.wait()

    async def _sleep_until_due(self, batch: ClaimBatch) -> None:
        delay = MAX_IDLE_SECONDS
        if batch.next_due_ms is not None:
            delay = min(delay, max(0.0, (batch.next_due_ms - batch.now_ms) / 1000))
        self._next_due_ms = batch.now_ms + delay * 1000
        await self._sleep(delay)
        self._next_due_ms = math.inf

    async def _sleep(self, delay: float) -> None:
        """Sleep for `delay` seconds or until notify() or stop_claiming() wakes the loop."""
        if delay <= 0 or self._wake.is_set():
            return
        alarm = asyncio.get_running_loop().call_later(delay, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            alarm.cancel()

    # -- one attempt ----------------------------------------------------------------

    async def _deliver(self, claim: Claim) -> None:
        started = time.time()
        lateness = started - claim.due_ms / 1000
        self.metrics.lateness.observe(max(lateness, 0.0))
        try:
            with self.tracing.delivery_span("POST webhook", claim.trace) as span:
                traceparent = outgoing_traceparent(span)
                answer, duration = await self._send(claim, traceparent)
                outcome = judge(answer)
                _annotate(span, claim, answer, outcome)
        except asyncio.CancelledError:
            # Shutdown ran out of grace: hand the message back so another replica sends it.
            await settle_safely(lambda: self._hand_back(claim), claim.id)
            raise
        self.metrics.status_classes[outcome.status_class].inc()
        self.metrics.webhook_duration.observe(duration)
        verdict = await self._settle(claim, outcome)
        _log_attempt(claim, answer, outcome, verdict, duration, lateness, traceparent)

    async def _send(
        self, claim: Claim, traceparent: str
    ) -> tuple[WebhookResponse | WebhookError, float]:
        headers = self._headers(claim, traceparent)
        sent = time.perf_counter()
        try:
            answer: WebhookResponse | WebhookError = await self.client.post(
                claim.url, claim.payload, headers
            )
        except WebhookError as error:
            answer = error
        return answer, time.perf_counter() - sent

    def _headers(self, claim: Claim, traceparent: str) -> dict[str, str]:
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            "Idempotency-Key": claim.id,
            "webhook-id": claim.id,
            "webhook-timestamp": str(timestamp),
            "webhook-attempt": str(claim.attempt),
            "traceparent": traceparent,
        }
        if self.signing_key is not None:
            headers["webhook-signature"] = sign(
                self.signing_key, message_id=claim.id, timestamp=timestamp, body=claim.payload
            )
        return headers

    # -- settling -------------------------------------------------------------------

    async def _settle(self, claim: Claim, outcome: Outcome) -> str:
        if outcome.verdict is Verdict.DELIVERED:
            self.acks.add(claim)
            self.metrics.outcomes["delivered"].inc()
            return "delivered"
        if outcome.verdict is Verdict.RETRY and claim.attempt < self.max_attempts:
            delay = self.backoff.delay(claim.attempt, retry_after=outcome.retry_after)
            delay_ms = int(delay * 1000)
            due = await settle_safely(
                lambda: self.store.retry(claim, delay_ms=delay_ms, error=outcome.error), claim.id
            )
            if due:
                self.notify(due)
            self.metrics.outcomes["retried"].inc()
            return "retried"
        error = outcome.error
        if outcome.verdict is Verdict.RETRY:
            error = f"gave up after {claim.attempt} attempts; last: {error}"
        await settle_safely(lambda: self.store.dead_letter(claim, error=error), claim.id)
        self.metrics.outcomes["dead_lettered"].inc()
        return "dead_lettered"

    async def _hand_back(self, claim: Claim) -> int:
        return await self.store.retry(claim, delay_ms=0, error="interrupted by shutdown")


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

    def add(self, claim: Claim) -> None:
        self._pending.append(claim)
        self._idle.clear()
        self._ready.set()

    async def run(self) -> None:
        while not (self._closing and not self._pending):
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                batch = self._pending[: self.MAX_BATCH]
                del self._pending[: self.MAX_BATCH]
                await settle_safely(partial(self.store.ack, batch), f"{len(batch)} acks")
            self._idle.set()

    async def flushed(self) -> None:
        """Wait until every ack added so far has been written (or given up on)."""
        await self._idle.wait()

    async def close(self, task: asyncio.Task[None]) -> None:
        self._closing = True
        self._ready.set()
        await asyncio.wait([task], timeout=SETTLE_PATIENCE_SECONDS + 5)


async def settle_safely(step: Callable[[], Awaitable[T]], what: str) -> T | None:
    """Run a settle step, retrying while Redis is away; None if it never got through."""
    deadline = time.monotonic() + SETTLE_PATIENCE_SECONDS
    pause = 0.05
    while True:
        try:
            return await step()
        except (RedisError, OSError) as error:
            reraise_if_cancelling()
            if time.monotonic() + pause > deadline:
                log.error("could not settle %s; the claim will expire: %s", what, error)
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


def _annotate(
    span: Span | None, claim: Claim, answer: WebhookResponse | WebhookError, outcome: Outcome
) -> None:
    if span is None:
        return
    span.set_attribute("http.request.method", "POST")
    span.set_attribute("url.full", claim.url)
    span.set_attribute("messaging.message.id", claim.id)
    span.set_attribute("scheduler.attempt", claim.attempt)
    if isinstance(answer, WebhookResponse):
        span.set_attribute("http.response.status_code", answer.status)
    else:
        span.set_attribute("error.type", answer.kind)
    if outcome.verdict is not Verdict.DELIVERED:
        span.set_status(StatusCode.ERROR, outcome.error[:200])


def _log_attempt(
    claim: Claim,
    answer: WebhookResponse | WebhookError,
    outcome: Outcome,
    verdict: str,
    duration: float,
    lateness: float,
    traceparent: str,
) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    log.info(
        "delivery attempt %s",
        verdict,
        extra={
            "message_id": claim.id,
            "attempt": claim.attempt,
            "status": answer.status if isinstance(answer, WebhookResponse) else answer.kind,
            "outcome": verdict,
            "duration_seconds": round(duration, 6),
            "lateness_seconds": round(lateness, 6),
            "trace_id": traceparent.split("-")[1],
            "error": outcome.error or None,
        },
    )
