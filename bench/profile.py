"""Sampling the service with py-spy while a scenario runs, and summing up where time went."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.procs import REPO

PY_SPY = str(Path(sys.executable).with_name("py-spy"))
RATE = 100
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*)\)$")


def command(pid: int, out: Path, seconds: int) -> list[str]:
    return [
        PY_SPY,
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(RATE),
        "--duration",
        str(seconds),
        "--format",
        "raw",
        "--function",
        "--nonblocking",
        "-o",
        str(out),
    ]


@contextlib.contextmanager
def recording(pid: int, out: Path, *, seconds: int) -> Iterator[None]:
    """py-spy records `pid` for at most `seconds`, or until the block ends."""
    log = out.with_suffix(".log").open("wb")
    spy = subprocess.Popen(
        command(pid, out, seconds), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield
    finally:
        if spy.poll() is None:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()
        log.close()


# Frames under every sample of the main thread: they say nothing about where time went.
_TRIVIAL = (
    "_run_module_as_main ",
    "_run_code ",
    "<module> ",
    "main (service/__main__",
    "serve (service/__main__",
    "Server.run ",
    "asyncio_run ",
    "Thread._bootstrap",
    "Thread.run ",
    "Runner.run ",
)
_THREADPOOL = "WorkerThread.run "


def summarise(path: Path, *, top: int = 15) -> dict[str, Any]:
    """Top functions and packages of the main thread's samples, and the threadpool's share.

    Samples in anyio's worker threads are counted apart: py-spy's `--nonblocking`
    mode reports a thread parked in `Condition.wait` as running, which would
    otherwise crowd the tables (their real CPU is measured by `thread_cpu`).
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = threadpool = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(frame) for frame in stack.split(";") if frame]
        total += count
        if any(f.startswith(_THREADPOOL) for f in frames):
            threadpool += count
            continue
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for name in set(frames):
            if not name.startswith(_TRIVIAL):
                inclusive[name] += count
    main = total - threadpool
    return {
        "samples": total,
        "main_thread_samples": main,
        "rate_hz": RATE,
        "threadpool_share_of_samples": round(threadpool / total, 3) if total else 0.0,
        "own": _shares(own, main, top),
        "inclusive": _shares(inclusive, main, top + 10),
        "own_by_package": _shares(packages, main, top),
    }


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds used so far by the process's main thread and by all its other threads."""
    main = other = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        used = (int(fields[11]) + int(fields[12])) / tick
        if int(tid) == pid:
            main += used
        else:
            other += used
    return {"main": main, "other_threads": other}


def _name(frame: str) -> str:
    """`func (path/file.py:12)` with the path shortened and the line number dropped."""
    match = _FRAME.match(frame)
    if not match:
        return frame
    return f"{match['func']} ({_short(match['file'])})"


def _short(file: str) -> str:
    """`.../site-packages/redis/asyncio/client.py:9` -> `redis/asyncio/client.py`."""
    file = re.sub(r":\d+$", "", file)
    if file.startswith(f"{REPO}/"):
        return file[len(str(REPO)) + 1 :]
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _package(name: str) -> str:
    """The top-level package (or stdlib module) a shortened frame name belongs to."""
    if name.startswith("Runner.run ("):
        return "event loop (uvloop, C)"
    match = re.search(r"\(([^()]*)\)$", name)
    file = match.group(1) if match else name
    return file.split("/", 1)[0].removesuffix(".py")


def _shares(counter: Counter[str], total: int, top: int) -> list[dict[str, Any]]:
    return [
        {"name": name, "samples": n, "share": round(n / total, 3) if total else 0.0}
        for name, n in counter.most_common(top)
    ]
