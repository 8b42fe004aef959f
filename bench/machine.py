"""What the run ran on: CPU, memory, OS and the versions that matter to the figures."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.procs import REPO

PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "redis",
    "hiredis",
    "aiohttp",
    "httpx",
    "httpx-aiohttp",
    "uvloop",
    "httptools",
    "orjson",
    "py-spy",
)


def describe(*, redis_version: str) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_mem_kib() / 1024 / 1024, 1),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_server": redis_version,
        "wrk": _run(["wrk", "-v"], any_status=True).split(" [")[0],
        "packages": {name: _version(name) for name in PACKAGES},
        "commit": _run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]) or "uncommitted",
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _os_name() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _run(cmd: list[str], *, any_status: bool = False) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return ""
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines and (done.returncode == 0 or any_status) else ""
