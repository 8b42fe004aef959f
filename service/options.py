"""What a message asks of its delivery beyond the original four fields.

Stored as compact JSON in the record's `opts` field, with one-letter keys and only
what differs from the defaults, so a message that uses no option stores nothing.
Header values are not here: they are secrets and travel in the body (records.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

# Record key for each option; the Lua scripts read "L" (labels) and nothing else.
_KEYS = {
    "method": "m",
    "header_names": "h",
    "max_attempts": "a",
    "timeout": "t",
    "max_lateness": "x",
    "labels": "L",
    "callback_url": "c",
    "failure_callback_url": "f",
    "callback_of": "cb",
    "schedule": "s",
}
_NAMES = {key: name for name, key in _KEYS.items()}
_DEFAULTS: dict[str, Any] = {"method": "POST", "header_names": [], "labels": {}}


@dataclass(slots=True)
class Options:
    method: str = "POST"
    header_names: list[str] = field(default_factory=list)
    max_attempts: int | None = None
    timeout: float | None = None
    max_lateness: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    callback_url: str | None = None
    failure_callback_url: str | None = None
    callback_of: str | None = None  # the id a callback reports on
    schedule: str | None = None  # the recurring schedule a fire belongs to

    def encode(self) -> str:
        """Compact JSON of what differs from the defaults; '' when nothing does."""
        if self == _NONE:  # most messages: one comparison instead of ten lookups
            return ""
        stored = {
            key: value
            for name, key in _KEYS.items()
            if (value := getattr(self, name)) is not None and value != _DEFAULTS.get(name)
        }
        return orjson.dumps(stored).decode() if stored else ""

    @classmethod
    def decode(cls, raw: str) -> Options:
        if not raw:
            return _NONE  # shared by every message without options: treat as read-only
        return cls(**{_NAMES[key]: value for key, value in orjson.loads(raw).items()})

    @property
    def sends_body(self) -> bool:
        """GET and DELETE requests carry no body."""
        return self.method not in ("GET", "DELETE")


_NONE = Options()
