"""The record codec shared with Lua: what is written decodes back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.lua import source as script_source
from service.options import Options
from service.records import META_FIELDS, Meta, NewMessage, State, base36, split_body


@given(st.integers(min_value=-(2**62), max_value=2**62))
def test_base36_round_trips(number: int) -> None:
    assert int(base36(number), 36) == number


def test_a_new_message_decodes_to_what_was_given() -> None:
    message = NewMessage("m", 1_700_000_000_000, b'{"a":1}', "https://h/p", 1_600_000_000_000, "tp")
    meta = Meta.decode(message.stored()[0])
    assert (meta.due_ms, meta.created_ms, meta.attempts, meta.state) == (
        1_700_000_000_000,
        1_600_000_000_000,
        0,
        State.PENDING,
    )
    assert (meta.url, meta.trace, meta.error, meta.claim) == ("https://h/p", "tp", None, "")
    assert meta.opts == Options()
    assert meta.inc
    assert split_body(meta.body) == ({}, b'{"a":1}')  # small: inline in the record


def test_options_and_header_values_round_trip_and_defaults_cost_nothing() -> None:
    options = Options(
        method="PUT",
        header_names=["X-Auth"],
        max_attempts=3,
        timeout=2.5,
        max_lateness=60.0,
        labels={"contact": "c-1"},
        callback_url="https://h/cb",
    )
    message = NewMessage("m", 0, b"{}", "http://h/", 0, options=options, headers={"X-Auth": "s"})
    meta = Meta.decode(message.stored()[0])
    assert meta.opts == options
    assert split_body(meta.body) == ({"X-Auth": "s"}, b"{}")
    assert Options().encode() == ""
    assert Options.decode("") == Options()


def test_big_bodies_are_stored_apart_and_counted_either_way() -> None:
    small = NewMessage("s", 0, b"1" * 100, "http://h/", 0).stored()
    big = NewMessage("b", 0, b"1" * 1000, "http://h/", 0).stored()
    assert small[1] == b"" and small[2] == 101
    assert Meta.decode(big[0]).body == b"" and big[1] == b"\n" + b"1" * 1000 and big[2] == 1001


def test_two_messages_under_one_id_get_different_incarnations() -> None:
    first = Meta.decode(NewMessage("m", 0, b"1", "http://h/", 0).stored()[0]).inc
    second = Meta.decode(NewMessage("m", 0, b"1", "http://h/", 0).stored()[0]).inc
    assert first != second


def test_lua_names_every_field_in_python_order() -> None:
    prelude = script_source("claim")
    names = ", ".join(f"F_{name.upper()}" for name in META_FIELDS)
    positions = ", ".join(str(i) for i in range(1, len(META_FIELDS) + 1))
    assert f"local {names} = {positions}" in prelude
    assert prelude.startswith("#!lua flags=allow-oom\n")
