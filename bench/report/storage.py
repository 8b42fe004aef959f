"""The sections on what Redis holds: a large backlog, and what listing big payloads costs."""

from __future__ import annotations

from typing import Any

from bench.report.numbers import ms, n, p50_p99, pair, pct, spread, times

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
        f"| Redis memory per pending message | | {f['redis_bytes_per_message']:.0f} bytes "
        f"(`used_memory` delta / N) |",
        f"| Process start to `/health` 200 | {e['ready_seconds']:.2f} s | "
        f"{full['ready_seconds']:.2f} s |",
        f"| `GET /messages?limit=100` p50 / p99 ({e['list_first_page']['requests']} in a "
        f"row) | {p50_p99(e['list_first_page'])} | {p50_p99(full['list_first_page'])} |",
        f"| `POST /messages` requests/s | {n(e['post']['requests_per_second'])} | "
        f"{n(full['post']['requests_per_second'])} |",
        f"| `POST /messages` p50 / p99 | {p50_p99(e['post'])} | {p50_p99(full['post'])} |",
        f"| CPU during the POSTs, service / Redis (cores) | {pair(e['post'])} | "
        f"{pair(full['post'])} |",
        "",
        f"With {count} pending, `POST /messages` p99 was "
        f"{times(f['post_p99_ratio_full_to_empty'])} the empty store's, and the first page "
        f"of the listing took {times(_list_p50_ratio(e, full))} as long at p50.",
        "",
        "POST command (the same against both stores): a warm-up run, then",
        f"{len(_runs(e['post']))} measured runs; the run with the median p99 is shown. p99 of",
        f"each run, empty: {_shown(e['post'])} (spread {pct(spread(_runs(e['post'])))});",
        f"{count} pending: {_shown(full['post'])} (spread {pct(spread(_runs(full['post'])))}).",
        "",
        f"    {full['post']['command']}",
    ]
    return "\n".join(lines) + "\n"


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
