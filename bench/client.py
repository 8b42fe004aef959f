"""A bare async loop that POSTs webhook bodies to the sink: the delivery ceiling.

It sends what a delivery sends (the same JSON body and `webhook-id`, `X-Message-Id`,
`Idempotency-Key` and `webhook-timestamp` headers) with a fixed number of
workers, and nothing else: no Redis, no claims, no scheduling. One run per
HTTP client, on uvloop, prints one JSON line.

Run: `python -m bench.client --transport aiohttp --url URL --count 10000 --concurrency 64`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

import orjson
import uvloop

from bench.bodies import payload

TRANSPORTS = ("httpx", "httpx-aiohttp", "aiohttp")
Send = Callable[[bytes, dict[str, str]], Awaitable[int]]


def bodies(count: int, prefix: str) -> list[tuple[bytes, dict[str, str]]]:
    stamp = str(int(time.time()))
    out = []
    for i in range(count):
        mid = f"{prefix}-{i}"
        headers = {
            "content-type": "application/json",
            "webhook-id": mid,
            "X-Message-Id": mid,
            "Idempotency-Key": mid,
            "webhook-timestamp": stamp,
        }
        out.append((orjson.dumps(payload(i)), headers))
    return out


async def drive(
    send: Send,
    work: list[tuple[bytes, dict[str, str]]],
    concurrency: int,
) -> tuple[int, int]:
    """Send every body with `concurrency` workers; return (2xx count, other count)."""
    items = iter(work)
    ok = failed = 0

    async def worker() -> None:
        nonlocal ok, failed
        for body, headers in items:
            try:
                status = await send(body, headers)
            except Exception:
                status = 0
            if 200 <= status < 300:
                ok += 1
            else:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok, failed


async def run(
    transport: str,
    url: str,
    count: int,
    concurrency: int,
    prefix: str,
) -> dict[str, object]:
    work = bodies(count, prefix)
    async with _client(transport, url, concurrency) as send:
        start = time.perf_counter()
        ok, failed = await drive(send, work, concurrency)
        seconds = time.perf_counter() - start
    return {
        "transport": transport,
        "count": count,
        "concurrency": concurrency,
        "ok": ok,
        "failed": failed,
        "seconds": round(seconds, 4),
        "per_second": round(ok / seconds, 1),
    }


class _client:
    """An async context manager yielding a `send(body, headers) -> status` for one transport."""

    def __init__(self, transport: str, url: str, concurrency: int) -> None:
        self.transport, self.url, self.concurrency = transport, url, concurrency
        self._close: Callable[[], Awaitable[None]]

    async def __aenter__(self) -> Send:
        if self.transport == "aiohttp":
            import aiohttp

            connector = aiohttp.TCPConnector(limit=self.concurrency)
            session = aiohttp.ClientSession(connector=connector)
            self._close = session.close

            async def send(body: bytes, headers: dict[str, str]) -> int:
                async with session.post(self.url, data=body, headers=headers) as resp:
                    await resp.read()
                    return resp.status

            return send
        import httpx

        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        if self.transport == "httpx-aiohttp":
            from httpx_aiohttp import AiohttpTransport

            client = httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=10)
        else:
            client = httpx.AsyncClient(limits=limits, timeout=10)
        self._close = client.aclose

        async def send_httpx(body: bytes, headers: dict[str, str]) -> int:
            resp = await client.post(self.url, content=body, headers=headers)
            return resp.status_code

        return send_httpx

    async def __aexit__(self, *exc: object) -> None:
        await self._close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transport", choices=TRANSPORTS, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--prefix", default="bare")
    args = parser.parse_args()
    result = uvloop.run(run(args.transport, args.url, args.count, args.concurrency, args.prefix))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
