"""Putting messages into the service (POST /messages, or in bulk through the store), and
timing requests to it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from bench import bodies
from bench.procs import TOKEN

if TYPE_CHECKING:
    from service.store import Store

RETRIES = 3
BULK_CHUNK = 10_000


@dataclass
class LoadResult:
    """How a load went: answers by status, per-request latency, wall time."""

    statuses: Counter[int] = field(default_factory=Counter)
    retried: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def accepted(self) -> int:
        return self.statuses.get(200, 0) + self.statuses.get(201, 0)


async def post_messages(
    base_url: str,
    messages: Sequence[dict[str, Any]],
    *,
    concurrency: int = 64,
    path: str = "/messages",
) -> LoadResult:
    """POST every body to `path` (a message each, or a schedule to `/schedules`) with
    `concurrency` workers, in order of the list."""
    result = LoadResult()
    items = iter(messages)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(data: bytes) -> int:
            start = time.perf_counter()
            async with session.post(f"{base_url}{path}", data=data, headers=headers) as resp:
                await resp.read()
            result.latencies.append(time.perf_counter() - start)
            return resp.status

        async def worker() -> None:
            for body in items:
                data = orjson.dumps(body)
                status = await send(data)
                for attempt in range(RETRIES):  # as a client would: 5xx is worth a retry
                    if status < 500:
                        break
                    result.retried[status] += 1
                    await asyncio.sleep(0.05 * (attempt + 1))
                    status = await send(data)
                result.statuses[status] += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - start
    return result


async def get_latencies(url: str, *, count: int) -> tuple[list[float], int]:
    """GET `url` `count` times in a row; return the latencies and the last status."""
    latencies, status = [], 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for _ in range(count):
            start = time.perf_counter()
            async with session.get(url, headers=headers) as resp:
                await resp.read()
                status = resp.status
            latencies.append(time.perf_counter() - start)
    return latencies, status


@contextlib.asynccontextmanager
async def service_store(
    redis_port: int, *, partitions: int = 1, prefix: str = "scheduler"
) -> AsyncIterator[Store]:
    """The service's own store on the bench Redis (with `partitions` partitions under key
    `prefix`), closed on the way out."""
    # Imported here, not at the top: `--render` and the load tools must work while the
    # service does not import (it is being rewritten alongside the suite).
    from redis.asyncio import Redis

    from service.keys import Layout
    from service.store import Store

    redis = Redis(host="127.0.0.1", port=redis_port, socket_timeout=120)
    try:
        yield Store(redis, Layout(prefix, partitions))
    finally:
        await redis.aclose()


async def store_messages(
    redis_port: int,
    *,
    prefix: str,
    count: int,
    due_ms: int,
    webhook_url: str,
    options: Callable[[int], dict[str, Any]] | None = None,
    step_ms: float = 1.0,
) -> float:
    """Write `count` messages with the suite's 100-byte payload through the service's store,
    message `i` due at `due_ms + int(i * step_ms)`.

    Returns the seconds it took. This is the bulk path for the backlog scenario,
    where a million POSTs would take longer than the rest of the suite.
    """
    async with service_store(redis_port) as store:
        return await write_messages(
            store,
            prefix=prefix,
            count=count,
            due_ms=due_ms,
            webhook_url=webhook_url,
            payload=lambda i: orjson.dumps(bodies.payload(i)),
            options=options,
            step_ms=step_ms,
        )


async def write_messages(
    store: Store,
    *,
    prefix: str,
    count: int,
    due_ms: int,
    webhook_url: str,
    payload: Callable[[int], bytes],
    chunk: int = BULK_CHUNK,
    options: Callable[[int], dict[str, Any]] | None = None,
    step_ms: float = 1.0,
    ids: Sequence[str] | None = None,
) -> float:
    """`Store.schedule_many`, one pipeline per `chunk` messages; the seconds it took.
    Message `i` has id `ids[i]` if given, else `<prefix>-<i>`.

    `options` gives the option fields of message `i` as a POST body has them
    (`bodies.all_options`), stored as the API would store them.
    """
    from service.records import NewMessage

    now_ms = int(time.time() * 1000)
    start = time.perf_counter()
    for first in range(0, count, chunk):
        batch = [
            NewMessage(
                id=ids[i] if ids else f"{prefix}-{i}",
                due_ms=due_ms + int(i * step_ms),
                payload=payload(i),
                url=webhook_url,
                created_ms=now_ms,
                **(_stored_options(options(i)) if options else {}),
            )
            for i in range(first, min(first + chunk, count))
        ]
        results = await store.schedule_many(batch)
        if min(results) < 1:
            raise RuntimeError("the store refused some of the messages (duplicate ids?)")
    return time.perf_counter() - start


def _stored_options(fields: dict[str, Any]) -> dict[str, Any]:
    """`NewMessage` arguments for a body's option fields, as `service.messages` makes them."""
    from service.options import Options

    headers: dict[str, str] = fields.get("headers") or {}
    options = Options(
        header_names=sorted(headers),
        max_attempts=fields.get("maxAttempts"),
        labels=fields.get("labels") or {},
        callback_url=fields.get("callbackUrl"),
    )
    return {"options": options, "headers": headers}


@dataclass
class Paced:
    """Requests sent at a fixed rate: when each was sent, its latency and its status."""

    sent: list[float] = field(default_factory=list)  # time.perf_counter() at sending
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def between(self, start: float, end: float) -> Paced:
        """The requests sent from `start` to `end` (perf_counter seconds)."""
        kept = [i for i, at in enumerate(self.sent) if start <= at <= end]
        return Paced(
            sent=[self.sent[i] for i in kept],
            latencies=[self.latencies[i] for i in kept],
            statuses=[self.statuses[i] for i in kept],
        )


async def paced_gets(url: str, *, rate: float, stop: asyncio.Event) -> Paced:
    """GET `url` `rate` times a second until `stop` is set, each on time whatever the
    ones before it are doing (an open loop, so a stall shows in every request it holds)."""
    out = Paced()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=30)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one() -> None:
            start = time.perf_counter()
            async with session.get(url, headers=headers) as resp:
                await resp.read()
            out.sent.append(start)
            out.latencies.append(time.perf_counter() - start)
            out.statuses.append(resp.status)

        tasks = []
        first = loop.time()
        while not stop.is_set():
            tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(max(0.0, first + len(tasks) / rate - loop.time()))
        await asyncio.gather(*tasks)
    return out
