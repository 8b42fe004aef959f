"""What the API does with messages: turns requests into store calls and records into bodies."""

from __future__ import annotations

import base64
import binascii
import json
import time

from .delivery import Dispatcher
from .errors import BadRequest, Conflict, NotFound
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
from .store import Store
from .telemetry import Tracing


class Messages:
    """The operations behind /messages and /dead-letters."""

    def __init__(
        self, *, store: Store, dispatcher: Dispatcher, metrics: Metrics, tracing: Tracing
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.tracing = tracing

    async def schedule(self, request: ScheduleRequest) -> ScheduleResponse:
        message = NewMessage(
            id=request.id,
            due_ms=request.due_ms(),
            payload=request.payload,
            url=request.webhookUrl,
            created_ms=int(time.time() * 1000),
            trace=self.tracing.current_traceparent(),
        )
        result = await self.store.schedule(message)
        if result == 0:
            raise Conflict(f"A message with id '{request.id}' already exists.")
        self.metrics.scheduled.inc()
        self.dispatcher.notify(message.due_ms)
        return ScheduleResponse(messageId=request.id)

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
            nextCursor=_next_cursor(page.rows, limit),
        )

    async def delete(self, message_id: str) -> DeleteResponse:
        if not await self.store.cancel(message_id):
            raise NotFound(f"No message with id '{message_id}'.")
        return DeleteResponse(messageId=message_id)

    async def list_dead(self, *, limit: int, cursor: str | None) -> DeadLetterList:
        page = await self.store.page(dead=True, limit=limit, after=decode_cursor(cursor))
        return DeadLetterList(
            deadLetters=[_dead(row) for row in page.rows],
            count=page.total,
            nextCursor=_next_cursor(page.rows, limit),
        )

    async def redrive(self, message_id: str) -> RedriveResponse:
        due = await self.store.redrive(message_id)
        if not due:
            raise NotFound(f"No dead letter with id '{message_id}'.")
        self.dispatcher.notify(due)
        return RedriveResponse(messageId=message_id, nextRun=iso(due))

    async def delete_dead(self, message_id: str) -> DeleteResponse:
        if not await self.store.cancel(message_id, dead_only=True):
            raise NotFound(f"No dead letter with id '{message_id}'.")
        return DeleteResponse(messageId=message_id)


def encode_cursor(score_ms: int, message_id: str) -> str:
    raw = f"{score_ms}:{message_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[int, str] | None:
    """The (score, id) a page starts after; BadRequest when the cursor was not ours."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        score, message_id = raw.split(":", 1)
        return int(score), message_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("cursor is not valid: pass the nextCursor of a previous page") from None


def _next_cursor(rows: list[Summary], limit: int) -> str | None:
    if len(rows) < limit or not rows:
        return None
    return encode_cursor(rows[-1].score_ms, rows[-1].id)


def _job(row: Summary) -> JobSummary:
    return JobSummary(
        messageId=row.id,
        nextRun=iso(row.score_ms),
        webhookUrl=row.url,
        attempts=row.attempts,
        lastError=row.last_error,
    )


def _dead(row: Summary) -> DeadLetter:
    return DeadLetter(
        messageId=row.id,
        deadAt=iso(row.score_ms),
        webhookUrl=row.url,
        attempts=row.attempts,
        lastError=row.last_error,
    )


def _detail(record: MessageRecord) -> MessageDetail:
    return MessageDetail(
        messageId=record.id,
        state=record.state.value,
        scheduleTo=iso(record.schedule_ms),
        nextRun=None if record.next_run_ms is None else iso(record.next_run_ms),
        payload=json.loads(record.payload),
        webhookUrl=record.url,
        attempts=record.attempts,
        lastError=record.last_error,
        createdAt=iso(record.created_ms),
        deadAt=None if record.dead_ms is None else iso(record.dead_ms),
    )
