"""A real webhook receiver on 127.0.0.1 that records every request it gets.

Paths choose the answer:
    /ok                  200
    /status/<code>       that status
    /flaky/<n>           503 for the first n requests of each message, then 200
    /retry-after/<s>/<n> 429 with `Retry-After: <s>` n times per message, then 200
    /unavailable/<s>     503 with `Retry-After: <s>`, always
    /slow/<ms>           200 after <ms> milliseconds
    /slow-fail/<ms>      503 after <ms> milliseconds
    /redirect            302 to /ok
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # wall-clock seconds
    method: str = "POST"

    @property
    def message_id(self) -> str:
        """The caller's id (X-Message-Id, percent-decoded)."""
        return unquote(self.headers.get("x-message-id", ""))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # deliveries arrive 64 at a time; the default 5 drops some


class Sink:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, str]] = Counter()
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/ok") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Sink:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[str]:
        with self._lock:
            return [r.message_id for r in self.received]

    def for_path(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def for_id(self, message_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.message_id == message_id]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until `count` requests arrived (bounded), then return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        with self._lock:
            return list(self.received)

    def _answer(self, path: str, message_id: str) -> tuple[int, dict[str, str]]:
        parts = path.strip("/").split("/")
        with self._lock:
            self._seen[(path, message_id)] += 1
            seen = self._seen[(path, message_id)]
        kind = parts[0]
        if kind == "status":
            return int(parts[1]), {}
        if kind == "flaky":
            return (503, {}) if seen <= int(parts[1]) else (200, {})
        if kind == "retry-after":
            return (429, {"Retry-After": parts[1]}) if seen <= int(parts[2]) else (200, {})
        if kind == "unavailable":
            return 503, {"Retry-After": parts[1]}
        if kind in ("slow", "slow-fail"):
            time.sleep(int(parts[1]) / 1000)
            return (503, {}) if kind == "slow-fail" else (200, {})
        if kind == "redirect":
            return 302, {"Location": self.url("/ok")}
        return 200, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                received = Received(self.path, headers, body, at, self.command)
                with sink._lock:
                    sink.received.append(received)
                status, extra = sink._answer(self.path, received.message_id)
                reply = b'{"ok":true}' if status < 300 else b'{"error":"test sink says no"}'
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_PUT = do_PATCH = do_DELETE = do_GET = do_POST

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
