"""Running wrk with one of the suite's Lua scripts, and reading what it printed."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

import orjson

from bench.procs import cpu_seconds, run_measured


def command(
    url: str, *, script: str, clients: int, seconds: int, args: Sequence[str] = (), threads: int = 1
) -> list[str]:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{clients}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        script,
        url,
    ]
    return [*cmd, "--", *args] if args else cmd


def run(cmd: list[str], *, server_pids: Sequence[int] = ()) -> dict[str, Any]:
    """Run wrk; return its figures, its own CPU share and the servers' CPU share (1.0 = a core)."""
    before = [cpu_seconds(pid) for pid in server_pids]
    out, wall, client_cpu = run_measured(cmd, timeout=float(_seconds(cmd)) + 60)
    after = [cpu_seconds(pid) for pid in server_pids]
    raw = _line(out, "WRKJSON ")
    if raw is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    seconds = raw["duration_us"] / 1e6
    errors = sum(
        raw[k]
        for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    figures: dict[str, Any] = {
        "requests": raw["requests"],
        "errors": errors,
        "requests_per_second": round(raw["requests"] / seconds, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "client_cpu_cores": round(client_cpu / wall, 2),
        "server_cpu_cores": round(sum(a - b for a, b in zip(after, before, strict=True)) / wall, 2),
        "cpu_cores_by_process": [
            round((a - b) / wall, 2) for a, b in zip(after, before, strict=True)
        ],
        "raw": raw,
    }
    items = _line(out, "WRKITEMS ")
    if items is not None:  # a script that sends several messages per request counts them
        figures["items"] = items
    return figures


def _line(out: str, prefix: str) -> dict[str, Any] | None:
    """The JSON after `prefix` on the line of wrk's output that starts with it."""
    line = next((ln for ln in out.splitlines() if ln.startswith(prefix)), None)
    return None if line is None else dict(orjson.loads(line.removeprefix(prefix)))


def shown(cmd: list[str], *, redact: dict[str, str] | None = None) -> str:
    """The command as the docs print it: ports and secrets replaced by names."""
    text = shlex.join(cmd)
    for value, name in (redact or {}).items():
        text = text.replace(value, name)
    return text


def _seconds(cmd: list[str]) -> int:
    flag = next(a for a in cmd if a.startswith("-d"))
    return int(flag[2:].rstrip("s"))
