"""A recurring schedule as stored, and the fire messages it makes.

The definition is JSON (the recurrence, the window, the URL, the options); the body its
fires carry (header values, payload) is stored apart like a message's. A fire is an
ordinary message: id `<schedule id>:<fire time, 13-digit epoch ms>`, which keeps it in
the schedule's partition, labelled `schedule: <id>` beside the schedule's own labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from .options import Options
from .records import NewMessage, base36, new_incarnation, split_body
from .recurrence import Recurrence


@dataclass(slots=True)
class Definition:
    cron: str | None
    every_ms: int | None
    timezone: str
    start_ms: int | None
    end_ms: int | None
    paused: bool
    url: str
    options: Options
    created_ms: int
    anchor_ms: int  # an interval's first fire: startAt, or creation

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "cron": self.cron,
                "every": self.every_ms,
                "tz": self.timezone,
                "start": self.start_ms,
                "end": self.end_ms,
                "paused": self.paused,
                "url": self.url,
                "opts": self.options.encode(),
                "created": self.created_ms,
                "anchor": self.anchor_ms,
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> Definition:
        item = orjson.loads(raw)
        return cls(
            cron=item["cron"],
            every_ms=item["every"],
            timezone=item["tz"],
            start_ms=item["start"],
            end_ms=item["end"],
            paused=item["paused"],
            url=item["url"],
            options=Options.decode(item["opts"]),
            created_ms=item["created"],
            anchor_ms=item["anchor"],
        )

    @property
    def recurrence(self) -> Recurrence:
        return Recurrence(
            self.cron, self.every_ms, self.timezone, self.anchor_ms, self.start_ms, self.end_ms
        )


def fire_id(schedule_id: str, fire_ms: int) -> str:
    return f"{schedule_id}:{fire_ms:013d}"


def fire(
    schedule_id: str, definition: Definition, body: bytes, fire_ms: int, now_ms: int
) -> NewMessage:
    """The message one tick of a schedule sends."""
    headers, payload = split_body(body)
    options = definition.options
    return NewMessage(
        id=fire_id(schedule_id, fire_ms),
        due_ms=fire_ms,
        payload=payload,
        url=definition.url,
        created_ms=now_ms,
        options=Options(
            method=options.method,
            header_names=options.header_names,
            max_attempts=options.max_attempts,
            timeout=options.timeout,
            max_lateness=options.max_lateness,
            labels={**options.labels, "schedule": schedule_id},
            callback_url=options.callback_url,
            failure_callback_url=options.failure_callback_url,
            schedule=schedule_id,
        ),
        headers=headers,
    )


@dataclass(frozen=True, slots=True)
class FireTemplate:
    """What every fire of one schedule version stores alike, encoded once.

    The sweep stores thousands of fires a second on the lease holder's event loop, where
    fires of other schedules wait to be claimed; building each one as a NewMessage (body
    split and joined again, options encoded) was a third of its CPU. Only the due time,
    the creation time and the incarnation differ between fires, so the record is cut
    around them once per version, from a fire built the one way (`fire`)."""

    schedule_id: str
    middle: bytes  # attempts, state, dead-at, url, trace, error, claim
    tail: bytes  # options, inline body
    body: bytes  # the body when it is not inline
    size: int
    labelled: str

    @classmethod
    def of(cls, schedule_id: str, definition: Definition, body: bytes) -> FireTemplate:
        sample = fire(schedule_id, definition, body, 0, 0)
        meta, big, size = sample.stored()
        fields = meta.split(b"\n", 11)  # the last field, an inline body, may hold newlines
        return cls(
            schedule_id=schedule_id,
            middle=b"\n".join(fields[2:9]),
            tail=b"\n".join(fields[10:]),
            body=big,
            size=size,
            labelled="1" if sample.options.labels else "0",
        )

    def args(self, fire_ms: int, now_ms: int, inc: str | None = None) -> list[Any]:
        """The six values sched_advance.lua stores a fire from (as `_fires` makes them)."""
        record = b"\n".join(
            (
                base36(fire_ms).encode(),
                base36(now_ms).encode(),
                self.middle,
                (inc or new_incarnation()).encode(),
                self.tail,
            )
        )
        fire_ms_id = fire_id(self.schedule_id, fire_ms)
        return [fire_ms_id, record, self.body, self.size, fire_ms, self.labelled]
