"""The sections on rates: creating messages (one or a batch per request), a burst of
deliveries (plain and with options), and replicas sharing one."""

from __future__ import annotations

from typing import Any

from bench.context import DEFAULT_TRANSPORT, DELIVERY_CONCURRENCY
from bench.report import notes, targets
from bench.report.numbers import count_of, cpu, ms, n, pct, times

Doc = dict[str, Any]


def create(f: Doc, doc: Doc) -> str:
    lines = [
        f"Client: {f['client']}; every request carries a new id and a 100-byte payload,",
        "due in 30 days (nothing is delivered during the run). The ceiling is",
        "`bench/ceiling_app.py`: FastAPI validating the same body with pydantic, a",
        "Bearer check and one Redis `SET NX`, on uvicorn with uvloop and httptools,",
        "one process, like the service. CPU is in cores (1.0 = one core busy).",
        "",
        "| App | Clients | Requests/s | Of ceiling | p50 | p99 | Errors "
        "| App CPU + Redis CPU | wrk CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for app in ("ceiling", "service"):
        for clients, r in f.get(app, {}).items():
            share = pct(r.get("ratio_to_ceiling")) if app == "service" else "100 %"
            lines.append(
                f"| {app} | {clients} | {n(r['requests_per_second'])} | {share} | "
                f"{ms(r['p50_ms'])} | {ms(r['p99_ms'])} | {r['errors']} | "
                f"{r['server_cpu_cores']} | {r['client_cpu_cores']} |"
            )
    lines += ["", _create_range(f.get("service", {})), "", "Commands:", ""]
    lines += [
        f"    {r['command']}" for app in ("ceiling", "service") for r in f.get(app, {}).values()
    ]
    return "\n".join(lines) + "\n"


def _create_range(service: Doc) -> str:
    shares = {c: r["ratio_to_ceiling"] for c, r in service.items() if "ratio_to_ceiling" in r}
    if not shares:
        return ""
    low, high = min(shares, key=shares.__getitem__), max(shares, key=shares.__getitem__)
    return (
        f"The service's share of the ceiling ranged from {pct(shares[low])} (at {low} clients)"
        f" to {pct(shares[high])} (at {high} clients)."
    )


def burst(f: Doc, doc: Doc) -> str:
    lines = [
        f"{n(f['count'])} messages due at the same instant. The ceilings are bare async",
        f"loops (`bench/client.py`, uvloop) POSTing the same {n(f['count'])} bodies with the",
        f"same headers to the same sink with {f['concurrency']} workers: no Redis, no claims.",
        "",
        "| Client | Bare loop deliveries/s | Bare loop CPU | Service: time to last | "
        "Service deliveries/s | Of bare loop | Service CPU / Redis CPU | Lateness p50 | p99 "
        "| Delivered | Duplicates |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for transport, bare in f.get("bare", {}).items():
        lines.append(
            f"| {transport} | {n(bare['per_second'])} | {bare['client_cpu_cores']} | "
            f"{_burst_cells(f.get('service', {}).get(transport))} |"
        )
    lines += [
        "",
        "Service rows: `WEBHOOK_TRANSPORT=<client>`. Time to last is from the due",
        "instant to the last arrival; deliveries/s is the count divided by it. CPU is",
        "in cores, averaged from the due instant to the last arrival.",
        "",
        *_burst_sentences(f),
        "",
        "Commands (ceilings), then `python -m bench --only burst` for the service rows:",
        "",
    ]
    lines += [f"    {bare['command']}" for bare in f.get("bare", {}).values()]
    lines.append(notes.loading(f.get("service", {}).values()))
    lines += _options(f.get("options"))
    return "\n".join(lines) + "\n"


def _options(o: Doc | None) -> list[str]:
    """Plain bursts against bursts with headers and labels, pair by pair."""
    if not o:
        return []
    carried = (
        f"{notes.headers(o['header_names'])} and {notes.labels(o['label_names'], o.get('tenants'))}"
    )
    lines = [
        f"**With options.** The same burst, plain against every message carrying {carried},"
        f" with {o['transport']}, in {count_of(len(o['pairs']), 'pair')} run back to back"
        f" (every other pair with options first){_loaded(o['pairs'])}.",
        "",
        "| Pair | Plain deliveries/s | With options | Of plain | Plain: service CPU / Redis "
        "CPU | With options | Service CPU per delivery, plain / with options | "
        "Lateness p99, plain / with options |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, pair in enumerate(o["pairs"], 1):
        plain, options = pair["plain"], pair["options"]
        lines.append(
            f"| {number} | {n(plain['deliveries_per_second'])} | "
            f"{n(options['deliveries_per_second'])} | {pct(pair['ratio_options_to_plain'])} | "
            f"{cpu(plain)} | {cpu(options)} | {_per_delivery(plain)} / "
            f"{_per_delivery(options)} | {ms(plain['lateness']['p99_ms'])} / "
            f"{ms(options['lateness']['p99_ms'])} |"
        )
    share, goal = o["ratio_median"], targets.BURST_OPTIONS_SHARE_OF_PLAIN
    verdict = "at or above" if share >= goal else "below"
    cost = o.get("cpu_ratio_median")
    lines += [
        "",
        f"With options, the service delivered {pct(share)} of the plain rate (median of"
        f" {count_of(len(o['pairs']), 'pair')}): {verdict} the {pct(goal)} goal."
        + (
            f" Each delivery with options took {times(cost)} the service CPU of a plain one"
            " (median of the pairs' ratios)."
            if cost
            else ""
        ),
        notes.loading([run for pair in o["pairs"] for run in (pair["plain"], pair["options"])]),
    ]
    return lines


def _per_delivery(run: Doc) -> str:
    value = run.get("service_cpu_us_per_delivery")
    return "-" if value is None else f"{value:.0f} us"


def _loaded(pairs: list[Doc]) -> str:
    """How the pairs' messages were stored, when the figures say."""
    if all(pair["plain"]["load"].get("how") == "store" for pair in pairs):
        return (
            ". Both bursts of a pair are written through the service's own store (not"
            " POSTed), so that loading is over before they fall due and only delivery"
            " is compared"
        )
    return ""


def batch(f: Doc, doc: Doc) -> str:
    single, many = f["single"], f["batch"]
    lines = [
        f"Client: {f['client']}, {f['clients']} connections, against one service on an empty"
        " store: `bench/lua/create.lua` POSTs one message per request to `/messages` (as in"
        f" the create section), `bench/lua/batch.lua` {f['batch_size']} per request to"
        " `/messages/batch` and counts the items each answer says it scheduled. Messages/s"
        f" counts scheduled messages only. {count_of(f['rounds'], 'round')} of the two back to back"
        " (every other round batch first); the round with the median ratio is shown.",
        "",
        "| Endpoint | Messages per request | Requests/s | Messages/s | Failed messages | "
        "p50 / p99 per request | Service CPU + Redis CPU | Service CPU per message | wrk CPU |",
        "|---|---|---|---|---|---|---|---|---|",
        _batch_row("`POST /messages`", 1, single),
        _batch_row("`POST /messages/batch`", f["batch_size"], many),
        "",
        _batch_sentence(f),
        "",
        "Commands:",
        "",
        f"    {single['command']}",
        f"    {many['command']}",
    ]
    return "\n".join(lines) + "\n"


def _batch_row(name: str, size: int, r: Doc) -> str:
    service_cpu = r["cpu_cores_by_process"][0]
    per_message = (
        f"{service_cpu / r['messages_per_second'] * 1e6:.0f} us"
        if r["messages_per_second"]
        else "-"
    )
    return (
        f"| {name} | {size} | {n(r['requests_per_second'])} | {n(r['messages_per_second'])} | "
        f"{n(r['messages_failed'])} | {ms(r['p50_ms'])} / {ms(r['p99_ms'])} | "
        f"{r['server_cpu_cores']} | {per_message} | {r['client_cpu_cores']} |"
    )


def _batch_sentence(f: Doc) -> str:
    ratio, goal = f["ratio_batch_to_single"], targets.BATCH_TIMES_SINGLE
    verdict = "at or above" if ratio >= goal else "below"
    rounds = ", ".join(times(r) for r in f["ratio_of_each_round"])
    return (
        f"Through the batch endpoint the service scheduled {n(f['batch']['messages_per_second'])}"
        f" messages/s, {times(ratio)} the {n(f['single']['messages_per_second'])}/s of single"
        f" POSTs at the same {f['clients']} connections: {verdict} the {goal:g}x goal."
        f" Ratio in each round: {rounds}."
    )


def _burst_cells(s: Doc | None) -> str:
    if not s:
        return "not run | | | | | | | "
    return (
        f"{s['seconds_to_last']:.2f} s | {n(s['deliveries_per_second'])} | "
        f"{pct(s['ratio_to_bare_same_client'])} | {cpu(s)} | "
        f"{ms(s['lateness']['p50_ms'])} | {ms(s['lateness']['p99_ms'])} | "
        f"{n(s['delivered'])} | {s['duplicates']}"
    )


def _burst_sentences(f: Doc) -> list[str]:
    """The default transport against its goal, and the fastest transport against the slowest."""
    service = f.get("service", {})
    sentences = []
    default = service.get(DEFAULT_TRANSPORT)
    bare = f.get("bare", {}).get(DEFAULT_TRANSPORT)
    if default and bare:
        share, goal = default["ratio_to_bare_same_client"], targets.BURST_SHARE_OF_BARE
        verdict = "at or above" if share >= goal else "below"
        sentences.append(
            f"With {DEFAULT_TRANSPORT} (the default transport), the service delivered"
            f" {n(default['deliveries_per_second'])}/s, {pct(share)} of the bare loop's"
            f" {n(bare['per_second'])}/s with the same client: {verdict} the"
            f" {pct(goal)} goal."
        )
    if len(service) > 1:
        rate = {t: s["deliveries_per_second"] for t, s in service.items()}
        fast, slow = max(rate, key=rate.__getitem__), min(rate, key=rate.__getitem__)
        sentences.append(
            f"The fastest transport, {fast}, delivered {times(rate[fast] / rate[slow])}"
            f" as many per second as the slowest, {slow}."
        )
    return [" ".join(sentences)] if sentences else []


def replicas(f: Doc, doc: Doc) -> str:
    runs = f.get("runs", {})
    lines = [
        f"One burst of {n(f['count'])} messages, due at one instant, shared by several",
        f"service processes on the same Redis (each `DELIVERY_CONCURRENCY="
        f"{DELIVERY_CONCURRENCY}`). Per-process counts come from each process's",
        '`scheduler_api_deliveries_total{outcome="delivered"}`.',
        "",
        "| Processes | Time to last | Deliveries/s | Delivered per process | Duplicates | "
        "CPU per process / Redis | Lateness p50 | p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for k, r in runs.items():
        per = " / ".join(n(x) for x in r.get("per_process_delivered", []))
        lines.append(
            f"| {k} | {r['seconds_to_last']:.2f} s | {n(r['deliveries_per_second'])} | "
            f"{per} | {r['duplicates']} | {cpu(r)} | {ms(r['lateness']['p50_ms'])} | "
            f"{ms(r['lateness']['p99_ms'])} |"
        )
    lines.append(notes.loading(runs.values()))
    lines += [_replica_sentence(runs, doc.get("machine", {}).get("cores")), ""]
    lines.append("Command: `python -m bench --only replicas`.")
    return "\n".join(lines) + "\n"


def _replica_sentence(runs: Doc, cores: int | None) -> str:
    if not runs:
        return ""
    duplicates = sum(r["duplicates"] for r in runs.values())
    delivered = sum(r["delivered"] for r in runs.values())
    expected = sum(r["expected"] for r in runs.values())
    shared = (
        f"Across the {len(runs)} runs, {n(delivered)} of {n(expected)} messages arrived"
        f" with {duplicates} duplicates."
    )
    rate = {k: r["deliveries_per_second"] for k, r in runs.items()}
    machine = (
        f" All processes shared the machine's {cores} cores with Redis, the sink and the"
        " loader, so this shows how claims are shared and what contention costs, not how"
        " replicas on separate machines scale."
        if cores
        else ""
    )
    return shared + _fastest(rate) + machine


def _fastest(rate: dict[str, float]) -> str:
    """Which process count delivered fastest, against one process."""
    best = max(rate, key=rate.__getitem__)
    if "1" not in rate:
        return ""
    if best == "1":
        return f" One process was the fastest ({n(rate[best])}/s)."
    faster = times(rate[best] / rate["1"])
    return f" The fastest run had {best} processes, at {faster} the rate of one."
