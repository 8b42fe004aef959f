"""What Redis holds for a message, and its decoding: the one codec Python and Lua share.

A message is one or two hash fields under its id:

    msgs[id]   the metadata record: META_FIELDS joined by newlines; its last field is
               the body when the body is at most INLINE_BODY_BYTES
    bodies[id] the body otherwise: header values as JSON (or nothing), a newline, then
               the payload

Big bodies live apart so that no script but the claim copies them inside Redis
(listing, settling and recovery cost the same whatever the payload size); small ones
stay inline, where a second hash field would cost more memory than they do.

Times in records are milliseconds since the epoch in base 36 (8 characters instead of
13). No metadata field holds a newline: URLs are validated, errors are flattened by
the scripts, options are compact JSON. The store builds the Lua constants for these
positions from META_FIELDS, so Python and Lua cannot disagree on them.

Records built once per delivery (Meta, Claim, ...) are plain slotted dataclasses, not
frozen ones: a frozen one costs about a microsecond more to build, which the burst
benchmark shows. Treat them as read-only all the same.
"""

from __future__ import annotations

import base64
import random
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

import orjson

from .history import AttemptEntry
from .options import Options

META_FIELDS = (
    "due",  # scheduleTo, ms base 36
    "created",  # acceptance time, ms base 36
    "attempts",  # attempts started so far (decimal)
    "state",  # p pending, i in flight, d dead-lettered
    "dead_at",  # ms base 36, or empty
    "url",  # webhook URL as given (credentials included: they are sent, never shown)
    "trace",  # traceparent of the request that scheduled it, or empty
    "error",  # last error, or empty
    "claim",  # token of the current claim while in flight, else empty
    "inc",  # incarnation: unique per scheduled message, stable across its retries
    "opts",  # per-message options as compact JSON, or empty
    "body",  # the body when it is small (may hold a newline: it is the last field), else empty
)
INLINE_BODY_BYTES = 256


class State(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DEAD = "dead"


# One-letter codes keep every record small (see the backlog benchmark).
STATE_CODES = {"p": State.PENDING, "i": State.IN_FLIGHT, "d": State.DEAD}

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


def new_message_id() -> str:
    """A UUID version 7: unique, and sorting in the order the ids were made."""
    ms = time.time_ns() // 1_000_000
    rand = random.getrandbits(74)
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62
    return str(uuid.UUID(int=value | (rand & (2**62 - 1))))


def new_incarnation() -> str:
    """A token that tells two messages scheduled under the same id apart (64 random bits)."""
    return base64.urlsafe_b64encode(random.getrandbits(64).to_bytes(8)).rstrip(b"=").decode()


@dataclass(slots=True)
class Meta:
    """A decoded metadata record."""

    due_ms: int
    created_ms: int
    attempts: int
    state: State
    dead_ms: int | None
    url: str
    trace: str
    error: str | None
    claim: str
    inc: str
    opts: Options
    body: bytes  # empty when the body is stored apart

    @classmethod
    def decode(cls, raw: bytes | str) -> Meta:
        text = raw.decode() if isinstance(raw, bytes) else raw  # bodies are UTF-8 JSON
        due, created, attempts, state, dead, url, trace, error, claim, inc, opts, body = text.split(
            "\n", len(META_FIELDS) - 1
        )
        return cls(
            due_ms=int(due, 36),
            created_ms=int(created, 36),
            attempts=int(attempts),
            state=STATE_CODES.get(state, State.PENDING),
            dead_ms=int(dead, 36) if dead else None,
            url=url,
            trace=trace,
            error=error or None,
            claim=claim,
            inc=inc,
            opts=Options.decode(opts),
            body=body.encode(),
        )


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message accepted by the API, ready to be written."""

    id: str
    due_ms: int
    payload: bytes
    url: str
    created_ms: int
    trace: str = ""
    inc: str = ""
    options: Options = field(default_factory=Options)
    headers: dict[str, str] = field(default_factory=dict)  # values: secrets, kept in the body

    def stored(self) -> tuple[bytes, bytes, int]:
        """(metadata record, body unless inline, body size) as schedule.lua takes them."""
        return self.record(attempts=0, state="p")

    def record(self, *, attempts: int, state: str, error: str = "") -> tuple[bytes, bytes, int]:
        """(metadata record, body unless inline, body size), in a given state."""
        body = self.body()
        inline = body if len(body) <= INLINE_BODY_BYTES else b""
        inc = self.inc or new_incarnation()
        fields = (base36(self.due_ms), base36(self.created_ms), str(attempts), state, "")
        tail = (self.url, self.trace, error, "", inc, self.options.encode())
        head = "\n".join((*fields, *tail)).encode()
        return head + b"\n" + inline, b"" if inline else body, len(body)

    def body(self) -> bytes:
        """Header values as JSON (nothing when there are none), a newline, the payload."""
        return (orjson.dumps(self.headers) if self.headers else b"") + b"\n" + self.payload


def split_body(raw: bytes) -> tuple[dict[str, str], bytes]:
    """(header values, payload) from a stored body."""
    headers, _, payload = raw.partition(b"\n")
    return (orjson.loads(headers) if headers else {}), payload


@dataclass(slots=True)
class Claim:
    """One delivery attempt handed to this replica by the claim script."""

    id: str
    due_ms: int  # when this attempt was due: scheduleTo for the first, the backoff after
    meta: Meta
    payload: bytes
    headers: dict[str, str]
    partition: int = 0  # where it was claimed, so where it settles

    @property
    def token(self) -> str:
        """The claim's fencing token: settling with an older one is a no-op."""
        return self.meta.claim

    @property
    def attempt(self) -> int:
        return self.meta.attempts

    @property
    def url(self) -> str:
        return self.meta.url


@dataclass(slots=True)
class ClaimBatch:
    claims: list[Claim]
    now_ms: int
    next_due_ms: int | None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """Everything stored about one live message."""

    id: str
    meta: Meta
    next_run_ms: int | None
    payload: bytes
    headers: dict[str, str]
    log: list[AttemptEntry]
    raw: bytes  # the record as stored: a patch is refused if it changed meanwhile


@dataclass(slots=True)
class Summary:
    """One row of a listing: the id, its index score and its metadata."""

    id: str
    score_ms: int
    meta: Meta


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Summary]
    total: int  # entries in the index the page walked
    last_examined: tuple[int, str] | None  # where the walk stopped; None at the end
    in_flight: int = 0  # claims in flight in the partitions walked (page.lua counts them)


@dataclass(frozen=True, slots=True)
class Stats:
    pending: int
    in_flight: int
    dead: int
    stored: int = 0
    body_bytes: int = 0
    retrying: int = 0
    history: int = 0
    schedules: int = 0
