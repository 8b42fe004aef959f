"""The sections on what Redis holds: a large backlog, and what listing big payloads costs."""

from __future__ import annotations

from typing import Any

from bench.report import notes
from bench.report.numbers import ms, n, p50_p99, pair, pct, spread, times
from bench.report.targets import non_2xx

Doc = dict[str, Any]
# Within this factor the page says the two medians are within N % of each other; it draws
# no conclusion from that (that is for docs/benchmarks-analysis.md).
ABOUT_EQUAL = 1.25


def backlog(f: Doc, doc: Doc) -> str:
    e, full = f["empty"], f["full"]
    count = n(f["count"])
    lines = [
        f"{count} pending messages with a {f['payload_bytes']}-byte payload, due a year",
        f"ahead, written through the service's own store ({f['load']['how']}; "
        f"{n(f['load']['per_second'])}/s).",
        "",
        f"| Measure | Empty store | {count} pending |",
        "|---|---|---|",
        f"| Process start to `/health` 200 | {e['ready_seconds']:.2f} s | "
        f"{full['ready_seconds']:.2f} s |",
        f"| `GET /messages?limit=100` p50 / p99 ({e['list_first_page']['requests']} in a "
        f"row) | {p50_p99(e['list_first_page'])} | {p50_p99(full['list_first_page'])} |",
        f"| `POST /messages` requests/s | {n(e['post']['requests_per_second'])} | "
        f"{n(full['post']['requests_per_second'])} |",
        f"| `POST /messages` p50 / p99 | {p50_p99(e['post'])} | {p50_p99(full['post'])} |",
        f"| `POST /messages` answers other than 2xx | {_errors(e['post'])} | "
        f"{_errors(full['post'])} |",
        f"| CPU during the POSTs, service / Redis (cores) | {pair(e['post'])} | "
        f"{pair(full['post'])} |",
        "",
        _post_sentence(f),
        "",
        f"POST command (the same against both stores{_own_ids(e['post'])}): a warm-up run,",
        f"then {len(_runs(e['post']))} measured runs; the run with the median p99 is shown.",
        f"p99 of each run, empty: {_shown(e['post'])} (spread "
        f"{pct(spread(_runs(e['post'])))}); {count} pending: {_shown(full['post'])} (spread "
        f"{pct(spread(_runs(full['post'])))}).",
        "",
        f"    {full['post']['command']}",
        "",
        *_memory(f),
    ]
    return "\n".join(lines) + "\n"


def _own_ids(post: Doc) -> str:
    """Runs that counted their errors also had an id prefix each (earlier ones shared one)."""
    return ", each run with its own id prefix" if "non_2xx_all_runs" in post else ""


def _errors(post: Doc) -> str:
    errors, requests = non_2xx(post)
    where = "all measured runs" if "non_2xx_all_runs" in post else "the run shown"
    return f"{n(errors)} of {n(requests)} ({where})"


def _post_sentence(f: Doc) -> str:
    e, full = f["empty"], f["full"]
    errors = {store: non_2xx(f[store]["post"])[0] for store in ("empty", "full")}
    listing = f"the first page of the listing took {times(_list_p50_ratio(e, full))} as long at p50"
    if any(errors.values()):
        return (
            f"**{n(errors['empty'])} POSTs against the empty store and {n(errors['full'])}"
            " against the full one were answered with an error status**, which stores"
            " nothing: their latency is not that of scheduling a message, so the POST"
            f" figures above do not compare the two stores. With {n(f['count'])} pending,"
            f" {listing}."
        )
    return (
        f"With {n(f['count'])} pending, `POST /messages` p99 was "
        f"{times(f['post_p99_ratio_full_to_empty'])} the empty store's, and {listing}."
    )


