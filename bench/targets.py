"""The goals for a 2-core machine, and how far the measured figures are from each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.context import DEFAULT_TRANSPORT

Doc = dict[str, Any]
Row = dict[str, str]


def evaluate(doc: Doc) -> list[Row]:
    scenarios = doc.get("scenarios", {})
    rows: list[Row] = []
    for name, check in CHECKS:
        entry = scenarios.get(name)
        if entry is None:
            continue
        for row in check(entry["figures"]):
            if entry["scale"] != "full":
                row["verdict"] += f" ({entry['scale']} scale, not the target's size)"
            rows.append(row)
    return rows


def at_most(
    target: str,
    goal: str,
    value: float,
    limit: float,
    unit: str,
    shown: str = "",
) -> Row:
    verdict = (
        f"met, {_fmt(limit - value, unit)} to spare"
        if value <= limit
        else f"**missed** by {_fmt(value - limit, unit)}"
    )
    return {
        "target": target,
        "goal": goal,
        "measured": shown or _fmt(value, unit),
        "verdict": verdict,
    }


def at_least(
    target: str,
    goal: str,
    value: float,
    floor: float,
    unit: str,
    shown: str = "",
) -> Row:
    verdict = (
        f"met, {_fmt(value - floor, unit)} above"
        if value >= floor
        else f"**missed** by {_fmt(floor - value, unit)}"
    )
    return {
        "target": target,
        "goal": goal,
        "measured": shown or _fmt(value, unit),
        "verdict": verdict,
    }


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.0f} points" if abs(value) < 10 else f"{value:.0f} %"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.0f} {unit}".rstrip()


def _precision(f: Doc) -> list[Row]:
    rows = []
    for key, label in (("spread", "Precision, spread"), ("steady", "Precision, steady")):
        r = f.get(key)
        if not r:
            continue
        rows.append(
            at_most(
                f"{label} ({r['count']:,} over {r['seconds']:.0f} s): p99 lateness",
                "<= 5 ms",
                r["lateness"]["p99_ms"],
                5.0,
                "ms",
            )
        )
        rows.append(at_most(f"{label}: delivered early", "0", r["early"], 0, "messages"))
        rows.append(
            at_least(
                f"{label}: delivered", f"all {r['count']:,}", r["delivered"], r["count"], "messages"
            )
        )
    return rows


def _burst(f: Doc) -> list[Row]:
    s = f.get("service", {}).get(DEFAULT_TRANSPORT)
    if not s:
        return []
    n = f["count"]
    ratio = s["ratio_to_bare_same_client"]
    return [
        at_most(
            f"Burst of {n:,}, one process ({DEFAULT_TRANSPORT}): all delivered within",
            "5 s",
            s["seconds_to_last"] if s["delivered"] == n else float("inf"),
            5.0,
            "s",
            f"{s['seconds_to_last']:.2f} s, {s['delivered']:,} delivered",
        ),
        at_least("Burst: deliveries/s", ">= 2,000/s", s["deliveries_per_second"], 2000, "/s"),
        at_least(
            "Burst: share of the bare loop with the same client",
            ">= 60 %",
            ratio,
            0.6,
            "%",
            f"{ratio * 100:.0f} %",
        ),
    ]


def _create(f: Doc) -> list[Row]:
    s = f.get("service", {}).get("64")
    if not s:
        return []
    ratio = s["ratio_to_ceiling"]
    return [
        at_least(
            "Create at 64 clients: share of the ceiling's requests/s",
            ">= 60 %",
            ratio,
            0.6,
            "%",
            f"{ratio * 100:.0f} % ({s['requests_per_second']:,.0f} of "
            f"{f['ceiling']['64']['requests_per_second']:,.0f} req/s)",
        )
    ]


def _backlog(f: Doc) -> list[Row]:
    n = f"{f['count']:,}"
    ratio = f["post_p99_ratio_full_to_empty"]
    return [
        at_most(f"Backlog of {n}: start to ready", "< 2 s", f["full"]["ready_seconds"], 2.0, "s"),
        at_most(
            f"Backlog of {n}: Redis bytes per pending message",
            "<= 400 bytes",
            f["redis_bytes_per_message"],
            400,
            "bytes",
        ),
        at_most(
            f"Backlog of {n}: POST p99 against an empty store",
            "within 20 % (<= 1.20x)",
            ratio,
            1.2,
            "x",
            f"{ratio:.2f}x ({f['full']['post']['p99_ms']:.1f} vs "
            f"{f['empty']['post']['p99_ms']:.1f} ms)",
        ),
    ]


CHECKS: list[tuple[str, Callable[[Doc], list[Row]]]] = [
    ("precision", _precision),
    ("burst", _burst),
    ("create", _create),
    ("backlog", _backlog),
]
