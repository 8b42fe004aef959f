"""The precision section: how late messages arrived, at the sink and by the service's own
histogram."""

from __future__ import annotations

import bisect
from typing import Any

from bench.arrivals import LOAD_CONCURRENCY
from bench.bodies import PAYLOAD_BYTES
from bench.report import notes
from bench.report.numbers import ms, n

Doc = dict[str, Any]
NAMES = {"spread": "spread evenly", "steady": "steady rate"}


def precision(f: Doc, doc: Doc) -> str:
    lines = [
        "Lateness is the arrival time at the sink minus `scheduleTo` (both read from",
        f"the same clock). Messages are POSTed by {LOAD_CONCURRENCY} aiohttp workers, with",
        f"{PAYLOAD_BYTES}-byte payloads.",
        "",
        "| Scenario | Messages | Rate | Delivered | Early | Duplicates | p50 | p99 | max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = {key: f[key] for key in NAMES if f.get(key)}
    for key, r in rows.items():
        late = r["lateness"]
        lines.append(
            f"| {NAMES[key]} over {r['seconds']:.0f} s | {n(r['count'])} | "
            f"{n(r['per_second'])}/s | {n(r['delivered'])} | {r['early']} | "
            f"{r['duplicates']} | {ms(late['p50_ms'])} | {ms(late['p99_ms'])} | "
            f"{ms(late['max_ms'])} |"
        )
    lines.append(notes.loading(rows.values()))
    lines += _histogram(rows)
    lines += ["", "Command: `python -m bench --only precision`."]
    return "\n".join(lines) + "\n"


def _histogram(rows: dict[str, Doc]) -> list[str]:
    measured = {key: r for key, r in rows.items() if r.get("service_histogram")}
    if not measured:
        return []
    lines = [
        "The service's own `scheduler_api_delivery_lateness_seconds` histogram, scraped from",
        "`/metrics` at the end of each scenario and read the way Prometheus's",
        "`histogram_quantile` reads it. It times the start of each attempt rather than the",
        "arrival, and its estimate is only as fine as the bucket that holds the rank.",
        "",
        "| Scenario | Observations | Histogram p50 | Histogram p99 | Sink p99 | "
        "Same bucket as the sink's p99 |",
        "|---|---|---|---|---|---|",
    ]
    for key, r in measured.items():
        hist, sink_p99 = r["service_histogram"], r["lateness"]["p99_ms"]
        lines.append(
            f"| {NAMES[key]} | {n(hist['count'])} | {ms(hist['p50_ms'])} | "
            f"{ms(hist['p99_ms'])} | {ms(sink_p99)} | {_same_bucket(hist, sink_p99)} |"
        )
    return lines


def _same_bucket(hist: Doc, sink_p99: float) -> str:
    """Whether both p99s fall between the same two bucket bounds, and which bounds."""
    bounds = hist.get("bucket_bounds_ms")
    if not bounds or hist.get("p99_ms") is None:
        return "bounds not recorded in this run"
    a, b = bisect.bisect_left(bounds, hist["p99_ms"]), bisect.bisect_left(bounds, sink_p99)
    low = f"{bounds[a - 1]:g}" if a > 0 else "0"
    high = f"{bounds[a]:g} ms" if a < len(bounds) else "+Inf"
    return f"yes ({low} to {high})" if a == b else "no"
