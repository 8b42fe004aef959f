"""How the page writes a figure: counts, milliseconds, shares, ratios and CPU cores."""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]


def n(value: Any) -> str:
    """A count or rate with thousands separators; `-` when missing."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def ms(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def pct(value: Any) -> str:
    """A share (0.52) as a percentage (52 %)."""
    return "-" if value is None else f"{value * 100:.0f} %"


def count_of(count: int, noun: str) -> str:
    """`1 pair`, `3 pairs`."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def times(value: float) -> str:
    """A ratio as a multiplier: 1.03x."""
    return f"{value:.2f}x"


def p50_p99(figures: Doc) -> str:
    return f"{ms(figures['p50_ms'])} / {ms(figures['p99_ms'])}"


def cpu(run: Doc) -> str:
    """Cores used by each service process, then by Redis: `0.75 + 0.71 / 0.20`."""
    used = run.get("cpu_cores_while_delivering")
    if not used:
        return "-"
    return " + ".join(f"{c:.2f}" for c in used["service"]) + f" / {used['redis']:.2f}"


def pair(post: Doc) -> str:
    """Cores used by each measured server during a wrk run: `1.00 / 0.05`."""
    used = post.get("cpu_cores_by_process")
    return " / ".join(f"{c:.2f}" for c in used) if used else "-"


def spread(values: list[float]) -> float:
    """How far apart repeated measurements are: (max - min) / min."""
    low = min(values)
    return (max(values) - low) / low if low else 0.0
