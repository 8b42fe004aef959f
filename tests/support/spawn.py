"""Child processes for the tests and the benchmarks: a free port, a started process with
its own log and process group, and a bounded wait for it to answer HTTP.

Each process starts in a session of its own, so its process group id is its pid and
stopping the group stops any child it started too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    """A started process and the file its output goes to."""

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
        signal_group(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def signal_group(pgid: int, sig: int) -> None:
    """Send `sig` to a process group; a group that has gone already is not an error."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def spawn(
    name: str,
    cmd: Sequence[str],
    *,
    logdir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start `cmd` in a new session, stdout and stderr appended to `logdir/name.log`."""
    log = logdir / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    return Proc(name, popen, log)


def wait_http(url: str, *, proc: Proc | None = None, timeout: float = 30.0) -> float:
    """Poll `url` until it answers 200; the seconds since `proc` started (or since the call).

    Raises with the log's tail as soon as `proc` exits, and TimeoutError after `timeout`.
    """
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
