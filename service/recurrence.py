"""When a recurring schedule fires: cron expressions in a time zone, or fixed intervals.

Cron parsing and stepping is cronsim's (chosen over croniter: see the commit that
introduced this module). On top of it, the rules this service promises:

- a local time that does not exist (spring forward) fires once, at the instant the
  clock jumps (cronsim does this);
- a local time that happens twice (fall back) fires once, at its first occurrence
  (cronsim yields the second one too, marked `fold=1`: it is skipped here);
- `every` is a fixed interval in real time from its anchor, whatever the zone does;
- a window (`startAt`, `endAt`) bounds every fire.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
# The usual cron: numbers, names, *, lists, ranges and steps. cronsim also reads
# extensions (L, W, #, ?); they are refused so every schedule reads the same anywhere.
_PLAIN_FIELD = re.compile(r"[0-9A-Za-z*,/-]+")
_EXTENSIONS = re.compile(r"[LW#?]")
_NAMES = re.compile(r"[A-Za-z]{3}")
# cronsim may search far for a rare match (Feb 29 on a Monday): bound every walk.
_MAX_STEPS = 10_000


class RecurrenceError(ValueError):
    """A cron expression, interval or time zone that cannot be used, and where."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecurrenceError(f"'{name}' is not a time zone of the IANA database") from None


def check_cron(expression: str) -> str:
    """The expression if it is 5-field cron this service runs; else where it is wrong."""
    fields = expression.split()
    if len(fields) != 5:
        raise RecurrenceError(
            f"needs 5 fields (minute hour day-of-month month day-of-week), found {len(fields)}"
        )
    position = 0
    for index, field in enumerate(fields):
        position = expression.index(field, position)
        where = f"field {index + 1} ({_FIELDS[index]}) at character {position + 1}"
        if not _PLAIN_FIELD.fullmatch(field) or (
            _EXTENSIONS.search(field) and not _NAMES.search(field)
        ):
            raise RecurrenceError(
                f"{where}: '{field}' is not supported; use numbers, names, *, lists (1,5), "
                "ranges (1-5) and steps (*/15)"
            )
        try:
            CronSim(" ".join("*" if i != index else f for i, f in enumerate(fields)), _EPOCH)
        except CronSimError:
            raise RecurrenceError(f"{where}: '{field}' is not a valid {_FIELDS[index]}") from None
        position += len(field)
    return expression


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A cron expression in a zone, or an interval; within an optional window."""

    cron: str | None
    every_ms: int | None
    timezone: str
    anchor_ms: int  # first possible fire of an interval: startAt, or creation
    start_ms: int | None = None
    end_ms: int | None = None

    def after(self, ms: int) -> Iterator[int]:
        """Fire times strictly after `ms`, in order, within the window (bounded walk)."""
        if self.start_ms is not None and ms < self.start_ms:
            ms = self.start_ms - 1
        times = self._interval_after(ms) if self.every_ms else self._cron_after(ms)
        for fire in times:
            if self.end_ms is not None and fire > self.end_ms:
                return
            yield fire

    def next_after(self, ms: int) -> int | None:
        return next(self.after(ms), None)

    def latest_at_or_before(self, ms: int) -> int | None:
        """The last fire at or before `ms` (within the window), for catching up."""
        if self.end_ms is not None:
            ms = min(ms, self.end_ms)
        if self.start_ms is not None and ms < self.start_ms:
            return None
        latest: int | None
        if self.every_ms:
            if ms < self.anchor_ms:
                return None
            latest = self.anchor_ms + (ms - self.anchor_ms) // self.every_ms * self.every_ms
        else:
            latest = self._cron_at_or_before(ms)
        return latest

    def _interval_after(self, ms: int) -> Iterator[int]:
        assert self.every_ms
        if ms < self.anchor_ms:
            fire = self.anchor_ms
        else:
            fire = self.anchor_ms + ((ms - self.anchor_ms) // self.every_ms + 1) * self.every_ms
        for _ in range(_MAX_STEPS):
            yield fire
            fire += self.every_ms

    def _cron_after(self, ms: int) -> Iterator[int]:
        assert self.cron is not None
        start = _local(ms, self.timezone)
        steps = CronSim(self.cron, start)
        for _ in range(_MAX_STEPS):
            try:
                moment = next(steps)
            except StopIteration:
                return
            if moment.fold and _exists_earlier(moment):
                continue  # the second pass of a repeated local time: it fired the first time
            fire = int(moment.timestamp() * 1000)
            if fire > ms:
                yield fire

    def _cron_at_or_before(self, ms: int) -> int | None:
        assert self.cron is not None
        # Walking back yields times strictly before the start: start a minute later.
        start = _local(ms, self.timezone) + timedelta(minutes=1)
        steps = CronSim(self.cron, start, reverse=True)
        for _ in range(_MAX_STEPS):
            try:
                moment = next(steps)
            except StopIteration:
                return None
            if moment.fold and _exists_earlier(moment):
                continue
            fire = int(moment.timestamp() * 1000)
            if fire <= ms:
                return fire
        return None


def _local(ms: int, timezone: str) -> datetime:
    # cronsim steps from the given instant by whole minutes: drop seconds, keep the zone.
    moment = datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(timezone))
    return moment.replace(second=0, microsecond=0)


def _exists_earlier(moment: datetime) -> bool:
    """True when this local time also happened an hour or so earlier (a fall-back repeat)."""
    first = moment.replace(fold=0)
    return first.utcoffset() != moment.utcoffset()
