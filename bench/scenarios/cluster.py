"""Cluster: one Redis against a 3-primary Redis Cluster, in the same run.

Three services run at once, each on its own backend: on the suite's one Redis with
REDIS_PARTITIONS=1 and with 16 (under different key prefixes, as in `partitions`), and
on a Redis Cluster of 3 primaries (no replicas) with 16 partitions, which this scenario
starts on free loopback ports and stops at the end. Each round measures creates (POST
/messages under wrk) and a burst (messages due at one instant, deliveries per second) on
every side, the order rotating from round to round so that drift on a shared machine
falls on all of them. Ratios are of medians: the Cluster over one Redis at 16 partitions
(the same layout on another backend), and over one Redis at 1 (the default).

On one small machine the three primaries, the service, the sink and the load tools share
the same cores, so the Cluster cannot be faster here. What the scenario also measures is
what a primary carries, which is what adds up on separate machines: how many of the 16
partitions (with the default key prefix) and of the pending messages each holds, memory
per pending message, each node's share of the Redis CPU per create and per delivery, and
what the Cluster costs the service (its CPU per create and per delivery). The pending
messages weighed first stay in every schedule, so all sides run over the same backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench import bodies, wrk
from bench.context import Bench
from bench.loader import service_store, write_messages
from bench.procs import TOKEN, cpu_seconds
from bench.scenarios import create
from bench.scenarios.burst import burst_through
from bench.stats import ratio
from tests.support import partitions as stored
from tests.support.redis_cluster import LocalCluster

PRIMARIES = 3
PARTITIONS = 16
CREATE_CLIENTS = 32
# The Cluster's service keeps the default key prefix: its 16 partitions then land on the
# primaries as they would in a default installation (hash tags `{scheduler:0}` to 15).
CLUSTER_PREFIX = "scheduler"
WARM_UP_PREFIX = "bench-warm-up"
WARM_UP = 160
IDLE_SECONDS = 3.0  # how long the Redis processes' CPU is read with no load
FAR_FUTURE_DAYS = 30


@dataclass(frozen=True)
class Side:
    """One service and the Redis processes behind it."""

    name: str
    partitions: int
    prefix: str
    pid: int
    base: str
    redis_pids: tuple[int, ...]

    @property
    def service(self) -> tuple[int, str]:
        return self.pid, self.base


def run(bench: Bench) -> dict[str, Any]:
    bench.fresh()
    with contextlib.ExitStack() as stack:
        started = time.monotonic()
        cluster = _start_cluster(stack)
        cluster_start = round(time.monotonic() - started, 2)
        sides = _services(bench, stack, cluster)
        idle = _idle(sides)
        memory = _memory(bench, cluster, sides)
        names = [side.name for side in sides]
        creates: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        bursts: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for number in range(bench.scale.cluster_rounds):
            order = sides[number % len(sides) :] + sides[: number % len(sides)]
            for side in order:
                creates[side.name].append(_create(bench, side))
            for side in order:
                bursts[side.name].append(_burst(bench, side))
        keys = {str(port): size for port, size in cluster.dbsize().items()}
        nodes = cluster.primaries()
        home = cluster.owner(cluster.slot_of(_home_key(CLUSTER_PREFIX))).port
    out: dict[str, Any] = {
        "primaries": PRIMARIES,
        "partitions": PARTITIONS,
        "sides": {side.name: {"partitions": side.partitions} for side in sides},
        "rounds": bench.scale.cluster_rounds,
        "cluster_start_seconds": cluster_start,
        "create": _summary(creates, "requests_per_second", clients=CREATE_CLIENTS),
        "burst": _summary(bursts, "deliveries_per_second", count=bench.scale.burst_count),
        "memory": memory,
        "idle_redis_cpu_cores": idle,
        "cluster_keys_by_port_at_end": keys,
        # The order of every per-node list (CPU shares, cores) above.
        "node_ports": [str(node.port) for node in nodes],
        # The primary holding the home partition: the lease and the keys that exist once.
        "home_partition_port": str(home),
    }
    out["create"]["seconds_each"] = bench.scale.create_seconds
    _print(out)
    return out


def _home_key(prefix: str) -> str:
    from service.keys import Layout  # here, as in bench.loader: `--render` needs no service

    return Layout(prefix).home.probe


def _start_cluster(stack: contextlib.ExitStack) -> LocalCluster:
    """The tests' LocalCluster: 3 primaries on free loopback ports, stopped on the way out."""
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cluster-")))
    cluster = LocalCluster(directory, primaries=PRIMARIES)
    stack.callback(cluster.stop)  # also after a start that failed half-way
    cluster.start()
    cluster.flush()
    return cluster


