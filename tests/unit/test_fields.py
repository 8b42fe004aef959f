"""Request rules that need no server: ids, times, payload depth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.fields import as_utc, check_id, iso, json_depth


@pytest.mark.parametrize("bad", ["a/b", "a b", "a\tb", "a\u0000", "a\u0085", "\u200b", "x\u202e"])
def test_ids_refuse_slashes_spaces_controls_and_invisible_characters(bad: str) -> None:
    with pytest.raises(ValueError, match="U\\+"):
        check_id(bad)


@pytest.mark.parametrize("good", ["order-42", "lembrete-joão", "名前", "a:b@c", "🙂"])
def test_ids_accept_visible_text(good: str) -> None:
    assert check_id(good) == good


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(st.datetimes(timezones=st.none() | offsets))
def test_any_datetime_is_utc_or_refused_as_out_of_range(moment: datetime) -> None:
    try:
        utc = as_utc(moment)
    except ValueError as error:
        assert "out of range" in str(error)
        assert moment.year in (1, 9999)
        return
    assert utc.tzinfo is UTC
    assert iso(int(utc.timestamp() * 1000))[:10] == utc.strftime("%Y-%m-%d").rjust(10, "0")


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ("s", 0), ([], 1), ({}, 1), ([[1]], 2), ({"a": [{"b": []}]}, 4), ([1, [2, [3]]], 3)],
)
def test_json_depth(value: object, depth: int) -> None:
    assert json_depth(value) == depth


def test_iso_pads_small_years_and_keeps_milliseconds() -> None:
    assert iso(-62135596800000) == "0001-01-01T00:00:00.000Z"
    assert iso(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
