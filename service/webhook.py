"""The webhook client: one small interface over the HTTP transport that sends deliveries.

Transports are chosen by WEBHOOK_TRANSPORT. aiohttp is the default because it sustained
the highest delivery rate in the burst benchmark (docs/benchmarks.md); httpx and
httpx over aiohttp stay available behind the same interface. Whatever the transport:

- one attempt (connect, send, answer, body) is bounded as a whole by its timeout, so a
  receiver that trickles its answer cannot keep a claim past CLAIM_TIMEOUT_SECONDS;
- every address a host name resolves to passes the egress policy before a packet is sent;
- redirects are never followed, proxies from the environment are ignored, and at most
  EXCERPT_BYTES of an answer are read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from .config import Settings, WebhookTransport
from .egress import EgressDenied, EgressPolicy, resolve_checked
from .urls import scrub

# Only the start of an answer is read: enough for a callback's responseBody and an error.
EXCERPT_BYTES = 1024
# The body is read until this long before the attempt's deadline, so the status that
# arrived is kept (and the connection closed) before the deadline cuts everything off.
BODY_MARGIN_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    status: int
    retry_after: str | None
    location: str | None
    excerpt: bytes


class WebhookError(Exception):
    """The request got no usable HTTP answer.

    `kind` is `timeout`, `connection_error` or `egress_denied`; only the last is final
    (the destination will not become allowed by trying again).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class WebhookClient(Protocol):
    async def send(self, request: WebhookRequest) -> WebhookResponse:
        """Send one request; the response, or WebhookError. Never follows redirects."""
        ...

    async def aclose(self) -> None: ...


class _Bounded:
    """What every transport shares: the egress check of literal IPs and the total timeout."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        refusal = self.policy.check_literal(urlsplit(request.url).hostname or "")
        if refusal is not None:
            raise WebhookError("egress_denied", refusal)
        deadline = asyncio.get_running_loop().time() + request.timeout
        try:
            async with asyncio.timeout_at(deadline):
                return await self._send(request, deadline - BODY_MARGIN_SECONDS)
        except TimeoutError:
            text = f"no complete answer within {request.timeout:g} s"
            raise WebhookError("timeout", text) from None
        except EgressDenied as denied:
            raise WebhookError("egress_denied", str(denied)) from None

    async def _send(self, request: WebhookRequest, body_deadline: float) -> WebhookResponse:
        """Send and read the status and headers; read the body until `body_deadline`."""
        raise NotImplementedError


async def read_excerpt(chunks: AsyncIterator[bytes], deadline: float) -> bytes:
    """Up to EXCERPT_BYTES of a body, or what arrived before `deadline`.

    The status decides the outcome; a receiver that answered 200 and then trickles its
    body has answered, and one that trickles an error body still gets its status kept.
    """
    got = b""
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in chunks:
                got += chunk
                if len(got) >= EXCERPT_BYTES:
                    break
    except TimeoutError:
        pass
    return got[:EXCERPT_BYTES]


class _CheckingResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name when any of its addresses is denied."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[ResolveResult]:
        found = await resolve_checked(self.policy, host, port)
        return [
            ResolveResult(hostname=host, host=address, port=port, family=fam, proto=0, flags=0)
            for fam, address in found
            if not family or fam == family
        ]

    async def close(self) -> None:
        return None


class AiohttpClient(_Bounded):
    """aiohttp session with a bounded pool; the fastest transport measured."""

    def __init__(self, *, concurrency: int, policy: EgressPolicy) -> None:
        super().__init__(policy)
        self._session = aiohttp.ClientSession(
            connector=_aiohttp_connector(concurrency, policy), auto_decompress=False
        )

    async def _send(self, request: WebhookRequest, body_deadline: float) -> WebhookResponse:
        try:
            async with self._session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
            ) as response:
                excerpt = await read_excerpt(response.content.iter_any(), body_deadline)
                return _response(response.status, response.headers, excerpt)
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise WebhookError("connection_error", _describe(error)) from None

    async def aclose(self) -> None:
        await self._session.close()


def _aiohttp_connector(concurrency: int, policy: EgressPolicy) -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(
        limit=concurrency, ttl_dns_cache=60, resolver=_CheckingResolver(policy)
    )


class _CheckingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        found = await resolve_checked(self.policy, host, port)
        error: Exception = OSError(f"{host} resolved to no address")
        for _, address in found:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, OSError) as failed:
                error = failed
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _CheckingTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport on a pool that uses _CheckingBackend.

    httpx does not take a network backend, so the pool it built is replaced by one
    with the same limits that does; TLS still verifies the URL's host name.
    """

    def __init__(self, *, limits: httpx.Limits, policy: EgressPolicy) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckingBackend(policy),
        )


class HttpxClient(_Bounded):
    """httpx with its own transport, or over aiohttp through httpx-aiohttp."""

    def __init__(
        self, *, concurrency: int, policy: EgressPolicy, over_aiohttp: bool = False
    ) -> None:
        super().__init__(policy)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        transport: httpx.AsyncBaseTransport
        if over_aiohttp:
            from httpx_aiohttp import AiohttpTransport

            def session() -> aiohttp.ClientSession:
                return aiohttp.ClientSession(
                    connector=_aiohttp_connector(concurrency, policy), auto_decompress=False
                )

            transport = AiohttpTransport(limits=limits, client=session)
        else:
            transport = _CheckingTransport(limits=limits, policy=policy)
        self._client = httpx.AsyncClient(
            timeout=None, follow_redirects=False, transport=transport, trust_env=False
        )

    async def _send(self, request: WebhookRequest, body_deadline: float) -> WebhookResponse:
        try:
            async with self._client.stream(
                request.method, request.url, content=request.body, headers=request.headers
            ) as response:
                excerpt = await read_excerpt(response.aiter_raw(), body_deadline)
                return _response(response.status_code, response.headers, excerpt)
        except EgressDenied:
            raise
        except (httpx.HTTPError, OSError, ValueError) as error:
            raise WebhookError("connection_error", _describe(error)) from None

    async def aclose(self) -> None:
        await self._client.aclose()


def _response(status: int, headers: Mapping[str, str], excerpt: bytes) -> WebhookResponse:
    return WebhookResponse(
        status=status,
        retry_after=headers.get("Retry-After"),
        location=headers.get("Location"),
        excerpt=excerpt,
    )


def _describe(error: BaseException) -> str:
    cause = error.__cause__ or error.__context__
    if isinstance(cause, EgressDenied):
        return str(cause)
    text = str(error) or type(error).__name__
    return scrub(f"{type(error).__name__}: {text}")[:300]


def make_client(settings: Settings, policy: EgressPolicy) -> WebhookClient:
    concurrency = settings.delivery_concurrency
    if settings.webhook_transport is WebhookTransport.AIOHTTP:
        return AiohttpClient(concurrency=concurrency, policy=policy)
    over_aiohttp = settings.webhook_transport is WebhookTransport.HTTPX_AIOHTTP
    return HttpxClient(concurrency=concurrency, policy=policy, over_aiohttp=over_aiohttp)
