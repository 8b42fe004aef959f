"""What a webhook's answer means: done, try again later, or give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from .webhook import WebhookError, WebhookResponse

# A Retry-After longer than this is treated as this: a receiver cannot park a message forever.
RETRY_AFTER_CAP_SECONDS = 3600.0
_RETRYABLE_STATUSES = frozenset({408, 429})


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GIVE_UP = "give_up"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    status_class: str
    error: str = ""
    retry_after: float | None = None


def judge(answer: WebhookResponse | WebhookError) -> Outcome:
    """Classify one attempt: 2xx done; 5xx, 408, 429 and transport errors retried."""
    if isinstance(answer, WebhookError):
        return Outcome(Verdict.RETRY, answer.kind, f"{answer.kind}: {answer.message}")
    status = answer.status
    # A status outside 100-599 is a broken receiver: retried like a 5xx, counted apart.
    status_class = f"{status // 100}xx" if 100 <= status < 600 else "invalid"
    if 200 <= status < 300:
        return Outcome(Verdict.DELIVERED, status_class)
    error = f"HTTP {status}: {answer.excerpt.strip()[:200]}".rstrip(": ")
    if 300 <= status < 400:
        error = f"HTTP {status}: redirect to {answer.location or '?'} not followed"
        return Outcome(Verdict.GIVE_UP, status_class, error)
    if status >= 500 or status in _RETRYABLE_STATUSES:
        return Outcome(Verdict.RETRY, status_class, error, parse_retry_after(answer.retry_after))
    return Outcome(Verdict.GIVE_UP, status_class, error)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_CAP_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_SECONDS)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: uniform(0, min(max, base * 2**(attempt-1)))."""

    base: float
    maximum: float

    def delay(self, attempt: int, *, retry_after: float | None = None) -> float:
        ceiling = min(self.maximum, self.base * 2 ** min(attempt - 1, 62))
        jittered = random.uniform(0.0, ceiling)
        if retry_after is not None:
            return max(jittered, retry_after)
        return jittered
