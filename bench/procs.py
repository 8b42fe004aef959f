"""Processes the suite starts (Redis, the sink, the service, load tools), each in its
own process group so that stopping it stops its children too."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
TOKEN = "bench-token-0123456789"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    """A started process and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group, then SIGKILL it after `grace` seconds."""
        if not self.alive():
            return
        _signal_group(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def spawn(
    name: str,
    cmd: Sequence[str],
    *,
    logdir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start `cmd` in a new session (its own process group), output to `logdir/name.log`."""
    log = logdir / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd or REPO,
            start_new_session=True,
        )
    return Proc(name, popen, log)


def wait_http(url: str, *, proc: Proc | None = None, timeout: float = 30.0) -> float:
    """Poll `url` until it answers 200; return the seconds since `proc` started (or since now)."""
    start = proc.started if proc else time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.005)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_measured(
    cmd: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
) -> tuple[str, float, float]:
    """Run a load tool to completion; return its output, wall seconds and CPU seconds."""
    cpu_before = _children_cpu()
    start = time.monotonic()
    popen = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd or REPO,
        start_new_session=True,
    )
    try:
        out, _ = popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(popen.pid, signal.SIGKILL)
        popen.communicate()
        raise
    wall = time.monotonic() - start
    # communicate() reaped the child, so its CPU is now in RUSAGE_CHILDREN.
    return out.decode(errors="replace"), wall, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class RedisServer:
    """A throwaway redis-server on a free loopback port, with persistence off."""

    proc: Proc
    port: int

    @classmethod
    def start(cls, workdir: Path) -> RedisServer:
        port = free_port()
        cmd = [
            "redis-server",
            "--bind",
            HOST,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--protected-mode",
            "yes",
        ]
        proc = spawn(f"redis-{port}", cmd, logdir=workdir)
        server = cls(proc, port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                server.client().ping()
                return server
            except redis.ConnectionError:
                time.sleep(0.02)
        proc.stop()
        raise RuntimeError(f"redis-server did not start:\n{proc.tail()}")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, socket_timeout=30)

    def used_memory(self) -> int:
        return int(self.client().info("memory")["used_memory"])

    def flush(self) -> None:
        self.client().flushall()

    def version(self) -> str:
        return str(self.client().info("server")["redis_version"])
