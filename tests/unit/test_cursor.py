"""Page cursors round-trip and refuse what the service did not make."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.cursor import decode_cursor, encode_cursor, next_cursor
from service.errors import InvalidInput
from service.records import Summary


@given(st.integers(min_value=-(2**62), max_value=2**62), st.text(min_size=1, max_size=256))
def test_a_cursor_round_trips(score: int, message_id: str) -> None:
    assert decode_cursor(encode_cursor(score, message_id)) == (score, message_id)


@pytest.mark.parametrize("cursor", ["%%%", "bm90LWEtY3Vyc29y", "////", "YTpi", "9" * 1024])
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput, match="cursor is not valid"):
        decode_cursor(cursor)


@given(st.text(max_size=64))
def test_any_text_decodes_or_is_refused_cleanly(cursor: str) -> None:
    with contextlib.suppress(InvalidInput):
        decode_cursor(cursor)


def test_no_cursor_after_the_last_page() -> None:
    assert decode_cursor(None) is None and decode_cursor("") is None
    assert next_cursor([], 10) is None
    rows = [Summary(f"m{i}", i, None) for i in range(3)]  # type: ignore[arg-type]
    assert next_cursor(rows, 5) is None
    assert decode_cursor(next_cursor(rows, 3)) == (2, "m2")
