"""Replicas: one burst shared by 1, 2, 3 service processes on the same Redis."""

from __future__ import annotations

import re
import urllib.request
from typing import Any

from bench.context import Bench
from bench.scenarios.burst import burst_through

_DELIVERED = re.compile(
    r'^scheduler_api_deliveries_total\{outcome="delivered"\} ([0-9.e+]+)$', re.M
)


def run(bench: Bench) -> dict[str, Any]:
    out: dict[str, Any] = {"count": bench.scale.replica_count, "runs": {}}
    for replicas in bench.scale.replicas:
        bench.fresh()
        with bench.services(replicas) as started:
            services = [(proc.pid, base) for proc, base, _ in started]
            figures = burst_through(bench, services, bench.scale.replica_count, {})
            figures["per_process_delivered"] = [_delivered(base) for _, base in services]
        out["runs"][str(replicas)] = figures
    return out


def _delivered(base: str) -> int | None:
    """The process's own count of delivered messages, from its /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        match = _DELIVERED.search(resp.read().decode())
    return int(float(match.group(1))) if match else None
