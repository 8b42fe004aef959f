"""Create: POST /messages throughput and latency, beside a minimal FastAPI ceiling."""

from __future__ import annotations

import time
from typing import Any

from bench import wrk
from bench.bodies import iso_ms, run_prefix
from bench.context import Bench
from bench.procs import PYTHON, REPO, TOKEN
from tests.support.spawn import HOST, Proc, free_port, spawn, wait_http

SCRIPT = "bench/lua/create.lua"


def run(bench: Bench) -> dict[str, Any]:
    """Ceiling and service both up; at each client count, measure one right after the other."""
    out: dict[str, Any] = {
        "client": "wrk, 1 thread, Lua script bench/lua/create.lua",
        "ceiling": {},
        "service": {},
    }
    bench.fresh()
    ceiling, ceiling_base = start_ceiling(bench)
    try:
        with bench.service() as (proc, base, _):
            for clients in bench.scale.create_clients:
                out["ceiling"].update(_levels(bench, ceiling.pid, ceiling_base, "ceiling", clients))
                out["service"].update(_levels(bench, proc.pid, base, "service", clients))
    finally:
        ceiling.stop()
    for level in out["service"]:
        ceiling_rps = out["ceiling"][level]["requests_per_second"]
        out["service"][level]["ratio_to_ceiling"] = round(
            out["service"][level]["requests_per_second"] / ceiling_rps, 3
        )
    return out


def ceiling_levels(bench: Bench) -> dict[str, Any]:
    """The minimal app under the same wrk runs."""
    bench.fresh()
    ceiling, base = start_ceiling(bench)
    try:
        return _levels(bench, ceiling.pid, base, "ceiling", *bench.scale.create_clients)
    finally:
        ceiling.stop()


def _levels(bench: Bench, pid: int, base: str, label: str, *levels: int) -> dict[str, Any]:
    results = {}
    for clients in levels:
        if bench.scale.create_warmup_seconds:
            wrk.run(_cmd(bench, base, clients, bench.scale.create_warmup_seconds, label))
        cmd = _cmd(bench, base, clients, bench.scale.create_seconds, label)
        figures = wrk.run(cmd, server_pids=[pid, bench.redis.pid])
        figures["command"] = wrk.shown(cmd, redact=_redact(bench, base, label, cmd))
        results[str(clients)] = figures
    return results


def _cmd(bench: Bench, base: str, clients: int, seconds: int, label: str) -> list[str]:
    due = iso_ms(time.time() + 30 * 86400)
    args = [TOKEN, bench.sink.url, due, run_prefix(label)]
    return wrk.command(
        f"{base}/messages", script=SCRIPT, clients=clients, seconds=seconds, args=args
    )


def _redact(bench: Bench, base: str, label: str, cmd: list[str]) -> dict[str, str]:
    port_name = "$CEILING_PORT" if label == "ceiling" else "$API_PORT"
    return redactions(bench, base, cmd, port_name=port_name)


def redactions(
    bench: Bench,
    base: str,
    cmd: list[str],
    *,
    port_name: str = "$API_PORT",
) -> dict[str, str]:
    """Values in a wrk command line that the docs show by name: ports, token, id prefix."""
    return {
        TOKEN: "$API_TOKEN",
        base: f"http://127.0.0.1:{port_name}",
        bench.sink.url: "http://127.0.0.1:$SINK_PORT/hook",
        cmd[-2]: "$SCHEDULE_TO",
        cmd[-1]: "$ID_PREFIX",
    }


def ceiling_command(port: int) -> list[str]:
    return [
        PYTHON,
        "-m",
        "uvicorn",
        "bench.ceiling_app:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def start_ceiling(bench: Bench) -> tuple[Proc, str]:
    """Start the ceiling app; return it and its base URL."""
    port = free_port()
    env = {"API_TOKEN": TOKEN, "BENCH_REDIS_URL": bench.redis.url}
    proc = spawn(f"ceiling-{port}", ceiling_command(port), logdir=bench.results, env=env, cwd=REPO)
    try:
        wait_http(f"http://{HOST}:{port}/health", proc=proc)
    except BaseException:
        proc.stop()
        raise
    return proc, f"http://{HOST}:{port}"
