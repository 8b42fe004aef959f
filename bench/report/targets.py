"""The goals for a 2-core machine, and a verdict for each computed from its figure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.context import DEFAULT_TRANSPORT
from bench.report.numbers import count_of

Doc = dict[str, Any]
Row = dict[str, str]

LATENESS_P99_MS = 5.0
BURST_SECONDS = 5.0
BURST_PER_SECOND = 2000
BURST_SHARE_OF_BARE = 0.6
BURST_OPTIONS_SHARE_OF_PLAIN = 0.8  # every message with 3 headers and 2 labels
BATCH_TIMES_SINGLE = 5.0  # messages/s through POST /messages/batch against single POSTs
CREATE_SHARE_OF_CEILING = 0.6
BACKLOG_READY_SECONDS = 2.0
BACKLOG_BYTES_PER_MESSAGE = 400
BACKLOG_POST_P99_RATIO = 1.2


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
    *,
    shown: str = "",
) -> Row:
    if value > limit:
        verdict = f"**missed** by {_fmt(value - limit, unit)}"
    else:
        verdict = f"met, {_fmt(limit - value, unit)} to spare" if value < limit else "met"
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
    *,
    shown: str = "",
) -> Row:
    if value < floor:
        verdict = f"**missed** by {_fmt(floor - value, unit)}"
    else:
        verdict = f"met, {_fmt(value - floor, unit)} above" if value > floor else "met"
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
                f"<= {LATENESS_P99_MS:g} ms",
                r["lateness"]["p99_ms"],
                LATENESS_P99_MS,
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
            f"{BURST_SECONDS:g} s",
            s["seconds_to_last"] if s["delivered"] == n else float("inf"),
            BURST_SECONDS,
            "s",
            shown=f"{s['seconds_to_last']:.2f} s, {s['delivered']:,} delivered",
        ),
        at_least(
            "Burst: deliveries/s",
            f">= {BURST_PER_SECOND:,}/s",
            s["deliveries_per_second"],
            BURST_PER_SECOND,
            "/s",
        ),
        at_least(
            "Burst: share of the bare loop with the same client",
            f">= {BURST_SHARE_OF_BARE * 100:.0f} %",
            ratio,
            BURST_SHARE_OF_BARE,
            "%",
            shown=f"{ratio * 100:.0f} %",
        ),
        *_burst_options(f.get("options")),
    ]


def _burst_options(o: Doc | None) -> list[Row]:
    if not o:
        return []
    share = o["ratio_median"]
    return [
        at_least(
            f"Burst with {len(o['header_names'])} headers and {len(o['label_names'])} labels "
            "per message: share of the plain burst's deliveries/s",
            f">= {BURST_OPTIONS_SHARE_OF_PLAIN * 100:.0f} %",
            share,
            BURST_OPTIONS_SHARE_OF_PLAIN,
            "%",
            shown=f"{share * 100:.0f} % (median of {count_of(len(o['pairs']), 'pair')})",
        )
    ]


def _batch(f: Doc) -> list[Row]:
    times = f["ratio_batch_to_single"]
    batch, single = f["batch"]["messages_per_second"], f["single"]["messages_per_second"]
    return [
        at_least(
            f"Batches of {f['batch_size']} at {f['clients']} clients: messages/s against "
            "single POSTs",
            f">= {BATCH_TIMES_SINGLE:g}x",
            times,
            BATCH_TIMES_SINGLE,
            "x",
            shown=f"{times:.2f}x ({batch:,.0f} against {single:,.0f} messages/s)",
        )
    ]


def _create(f: Doc) -> list[Row]:
    s = f.get("service", {}).get("64")
    if not s:
        return []
    ratio = s["ratio_to_ceiling"]
    return [
        at_least(
            "Create at 64 clients: share of the ceiling's requests/s",
            f">= {CREATE_SHARE_OF_CEILING * 100:.0f} %",
            ratio,
            CREATE_SHARE_OF_CEILING,
            "%",
            shown=f"{ratio * 100:.0f} % ({s['requests_per_second']:,.0f} of "
            f"{f['ceiling']['64']['requests_per_second']:,.0f} req/s)",
        )
    ]


def _backlog(f: Doc) -> list[Row]:
    n = f"{f['count']:,}"
    ratio = f["post_p99_ratio_full_to_empty"]
    return [
        at_most(
            f"Backlog of {n}: start to ready",
            f"< {BACKLOG_READY_SECONDS:g} s",
            f["full"]["ready_seconds"],
            BACKLOG_READY_SECONDS,
            "s",
        ),
        at_most(
            f"Backlog of {n}: Redis bytes per pending message",
            f"<= {BACKLOG_BYTES_PER_MESSAGE} bytes",
            f["redis_bytes_per_message"],
            BACKLOG_BYTES_PER_MESSAGE,
            "bytes",
        ),
        _comparable(
            at_most(
                f"Backlog of {n}: POST p99 against an empty store",
                f"within {(BACKLOG_POST_P99_RATIO - 1) * 100:.0f} % "
                f"(<= {BACKLOG_POST_P99_RATIO:.2f}x)",
                ratio,
                BACKLOG_POST_P99_RATIO,
                "x",
                shown=f"{ratio:.2f}x ({f['full']['post']['p99_ms']:.1f} vs "
                f"{f['empty']['post']['p99_ms']:.1f} ms)",
            ),
            sum(non_2xx(f[store]["post"])[0] for store in ("empty", "full")),
        ),
    ]


def non_2xx(post: Doc) -> tuple[int, int]:
    """(answers other than 2xx, requests) over every measured POST run.

    wrk counts answers of status 400 or above; the service sends no 1xx or 3xx to a
    POST. Runs before the count was kept show the one run they recorded.
    """
    if "non_2xx_all_runs" in post:
        return int(post["non_2xx_all_runs"]), int(post["requests_all_runs"])
    return int(post["raw"]["status_errors"]), int(post["requests"])


def _comparable(row: Row, errors: int) -> Row:
    """A latency verdict means nothing when answers were errors (a 409 stores nothing)."""
    if errors:
        row["verdict"] = f"**not comparable**: {errors:,} answers other than 2xx"
    return row


def _schedules(f: Doc) -> list[Row]:
    fires, oneoff = f["fires"], f["oneoff"]
    what = (
        f"Schedules: {f['schedules']:,} every {f['every_seconds']:g} s for"
        f" {f['seconds']:.0f} s, one process"
    )
    p99, oneoff_p99 = fires["lateness"]["p99_ms"], oneoff["lateness"]["p99_ms"]
    return [
        at_most(
            f"{what}: fires' p99 lateness",
            f"<= {LATENESS_P99_MS:g} ms, the goal of one-off messages",
            p99,
            LATENESS_P99_MS,
            "ms",
            shown=f"{p99:.2f} ms (one-off messages at the same rate: {oneoff_p99:.2f} ms)",
        ),
        at_least(
            "Schedules: fires delivered",
            f"all {fires['expected']:,} ticks",
            fires["delivered"],
            fires["expected"],
            "fires",
        ),
        at_most("Schedules: ticks fired twice", "0", fires["duplicates"], 0, "fires"),
        at_most("Schedules: fires early", "0", fires["early"], 0, "fires"),
    ]


CHECKS: list[tuple[str, Callable[[Doc], list[Row]]]] = [
    ("precision", _precision),
    ("schedules", _schedules),
    ("burst", _burst),
    ("create", _create),
    ("batch", _batch),
    ("backlog", _backlog),
]


def met(row: Row) -> bool:
    return row["verdict"].startswith("met")
