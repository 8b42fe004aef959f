"""What a webhook's answer means: done, try again later, or give up; and how long to wait."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from .webhook import WebhookError, WebhookResponse

# A Retry-After longer than this is treated as this: a receiver cannot park a message forever.
RETRY_AFTER_CAP_SECONDS = 3600.0
_RETRYABLE_STATUSES = frozenset({408, 429})
# delta-seconds is ASCII digits only: str.isdigit() would also take '²' or '①', which
# float() then refuses. Ten digits are centuries; anything longer is capped anyway.
_DELTA_SECONDS = re.compile(r"[0-9]{1,10}")
_FINAL_ERRORS = frozenset({"egress_denied", "expired"})
ERROR_TEXT_CHARS = 200


class Verdict(StrEnum):
    """The judgement of one answer."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


@dataclass(slots=True)
class Outcome:
    verdict: Verdict
    status_class: str
    error: str = ""
    retry_after: float | None = None


def judge(answer: WebhookResponse | WebhookError) -> Outcome:
    """Classify one attempt: 2xx done; 5xx, 408, 429 and transport errors retried."""
    if isinstance(answer, WebhookError):
        verdict = Verdict.GIVE_UP if answer.kind in _FINAL_ERRORS else Verdict.RETRY
        return Outcome(verdict, answer.kind, f"{answer.kind}: {answer.message}")
    status = answer.status
    # A status outside 100-599 is a broken receiver: retried like a 5xx, counted apart.
    status_class = f"{status // 100}xx" if 100 <= status < 600 else "invalid"
    if 200 <= status < 300:
        return Outcome(Verdict.DELIVERED, status_class)
    excerpt = answer.excerpt.decode(errors="replace").strip()[:ERROR_TEXT_CHARS]
    error = f"HTTP {status}: {excerpt}".rstrip(": ")
    if 300 <= status < 400:
        error = f"HTTP {status}: redirect to {answer.location or '?'} not followed"
        return Outcome(Verdict.GIVE_UP, status_class, error[:300])
    if status >= 500 or status < 100 or status in _RETRYABLE_STATUSES:
        return Outcome(Verdict.RETRY, status_class, error, parse_retry_after(answer.retry_after))
    return Outcome(Verdict.GIVE_UP, status_class, error)


def expiry(reason: str) -> Outcome:
    """An attempt not sent because it would start past maxLatenessSeconds: final."""
    return Outcome(Verdict.GIVE_UP, "expired", f"expired: {reason}")


def internal_failure(error: BaseException) -> Outcome:
    """An attempt that broke inside the service: retried like a transport error."""
    text = f"{type(error).__name__}: {error}"[:ERROR_TEXT_CHARS]
    return Outcome(Verdict.RETRY, "connection_error", f"internal error during the attempt: {text}")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped.

    Anything else (negative numbers, other digits, dates that do not parse or do not
    exist) is ignored: the answer is then retried on the normal backoff.
    """
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return min(float(value), RETRY_AFTER_CAP_SECONDS)
    if not value.isascii() or len(value) > 64:
        return None
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: uniform(0, min(max, base * 2**(attempt-1)))."""

    base: float
    maximum: float

    def ceiling(self, attempt: int) -> float:
        growth: float = 2.0 ** min(max(attempt, 1) - 1, 62)
        return min(self.maximum, self.base * growth)

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        jittered: float = random.uniform(0.0, self.ceiling(attempt))
        if retry_after is not None:
            return max(jittered, retry_after)
        return jittered
