"""What the API does with messages: turns requests into store calls and records into bodies."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from .config import Settings
from .cursor import decode_cursor, next_cursor
from .errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from .metrics import Metrics
from .records import MessageRecord, NewMessage, Summary
from .schemas import (
    DeadLetter,
    DeadLetterList,
    DeleteResponse,
    JobSummary,
    MessageDetail,
    MessageList,
    RedriveResponse,
    ScheduleRequest,
    ScheduleResponse,
    iso,
)
from .store import Store, Stored
from .telemetry import Tracing
from .urls import redact


class Messages:
    """The operations behind /messages and /dead-letters."""

    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        metrics: Metrics,
        tracing: Tracing,
        notify: Callable[[int], None],
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.tracing = tracing
        self.notify = notify
        self.max_depth = settings.max_payload_depth
        self.max_messages = settings.max_pending_messages
        self.max_bytes = settings.max_pending_bytes
        egress = settings.egress_policy()
        # Webhook URLs repeat (a few receivers, many messages): judge each one once.
        self._literal_refusal = functools.lru_cache(maxsize=4096)(
            lambda url: egress.check_literal(urlsplit(url).hostname or "")
        )

    async def schedule(self, request: ScheduleRequest) -> ScheduleResponse:
        self._check(request)
        message = NewMessage(
            id=request.id,
            due_ms=request.due_ms(),
            payload=request.payload,
            url=request.webhookUrl,
            created_ms=int(time.time() * 1000),
            trace=self.tracing.current_traceparent(),
        )
        stored = await self.store.schedule(
            message, max_messages=self.max_messages, max_bytes=self.max_bytes
        )
        self._refuse_unless_stored(stored, request.id)
        self.metrics.scheduled.inc()
        self.notify(message.due_ms)
        return ScheduleResponse(messageId=request.id)

    def _check(self, request: ScheduleRequest) -> None:
        """The rules that depend on settings, after the request's own validation."""
        if request.payload.depth > self.max_depth:
            raise InvalidInput(
                f"Invalid request: payload: nests {request.payload.depth} levels deep; "
                f"the limit is MAX_PAYLOAD_DEPTH ({self.max_depth})"
            )
        refusal = self._literal_refusal(request.webhookUrl)
        if refusal is not None:
            raise InvalidInput(f"Invalid request: webhookUrl: {refusal}")

    def _refuse_unless_stored(self, stored: Stored, message_id: str) -> None:
        if stored is Stored.EXISTS:
            raise Conflict(f"A message with id '{message_id}' already exists.")
        if stored is Stored.OVER_MESSAGE_QUOTA:
            self.metrics.refused.labels("message_quota").inc()
            raise QuotaExceeded(
                f"The store holds MAX_PENDING_MESSAGES ({self.max_messages}) messages; "
                "nothing was stored. Retry once some are delivered or deleted."
            )
        if stored is Stored.OVER_BYTE_QUOTA:
            self.metrics.refused.labels("byte_quota").inc()
            raise QuotaExceeded(
                f"Stored payloads would exceed MAX_PENDING_BYTES ({self.max_bytes} bytes); "
                "nothing was stored. Retry once some are delivered or deleted."
            )

    async def get(self, message_id: str) -> MessageDetail:
        record = await self.store.get(message_id)
        if record is None:
            raise NotFound(f"No message with id '{message_id}' (delivered messages are removed).")
        return _detail(record)

    async def list_pending(self, *, limit: int, cursor: str | None) -> MessageList:
        page = await self.store.page(dead=False, limit=limit, after=decode_cursor(cursor))
        stats = await self.store.stats()
        return MessageList(
            scheduledJobs=[_job(row) for row in page.rows],
            count=page.total,
            inFlight=stats.in_flight,
            nextCursor=next_cursor(page.rows, limit),
        )

    async def cancel(self, message_id: str) -> DeleteResponse:
        if not await self.store.cancel(message_id):
            raise NotFound(f"No message with id '{message_id}'.")
        return DeleteResponse(messageId=message_id)

    async def list_dead(self, *, limit: int, cursor: str | None) -> DeadLetterList:
        page = await self.store.page(dead=True, limit=limit, after=decode_cursor(cursor))
        return DeadLetterList(
            deadLetters=[_dead(row) for row in page.rows],
            count=page.total,
            nextCursor=next_cursor(page.rows, limit),
        )

    async def redrive(self, message_id: str) -> RedriveResponse:
        due = await self.store.redrive(message_id)
        if due is None:
            raise NotFound(f"No dead letter with id '{message_id}'.")
        self.notify(due)
        return RedriveResponse(messageId=message_id, nextRun=iso(due))

    async def cancel_dead(self, message_id: str) -> DeleteResponse:
        if not await self.store.cancel(message_id, dead_only=True):
            raise NotFound(f"No dead letter with id '{message_id}'.")
        return DeleteResponse(messageId=message_id)


def _job(row: Summary) -> JobSummary:
    return JobSummary(
        messageId=row.id,
        nextRun=iso(row.score_ms),
        webhookUrl=redact(row.meta.url),
        attempts=row.meta.attempts,
        lastError=row.meta.error,
    )


def _dead(row: Summary) -> DeadLetter:
    return DeadLetter(
        messageId=row.id,
        deadAt=iso(row.score_ms),
        webhookUrl=redact(row.meta.url),
        attempts=row.meta.attempts,
        lastError=row.meta.error,
    )


def _detail(record: MessageRecord) -> MessageDetail:
    meta = record.meta
    return MessageDetail(
        messageId=record.id,
        state=meta.state.value,
        scheduleTo=iso(meta.due_ms),
        nextRun=None if record.next_run_ms is None else iso(record.next_run_ms),
        payload=json.loads(record.payload),
        webhookUrl=redact(meta.url),
        attempts=meta.attempts,
        lastError=meta.error,
        createdAt=iso(meta.created_ms),
        deadAt=None if meta.dead_ms is None else iso(meta.dead_ms),
    )
