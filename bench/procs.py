"""What the suite adds to `tests.support.spawn`: its constants, and the CPU time of the
processes it measures (the load tools it runs to completion, the servers it samples)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.spawn import signal_group

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TOKEN = "bench-token-0123456789"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_measured(
    cmd: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
) -> tuple[str, float, float]:
    """Run a load tool to completion; return its output, wall seconds and CPU seconds."""
    cpu_before = _children_cpu()
    start = time.monotonic()
    popen = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd or REPO,
        start_new_session=True,
    )
    try:
        out, _ = popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        signal_group(popen.pid, signal.SIGKILL)
        popen.communicate()
        raise
    wall = time.monotonic() - start
    # communicate() reaped the child, so its CPU is now in RUSAGE_CHILDREN.
    return out.decode(errors="replace"), wall, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
