"""The bulk-cancel section: how long DELETE /messages?label=... takes, what the API's
latency does meanwhile, and what the history of the cancelled messages costs Redis."""

from __future__ import annotations

from typing import Any

from bench.report import notes
from bench.report.numbers import ms, n, times

Doc = dict[str, Any]
# Below this many samples, a nearest-rank p99 is the slowest sample.
P99_SAMPLES = 100


def cancel(f: Doc, doc: Doc) -> str:
    get = f["get"]
    lines = [
        _intro(f),
        "",
        "| Measure | Figure |",
        "|---|---|",
        f"| DELETE answered in | {f['delete']['seconds']:.2f} s"
        f" ({n(f['delete']['per_second'])} cancelled/s; it reported {n(f['delete']['count'])}) |",
        *_slow(f["redis_slow_commands"]),
        *_history(f),
        "",
        f"| `GET /messages/{{id}}` at {n(get['rate_per_second'])}/s | Requests | p50 | p99 | "
        "max | Not 2xx |",
        "|---|---|---|---|---|---|",
        _get_row("without the DELETE", get["without_delete"]),
        _get_row("while the DELETE ran", get["during_delete"]),
        "",
        _get_sentence(get),
        "",
        "Command: `python -m bench --only cancel`.",
    ]
    return "\n".join(lines) + "\n"


def _intro(f: Doc) -> str:
    settings = ", ".join(f"`{k}={v}`" for k, v in f.get("settings", {}).items())
    kept = f" The service runs with {settings}, so no history is trimmed." if settings else ""
    labelled = notes.labels(["flow", "tenant"], f.get("tenants"))
    rate = f["get"]["rate_per_second"]
    return (
        f"{n(f['count'])} pending messages with {labelled}, due a year ahead, written"
        f" through the service's own store ({n(f['load']['per_second'])}/s), then cancelled"
        f" by one `DELETE /messages?label={f['label_filter']}`, which the service runs as"
        f" atomic script calls of {n(f.get('script_batch'))} messages each.{kept} Beside"
        f" it, `GET /messages/{{id}}` of one other message runs at {n(rate)}/s, each request"
        " sent on time whatever the others are doing: first with no DELETE, then from just"
        " before the DELETE until it answered. The GETs sent while it ran are compared"
        " with the first set."
    )


def _slow(slow: Doc) -> list[str]:
    threshold = f"{slow['threshold_ms']:g} ms"
    if not slow.get("count"):
        return [f"| Redis commands of {threshold} or longer while it ran (SLOWLOG) | none |"]
    return [
        f"| Redis commands of {threshold} or longer while it ran (SLOWLOG) | "
        f"{n(slow['count'])}: median {ms(slow['median_ms'])}, longest {ms(slow['max_ms'])},"
        f" {ms(slow['total_ms'])} in all |"
    ]


def _history(f: Doc) -> list[str]:
    h = f["history"]
    return [
        f"| History records left (cancelled, no attempts, labels kept) | {n(h['records'])} |",
        f"| Redis memory per history record (`used_memory` after the DELETE, minus before the"
        f" load, / N) | {h['redis_bytes_per_record']:.0f} bytes |",
        "| The same from `MEMORY USAGE` of the history hash and its index / N | "
        f"{h['memory_usage_per_record']:.0f} bytes |",
    ]


def _get_row(name: str, r: Doc) -> str:
    return (
        f"| {name} | {n(r['requests'])} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | "
        f"{ms(r['max_ms'])} | {n(r['non_2xx'])} |"
    )


def _get_sentence(get: Doc) -> str:
    alone, during = get["without_delete"], get["during_delete"]
    sentence = (
        f"While the DELETE ran, GET p50 was {times(get['p50_ratio_during_to_without'])} and"
        f" p99 {times(get['p99_ratio_during_to_without'])} what they were without it"
        f" ({ms(during['p99_ms'])} against {ms(alone['p99_ms'])} at p99)."
    )
    if during["requests"] < P99_SAMPLES:
        sentence += (
            f" Only {during['requests']} GETs were sent while it ran, so their p99 is their"
            " slowest."
        )
    return sentence
