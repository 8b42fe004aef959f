"""Precision: messages spread evenly in time; lateness at the sink against scheduleTo."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench import arrivals
from bench.bodies import run_prefix, spread
from bench.context import Bench
from bench.stats import histogram_quantile


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
        start = time.time() + arrivals.lead_seconds(count)
        messages = spread(run_prefix("precision"), start, count, seconds / count, bench.sink.url)
        load = arrivals.schedule(bench, base, messages)
        due = {m["id"]: start + i * seconds / count for i, m in enumerate(messages)}
        figures = arrivals.collect(bench, due, timeout=start + seconds - time.time() + 30)
        figures["service_histogram"] = _service_lateness(base)
    figures.update(
        count=count,
        seconds=seconds,
        per_second=round(count / seconds, 1),
        load=load,
        load_finished_before_first_due=load["finished_unix"] < start,
    )
    return figures


def _service_lateness(base: str) -> dict[str, Any]:
    """p50/p99 of the service's own lateness histogram, as Prometheus would estimate them."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    buckets = [
        (float(sample.labels["le"]), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "scheduler_api_delivery_lateness_seconds_bucket"
    ]
    p50, p99 = histogram_quantile(buckets, 0.5), histogram_quantile(buckets, 0.99)
    return {
        "p50_ms": None if p50 is None else round(p50 * 1000, 3),
        "p99_ms": None if p99 is None else round(p99 * 1000, 3),
        "count": max((count for _, count in buckets), default=0),
        # So that the page can say whether the histogram and the sink agree to a bucket.
        "bucket_bounds_ms": sorted(round(le * 1000, 3) for le, _ in buckets if le != float("inf")),
    }
