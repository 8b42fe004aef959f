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
    """Everything stored about one message."""

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
