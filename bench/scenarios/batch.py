"""Batch: messages/s through POST /messages/batch against single POSTs, same client.

Both sides are wrk with one thread and the same number of connections, against one
service on an empty store: `bench/lua/create.lua` sends one message per request,
`bench/lua/batch.lua` sends BATCH_SIZE and counts the items each answer scheduled.
Rounds run the two back to back, every other round batch first; the round with the
median ratio is the one shown.
"""

from __future__ import annotations

import time
from typing import Any

from bench import wrk
from bench.bodies import iso_ms, run_prefix
from bench.context import Bench
from bench.procs import TOKEN
from bench.scenarios.create import SCRIPT, redactions
from bench.stats import ratio

BATCH_SCRIPT = "bench/lua/batch.lua"
BATCH_SIZE = 100
CLIENTS = 16


def run(bench: Bench) -> dict[str, Any]:
    bench.fresh()
    rounds: list[dict[str, Any]] = []
    with bench.service("batch") as (proc, base, _):
        servers = [proc.pid, bench.redis.pid]
        if bench.scale.create_warmup_seconds:
            for kind in ("single", "batch"):
                wrk.run(_command(bench, base, kind, bench.scale.create_warmup_seconds))
        for number in range(bench.scale.batch_rounds):
            order = ("single", "batch") if number % 2 == 0 else ("batch", "single")
            rounds.append({kind: _measure(bench, base, kind, servers) for kind in order})
    for figures in rounds:
        rates = (figures["batch"]["messages_per_second"], figures["single"]["messages_per_second"])
        figures["ratio_batch_to_single"] = ratio(*rates)
    ordered = sorted(rounds, key=lambda figures: figures["ratio_batch_to_single"])
    return {
        "batch_size": BATCH_SIZE,
        "clients": CLIENTS,
        "client": "wrk, 1 thread",
        "rounds": len(rounds),
        "ratio_of_each_round": [figures["ratio_batch_to_single"] for figures in rounds],
        **ordered[len(ordered) // 2],
    }


def _measure(bench: Bench, base: str, kind: str, servers: list[int]) -> dict[str, Any]:
    """One wrk run; messages/s counts only the messages the service said it scheduled."""
    cmd = _command(bench, base, kind, bench.scale.create_seconds)
    figures = wrk.run(cmd, server_pids=servers)
    seconds = figures["raw"]["duration_us"] / 1e6
    if kind == "batch":
        scheduled, failed = figures["items"]["scheduled"], figures["items"]["failed"]
    else:
        scheduled, failed = figures["requests"] - figures["errors"], figures["errors"]
    figures.update(
        messages_scheduled=scheduled,
        messages_failed=failed,
        messages_per_second=round(scheduled / seconds, 1),
        command=wrk.shown(cmd, redact=redactions(bench, base, cmd)),
    )
    return figures


def _command(bench: Bench, base: str, kind: str, seconds: int) -> list[str]:
    due = iso_ms(time.time() + 30 * 86400)
    prefix = run_prefix(kind)  # every run its own ids: a reused one would answer 409
    if kind == "batch":
        args = [TOKEN, bench.sink.url, str(BATCH_SIZE), due, prefix]
        url, script = f"{base}/messages/batch", BATCH_SCRIPT
    else:
        args = [TOKEN, bench.sink.url, due, prefix]
        url, script = f"{base}/messages", SCRIPT
    return wrk.command(url, script=script, clients=CLIENTS, seconds=seconds, args=args)
