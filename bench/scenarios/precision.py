"""Precision: messages spread evenly in time; lateness at the sink against scheduleTo."""

from __future__ import annotations

import time
from typing import Any

from bench import delivery
from bench.context import Bench
from bench.messages import run_prefix, spread


def run(bench: Bench) -> dict[str, Any]:
    scale = bench.scale
    steady_count = int(scale.steady_rate * scale.steady_seconds)
    return {
        "spread": _spread(bench, scale.spread_count, scale.spread_seconds),
        "steady": _spread(bench, steady_count, scale.steady_seconds),
    }


def _spread(bench: Bench, count: int, seconds: float) -> dict[str, Any]:
    bench.fresh()
    with bench.service() as (_, base, _ready):
        start = time.time() + delivery.lead_seconds(count)
        messages = spread(run_prefix("precision"), start, count, seconds / count, bench.sink.url)
        load = delivery.schedule(bench, base, messages)
        due = {m["id"]: start + i * seconds / count for i, m in enumerate(messages)}
        figures = delivery.collect(bench, due, timeout=start + seconds - time.time() + 30)
    figures.update(
        count=count,
        seconds=seconds,
        per_second=round(count / seconds, 1),
        load=load,
        load_finished_before_first_due=load["finished_unix"] < start,
    )
    return figures
