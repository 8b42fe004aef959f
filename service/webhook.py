"""The webhook client: one small interface over the HTTP transport that sends deliveries.

Transports are chosen by WEBHOOK_TRANSPORT. aiohttp is the default because it sustained
the highest delivery rate in the burst benchmark (docs/benchmarks.md); httpx and
httpx over aiohttp stay available behind the same interface.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx

from .config import Settings, WebhookTransport

# Only the start of an answer is kept, as the last error of a failed attempt.
_EXCERPT_BYTES = 256


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    status: int
    retry_after: str | None
    location: str | None
    excerpt: str


class WebhookError(Exception):
    """The request got no HTTP answer; `kind` is `timeout` or `connection_error`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class WebhookClient(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        """POST `body`; answer with the response or raise WebhookError. Never follows redirects."""
        ...

    async def aclose(self) -> None: ...


class AiohttpClient:
    """aiohttp session with a bounded pool; the fastest transport measured."""

    def __init__(self, *, timeout: float, concurrency: int) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connector = aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=60)
        self._session = aiohttp.ClientSession(
            connector=self._connector, timeout=self._timeout, auto_decompress=False
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
            ) as response:
                excerpt = await response.content.read(_EXCERPT_BYTES)
                return WebhookResponse(
                    status=response.status,
                    retry_after=response.headers.get("Retry-After"),
                    location=response.headers.get("Location"),
                    excerpt=excerpt.decode(errors="replace"),
                )
        except TimeoutError:
            raise WebhookError("timeout", "no answer within DELIVERY_TIMEOUT_SECONDS") from None
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise WebhookError("connection_error", _describe(error)) from None

    async def aclose(self) -> None:
        await self._session.close()


class HttpxClient:
    """httpx with its own transport, or over aiohttp through httpx-aiohttp."""

    def __init__(self, *, timeout: float, concurrency: int, over_aiohttp: bool = False) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        transport: httpx.AsyncBaseTransport | None = None
        if over_aiohttp:
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=limits)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=limits,
            follow_redirects=False,
            transport=transport,
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as response:
                excerpt = b""
                async for chunk in response.aiter_raw():
                    excerpt += chunk
                    if len(excerpt) >= _EXCERPT_BYTES:
                        break
                return WebhookResponse(
                    status=response.status_code,
                    retry_after=response.headers.get("Retry-After"),
                    location=response.headers.get("Location"),
                    excerpt=excerpt[:_EXCERPT_BYTES].decode(errors="replace"),
                )
        except (TimeoutError, httpx.TimeoutException):
            raise WebhookError("timeout", "no answer within DELIVERY_TIMEOUT_SECONDS") from None
        except (httpx.HTTPError, OSError, ValueError) as error:
            raise WebhookError("connection_error", _describe(error)) from None

    async def aclose(self) -> None:
        await self._client.aclose()


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:300]


def make_client(settings: Settings) -> WebhookClient:
    timeout, concurrency = settings.delivery_timeout_seconds, settings.delivery_concurrency
    if settings.webhook_transport is WebhookTransport.AIOHTTP:
        return AiohttpClient(timeout=timeout, concurrency=concurrency)
    over_aiohttp = settings.webhook_transport is WebhookTransport.HTTPX_AIOHTTP
    return HttpxClient(timeout=timeout, concurrency=concurrency, over_aiohttp=over_aiohttp)
