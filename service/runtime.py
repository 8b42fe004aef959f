"""The runtime: every long-lived resource, started in order and closed in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from . import __version__
from .config import Settings
from .delivery import Dispatcher
from .housekeeping import Housekeeper
from .keys import Keys
from .lease import Lease
from .messages import Messages
from .metrics import Metrics
from .store import Store, connect
from .telemetry import Tracing
from .webhook import WebhookClient, make_client

log = logging.getLogger("service.runtime")


class Runtime:
    """Owns Redis, the webhook client, the delivery loop, the lease and housekeeping."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: Metrics,
        tracing: Tracing,
        webhook_client: WebhookClient | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.tracing = tracing
        self.version = __version__
        self.token = settings.api_token.get_secret_value().encode()
        self.metrics_token = (
            settings.metrics_token.get_secret_value().encode() if settings.metrics_token else None
        )
        self.draining = False
        self._client_override = webhook_client
        self._tasks: list[asyncio.Task[None]] = []
        self._drained: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.redis: Redis = connect(self.settings)
        self.store = Store(self.redis, Keys(self.settings.redis_key_prefix))
        self.client = self._client_override or make_client(self.settings)
        self.dispatcher = Dispatcher(
            store=self.store,
            client=self.client,
            settings=self.settings,
            metrics=self.metrics,
            tracing=self.tracing,
        )
        self.messages = Messages(
            store=self.store, dispatcher=self.dispatcher, metrics=self.metrics, tracing=self.tracing
        )
        self.lease = Lease(self.store, ttl=self.settings.leader_lease_seconds, metrics=self.metrics)
        self.housekeeper = Housekeeper(
            store=self.store, lease=self.lease, metrics=self.metrics, settings=self.settings
        )
        for name, job in (
            ("delivery", self.dispatcher.run()),
            ("lease", self.lease.run()),
            ("housekeeping", self.housekeeper.run()),
        ):
            task = asyncio.create_task(job, name=name)
            task.add_done_callback(self._task_ended)
            self._tasks.append(task)
        # Everything loaded so far lives as long as the process: keeping it out of the
        # collector's reach makes full collections shorter, so deliveries stall less.
        gc.freeze()
        log.info("started", extra={"version": self.version})

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.critical("the %s loop died", task.get_name(), exc_info=task.exception())

    @property
    def stopped_loops(self) -> list[str]:
        """Background loops that ended outside a shutdown: liveness fails so the pod restarts."""
        if self.draining:
            return []
        return [task.get_name() for task in self._tasks if task.done()]

    @property
    def is_leader(self) -> bool:
        return self.lease.held

    async def redis_answers(self) -> bool:
        try:
            async with asyncio.timeout(self.settings.redis_timeout_seconds):
                up = await self.store.ping()
        except (RedisError, OSError, TimeoutError):
            up = False
        self.metrics.redis_up.set(1 if up else 0)
        return up

    def drain(self) -> asyncio.Task[None]:
        """Begin shutdown once (readiness 503, stop claiming, release the lease, finish work)."""
        if self._drained is None:
            self.draining = True
            self._drained = asyncio.create_task(self._drain())
        return self._drained

    async def _drain(self) -> None:
        log.info("draining: not ready, no new claims, lease released")
        self.dispatcher.stop_claiming()
        self.housekeeper.stop()
        await self.lease.release()
        await self.dispatcher.drain(self.settings.shutdown_grace_seconds)
        log.info("drained")

    async def close(self) -> None:
        await self.drain()
        for task in reversed(self._tasks):
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()
        await self.redis.aclose()
        self.tracing.shutdown()
        log.info("stopped")

    @asynccontextmanager
    async def lifespan(self, _: Any) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.close()
