"""One delivery attempt: the request a claim becomes, sent, timed, judged, traced and logged."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from opentelemetry.trace import Span, StatusCode

from . import __version__
from .config import Settings
from .metrics import Metrics
from .policy import Outcome, Verdict, expiry, judge
from .records import Claim
from .signing import decode_secrets, sign
from .telemetry import Tracing, outgoing_traceparent
from .urls import header_value, redact
from .webhook import WebhookClient, WebhookError, WebhookRequest, WebhookResponse

log = logging.getLogger("service.delivery")


@dataclass(slots=True)
class AttemptResult:
    """What one attempt came to, for settling and for the log line."""

    answer: WebhookResponse | WebhookError
    outcome: Outcome
    started: float  # wall-clock seconds
    duration: float
    lateness: float
    traceparent: str


class Sender:
    """Turns a claim into a signed webhook request and sends it through the client."""

    def __init__(
        self, *, client: WebhookClient, settings: Settings, metrics: Metrics, tracing: Tracing
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.tracing = tracing
        self.timeout = settings.delivery_timeout_seconds
        secret = settings.webhook_signing_secret
        self.signing_keys = decode_secrets(secret.get_secret_value()) if secret else ()
        self.user_agent = f"scheduler-api/{__version__}"

    async def attempt(self, claim: Claim) -> AttemptResult:
        """Send the claim's webhook once; never raises for anything the receiver does."""
        started = time.time()
        lateness = started - claim.due_ms / 1000
        if (expired := self._expired(claim, started)) is not None:
            return AttemptResult(expired, expiry(expired.message), started, 0.0, lateness, "")
        self.metrics.lateness.observe(max(lateness, 0.0))
        with self.tracing.delivery_span("POST webhook", claim.meta.trace) as span:
            traceparent = outgoing_traceparent(span)
            sent = time.perf_counter()
            try:
                answer: WebhookResponse | WebhookError = await self.client.send(
                    self.request(claim, traceparent)
                )
            except WebhookError as error:
                answer = error
            duration = time.perf_counter() - sent
            outcome = judge(answer)
            _annotate(span, claim, answer, outcome)
        self.metrics.status_classes[outcome.status_class].inc()
        self.metrics.webhook_duration.observe(duration)
        return AttemptResult(answer, outcome, started, duration, lateness, traceparent)

    def _expired(self, claim: Claim, now: float) -> WebhookError | None:
        """maxLatenessSeconds: no attempt starts later than scheduleTo plus this."""
        limit = claim.meta.opts.max_lateness
        if limit is None or now <= claim.meta.due_ms / 1000 + limit:
            return None
        self.metrics.expired.inc()
        late = now - claim.meta.due_ms / 1000
        return WebhookError(
            "expired",
            f"the attempt would start {late:.1f} s after scheduleTo, past "
            f"maxLatenessSeconds ({limit:g})",
        )

    def request(self, claim: Claim, traceparent: str) -> WebhookRequest:
        options = claim.meta.opts
        return WebhookRequest(
            method=options.method,
            url=claim.url,
            headers=self.headers(claim, traceparent),
            body=claim.payload if options.sends_body else None,
            timeout=options.timeout or self.timeout,
        )

    def headers(self, claim: Claim, traceparent: str) -> dict[str, str]:
        """The message's own headers, then the service's, which no message can replace."""
        timestamp = int(time.time())
        # Unique per scheduled message and stable across its retries: receivers that
        # remember processed ids never drop a second message that re-used a caller's id.
        webhook_id = "msg_" + claim.meta.inc
        sends_body = claim.meta.opts.sends_body
        given = {name.lower() for name in claim.headers} if claim.headers else ()
        headers = {
            **claim.headers,
            "Idempotency-Key": webhook_id,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-attempt": str(claim.attempt),
            "X-Message-Id": header_value(claim.id),
            "traceparent": traceparent,
        }
        if "user-agent" not in given:
            headers["User-Agent"] = self.user_agent
        if sends_body and "content-type" not in given:
            headers["Content-Type"] = "application/json"
        if self.signing_keys:
            body = claim.payload if sends_body else b""
            headers["webhook-signature"] = sign(
                self.signing_keys, webhook_id=webhook_id, timestamp=timestamp, body=body
            )
        return headers


def _annotate(
    span: Span | None, claim: Claim, answer: WebhookResponse | WebhookError, outcome: Outcome
) -> None:
    if span is None:
        return
    span.set_attribute("http.request.method", "POST")
    span.set_attribute("url.full", redact(claim.url))
    span.set_attribute("messaging.message.id", claim.id)
    span.set_attribute("scheduler.attempt", claim.attempt)
    if isinstance(answer, WebhookResponse):
        span.set_attribute("http.response.status_code", answer.status)
    else:
        span.set_attribute("error.type", answer.kind)
    if outcome.verdict is not Verdict.DELIVERED:
        span.set_status(StatusCode.ERROR, outcome.error[:200])


def log_attempt(claim: Claim, result: AttemptResult, settlement: str) -> None:
    """One line per attempt: id, attempt, answer, what became of it, timings, trace id."""
    if not log.isEnabledFor(logging.INFO):
        return
    answer = result.answer
    log.info(
        "delivery attempt %s",
        settlement,
        extra={
            "message_id": claim.id,
            "attempt": claim.attempt,
            "status": answer.status if isinstance(answer, WebhookResponse) else answer.kind,
            "outcome": settlement,
            "duration_seconds": round(result.duration, 6),
            "lateness_seconds": round(result.lateness, 6),
            "trace_id": result.traceparent.split("-")[1] if result.traceparent else None,
            "error": result.outcome.error or None,
        },
    )
