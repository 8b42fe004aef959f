"""The runtime: every long-lived resource, started in order and closed in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from typing import Any

from redis.asyncio import Redis

from . import __version__
from .attempt import Sender
from .config import Settings
from .connection import connect, disconnect
from .dead_letters import DeadLetters
from .delivery import Dispatcher
from .firing import Sweep
from .housekeeping import Housekeeper
from .keys import Layout
from .lease import Lease
from .messages import Messages
from .metrics import Metrics
from .overview import Overview
from .partitioning import LayoutWatcher, PartitionCountMismatch
from .recurring import Recurring
from .schedule_store import ScheduleStore
from .settle import Settler
from .store import Store
from .store_errors import REDIS_AWAY_ERRORS, UNREACHABLE, Condition, classify, store_log
from .telemetry import Tracing
from .webhook import WebhookClient, make_client

log = logging.getLogger("service.runtime")


class Runtime:
    """Owns Redis, the webhook client, the delivery loop, the lease and housekeeping."""

    def __init__(self, settings: Settings, *, metrics: Metrics, tracing: Tracing) -> None:
        self.settings = settings
        self.metrics = metrics
        self.tracing = tracing
        self.version = __version__
        self.token = settings.api_token.get_secret_value().encode()
        self.metrics_token = (
            settings.metrics_token.get_secret_value().encode() if settings.metrics_token else None
        )
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []
        self._drained: asyncio.Task[None] | None = None
        self._check: asyncio.Task[None] | None = None
        self._alongside: list[Callable[[], AbstractAsyncContextManager[None]]] = []

    def run_alongside(self, context: Callable[[], AbstractAsyncContextManager[None]]) -> None:
        """Hold `context()` open while the runtime runs: entered after start, left before close."""
        self._alongside.append(context)

    async def start(self) -> None:
        settings = self.settings
        self.redis: Redis = connect(settings)
        history = settings.history_retention_seconds > 0
        layout = Layout(settings.redis_key_prefix, settings.partitions)
        self.store = Store(self.redis, layout, history=history)
        self.lease = Lease(self.store, ttl=settings.leader_lease_seconds, metrics=self.metrics)
        self.watcher = LayoutWatcher(
            self.store,
            replica=self.lease.owner,
            prepare=self._prepare_layout,
            switched=self._layout_switched,
        )
        deferred_check = await self._check_partitions()
        self.client: WebhookClient = make_client(settings, settings.egress_policy())
        sender = Sender(
            client=self.client, settings=settings, metrics=self.metrics, tracing=self.tracing
        )
        settler = Settler(
            store=self.store, settings=settings, metrics=self.metrics, notify=self._notify
        )
        self.dispatcher = Dispatcher(
            source=self.store,
            layout=self.store.layout,
            sender=sender,
            settler=settler,
            settings=settings,
            metrics=self.metrics,
        )
        self.messages = Messages(
            store=self.store,
            settings=settings,
            metrics=self.metrics,
            tracing=self.tracing,
            notify=self._notify,
        )
        self.dead_letters = DeadLetters(store=self.store, notify=self._notify)
        schedules = ScheduleStore(self.store)
        self.recurring = Recurring(
            schedules=schedules,
            metrics=self.metrics,
            check=self.messages.check,
            notify=self._notify,
        )
        self.housekeeper = Housekeeper(
            store=self.store,
            lease=self.lease,
            metrics=self.metrics,
            settings=settings,
            sweep=Sweep(schedules),
        )
        self.overview = Overview(
            metrics=self.metrics, stats=self.store.stats, timeout=settings.redis_timeout_seconds
        )
        loops = [
            ("delivery", self.dispatcher.run()),
            ("lease", self.lease.run()),
            ("housekeeping", self.housekeeper.run()),
        ]
        if settings.console_enabled:
            loops.append(("overview", self.overview.run()))
        for name, job in loops:
            task = asyncio.create_task(job, name=name)
            task.add_done_callback(self._task_ended)
            self._tasks.append(task)
        if deferred_check:
            # The watcher's loop, after the check it could not make at start: liveness
            # fails if the check raised.
            self._check = asyncio.create_task(
                self.watcher.start_when_reachable(), name="partitions"
            )
        else:
            self._check = asyncio.create_task(self.watcher.run(), name="partitions")
        self._check.add_done_callback(self._task_ended)
        # Everything loaded so far lives as long as the process: keeping it out of the
        # collector's reach makes full collections shorter, so deliveries stall less.
        gc.freeze()
        log.info("started", extra={"version": self.version})

    async def _check_partitions(self) -> bool:
        """Refuse to start on a partition count other than the recorded one; True when
        Redis was unreachable, so the check runs again in the background."""
        try:
            await self.watcher.start()
        except PartitionCountMismatch:
            await disconnect(self.redis)
            raise
        except REDIS_AWAY_ERRORS as error:
            log.warning("Redis unreachable at start; partition count checked later: %r", error)
            return True
        return False

    async def _prepare_layout(self, layout: Layout) -> None:
        """Before this replica uses more partitions: the lease copied into them, so the
        holder's fenced housekeeping there is not refused."""
        if self.lease.held and not await self.store.mirror_lease(self.lease.value, layout):
            self.lease.forfeit()

    def _layout_switched(self, layout: Layout) -> None:
        # Before start() made the dispatcher, its constructor reads the store's layout.
        if hasattr(self, "dispatcher"):
            self.dispatcher.relayout(layout)

    def _notify(self, due_ms: int, message_id: str) -> None:
        self.dispatcher.notify(due_ms, message_id)

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.critical("the %s loop died", task.get_name(), exc_info=task.exception())

    @property
    def stopped_loops(self) -> list[str]:
        """Background loops that ended outside a shutdown: liveness fails so the pod restarts."""
        if self.draining:
            return []
        stopped = [task.get_name() for task in self._tasks if task.done()]
        check = self._check
        if check and check.done() and not check.cancelled() and check.exception():
            stopped.append(check.get_name())
        return stopped

    @property
    def is_leader(self) -> bool:
        return self.lease.held

    async def store_condition(self) -> Condition | None:
        """None when Redis accepts a write now, else the condition that stops it."""
        condition: Condition | None = None
        try:
            async with asyncio.timeout(self.settings.redis_timeout_seconds):
                await self.store.probe_write()
        except Exception as error:  # whatever Redis says, readiness answers, never raises
            condition = classify(error) or UNREACHABLE
            store_log.note(condition, error)
        self.metrics.redis_up.set(0 if condition else 1)
        return condition

    def drain(self) -> asyncio.Task[None]:
        """Begin shutdown once: not ready, wait for traffic to move, stop claiming, drain."""
        if self._drained is None:
            self.draining = True
            self._drained = asyncio.create_task(self._drain())
        return self._drained

    async def _drain(self) -> None:
        # Kubernetes takes the pod out of its Service endpoints asynchronously after
        # SIGTERM, so clients still reach it for a moment: keep serving (and delivering)
        # while readiness fails, then stop. See
        # https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination
        delay = self.settings.shutdown_delay_seconds
        log.info("draining: not ready; still serving for %s s", delay)
        await asyncio.sleep(delay)
        log.info("draining: no new claims, lease released")
        self.dispatcher.stop_claiming()
        self.housekeeper.stop()
        await self.watcher.leave()
        await self.lease.release()
        await self.dispatcher.drain(self.settings.shutdown_grace_seconds)
        log.info("drained")

    async def close(self) -> None:
        await self.drain()
        if self._check is not None:
            self._check.cancel()
        for task in reversed(self._tasks):
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()
        await disconnect(self.redis)
        self.tracing.shutdown()
        log.info("stopped")

    @asynccontextmanager
    async def lifespan(self, _: Any) -> AsyncIterator[None]:
        await self.start()
        try:
            async with AsyncExitStack() as stack:
                for context in self._alongside:
                    await stack.enter_async_context(context())
                yield
        finally:
            await self.close()
