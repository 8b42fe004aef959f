"""The suite's entry point: start Redis and the sink, run the scenarios, write the report."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from bench import machine, report, wrk
from bench.context import FULL, QUICK, TIME_LIMIT_SECONDS, Bench, Sink
from bench.procs import PYTHON, REPO
from bench.scenarios import (
    backlog,
    batch,
    burst,
    cancel,
    ceilings,
    cluster,
    create,
    hotpaths,
    pagecost,
    partitions,
    precision,
    replicas,
    schedules,
)
from tests.support.redis_server import RedisServer
from tests.support.spawn import HOST, free_port, spawn, wait_http

SCENARIOS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "create": create.run,
    "batch": batch.run,
    "precision": precision.run,
    "burst": burst.run,
    "backlog": backlog.run,
    "cancel": cancel.run,
    "schedules": schedules.run,
    "pagecost": pagecost.run,
    "partitions": partitions.run,
    "replicas": replicas.run,
    "profile": hotpaths.run,
}
# Run only when asked for by name: `ceilings` is a side experiment; `cluster` starts a
# 3-primary Redis Cluster and takes minutes, which a full run's time limit has no room for.
EXTRA = {"ceilings": ceilings.run, "cluster": cluster.run}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small counts, about a minute; writes under bench/results/quick/",
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated scenarios: {', '.join([*SCENARIOS, *EXTRA])}"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy pass")
    parser.add_argument("--out", type=Path, help="where benchmarks.json and .md go")
    parser.add_argument(
        "--render",
        action="store_true",
        help="only rewrite benchmarks.md from benchmarks.json; run nothing",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    scale = QUICK if args.quick else FULL
    names = _selected(args, quick=args.quick)
    out_dir = args.out or (REPO / "bench/results/quick" if args.quick else REPO / "docs")
    if args.render:
        _write(out_dir, orjson.loads((out_dir / "benchmarks.json").read_bytes()))
        return
    if shutil.which("wrk") is None:  # every scenario's load, and the sink's ceiling, use it
        sys.exit("wrk is not installed: `apt-get install -y wrk`, or run `make bench`")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results = REPO / "bench/results" / stamp
    results.mkdir(parents=True, exist_ok=True)
    _stop_by_itself(TIME_LIMIT_SECONDS)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        bench = _environment(stack, scale, results)
        document = _load(out_dir / "benchmarks.json", scale.name)
        document["machine"] = machine.describe(redis_version=bench.redis.version())
        document["sink"] = _sink_ceiling(bench)
        for name in names:
            print(f"[bench] {name} ...", flush=True)
            t0, load = time.monotonic(), os.getloadavg()[0]
            figures = {**SCENARIOS, **EXTRA}[name](bench)
            document["scenarios"][name] = {
                "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "commit": document["machine"]["commit"],
                "scale": scale.name,
                # `machine` above describes the latest run; `--only` runs may come from
                # another machine than the scenarios they join.
                "cpu": document["machine"]["cpu"],
                "cores": document["machine"]["cores"],
                "wall_seconds": round(time.monotonic() - t0, 1),
                # How busy the machine was (other work shares its cores): 1-minute load
                # average as the scenario started and as it ended.
                "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
                "figures": figures,
            }
            _write(out_dir, document)  # after each scenario, so a failure keeps the rest
            print(f"[bench] {name} done in {time.monotonic() - t0:.1f} s", flush=True)
    print(
        f"[bench] all done in {time.monotonic() - started:.1f} s; wrote "
        f"{out_dir / 'benchmarks.md'} and raw output under {results}",
        flush=True,
    )


def _selected(args: argparse.Namespace, *, quick: bool) -> list[str]:
    if not args.only:
        skip = {"profile"} if args.no_profile or quick else set()
        return [name for name in SCENARIOS if name not in skip]
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS and n not in EXTRA]
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(unknown)}")
    return names


def _environment(stack: contextlib.ExitStack, scale: Any, results: Path) -> Bench:
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-redis-")))
    redis = RedisServer(workdir, appendonly=False).start()
    stack.callback(redis.stop)
    port = free_port()
    sink_cmd = [PYTHON, "-m", "bench.sink", "--port", str(port)]
    sink_proc = spawn("sink", sink_cmd, logdir=results, cwd=REPO)
    stack.callback(sink_proc.stop)
    sink = Sink(sink_proc, port)
    wait_http(f"http://{HOST}:{port}/_sink/count", proc=sink_proc, timeout=15)
    return Bench(scale, results, redis, sink)


def _sink_ceiling(bench: Bench) -> dict[str, Any]:
    """What the sink takes from wrk (a C client): it must be far above any delivery rate."""
    seconds = 5 if bench.scale.name == "full" else 2
    cmd = wrk.command(bench.sink.url, script="bench/lua/sink.lua", clients=64, seconds=seconds)
    figures = wrk.run(cmd, server_pids=[bench.sink.proc.pid])
    figures["command"] = wrk.shown(cmd, redact={bench.sink.url: "http://127.0.0.1:$SINK_PORT/hook"})
    bench.sink.reset()
    return figures


def _load(path: Path, scale: str) -> dict[str, Any]:
    """The previous results at this path (so `--only` updates one scenario), or a new one."""
    if path.exists():
        document: dict[str, Any] = orjson.loads(path.read_bytes())
        document["scenarios"] = {
            k: v for k, v in document.get("scenarios", {}).items() if v.get("scale") == scale
        }
        return document
    return {"scenarios": {}}


def _write(out_dir: Path, document: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    (out_dir / "benchmarks.json").write_bytes(data)
    # Rendered from what was written, so that `--render` later gives the same page.
    (out_dir / "benchmarks.md").write_text(report.render(orjson.loads(data)))


def _stop_by_itself(seconds: int) -> None:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"the benchmark run passed its {seconds} s limit")

    signal.signal(signal.SIGALRM, expire)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    signal.alarm(seconds)
