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
import contextlib
import functools
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
# httpx transports read the body until this long before the attempt's deadline, so the
# status that arrived is kept (and the connection closed) before the deadline strikes.
BODY_MARGIN_SECONDS = 0.05


@dataclass(slots=True)
class WebhookRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float


@dataclass(slots=True)
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


class _Guarded:
    """What every transport shares: the egress check of literal IPs, the error mapping.

    Each transport bounds the whole attempt by `request.timeout` its own way: aiohttp
    with its total timeout (which also covers reading the body), the httpx ones with an
    asyncio deadline around the request. `send` is one coroutine per transport, not a
    wrapper around another: every suspension of an attempt resumes through each
    coroutine on the stack, and the burst benchmark measures each one.
    """

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        # Webhook URLs repeat (a few receivers, many messages): judge each one once.
        self._literal_refusal = functools.lru_cache(maxsize=4096)(self._judge_literal)

    def _judge_literal(self, url: str) -> str | None:
        return self.policy.check_literal(urlsplit(url).hostname or "")

    def _check_destination(self, request: WebhookRequest) -> None:
        refusal = self._literal_refusal(request.url)
        if refusal is not None:
            raise WebhookError("egress_denied", refusal)


def _timed_out(request: WebhookRequest) -> WebhookError:
    return WebhookError("timeout", f"no complete answer within {request.timeout:g} s")


def _denied(denied: EgressDenied) -> WebhookError:
    return WebhookError("egress_denied", str(denied))


async def read_excerpt(chunks: AsyncIterator[bytes], got: bytearray) -> None:
    """Add the body to `got` up to EXCERPT_BYTES.

    The caller keeps what arrived when its deadline cuts this short: the status decides
    the outcome, so a receiver that answered 200 and then trickles its body has
    answered, and one that trickles an error body still gets its status kept.
    """
    while len(got) < EXCERPT_BYTES:
        try:
            got += await anext(chunks)
        except StopAsyncIteration:
            return


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


class AiohttpClient(_Guarded):
    """aiohttp session with a bounded pool; the fastest transport measured."""

    def __init__(self, *, concurrency: int, policy: EgressPolicy) -> None:
        super().__init__(policy)
        self._session = aiohttp.ClientSession(
            connector=_aiohttp_connector(concurrency, policy), auto_decompress=False
        )
        self._timeouts = functools.lru_cache(maxsize=64)(_total_timeout)

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        self._check_destination(request)
        try:
            async with self._session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=self._timeouts(request.timeout),
            ) as response:
                content = response.content
                got = content.read_nowait(EXCERPT_BYTES)
                if not content.at_eof():  # most answers arrive whole with their headers
                    got = await _rest_of_excerpt(content, got)
                return _response(response.status, response.headers, got)
        except TimeoutError:  # an OSError since Python 3.10: tell it apart first
            raise _timed_out(request) from None
        except EgressDenied as denied:
            raise _denied(denied) from None
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise WebhookError("connection_error", _describe(error)) from None

    async def aclose(self) -> None:
        await self._session.close()


def _total_timeout(seconds: float) -> aiohttp.ClientTimeout:
    # aiohttp's total covers connecting, sending, the headers and every body read.
    return aiohttp.ClientTimeout(total=seconds)


async def _rest_of_excerpt(content: aiohttp.StreamReader, got: bytes) -> bytes:
    """The body read on to EXCERPT_BYTES; what arrived when aiohttp's deadline struck."""
    buffer = bytearray(got)
    with contextlib.suppress(TimeoutError):
        await read_excerpt(content.iter_any().__aiter__(), buffer)
    return bytes(buffer[:EXCERPT_BYTES])


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


class HttpxClient(_Guarded):
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

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        self._check_destination(request)
        # httpx's timeouts are per operation (a trickle resets them): bound it all here.
        deadline = asyncio.get_running_loop().time() + request.timeout
        try:
            async with (
                asyncio.timeout_at(deadline),
                self._client.stream(
                    request.method, request.url, content=request.body, headers=request.headers
                ) as response,
            ):
                got = bytearray()
                # The body is read until just before the deadline, keeping the status.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline - BODY_MARGIN_SECONDS):
                        await read_excerpt(response.aiter_raw().__aiter__(), got)
                return _response(response.status_code, response.headers, bytes(got[:EXCERPT_BYTES]))
        except (TimeoutError, httpx.TimeoutException):
            raise _timed_out(request) from None
        except EgressDenied as denied:
            raise _denied(denied) from None
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