def _services(bench: Bench, stack: contextlib.ExitStack, cluster: LocalCluster) -> list[Side]:
    sides = []
    one_redis = (bench.redis.pid,)
    for count in (1, PARTITIONS):
        prefix = f"bench-p{count}"
        env = {"REDIS_PARTITIONS": str(count), "REDIS_KEY_PREFIX": prefix}
        proc, base, _ = stack.enter_context(bench.service(f"redis-p{count}", **env))
        sides.append(Side(f"redis_p{count}", count, prefix, proc.pid, base, one_redis))
    env = {
        "REDIS_PARTITIONS": str(PARTITIONS),
        "REDIS_KEY_PREFIX": CLUSTER_PREFIX,
        "REDIS_CLUSTER_NODES": cluster.seeds,
    }
    proc, base, _ = stack.enter_context(bench.service(f"cluster-p{PARTITIONS}", **env))
    nodes = tuple(node.pid for node in cluster.primaries())
    sides.append(Side(f"cluster_p{PARTITIONS}", PARTITIONS, CLUSTER_PREFIX, proc.pid, base, nodes))
    return sides


def _idle(sides: list[Side]) -> dict[str, list[float]]:
    """Cores each Redis process uses with the services up and no load: the services'
    background loops (two services on the one Redis, one on the Cluster), and on the
    Cluster the nodes' gossip."""
    groups = {"redis": sides[0].redis_pids, "cluster": sides[-1].redis_pids}
    before = {name: [cpu_seconds(pid) for pid in pids] for name, pids in groups.items()}
    time.sleep(IDLE_SECONDS)
    return {
        name: [
            round((cpu_seconds(pid) - spent) / IDLE_SECONDS, 3)
            for pid, spent in zip(pids, before[name], strict=True)
        ]
        for name, pids in groups.items()
    }


def _create(bench: Bench, side: Side) -> dict[str, Any]:
    cmd = create._cmd(bench, side.base, CREATE_CLIENTS, bench.scale.create_seconds, side.name)
    figures = wrk.run(cmd, server_pids=[side.pid, *side.redis_pids])
    rate = max(float(figures["requests_per_second"]), 1e-9)
    cores = figures["cpu_cores_by_process"]
    out = {
        "requests_per_second": figures["requests_per_second"],
        "errors": figures["errors"],
        "p50_ms": figures["p50_ms"],
        "p99_ms": figures["p99_ms"],
        "cpu_cores_by_process": cores,
        "service_cpu_us_per_create": round(cores[0] / rate * 1e6, 1),
        "redis_cpu_us_per_create": round(sum(cores[1:]) / rate * 1e6, 1),
        "redis_node_shares": _shares(cores[1:]),
    }
    print(f"[bench] cluster: {side.name} create {rate:,.0f}/s, cores {cores}", flush=True)
    return out


def _burst(bench: Bench, side: Side) -> dict[str, Any]:
    bench.sink.reset()
    env = {"REDIS_PARTITIONS": str(side.partitions)}
    figures = burst_through(
        bench, [side.service], bench.scale.burst_count, env, redis_pids=side.redis_pids
    )
    keep = (
        "deliveries_per_second",
        "delivered",
        "duplicates",
        "seconds_to_last",
        "load_finished_before_due",
        "cpu_cores_while_delivering",
        "service_cpu_us_per_delivery",
        "redis_cpu_us_per_delivery",
        "lateness",
    )
    out = {key: figures[key] for key in keep}
    used = figures["cpu_cores_while_delivering"]
    out["redis_node_shares"] = _shares(used.get("redis_nodes", [used["redis"]]))
    print(
        f"[bench] cluster: {side.name} burst {out['deliveries_per_second']:,.0f}/s, "
        f"cores {out['cpu_cores_while_delivering']}",
        flush=True,
    )
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shares(cores: list[float]) -> list[float]:
    """Each Redis process's part of their total CPU."""
    total = sum(cores)
    return [round(c / total, 3) if total else 0.0 for c in cores]


def _summary(runs: dict[str, list[dict[str, Any]]], rate: str, **about: Any) -> dict[str, Any]:
    """Every run, the medians by side, and the Cluster's ratios to one Redis."""
    out: dict[str, Any] = {**about, "runs": runs}
    medians: dict[str, dict[str, float]] = {}
    for name, figures in runs.items():
        numbers = [key for key, value in figures[0].items() if _number(value)]
        medians[name] = {key: statistics.median(run[key] for run in figures) for key in numbers}
    out["median"] = medians
    shares = [run["redis_node_shares"] for run in runs[f"cluster_p{PARTITIONS}"]]
    # Each primary's share of the Cluster's Redis CPU, median over the runs, node by node.
    columns = zip(*shares, strict=True)
    out["redis_node_shares_median"] = [statistics.median(column) for column in columns]
    cluster = medians[f"cluster_p{PARTITIONS}"][rate]
    out["ratio_cluster_to_redis"] = {
        f"p{count}": ratio(cluster, medians[f"redis_p{count}"][rate]) for count in (1, PARTITIONS)
    }
    return out


# -- memory per pending message, per node -----------------------------------------------------


