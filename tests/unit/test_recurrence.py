"""When recurring schedules fire: cron in a zone (DST both ways), intervals, windows, catch-up."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from service.firing import HORIZON_MS, MISSED_AFTER_MS, plan
from service.recurrence import Recurrence, RecurrenceError, check_cron, zone

HOUR = 3_600_000


def ms(moment: str, tz: str = "UTC") -> int:
    return int(datetime.fromisoformat(moment).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def local(fire: int, tz: str) -> str:
    return datetime.fromtimestamp(fire / 1000, ZoneInfo(tz)).isoformat()


def fires(expr: str, tz: str, start: str, count: int) -> list[str]:
    recurrence = Recurrence(expr, None, tz, 0)
    out = []
    for fire in recurrence.after(ms(start, tz)):
        out.append(local(fire, tz))
        if len(out) == count:
            break
    return out


class TestDaylightSaving:
    @pytest.mark.parametrize(
        ("tz", "start", "jump"),
        [
            ("America/New_York", "2026-03-07T12:00:00", "2026-03-08T03:00:00-04:00"),
            ("Australia/Sydney", "2026-10-03T12:00:00", "2026-10-04T03:00:00+11:00"),
        ],
    )
    def test_a_time_that_does_not_exist_fires_once_when_the_clock_jumps(
        self, tz: str, start: str, jump: str
    ) -> None:
        got = fires("30 2 * * *", tz, start, 2)
        assert got[0] == jump
        assert got[1].startswith(jump[:8]) and got[1][11:16] == "02:30"

    @pytest.mark.parametrize(
        ("tz", "expr", "start", "first"),
        [
            ("America/New_York", "30 1 * * *", "2026-10-31T12:00:00", "2026-11-01T01:30:00-04:00"),
            ("Australia/Sydney", "30 2 * * *", "2026-04-04T12:00:00", "2026-04-05T02:30:00+11:00"),
        ],
    )
    def test_a_time_that_happens_twice_fires_once_at_its_first_occurrence(
        self, tz: str, expr: str, start: str, first: str
    ) -> None:
        got = fires(expr, tz, start, 2)
        assert got[0] == first
        assert got[1][:10] != first[:10]  # the next fire is the next day, not an hour later

    def test_steps_in_a_repeated_hour_fire_each_local_time_once(self) -> None:
        got = fires("*/30 * * * *", "America/New_York", "2026-11-01T00:50:00", 4)
        assert got == [
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:30:00-04:00",
            "2026-11-01T02:00:00-05:00",
            "2026-11-01T02:30:00-05:00",
        ]

    def test_an_interval_stays_fixed_in_real_time_across_a_change(self) -> None:
        anchor = ms("2026-03-08T00:00:00", "America/New_York")
        recurrence = Recurrence(None, HOUR, "America/New_York", anchor)
        times = list(zip(range(5), recurrence.after(anchor), strict=False))
        gaps = {b[1] - a[1] for a, b in itertools.pairwise(times)}
        assert gaps == {HOUR}
        assert [local(t, "America/New_York")[11:16] for _, t in times[:3]] == [
            "01:00",
            "03:00",  # 02:00 does not exist that night; an hour later is 03:00
            "04:00",
        ]


class TestCalendar:
    def test_february_29_waits_for_a_leap_year(self) -> None:
        assert fires("0 0 29 2 *", "UTC", "2026-01-01T00:00:00", 2) == [
            "2028-02-29T00:00:00+00:00",
            "2032-02-29T00:00:00+00:00",
        ]

    def test_day_of_month_or_day_of_week_as_cron_reads_them(self) -> None:
        got = fires("0 9 13 * FRI", "UTC", "2026-01-01T00:00:00", 3)
        assert [g[:10] for g in got] == ["2026-01-02", "2026-01-09", "2026-01-13"]

    def test_weekdays_at_nine_in_sao_paulo(self) -> None:
        got = fires("0 9 * * MON-FRI", "America/Sao_Paulo", "2026-11-27T10:00:00", 2)
        assert got == ["2026-11-30T09:00:00-03:00", "2026-12-01T09:00:00-03:00"]

    def test_a_window_bounds_every_fire(self) -> None:
        recurrence = Recurrence(None, 1000, "UTC", 10_000, start_ms=10_000, end_ms=12_500)
        assert list(recurrence.after(0)) == [10_000, 11_000, 12_000]
        assert recurrence.latest_at_or_before(100_000) == 12_000
        assert recurrence.latest_at_or_before(5_000) is None


class TestRefusals:
    @pytest.mark.parametrize(
        ("expr", "message"),
        [
            ("0 9 L * *", "field 3 (day-of-month) at character 5: 'L' is not supported"),
            ("0 9 * * MON#2", "field 5 (day-of-week) at character 9: 'MON#2' is not supported"),
            ("0 9 15W * *", "field 3 (day-of-month) at character 5: '15W' is not supported"),
            ("0 9 ? * *", "field 3 (day-of-month) at character 5: '?' is not supported"),
            ("0 25 * * *", "field 2 (hour) at character 3: '25' is not a valid hour"),
            ("61 * * * *", "field 1 (minute) at character 1: '61' is not a valid minute"),
            ("*/0 * * * *", "'*/0' is not a valid minute"),
            ("* * *", "needs 5 fields"),
            ("0 9 * * * *", "needs 5 fields"),
        ],
    )
    def test_unsupported_or_invalid_cron_says_where(self, expr: str, message: str) -> None:
        with pytest.raises(RecurrenceError, match=re.escape(message)):
            check_cron(expr)

    def test_names_lists_ranges_and_steps_are_fine(self) -> None:
        assert check_cron("0,30 9-17/2 * JAN-MAR,DEC MON-FRI")

    def test_an_unknown_zone_is_refused(self) -> None:
        with pytest.raises(RecurrenceError, match="IANA"):
            zone("Mars/Olympus_Mons")


class TestPlanning:
    every_second = Recurrence(None, 1000, "UTC", 0)

    def test_materializes_up_to_the_horizon_and_at_least_the_next(self) -> None:
        ticks, ended = plan(self.every_second, None, 100_000)
        assert ticks == list(range(100_000, 100_000 + HORIZON_MS + 1, 1000))
        assert not ended
        hourly = Recurrence("0 * * * *", None, "UTC", 0)
        ticks, _ = plan(hourly, None, 100_000)
        assert ticks == [HOUR]  # beyond the horizon, but the next fire is always stored

    def test_a_short_gap_fires_every_tick_late(self) -> None:
        now = 100_000
        ticks, _ = plan(self.every_second, now - 30_000, now)
        assert ticks[0] == now - 29_000 and ticks[:3] == [71_000, 72_000, 73_000]

    def test_an_outage_fires_once_as_the_latest_missed_tick(self) -> None:
        now = 10_000_000
        ticks, _ = plan(self.every_second, now - 3_600_000, now)
        latest = now - MISSED_AFTER_MS
        assert ticks[0] == latest
        assert ticks[1] == latest + 1000  # then every tick of the last minute, and ahead
        assert len(ticks) == MISSED_AFTER_MS // 1000 + HORIZON_MS // 1000 + 1

    def test_a_finished_window_ends_the_schedule(self) -> None:
        closed = Recurrence(None, 1000, "UTC", 0, end_ms=50_000)
        assert plan(closed, 50_000, 60_000) == ([], True)
        ticks, ended = plan(closed, 47_000, 47_500)
        assert ticks == [48_000, 49_000, 50_000] and ended
