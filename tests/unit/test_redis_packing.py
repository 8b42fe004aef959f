"""Commands packed by hiredis are the bytes redis-py's own packer makes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from service.connection import _reset_safe

SERVICE = _reset_safe(Connection)

arguments = st.one_of(
    st.text(),
    st.binary(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)


def packed(connection: Connection, *args: Any) -> bytes:
    return b"".join(bytes(part) for part in connection.pack_command(*args))


def packed_all(connection: Connection, commands: list[tuple[Any, ...]]) -> bytes:
    return b"".join(bytes(part) for part in connection.pack_commands(commands))


@given(st.lists(arguments, max_size=20))
def test_a_command_packs_to_the_same_bytes(args: list[Any]) -> None:
    command = ("EVALSHA", *args)
    assert packed(SERVICE(), *command) == packed(Connection(), *command)


@pytest.mark.parametrize(
    "command",
    [
        ("EVALSHA", "a" * 40, 6, "{p:0}:msgs", "{p:0}:due", "due", 10, "", "", "", 312),
        ("SET", "k", "é" * 1400),  # 2,800 bytes once encoded: hiredis packs it
        ("SET", "k", "é" * 5000),  # longer than redis-py's buffer cutoff: it sends it apart
        ("SET", "k", b"x" * 6000),
        ("SET", "k", b"x" * 1_000_000),
        ("SET", "k", memoryview(b"x" * 100)),
        ("SET", "k", memoryview(b"x" * 10_000)),
        ("SET", b"k", b"\x00\r\n"),
        ("CONFIG GET", "maxmemory"),  # two words, which redis-py splits
        (b"CONFIG GET", "maxmemory"),
    ],
)
def test_commands_a_service_sends_pack_to_the_same_bytes(command: tuple[Any, ...]) -> None:
    assert packed(SERVICE(), *command) == packed(Connection(), *command)
    pipeline = [command, ("PING",), command]
    assert packed_all(SERVICE(), pipeline) == packed_all(Connection(), pipeline)


@pytest.mark.parametrize("value", [True, None, object()])
def test_what_redis_py_refuses_is_still_refused(value: Any) -> None:
    with pytest.raises(DataError):
        SERVICE().pack_command("SET", "k", value)
    with pytest.raises(DataError):
        SERVICE().pack_commands([("PING",), ("SET", "k", value)])
