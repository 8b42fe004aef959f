"""Ceilings alone (no service needed): the bare delivery loops and the minimal create app."""

from __future__ import annotations

from typing import Any

from bench.context import Bench
from bench.scenarios.burst import bare_loop
from bench.scenarios.create import ceiling_levels


def run(bench: Bench) -> dict[str, Any]:
    count = bench.scale.burst_count
    return {
        "bare": {t: bare_loop(bench, t, count) for t in bench.scale.transports},
        "create_ceiling": ceiling_levels(bench),
    }
