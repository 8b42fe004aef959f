"""Percentiles and small summaries of samples."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (`pct` in 0..100) of unsorted samples; NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of durations given in seconds, in milliseconds (3 decimals)."""
    ordered = sorted(seconds)
    return {
        "p50_ms": _ms(percentile(ordered, 50)),
        "p99_ms": _ms(percentile(ordered, 99)),
        "max_ms": _ms(ordered[-1] if ordered else math.nan),
    }


def _ms(value: float) -> float:
    return round(value * 1000, 3)


def ratio(value: float, ceiling: float) -> float:
    """value / ceiling, rounded; NaN when the ceiling is zero or missing."""
    return round(value / ceiling, 3) if ceiling else math.nan


def histogram_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """Prometheus's estimate of a quantile from cumulative `(le, count)` buckets.

    Linear interpolation inside the bucket that holds the rank, as `histogram_quantile`
    does, so the figure is what a dashboard on the service's own metric would show.
    """
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] == 0:
        return None
    rank = q * ordered[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if le == float("inf"):
                return lower_le
            return lower_le + (le - lower_le) * (rank - lower_count) / (count - lower_count)
        lower_le, lower_count = le, count
    return None
