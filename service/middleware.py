"""ASGI middleware: body size limit, per-request metrics and the server span."""

from __future__ import annotations

import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import PayloadTooLarge
from .metrics import Metrics
from .telemetry import Tracing


class BodyLimit:
    """Refuse bodies over `limit` bytes with 413, before they are read or parsed."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_413(send, self.limit)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                # Raised inside the route's body read; FastAPI passes HTTPException through
                # (anything else would become a 400) and the error handlers answer 413.
                raise HTTPException(413, _too_large(self.limit))
            return message

        return counted


class Instrumentation:
    """Count and time every API request by route template, inside a server span."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, tracing: Tracing) -> None:
        self.app = app
        self.metrics = metrics
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope["method"]
        headers = _headers(scope) if self.tracing.enabled else {}
        with self.tracing.server_span(method, headers) as span:
            try:
                await self.app(scope, receive, capture)
            finally:
                route = _route(scope)
                if span is not None:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.request.method", method)
                    span.set_attribute("http.route", route)
                    span.set_attribute("url.path", scope["path"])
                    span.set_attribute("http.response.status_code", status)
                self.metrics.http_requests.labels(method, route, str(status)).inc()
                self.metrics.http_duration.labels(method, route).observe(
                    time.perf_counter() - started
                )


def _route(scope: Scope) -> str:
    route: Any = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _too_large(limit: int) -> str:
    return f"Request body is larger than MAX_PAYLOAD_BYTES ({limit} bytes)."


async def _send_413(send: Send, limit: int) -> None:
    body = PayloadTooLarge(_too_large(limit)).body()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