def _memory(f: Doc) -> list[str]:
    """Redis bytes per pending message, plain and (when measured) with options."""
    plain = f["redis_bytes_per_message"]
    rows = [
        f"| plain, {f['payload_bytes']}-byte payload | {plain:.0f} bytes | "
        f"{n(f['load']['per_second'])}/s |"
    ]
    opts = f.get("with_options")
    if opts:
        rows.append(
            f"| with options: {_options(opts['options'])} | "
            f"{opts['redis_bytes_per_message']:.0f} bytes | {n(opts['load']['per_second'])}/s |"
        )
    lines = [
        f"Redis memory per pending message: `used_memory` after writing {n(f['count'])} "
        "messages through the store, minus before, divided by the count; Redis emptied "
        "between the two sets.",
        "",
        "| Messages | Redis memory per pending message | Written at |",
        "|---|---|---|",
        *rows,
    ]
    if opts:
        extra = opts["redis_bytes_per_message"] - plain
        lines += [
            "",
            f"A message with these options took {times(f['bytes_ratio_options_to_plain'])}"
            f" the memory of a plain one ({extra:+,.0f} bytes).",
        ]
    return lines


def _options(described: Doc) -> str:
    """`3 headers (...), 2 labels (...), callbackUrl, maxAttempts 5`."""
    parts = [
        notes.headers(described["header_names"]),
        notes.labels(described["label_names"], described.get("tenants")),
    ]
    shown = ("header_names", "label_names", "tenants")
    for name, value in described.items():
        if name not in shown:
            parts.append(f"`{name}`" if isinstance(value, str) else f"`{name}` {value}")
    return ", ".join(parts)


def _list_p50_ratio(empty: Doc, full: Doc) -> float:
    return float(full["list_first_page"]["p50_ms"] / empty["list_first_page"]["p50_ms"])


def _runs(post: Doc) -> list[float]:
    return list(post.get("p99_ms_of_each_run") or [post["p99_ms"]])


def _shown(post: Doc) -> str:
    return ", ".join(f"{value:.1f} ms" for value in _runs(post))


def pagecost(f: Doc, doc: Doc) -> str:
    big, small = f["big"], f["small"]
    lines = [
        f"{n(small['count'])} messages with {_size(small['payload_bytes'])} payloads, then "
        f"{n(big['count'])} with {_size(big['payload_bytes'])} payloads (Redis emptied",
        "before each). Each set is written through the service's own store, then listed",
        "as one page by the page script behind `GET /messages`",
        f"(`Store.page(dead=False, limit={f['rows_per_page']})`), {f['repeats']} times over.",
        "Redis time is what Redis spent executing the script (`usec` in `INFO",
        "commandstats` after `CONFIG RESETSTAT`), during which every other client waits.",
        "Client time adds the round trip and decoding in Python.",
        "",
        "| Payload | Rows per page | Redis `used_memory` with the set loaded | Redis time per "
        "page, median (min to max) | Client time per page, median |",
        "|---|---|---|---|---|",
    ]
    lines += [_pagecost_row(row) for row in (small, big)]
    lines += ["", _pagecost_sentence(f), "", "Command: `python -m bench --only pagecost`."]
    return "\n".join(lines) + "\n"


def _pagecost_row(row: Doc) -> str:
    usec = row["redis_usec"]
    return (
        f"| {_size(row['payload_bytes'])} | {n(row['rows'])} | "
        f"{_mib(row['redis_used_memory'])} | {_usec(row['redis_usec_median'])} "
        f"({_usec(min(usec))} to {_usec(max(usec))}) | {ms(row['client_ms_median'])} |"
    )


def _pagecost_sentence(f: Doc) -> str:
    big, small, ratio = f["big"], f["small"], f["ratio_big_to_small"]
    about = (
        f", within {pct(ABOUT_EQUAL - 1)} of each other"
        if 1 / ABOUT_EQUAL <= ratio <= ABOUT_EQUAL
        else ""
    )
    return (
        f"With {_size(big['payload_bytes'])} payloads, one {n(big['rows'])}-row page held"
        f" Redis for {_usec(big['redis_usec_median'])}, {times(ratio)} the"
        f" {_usec(small['redis_usec_median'])} it took with {_size(small['payload_bytes'])}"
        f" payloads{about}."
    )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MiB"


def _usec(value: float) -> str:
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:,.0f} us"


def _size(size: int) -> str:
    """1048576 -> `1 MiB`, 131072 -> `128 KiB`, 100 -> `100-byte`."""
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size}-byte"
