"""What is kept of attempts and of finished messages: the attempts log and history.

Both are written by the settle scripts from entries the service encodes here, and read
back by GET /messages/{id}. History keeps no payload and no header values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import orjson

from .options import Options


class Finished(StrEnum):
    """How a message ended."""

    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class AttemptEntry:
    """One attempt, as the attempts log keeps it (the last 20 of a message)."""

    attempt: int
    started_ms: int
    duration_ms: int
    status: int | None
    error: str | None

    def encode(self) -> str:
        if self.error is None and self.status is not None:  # a success: the common case
            timing = f'"n":{self.attempt},"s":{self.started_ms},"d":{self.duration_ms}'
            return f'{{{timing},"r":{self.status}}}'
        entry = {"n": self.attempt, "s": self.started_ms, "d": self.duration_ms}
        if self.status is not None:
            entry["r"] = self.status
        text = orjson.dumps({**entry, "e": self.error} if self.error else entry)
        return text.decode()

    @classmethod
    def decode(cls, text: str) -> AttemptEntry:
        raw = orjson.loads(text)
        return cls(raw["n"], raw["s"], raw["d"], raw.get("r"), raw.get("e"))


REDRIVE_LINE = '{"q":'


def decode_log(raw: bytes | str | None) -> list[AttemptEntry]:
    """The entries of an attempts log, oldest first."""
    if not raw:
        return []
    text = raw.decode() if isinstance(raw, bytes) else raw
    # A line starting `{"q":` names a redrive request (redrive.lua), not an attempt.
    return [
        AttemptEntry.decode(line)
        for line in text.split("\n")
        if line and not line.startswith(REDRIVE_LINE)
    ]


@dataclass(slots=True)
class HistoryRecord:
    """What is left of a finished message."""

    state: Finished
    due_ms: int
    created_ms: int
    finished_ms: int
    attempts: int
    url: str
    error: str | None
    options: Options
    inc: str
    log: list[AttemptEntry]

    @classmethod
    def decode(cls, raw: bytes | str) -> HistoryRecord:
        # Written by _lib.lua remember(): times in base 36, options as stored.
        item = orjson.loads(raw)
        return cls(
            state=Finished(item["st"]),
            due_ms=int(item["d"], 36),
            created_ms=int(item["c"], 36),
            finished_ms=int(item["f"], 36),
            attempts=int(item["n"]),
            url=item["u"],
            error=item["e"] or None,
            options=Options.decode(item["o"]),
            inc=item["i"],
            log=decode_log(item["a"]),
        )
