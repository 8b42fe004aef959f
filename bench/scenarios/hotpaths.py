"""Profile: py-spy samples the service under the create and burst loads."""

from __future__ import annotations

import time
from typing import Any

from bench import arrivals, profile, wrk
from bench.bodies import iso_ms, message, run_prefix
from bench.context import Bench
from bench.procs import TOKEN
from bench.scenarios.create import SCRIPT

CLIENTS = 64


def run(bench: Bench) -> dict[str, Any]:
    return {"create": _create(bench), "burst": _burst(bench)}


def _create(bench: Bench) -> dict[str, Any]:
    bench.fresh()
    seconds = bench.scale.profile_seconds
    out = bench.results / "profile-create.txt"
    with bench.service("profile-create") as (proc, base, _):
        due = iso_ms(time.time() + 30 * 86400)
        cmd = wrk.command(
            f"{base}/messages",
            script=SCRIPT,
            clients=CLIENTS,
            seconds=seconds,
            args=[TOKEN, bench.sink.url, due, run_prefix("profile")],
        )
        before = profile.thread_cpu(proc.pid)
        with profile.recording(proc.pid, out, seconds=seconds + 5):
            figures = wrk.run(cmd, server_pids=[proc.pid])
        after = profile.thread_cpu(proc.pid)
    threads = {k: round(after[k] - before[k], 2) for k in after}
    return {
        "load": f"wrk -t1 -c{CLIENTS} -d{seconds}s POST /messages",
        "requests_per_second_while_sampled": figures["requests_per_second"],
        "cpu_seconds_by_thread": threads,
        "command": " ".join(["py-spy", *profile.command(proc.pid, out, seconds)[1:]])
        .replace(str(proc.pid), "$SERVICE_PID")
        .replace(str(out), "profile-create.txt"),
        **profile.summarise(out),
    }


def _burst(bench: Bench) -> dict[str, Any]:
    bench.fresh()
    count = bench.scale.burst_count
    out = bench.results / "profile-burst.txt"
    with bench.service("profile-burst") as (proc, base, _):
        at = time.time() + arrivals.lead_seconds(count)
        messages = [message(f"p-{i}", at, bench.sink.url, i) for i in range(count)]
        arrivals.schedule(bench, base, messages)
        time.sleep(max(0.0, at - time.time() - 0.2))
        before = profile.thread_cpu(proc.pid)
        with profile.recording(proc.pid, out, seconds=60):
            figures = arrivals.collect(bench, {m["id"]: at for m in messages}, timeout=60)
        after = profile.thread_cpu(proc.pid)
    threads = {k: round(after[k] - before[k], 2) for k in after}
    last = figures["last_arrival_unix"] or at
    return {
        "load": f"{count:,} messages due at one instant, delivered to the sink",
        "deliveries_per_second_while_sampled": round(figures["delivered"] / (last - at), 1),
        "cpu_seconds_by_thread": threads,
        "command": " ".join(["py-spy", *profile.command(proc.pid, out, 60)[1:]])
        .replace(str(proc.pid), "$SERVICE_PID")
        .replace(str(out), "profile-burst.txt"),
        **profile.summarise(out),
    }
