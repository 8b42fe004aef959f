"""A Redis that takes seconds to load its append-only file, for the tests of what happens
meanwhile (the server answers LOADING to every command until it is done).

A file big enough to take seconds to load would take minutes to write (a million messages load
in about 12 s; bench/redis_aof.py measures that). The tests therefore write a few thousand small
keys, rewrite the file so they sit in its snapshot part, and restart with the server's own
debugging knob `key-load-delay` (microseconds of sleep per key loaded). Loading then follows the
same path as a big file, only slower per key; `loading-process-events-interval-bytes` makes the
server answer clients between keys, as it does every 2 MB of a big file.
"""

from __future__ import annotations

import socket
import time

import redis

from tests.support.redis_server import RedisServer
from tests.support.spawn import HOST

# 3,000 keys at 1 ms each: about 4 s of LOADING on a busy two-core machine.
FILLER_KEYS = 3000
LOAD_SLOWLY = ("--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024")


def pad_and_rewrite(server: RedisServer, keys: int = FILLER_KEYS) -> None:
    """Add `keys` filler keys and rewrite the append-only file into its snapshot form."""
    with redis.Redis.from_url(server.url) as client:
        with client.pipeline(transaction=False) as pipe:
            for i in range(keys):
                pipe.set(f"filler:{i}", "x" * 50)
            pipe.execute()
        client.bgrewriteaof()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            info = client.info("persistence")
            if not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]):
                return
            time.sleep(0.05)
    raise TimeoutError("the append-only file rewrite did not finish")


def restart_loading(server: RedisServer) -> None:
    """Stop the server and start it again on the same files, slowly; return once it says LOADING."""
    server.stop()
    server.start(*LOAD_SLOWLY, wait=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if raw_ping(server.port).startswith(b"-LOADING"):
            return
        time.sleep(0.01)
    raise TimeoutError(f"the server never answered LOADING:\n{server.log_tail()}")


def raw_ping(port: int) -> bytes:
    """The server's first reply line to PING; b"" when nothing answers."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(256)
    except OSError:
        return b""
