"""A hostile webhook receiver on 127.0.0.1: raw HTTP on asyncio, writing whatever bytes
a test wants, as slowly as it wants.

Paths choose the behaviour:
    /retry-after/<name>    503 with the raw Retry-After value RETRY_AFTER[name]
    /trickle-body/<st>/<ms> status <st> with headers at once, then a body byte every <ms> ms
    /trickle-head/<ms>     the status line and headers one byte every <ms> ms
    /ok                    200

Every loop is bounded: a trickle stops after MAX_TRICKLE_BYTES bytes or when the
client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass

HOST = "127.0.0.1"
MAX_TRICKLE_BYTES = 600

RETRY_AFTER: dict[str, bytes] = {
    "superscript-two": "²".encode(),
    "circled-one": "①".encode(),
    "huge": b"9" * 400,
    "negative": b"-5",
    "garbage-date": b"Wed, 99 Foo 99999 99:99:99 GMT",
    "decimal": b"1.5",
    "empty": b"",
    "latin1": b"\xb2",
}


@dataclass(frozen=True, slots=True)
class Hit:
    path: str
    headers: dict[str, str]
    at: float
    ended: float


class HostileReceiver:
    """Start, record, stop. `hits` lists requests whose headers were read."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.open = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> HostileReceiver:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10) or not self.port:
            raise RuntimeError("hostile receiver did not start within 10 s")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        done = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        with contextlib.suppress(Exception):  # teardown must go on
            done.result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    async def _shutdown(self) -> None:
        """Close the listener and every connection still open (a trickle in progress)."""
        if self._server is not None:
            self._server.close()
        handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for hit in self.hits if hit.path == path)

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, HOST, 0))
            self.port = int(self._server.sockets[0].getsockname()[1])
        finally:
            ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        at = time.time()
        with self._lock:
            self.open += 1
        path, headers = "?", {}
        try:
            path, headers = await _read_request(reader)
            await self._answer(path, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away (a cut-off trickle) or sent garbage
        finally:
            with self._lock:
                self.open -= 1
                self.hits.append(Hit(path, headers, at, time.time()))
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, path: str, writer: asyncio.StreamWriter) -> None:
        kind, _, arg = path.strip("/").partition("/")
        if kind == "retry-after":
            head = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + RETRY_AFTER[arg]
            writer.write(head + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        elif kind == "trickle-body":
            status, _, every = arg.partition("/")
            writer.write(f"HTTP/1.1 {status} Status\r\nContent-Length: 100000\r\n\r\n".encode())
            await _trickle(writer, b"x" * MAX_TRICKLE_BYTES, int(every))
        elif kind == "trickle-head":
            head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * MAX_TRICKLE_BYTES + b"\r\n\r\n"
            await _trickle(writer, head, int(arg))
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length:
        await asyncio.wait_for(reader.readexactly(length), 10)
    return path, headers


async def _trickle(writer: asyncio.StreamWriter, data: bytes, every_ms: int) -> None:
    for i in range(len(data)):
        writer.write(data[i : i + 1])
        await writer.drain()
        await asyncio.sleep(every_ms / 1000)
