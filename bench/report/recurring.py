"""The recurring-schedules section: how late fires arrive against one-off messages at the
same rate, whether every tick fired once, and what a schedule costs Redis and the CPU."""

from __future__ import annotations

from typing import Any

from bench.bodies import PAYLOAD_BYTES
from bench.report import targets
from bench.report.numbers import ms, n, times

Doc = dict[str, Any]


def schedules(f: Doc, doc: Doc) -> str:
    fires, oneoff = f["fires"], f["oneoff"]
    lines = [
        _intro(f),
        "",
        "| | Fires of the schedules | One-off messages |",
        "|---|---|---|",
        f"| Expected / delivered | {n(fires['expected'])} / {n(fires['delivered'])} | "
        f"{n(oneoff['expected'])} / {n(oneoff['delivered'])} |",
        f"| Arrived twice (a tick fired twice) | {n(fires['duplicates'])} | "
        f"{n(oneoff['duplicates'])} |",
        f"| Arrived with an id not expected (a tick outside a schedule's window) | "
        f"{n(fires['unexpected'])} | {n(oneoff['unexpected'])} |",
        f"| Early | {n(fires['early'])} | {n(oneoff['early'])} |",
        f"| Lateness p50 / p99 / max | {_late(fires)} | {_late(oneoff)} |",
        f"| CPU while due, service / Redis (cores, over {f['seconds']:.0f} s) | "
        f"{_cpu(fires)} | {_cpu(oneoff)} |",
        f"| Redis memory per history record (delivered; `MEMORY USAGE` of the history"
        f" hash and index / records) | {_history(fires)} | {_history(oneoff)} |",
        *_left(fires),
        "",
        _lateness_sentence(f),
        "",
        *_intervals(f),
        "",
        *_memory(f),
        "",
        "Command: `python -m bench --only schedules`.",
    ]
    return "\n".join(lines) + "\n"


def _intro(f: Doc) -> str:
    fires, create = f["fires"], f["fires"]["create"]
    created = (
        "creating ended before the first tick"
        if create.get("finished_before_first_tick")
        else "**creating was still going on at the first tick**, so early ticks competed"
        " with the POSTs"
    )
    retried = create.get("retried_after") or {}
    again = (
        " (" + ", ".join(f"{count} x {status} retried" for status, count in retried.items()) + ")"
        if retried
        else ""
    )
    return (
        f"{n(f['schedules'])} recurring schedules with `every: {f['every_seconds']:g}` and a"
        f" {PAYLOAD_BYTES}-byte payload on one service process, for {f['seconds']:.0f} s:"
        f" {f['ticks_per_schedule']} ticks each, {n(fires['expected'])} fires at"
        f" {n(f['per_second'])}/s. Each schedule's `startAt` is spread evenly over one"
        " interval and its `endAt` follows its last tick, so the fires come at an even"
        " rate and stop by themselves. They were created through `POST /schedules`"
        f" ({n(create['per_second'])}/s, 64 at a time{again}); {created}. A fire's id"
        " holds its tick (`<scheduleId>:<epoch ms>`): lateness is its arrival at the sink"
        " minus that tick. Compared in the same run with one-off messages at the same"
        " rate for the same time, written through the service's store before the first"
        " fell due, on an empty store and a process of their own (run first)."
    )


def _late(r: Doc) -> str:
    late = r["lateness"]
    return f"{ms(late['p50_ms'])} / {ms(late['p99_ms'])} / {ms(late['max_ms'])}"


def _cpu(r: Doc) -> str:
    used = r["cpu_cores_while_due"]
    return f"{used['service']:.2f} / {used['redis']:.2f}"


def _history(r: Doc) -> str:
    h = r.get("history") or {}
    if not h.get("records"):
        return "-"
    return f"{h['bytes_per_record']:.0f} bytes ({n(h['records'])} records)"


def _left(fires: Doc) -> list[str]:
    left = fires.get("left_at_end")
    if left is None:
        return []
    missing = fires["expected"] - fires["delivered"]
    stored = left["fires_pending"] + left["fires_in_flight"]
    return [
        f"| Not delivered when the scenario stopped waiting: stored and pending (in flight)"
        f" / never stored | {n(left['fires_pending'])} ({n(left['fires_in_flight'])}) /"
        f" {n(max(0, missing - stored))} | |",
        f"| Schedules whose last tick was not yet materialized then | "
        f"{n(left['schedules_not_ended'])} | |",
    ]


def _intervals(f: Doc) -> list[str]:
    """Lateness by interval of the run: whether the fires kept up as the minute went on."""
    fires, oneoff = f["fires"].get("lateness_by_interval"), f["oneoff"].get("lateness_by_interval")
    if not fires or not oneoff:
        return []
    lines = [
        f"Lateness by {f['every_seconds']:g}-second interval of the run (what fell due in it):"
        " a delivery path that keeps up is as late in the last interval as in the first.",
        "",
        "| Due from | Fires delivered | Fires p50 / p99 | One-off delivered | One-off p50 / p99 |",
        "|---|---|---|---|---|",
    ]
    for a, b in zip(fires, oneoff, strict=True):
        lines.append(
            f"| {a['from_seconds']:g} s | {n(a['delivered'])} | {_p50_p99(a)} |"
            f" {n(b['delivered'])} | {_p50_p99(b)} |"
        )
    return lines


def _p50_p99(r: Doc) -> str:
    return f"{ms(r['p50_ms'])} / {ms(r['p99_ms'])}" if r["delivered"] else "-"


def _lateness_sentence(f: Doc) -> str:
    fires, oneoff = f["fires"]["lateness"], f["oneoff"]["lateness"]
    goal = targets.LATENESS_P99_MS
    verdicts = {
        name: "within" if p99 <= goal else "over"
        for name, p99 in (("fires", fires["p99_ms"]), ("oneoff", oneoff["p99_ms"]))
    }
    return (
        f"Fires arrived {ms(fires['p99_ms'])} late at p99, {times(f['p99_ratio_fires_to_oneoff'])}"
        f" the {ms(oneoff['p99_ms'])} of one-off messages at the same rate; the fires are"
        f" {verdicts['fires']} the {goal:g} ms p99 goal of one-off messages, and the one-off"
        f" messages of this run {verdicts['oneoff']} it."
    )


def _memory(f: Doc) -> list[str]:
    m = f["fires"]["memory"]
    per_schedule = m["fires_pending_when_measured"] / f["schedules"]
    return [
        "Redis memory once the schedules were created. Each schedule has its next fire"
        " pending from then on (the housekeeper keeps fires materialized a few seconds"
        " ahead), so the schedule and its fires are counted apart (`MEMORY USAGE` of"
        " their keys) and together (`used_memory` after creating, minus before, which"
        " also holds what Redis allocates for the service's connections).",
        "",
        "| Measure | Figure |",
        "|---|---|",
        "| Per schedule: definition, fire body and three indexes (`MEMORY USAGE` of the"
        f" five schedule keys / N) | {m['bytes_per_schedule_alone']:.0f} bytes |",
        "| Per pending fire: record, body, due-index entry and the `schedule=<id>` label"
        f" index it is in | {_bytes(m['bytes_per_pending_fire'])} |",
        f"| Per schedule with its pending fires ({per_schedule:.2f} each when measured):"
        f" `used_memory` difference / N | {m['bytes_per_schedule_with_next_fires']:.0f} bytes |",
    ]


def _bytes(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} bytes"
