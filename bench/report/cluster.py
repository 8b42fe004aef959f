"""The section on Redis Cluster: one Redis against three primaries on the same machine."""

from __future__ import annotations

from typing import Any

from bench.loader import BULK_CHUNK
from bench.report.numbers import n, pct, times

Doc = dict[str, Any]

SIDES = {
    "redis_p1": "one Redis, 1 partition",
    "redis_p16": "one Redis, 16 partitions",
    "cluster_p16": "Cluster, 16 partitions",
}


def cluster(f: Doc, doc: Doc) -> str:
    create, burst = f["create"], f["burst"]
    lines = [
        "Three services at once: two on the suite's Redis (`REDIS_PARTITIONS` 1 and 16, under",
        f"different key prefixes) and one on a Redis Cluster of {f['primaries']} primaries",
        "(no replicas, `REDIS_CLUSTER_NODES`) that the scenario starts on free loopback",
        f"ports. Each of {f['rounds']} rounds measures, on every side in turn (the order",
        f"rotating), creates (wrk, {create['clients']} clients, {create['seconds_each']} s)",
        f"and a burst of {n(burst['count'])} messages due at one instant. Medians over the",
        "rounds; CPU per request is the process's CPU time over the requests it served.",
        "",
        "| Backend | Creates/s | Service µs / create | Redis µs / create | Deliveries/s "
        "| Service µs / delivery | Redis µs / delivery |",
        "|---|---|---|---|---|---|---|",
    ]
    for side, label in SIDES.items():
        c, b = create["median"].get(side), burst["median"].get(side)
        if c is None or b is None:
            continue
        lines.append(
            f"| {label} | {n(c['requests_per_second'])} | {n(c['service_cpu_us_per_create'])} "
            f"| {n(c['redis_cpu_us_per_create'])} | {n(b['deliveries_per_second'])} "
            f"| {n(b['service_cpu_us_per_delivery'])} | {n(b['redis_cpu_us_per_delivery'])} |"
        )
    lines += ["", _ratios(create, burst, doc), "", _nodes(f), "", _memory(f["memory"]), ""]
    lines.append("Command: `python -m bench --only cluster` (`--quick` for about 90 s).")
    return "\n".join(lines) + "\n"


def _ratios(create: Doc, burst: Doc, doc: Doc) -> str:
    cores = doc.get("machine", {}).get("cores")
    shared = f" on {cores} cores" if cores else ""
    c, b = create["ratio_cluster_to_redis"], burst["ratio_cluster_to_redis"]
    return (
        f"The Cluster over one Redis: creates {times(c['p16'])} at 16 partitions"
        f" ({times(c['p1'])} against 1), bursts {times(b['p16'])} ({times(b['p1'])})."
        f" All three primaries, the service, the sink and the load tools share the machine{shared},"
        " so this measures what the Cluster costs, not what it adds."
    )


def _nodes(f: Doc) -> str:
    by_node = f["memory"]["cluster"]["by_node"]
    creates = f["create"].get("redis_node_shares_median", [])
    bursts = f["burst"].get("redis_node_shares_median", [])
    lines = [
        "| Primary | Partitions | Pending messages | Bytes / message "
        "| Share of Redis CPU: creates | bursts |",
        "|---|---|---|---|---|---|",
    ]
    for number, port in enumerate(f.get("node_ports") or list(by_node)):
        node = by_node[port]
        home = " (home partition)" if port == f.get("home_partition_port") else ""
        create = pct(creates[number]) if number < len(creates) else "-"
        burst = pct(bursts[number]) if number < len(bursts) else "-"
        lines.append(
            f"| {number + 1}{home} | {node['partitions']} | {n(node['messages'])} "
            f"| {n(node['bytes_per_message'])} | {create} | {burst} |"
        )
    lines += [
        "",
        "The home partition holds the lease (renewed by the lease holder) and the keys that"
        " exist once.",
    ]
    return "\n".join(lines)


def _memory(memory: Doc) -> str:
    one, single, spread = memory["redis_p16"], memory.get("redis_p1"), memory["cluster"]
    also = f" ({n(single['bytes_per_message'])} at 1 partition)" if single else ""
    return (
        f"{n(one['count'])} pending messages written to each schedule through the service's"
        f" store ({memory['how']}), and left there, so that every side ran over the same"
        f" backlog: {n(one['bytes_per_message'])} bytes each on one Redis{also},"
        f" {n(spread['bytes_per_message'])} on the Cluster; the store wrote them at"
        f" {n(one['write_per_second'])}/s to one Redis and {n(spread['write_per_second'])}/s"
        f" to the Cluster (16 partitions, one pipeline per {n(BULK_CHUNK)} messages, one client)."
    )
