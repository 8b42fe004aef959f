"""Redis memory per pending message for a few storage layouts (a side experiment).

Not part of `python -m bench`: it writes the same ids, payloads and due times as
the backlog scenario in four layouts, straight through redis-py, and prints the
`used_memory` delta per message for each. It helps choose a layout; the backlog
scenario measures the one the service really uses.

Run: `python -m bench.layouts [--count 100000]` (starts and stops its own Redis).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import redis

from bench.messages import payload
from bench.procs import RedisServer

URL = "http://127.0.0.1:40000/hook"
Write = Callable[[redis.client.Pipeline, str, int, bytes, int], None]


def _hash(pipe: redis.client.Pipeline, mid: str, due: int, body: bytes, now: int) -> None:
    pipe.hset("{s}:m:" + mid, mapping={"d": due, "p": body, "u": URL, "c": now, "s": "p"})


def _string(pipe: redis.client.Pipeline, mid: str, due: int, body: bytes, now: int) -> None:
    record = {"d": due, "p": body.decode(), "u": URL, "c": now, "s": "p"}
    pipe.set("{s}:m:" + mid, orjson.dumps(record))


def _one_hash(pipe: redis.client.Pipeline, mid: str, due: int, body: bytes, now: int) -> None:
    record = {"d": due, "p": body.decode(), "u": URL, "c": now, "s": "p"}
    pipe.hset("{s}:messages", mid, orjson.dumps(record))


LAYOUTS: dict[str, tuple[Write, int]] = {
    "hash per message (hash-max-listpack-value 64, the default)": (_hash, 64),
    "hash per message (hash-max-listpack-value 256)": (_hash, 256),
    "one string per message (JSON record)": (_string, 64),
    "one hash of all messages (id -> JSON record)": (_one_hash, 64),
}


def measure(server: RedisServer, write: Write, listpack_value: int, count: int) -> float:
    client = server.client()
    client.flushall()
    client.config_set("hash-max-listpack-value", listpack_value)
    before = server.used_memory()
    due, now = int((time.time() + 365 * 86400) * 1000), int(time.time() * 1000)
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        mid = f"backlog-0123abcd-{i}"
        write(pipe, mid, due + i, orjson.dumps(payload(i)), now)
        pipe.zadd("{s}:due", {mid: due + i})  # every layout keeps the due index
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    return (server.used_memory() - before) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-layouts-") as workdir:
        server = RedisServer.start(Path(workdir))
        try:
            for name, (write, listpack_value) in LAYOUTS.items():
                per = measure(server, write, listpack_value, args.count)
                print(f"{per:7.1f} bytes/message  {name}")
        finally:
            server.proc.stop()


if __name__ == "__main__":
    main()
