"""Plain records the store hands out: what Redis holds, decoded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DEAD = "dead"


# One-letter codes keep the per-message hash small (see the backlog benchmark).
STATE_CODES = {"p": State.PENDING, "i": State.IN_FLIGHT, "d": State.DEAD}


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message accepted by the API, ready to be written."""

    id: str
    due_ms: int
    payload: bytes
    url: str
    created_ms: int
    trace: str = ""

    def record(self) -> bytes:
        """The stored form: eight header lines, then the payload (see scripts/_record.lua)."""
        due, created = base36(self.due_ms), base36(self.created_ms)
        header = f"{due}\n{created}\n0\np\n\n{self.url}\n{self.trace}\n\n"
        return header.encode() + self.payload


@dataclass(frozen=True, slots=True)
class Claim:
    """One delivery attempt handed to this replica by the claim script."""

    id: str
    due_ms: int  # when this attempt was due: scheduleTo for the first, the backoff after
    payload: bytes
    url: str
    attempt: int
    created_ms: int
    trace: str


@dataclass(frozen=True, slots=True)
class ClaimBatch:
    claims: list[Claim]
    now_ms: int
    next_due_ms: int | None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """Everything stored about one message, decoded from its record."""

    id: str
    state: State
    schedule_ms: int
    next_run_ms: int | None
    payload: bytes
    url: str
    attempts: int
    created_ms: int
    last_error: str | None
    dead_ms: int | None


@dataclass(frozen=True, slots=True)
class Summary:
    """One row of a listing."""

    id: str
    score_ms: int
    url: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Summary]
    total: int


@dataclass(frozen=True, slots=True)
class Stats:
    pending: int
    in_flight: int
    dead: int


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int) -> str:
    """Timestamps in records are base 36: 8 characters instead of 13 for every message."""
    if number <= 0:
        return "0" if number == 0 else "-" + base36(-number)
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_DIGITS[rest])
    return "".join(reversed(digits))


def decode_record(message_id: str, raw: bytes, next_run: float | None) -> MessageRecord:
    due, created, attempts, state, dead_at, url, _trace, error, payload = raw.split(b"\n", 8)
    return MessageRecord(
        id=message_id,
        state=STATE_CODES.get(state.decode(), State.PENDING),
        schedule_ms=int(due, 36),
        next_run_ms=None if next_run is None else int(next_run),
        payload=payload,
        url=url.decode(),
        attempts=int(attempts),
        created_ms=int(created, 36),
        last_error=error.decode(errors="replace") or None,
        dead_ms=int(dead_at) if dead_at else None,
    )
