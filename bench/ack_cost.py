"""What Redis spends acking a delivered message, with labels and without, in-process.

A side measurement behind the burst scenario's options pairs (not run by `python -m
bench`): it starts its own Redis on 127.0.0.1 and, in rounds that alternate which side
goes first, writes `--count` messages due now through the service's store (plain, or
each with two labels as the burst's options messages carry: `flow`, one value, and
`tenant`, one of 100), claims them all, then acks them in batches of 256 as the
delivery loop does, reading `INFO commandstats` around the acks only. The figure is
Redis's time per acked message (the ack script's calls over the messages).

Labels make an ack remove the message from each label index; on a Cluster the script
also looks at each index before it writes (a slot migrating stops it there, before any
change). To see what one commit costs against another, run it from a checkout of each,
one after the other.

Run: `python -m bench.ack_cost [--count 5000] [--rounds 6]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from redis.asyncio import Redis

from bench.own_redis import run_with_own_redis, script_usec

ACK_BATCH = 256  # settle.AckBatcher's usual batch under a burst is of this order
WRITE_BATCH = 1000
HOOK = "http://127.0.0.1:9/hook"  # never called: the messages are acked, not delivered


async def ack_time(port: int, *, count: int, labelled: bool, prefix: str) -> float:
    """Redis microseconds per acked message, over `count` messages of one kind."""
    from service.keys import Layout
    from service.options import Options
    from service.records import NewMessage
    from service.store import Finish, Store

    client = Redis(host="127.0.0.1", port=port)
    try:
        store = Store(client, Layout(prefix, 1))
        now = int(time.time() * 1000) - 1000

        def options(i: int) -> Options:
            return Options(labels={"flow": "dunning", "tenant": f"t{i % 100}"} if labelled else {})

        messages = [
            NewMessage(f"{prefix}-{i}", now, b'{"n":1}', HOOK, now, options=options(i))
            for i in range(count)
        ]
        for start in range(0, count, WRITE_BATCH):
            await store.schedule_many(messages[start : start + WRITE_BATCH])
        claims: list[Any] = []
        while len(claims) < count:
            batch = await store.claim(store.layout.home, limit=ACK_BATCH, claim_timeout_ms=60_000)
            if not batch.claims:
                raise RuntimeError(f"claimed {len(claims)} of {count}")
            claims += batch.claims
        await client.config_resetstat()
        for start in range(0, count, ACK_BATCH):
            await store.ack([Finish(claim, "") for claim in claims[start : start + ACK_BATCH]])
        usec = await script_usec(client)
    finally:
        await client.aclose()
    return usec / count


async def measure(port: int, *, count: int, rounds: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {"plain": [], "labelled": []}
    for number in range(rounds):
        order = ("plain", "labelled") if number % 2 == 0 else ("labelled", "plain")
        for side in order:
            prefix = f"ack-{side}-{number}"
            times[side].append(
                await ack_time(port, count=count, labelled=side == "labelled", prefix=prefix)
            )
    out: dict[str, Any] = {"count": count, "rounds": rounds}
    for side, values in times.items():
        out[f"{side}_us"] = [round(value, 2) for value in values]
        out[f"{side}_median_us"] = round(statistics.median(values), 2)
    out["labelled_extra_us"] = round(out["labelled_median_us"] - out["plain_median_us"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    run_with_own_redis("ack_cost", lambda port: measure(port, count=args.count, rounds=args.rounds))


if __name__ == "__main__":
    main()