def _memory(bench: Bench, cluster: LocalCluster, sides: list[Side]) -> dict[str, Any]:
    """Write the same pending messages to each service's schedule through the service's
    store: bytes per message on one Redis (1 and 16 partitions) and on the Cluster, and how
    the Cluster's partitions and messages fall on its primaries. They stay pending (due
    in 30 days), so every side is then measured over the same backlog."""
    cluster_prefix = sides[-1].prefix
    count = bench.scale.cluster_memory_count
    due_ms = int((time.time() + FAR_FUTURE_DAYS * 86400) * 1000)
    # A few messages under another prefix first, so that the scripts (on the Cluster,
    # every script on every primary) are loaded before the baseline is read.
    asyncio.run(_write_one(bench, WARM_UP, due_ms, WARM_UP_PREFIX, PARTITIONS))
    asyncio.run(_write_cluster(bench, cluster, WARM_UP, due_ms, WARM_UP_PREFIX))
    one: dict[str, Any] = {}
    for side in sides[:-1]:
        before = bench.redis.used_memory()
        seconds = asyncio.run(_write_one(bench, count, due_ms, side.prefix, side.partitions))
        one[side.name] = {
            "count": count,
            "bytes_per_message": round((bench.redis.used_memory() - before) / count, 1),
            "write_per_second": round(count / seconds),
        }
    nodes = cluster.primaries()
    before_by_node = {node.port: _used_memory(cluster, node.port) for node in nodes}
    seconds = asyncio.run(_write_cluster(bench, cluster, count, due_ms, cluster_prefix))
    partitions = _partitions_by_port(cluster, cluster_prefix)
    by_node: dict[str, dict[str, Any]] = {}
    for node in nodes:
        grown = _used_memory(cluster, node.port) - before_by_node[node.port]
        with cluster.client(node) as client:
            held = stored.size(client, "msgs", prefix=cluster_prefix)
        by_node[str(node.port)] = {
            "messages": held,
            "partitions": partitions.get(node.port, 0),
            "bytes": grown,
            "bytes_per_message": round(grown / held, 1) if held else None,
        }
    held = sum(node["messages"] for node in by_node.values())
    grown = sum(node["bytes"] for node in by_node.values())
    out = {
        "how": f"Store.schedule_many, 100-byte payloads, due in {FAR_FUTURE_DAYS} days",
        **one,
        "cluster": {
            "count": held,
            "bytes_per_message": round(grown / held, 1) if held else None,
            "write_per_second": round(count / seconds),
            "by_node": by_node,
        },
    }
    print(f"[bench] cluster: memory {orjson.dumps(out).decode()}", flush=True)
    return out


def _partitions_by_port(cluster: LocalCluster, prefix: str) -> dict[int, int]:
    """How many of the service's partitions each primary serves."""
    from service.keys import Keys

    counts: dict[int, int] = {}
    for number in range(PARTITIONS):
        port = cluster.owner(cluster.slot_of(Keys(prefix, number).probe)).port
        counts[port] = counts.get(port, 0) + 1
    return counts


def _used_memory(cluster: LocalCluster, port: int) -> int:
    with cluster.client(cluster.by_port(port)) as client:
        return int(client.info("memory")["used_memory"])


def _payload(index: int) -> bytes:
    return orjson.dumps(bodies.payload(index))


async def _fill(store: Any, bench: Bench, count: int, due_ms: int) -> float:
    """`count` pending messages written through the service's store; writes per second."""
    return await write_messages(
        store,
        prefix="memory",
        count=count,
        due_ms=due_ms,
        webhook_url=bench.sink.url,
        payload=_payload,
    )


async def _write_one(bench: Bench, count: int, due_ms: int, prefix: str, partitions: int) -> float:
    port = bench.redis.port
    async with service_store(port, partitions=partitions, prefix=prefix) as store:
        return await _fill(store, bench, count, due_ms)


async def _write_cluster(
    bench: Bench, cluster: LocalCluster, count: int, due_ms: int, prefix: str
) -> float:
    # Imported here, as bench.loader does: `--render` must work without the service.
    from service.config import Settings
    from service.connection import connect, disconnect
    from service.keys import Layout
    from service.store import Store

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, api_token=TOKEN, redis_cluster_nodes=cluster.seeds
    )
    client = connect(settings)
    try:
        return await _fill(Store(client, Layout(prefix, PARTITIONS)), bench, count, due_ms)
    finally:
        await disconnect(client)


def _print(out: dict[str, Any]) -> None:
    for name in ("create", "burst"):
        medians = out[name]["median"]
        rate = "requests_per_second" if name == "create" else "deliveries_per_second"
        cost = "create" if name == "create" else "delivery"
        by_side = ", ".join(
            f"{side} {m[rate]:,.0f}/s (service {m[f'service_cpu_us_per_{cost}']:.0f} us, "
            f"Redis {m[f'redis_cpu_us_per_{cost}']:.0f} us per {cost})"
            for side, m in medians.items()
        )
        ratios = out[name]["ratio_cluster_to_redis"]
        print(
            f"[bench] cluster: {name} medians: {by_side}; cluster / one Redis: "
            f"{ratios[f'p{PARTITIONS}']:.3f}x at P={PARTITIONS}, {ratios['p1']:.3f}x at P=1",
            flush=True,
        )
