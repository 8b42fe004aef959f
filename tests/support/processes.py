"""Real `python -m service` replicas for the multi-process tests.

Each replica runs in its own session (so its process group id is its pid and a signal
to the group reaches any child), logs JSON lines to a file of its own, and listens on
a free port on 127.0.0.1. `Fleet` starts them and always ends them: a paused replica
is resumed first, then the whole group is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.redis_server import free_port

HOST = "127.0.0.1"
TOKEN = "replica-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")

# The child asks the kernel for SIGKILL when its parent (the test run) dies, then becomes
# the service: no replica outlives a test run that was itself killed (no teardown then).
_LAUNCHER = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except (AttributeError, OSError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("the test run that started this replica is gone")
os.execv(sys.executable, [sys.executable, "-m", "service"])
"""

# Every group started here, so an interpreter exit (a crash, Ctrl-C) still ends them.
_LIVE_GROUPS: set[int] = set()

# Settings for replicas on a busy 2-core machine: short enough for leases, claims and
# retries to play out within a test, long enough that load alone never trips them.
DEFAULTS: dict[str, str] = {
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "json",
    "LEADER_LEASE_SECONDS": "2",
    "DELIVERY_TIMEOUT_SECONDS": "10",
    "CLAIM_TIMEOUT_SECONDS": "30",
    "SHUTDOWN_GRACE_SECONDS": "10",
    "SHUTDOWN_DELAY_SECONDS": "0",
    "DELIVERY_BACKOFF_BASE_SECONDS": "0.05",
    "DELIVERY_BACKOFF_MAX_SECONDS": "0.5",
    "DELIVERY_MAX_ATTEMPTS": "10",
    "REDIS_TIMEOUT_SECONDS": "1",
}


@dataclass
class Replica:
    """One service process and the files and port that belong to it."""

    name: str
    port: int
    log_path: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    paused: bool = False
    started_at: float = field(default_factory=time.monotonic)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Replica:
        # Only what the test chose: no stray setting (or `.env`) from the developer's shell.
        env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        env.update(self.env)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(os.getpid())],
                cwd=self.log_path.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        _LIVE_GROUPS.add(self.popen.pid)
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the replica's process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait_exit(timeout=10)

    def pause(self) -> None:
        self.paused = True
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self.paused = False

    def wait_exit(self, *, timeout: float) -> int | None:
        """The exit code, or None if the process is still running after `timeout`."""
        if self.popen is None:
            return None
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        _LIVE_GROUPS.discard(self.pid)
        return code

    def end(self) -> None:
        """Teardown: resume if paused, kill the whole group, reap. Never raises."""
        if self.popen is None:
            return
        _end_group(self.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        self.paused = False

    # -- HTTP -------------------------------------------------------------------------------

    def url(self, path: str = "") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def health(self, *, timeout: float = 2.0) -> tuple[int, dict[str, Any]] | None:
        """(status, body) of GET /health, or None when the replica does not answer in time."""
        try:
            response = httpx.get(self.url("/health"), timeout=timeout)
        except httpx.HTTPError:
            return None
        try:
            body = response.json()
        except ValueError:
            body = {}
        return response.status_code, body

    def is_leader(self, *, timeout: float = 2.0) -> bool | None:
        answer = self.health(timeout=timeout)
        return None if answer is None else bool(answer[1].get("leader"))

    def wait_ready(self, *, timeout: float = 60.0) -> float:
        """Poll /health until 200; seconds since start. Raises with the log tail if it died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.tail()}")
            answer = self.health(timeout=1.0)
            if answer is not None and answer[0] == 200:
                return time.monotonic() - self.started_at
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready within {timeout} s:\n{self.tail()}")

    def metrics(self, *, timeout: float = 3.0) -> dict[str, float]:
        """The /metrics samples as {'name{labels}': value}; empty when it does not answer."""
        try:
            text = httpx.get(self.url("/metrics"), timeout=timeout).text
        except httpx.HTTPError:
            return {}
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    samples[name] = float(value)
        return samples

    def post_message(self, body: dict[str, Any], *, timeout: float = 10.0) -> int:
        try:
            response = httpx.post(self.url("/messages"), json=body, headers=AUTH, timeout=timeout)
        except httpx.HTTPError:
            return 0
        return response.status_code

    def message_state(self, message_id: str, *, timeout: float = 5.0) -> str | None:
        """GET /messages/{id}'s state (delivered once it ended that way); None if unknown."""
        try:
            url = self.url(f"/messages/{message_id}")
            response = httpx.get(url, headers=AUTH, timeout=timeout)
        except httpx.HTTPError:
            return None
        return str(response.json()["state"]) if response.status_code == 200 else None

    # -- logs -------------------------------------------------------------------------------

    def log_records(self) -> list[dict[str, Any]]:
        """Every JSON line the replica wrote so far (other lines are skipped)."""
        records = []
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        for line in text.splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    records.append(json.loads(line))
        return records

    def logged(self, message: str | re.Pattern[str]) -> list[dict[str, Any]]:
        pattern = re.compile(re.escape(message)) if isinstance(message, str) else message
        return [r for r in self.log_records() if pattern.search(str(r.get("message", "")))]

    def delivered_ids(self) -> list[str]:
        """Ids this replica logged as delivered (its webhook answered 2xx and it acked)."""
        return [str(r["message_id"]) for r in self.logged("delivery attempt delivered")]

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Fleet:
    """Replicas on one Redis; `end_all()` (called by the fixture) ends every one of them."""

    def __init__(self, directory: Path, *, redis_url: str, **settings: str) -> None:
        self.directory = directory
        self.redis_url = redis_url
        self.settings = {**DEFAULTS, **settings}
        self.replicas: list[Replica] = []
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, name: str | None = None, *, redis_url: str | None = None, **settings: str):
        """Start one more replica (not waiting for it); `redis_url` overrides the fleet's."""
        name = name or f"replica-{len(self.replicas) + 1}"
        port = free_port()
        env = {
            **self.settings,
            **settings,
            "API_TOKEN": TOKEN,
            "API_HOST": HOST,
            "API_PORT": str(port),
            "REDIS_URL": redis_url or self.redis_url,
        }
        replica = Replica(name, port, self.directory / f"{name}.log", env)
        self.replicas.append(replica)
        return replica.start()

    def start(self, count: int, *, timeout: float = 60.0) -> list[Replica]:
        """Start `count` replicas at once and wait until every one is ready."""
        started = [self.add() for _ in range(count)]
        for replica in started:
            replica.wait_ready(timeout=timeout)
        return started

    def leader(self, *, timeout: float = 15.0, among: list[Replica] | None = None) -> Replica:
        """The one replica whose /health says leader=true (polled until exactly one does)."""
        candidates = among or [r for r in self.replicas if r.alive() and not r.paused]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = [r for r in candidates if r.is_leader(timeout=1.0)]
            if len(leaders) == 1:
                return leaders[0]
            time.sleep(0.05)
        raise TimeoutError(f"no single leader among {[r.name for r in candidates]}")

    def end_all(self) -> None:
        for replica in reversed(self.replicas):
            replica.end()

    def __iter__(self) -> Iterator[Replica]:
        return iter(self.replicas)


def _end_group(pgid: int) -> None:
    # SIGCONT first, so that no test can leave a stopped process behind, then SIGKILL.
    for sig in (signal.SIGCONT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    _LIVE_GROUPS.discard(pgid)


@atexit.register
def _end_leftovers() -> None:
    for pgid in list(_LIVE_GROUPS):
        _end_group(pgid)
