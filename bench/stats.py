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
