"""What a call, a member and a score cost inside a script, on the Redis the bench runs.

A side measurement behind the partitions scenario (not run by `python -m bench`): a merged
page at 16 partitions makes about 4 calls per partition and reads each partition's share
with its scores, where a page at 1 partition makes 4 calls in all. This prices those
parts apart. It starts its own Redis on 127.0.0.1, fills 16 sorted sets of 1,300 members
(ids shaped like the API's, one score for all, as the partitions scenario's backlog) and
times small scripts by `INFO commandstats` (median of 5 batches of 200 calls):

- empty: a script that returns at once (its 16 keys given, as every variant),
- zcard_64: 64 ZCARD calls,
- zrange_16x10 / zrange_16x10_scores: 16 ZRANGE calls of 10 members, without and with
  WITHSCORES,
- zrange_100 / zrange_100_scores: one ZRANGE of 100 members, without and with scores.

Derived: microseconds per call (from zcard_64), per member and per score (the 100-member
reads, less one call).

Run: `python -m bench.lua_costs`.
"""

from __future__ import annotations

import statistics
from typing import Any

from redis.asyncio import Redis

from bench.own_redis import run_with_own_redis, script_usec

SETS = 16
MEMBERS = 1300
SCORE = 1_796_000_000_000
BATCHES, CALLS = 5, 200

SCRIPTS = {
    "empty": "return 1",
    "zcard_64": (
        "local s = 0 for i = 1, 64 do s = s + redis.call('ZCARD', KEYS[1 + i % 16]) end return s"
    ),
    "zrange_16x10": (
        "local s = 0 for i = 1, 16 do s = s + #redis.call('ZRANGE', KEYS[i], 0, 9) end return s"
    ),
    "zrange_16x10_scores": (
        "local s = 0 for i = 1, 16 do"
        " s = s + #redis.call('ZRANGE', KEYS[i], 0, 9, 'WITHSCORES') end return s"
    ),
    "zrange_100": "return #redis.call('ZRANGE', KEYS[1], 0, 99)",
    "zrange_100_scores": "return #redis.call('ZRANGE', KEYS[1], 0, 99, 'WITHSCORES')",
}


async def measure(port: int) -> dict[str, Any]:
    redis = Redis(host="127.0.0.1", port=port)
    keys = [f"set{n}" for n in range(SETS)]
    try:
        for key in keys:
            members = {f"0192f0a1-{i:04x}-7abc-9def-{i:012x}": SCORE for i in range(MEMBERS)}
            await redis.zadd(key, members)  # type: ignore[arg-type]
        out: dict[str, Any] = {}
        for name, text in SCRIPTS.items():
            sha = await redis.script_load(text)
            batches = []
            for _ in range(BATCHES):
                await redis.config_resetstat()
                for _ in range(CALLS):
                    await redis.evalsha(sha, len(keys), *keys)
                batches.append(await script_usec(redis) / CALLS)
            out[f"{name}_us"] = round(statistics.median(batches), 1)
    finally:
        await redis.aclose()
    empty = out["empty_us"]
    call = (out["zcard_64_us"] - empty) / 64
    out["per_call_us"] = round(call, 2)
    out["per_member_us"] = round((out["zrange_100_us"] - empty - call) / 100, 2)
    out["per_score_us"] = round((out["zrange_100_scores_us"] - out["zrange_100_us"]) / 100, 2)
    return out


def main() -> None:
    run_with_own_redis("lua_costs", measure)


if __name__ == "__main__":
    main()
