"""The sections on rates: creating messages, a burst of deliveries, and replicas sharing one."""

from __future__ import annotations

from typing import Any

from bench.context import DEFAULT_TRANSPORT, DELIVERY_CONCURRENCY
from bench.report import notes, targets
from bench.report.numbers import cpu, ms, n, pct, times

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
    return "\n".join(lines) + "\n"


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
        '`scheduler_deliveries_total{outcome="delivered"}`.',
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
