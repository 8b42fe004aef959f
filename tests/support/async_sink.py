"""A fast webhook receiver for the multi-process tests: aiohttp.web on its own thread.

The threaded `Sink` starts one thread per keep-alive connection; three replicas keep
about 200 connections open in a burst, so this one runs on an event loop instead.
It records every request with the headers the replica-guarantee tests look at.

Paths choose the answer:
    /ok          200
    /slow/<ms>   200 after <ms> milliseconds (the request counts as open meanwhile)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Arrival:
    """One webhook request, recorded once its answer was decided."""

    message_id: str
    idempotency_key: str
    attempt: int
    path: str
    status: int
    at: float  # wall-clock seconds the request arrived
    answered: float  # wall-clock seconds the answer was written


class AsyncSink:
    """Start, record, stop; thread-safe readers for the test's thread."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.open_requests = 0
        self.started_requests = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def url(self, path: str = "/ok") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> AsyncSink:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10) or not self.port:
            raise RuntimeError("webhook sink did not start within 10 s")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        runner = self._runner
        if runner is not None:
            future = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
            with contextlib.suppress(Exception):  # teardown must go on
                future.result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # -- readers ----------------------------------------------------------------------

    def snapshot(self) -> list[Arrival]:
        with self._lock:
            return list(self.arrivals)

    def counts(self, *, ok_only: bool = True) -> Counter[str]:
        """Arrivals per webhook-id (2xx only unless asked otherwise)."""
        with self._lock:
            return Counter(
                a.message_id for a in self.arrivals if not ok_only or 200 <= a.status < 300
            )

    def unique(self) -> int:
        return len(self.counts())

    def wait_for_ids(self, ids: set[str], *, timeout: float) -> set[str]:
        """Poll until every id in `ids` arrived (bounded); return the ones still missing."""
        deadline = time.monotonic() + timeout
        missing = set(ids)
        while time.monotonic() < deadline:
            missing = ids - self.counts().keys()
            if not missing:
                return missing
            time.sleep(0.05)
        return ids - self.counts().keys()

    # -- the server, on its own loop ----------------------------------------------------

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_post("/ok", self._ok)
        app.router.add_post("/slow/{ms:[0-9]+}", self._slow)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        try:
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, HOST, 0, backlog=1024)
            loop.run_until_complete(site.start())
            self.port = int(self._runner.addresses[0][1])
        finally:
            ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _ok(self, request: web.Request) -> web.Response:
        return await self._answer(request, delay=0.0)

    async def _slow(self, request: web.Request) -> web.Response:
        return await self._answer(request, delay=int(request.match_info["ms"]) / 1000)

    async def _answer(self, request: web.Request, *, delay: float) -> web.Response:
        arrived = time.time()
        await request.read()
        with self._lock:
            self.open_requests += 1
            self.started_requests += 1
        try:
            if delay:
                await asyncio.sleep(delay)
        finally:
            with self._lock:
                self.open_requests -= 1
        headers = request.headers
        arrival = Arrival(
            message_id=unquote(headers.get("X-Message-Id", "")),
            idempotency_key=headers.get("Idempotency-Key", ""),
            attempt=int(headers.get("webhook-attempt", "0") or 0),
            path=request.path,
            status=200,
            at=arrived,
            answered=time.time(),
        )
        with self._lock:
            self.arrivals.append(arrival)
        return web.json_response({"ok": True})
