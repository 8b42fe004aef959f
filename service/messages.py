"""What the API does with messages: turns requests into store calls and records into bodies."""

from __future__ import annotations

import copy
import functools
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from . import render
from .config import Settings
from .cursor import decode_cursor, encode_cursor
from .errors import Conflict, InvalidInput, NotFound, QuotaExceeded, field_errors, summarise
from .fields import iso, parse_label_filter
from .history import HistoryRecord
from .metrics import Metrics
from .options import Options
from .records import MessageRecord, NewMessage, Page, new_message_id
from .responses import (
    BatchItem,
    BatchResponse,
    BulkDeleteResponse,
    DeleteResponse,
    MessageDetail,
    MessageList,
    ScheduleResponse,
)
from .schemas import BatchRequest, RecurringRequest, ScheduleRequest
from .store import Patched, Store, Stored
from .telemetry import Tracing

# GET /messages?state=... walks this index, keeping rows in this state (page.lua codes).
_STATES: dict[str | None, tuple[str, str]] = {
    None: ("due", ""),
    "scheduled": ("due", "s"),
    "retrying": ("retrying", ""),
    "in_flight": ("inflight", ""),
}
_LABELLED_STATES = {None: "p", "scheduled": "s", "retrying": "r", "in_flight": "i"}


class Messages:
    """The operations behind /messages."""

    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        metrics: Metrics,
        tracing: Tracing,
        notify: Callable[[int, str], None],
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.tracing = tracing
        self.notify = notify
        self.max_depth = settings.max_payload_depth
        self.max_messages = settings.max_pending_messages
        self.max_bytes = settings.max_pending_bytes
        self.claim_timeout = settings.claim_timeout_seconds
        egress = settings.egress_policy()
        # Webhook URLs repeat (a few receivers, many messages): judge each one once.
        self._literal_refusal = functools.lru_cache(maxsize=4096)(
            lambda url: egress.check_literal(urlsplit(url).hostname or "")
        )

    # -- scheduling -----------------------------------------------------------------

    async def schedule(self, request: ScheduleRequest) -> ScheduleResponse:
        message = self._accept(request)
        stored = await self.store.schedule(
            message, max_messages=self.max_messages, max_bytes=self.max_bytes
        )
        self._refuse_unless_stored(stored, message.id)
        self.metrics.scheduled.inc()
        self.notify(message.due_ms, message.id)
        return ScheduleResponse(messageId=message.id)

    async def schedule_batch(self, batch: BatchRequest) -> BatchResponse:
        """Each item checked and stored on its own; one pipeline for all that pass."""
        results: list[BatchItem | None] = []
        accepted: list[tuple[int, NewMessage]] = []
        for position, item in enumerate(batch.messages):
            try:
                accepted.append((position, self._accept(ScheduleRequest.model_validate(item))))
                results.append(None)
            except ValidationError as error:
                results.append(
                    _failed(item, "invalid_request", summarise(field_errors(error.errors())))
                )
            except InvalidInput as error:
                results.append(_failed(item, error.code, error.message))
        stored = await self.store.schedule_many(
            [message for _, message in accepted],
            max_messages=self.max_messages,
            max_bytes=self.max_bytes,
        )
        for (position, message), outcome in zip(accepted, stored, strict=True):
            results[position] = self._batch_result(message, outcome)
        return BatchResponse(results=[result for result in results if result is not None])

    def _batch_result(self, message: NewMessage, stored: Stored) -> BatchItem:
        try:
            self._refuse_unless_stored(stored, message.id)
        except (Conflict, QuotaExceeded) as error:
            return BatchItem(
                messageId=message.id, status="error", code=error.code, detail=error.message
            )
        self.metrics.scheduled.inc()
        self.notify(message.due_ms, message.id)
        return BatchItem(messageId=message.id, status="scheduled")

    def _accept(self, request: ScheduleRequest, **keep: Any) -> NewMessage:
        """The rules that depend on settings, then the message to store."""
        self.check(request)
        return self._message(request, **keep)

    def check(self, request: ScheduleRequest | RecurringRequest) -> None:
        """The rules that depend on settings (shared by messages and recurring schedules)."""
        depth = 0 if request.payload is None else request.payload.depth
        if depth > self.max_depth:
            raise InvalidInput.field(
                "payload",
                f"nests {depth} levels deep; the limit is MAX_PAYLOAD_DEPTH ({self.max_depth})",
            )
        if request.timeoutSeconds is not None and request.timeoutSeconds >= self.claim_timeout:
            raise InvalidInput.field(
                "timeoutSeconds", f"must be below CLAIM_TIMEOUT_SECONDS ({self.claim_timeout:g})"
            )
        for field in ("webhookUrl", "callbackUrl", "failureCallbackUrl"):
            url = getattr(request, field)
            if url is not None and (refusal := self._literal_refusal(url)) is not None:
                raise InvalidInput.field(field, refusal)

    def _message(
        self,
        request: ScheduleRequest,
        *,
        message_id: str | None = None,
        created_ms: int | None = None,
        inc: str = "",
        trace: str | None = None,
    ) -> NewMessage:
        now_ms = int(time.time() * 1000)
        due_ms = request.due_ms(now_ms)
        if not -62135596800000 <= due_ms <= 253402300799999:
            raise InvalidInput.field("delay", "puts the due time past 9999-12-31")
        return NewMessage(
            id=message_id or request.id or new_message_id(),
            due_ms=due_ms,
            payload=request.payload_bytes if request.method not in ("GET", "DELETE") else b"",
            url=request.webhookUrl,
            created_ms=now_ms if created_ms is None else created_ms,
            trace=self.tracing.current_traceparent() if trace is None else trace,
            inc=inc,
            options=request_options(request),
            headers=request.headers or {},
        )

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

    # -- reading --------------------------------------------------------------------

    async def get(self, message_id: str) -> MessageDetail:
        record = await self.store.get(message_id)
        if record is None:
            raise NotFound(f"No message with id '{message_id}' (or its history has expired).")
        if isinstance(record, HistoryRecord):
            return render.ended(message_id, record)
        return render.live(record)

    async def list_pending(
        self, *, limit: int, cursor: str | None, labels: list[str], state: str | None
    ) -> MessageList:
        wanted = label_filters(labels)
        index, code = _STATES[state]
        if wanted:
            index, code = "lbl", _LABELLED_STATES[state]
        # The page's script counts the claims in flight too: no second read of every
        # partition.
        page = await self.store.page(
            index=index, limit=limit, after=decode_cursor(cursor), state=code, labels=wanted
        )
        return MessageList(
            scheduledJobs=[render.job(row) for row in page.rows],
            count=page.total,
            inFlight=page.in_flight,
            nextCursor=next_cursor(page),
        )

    # -- changing -------------------------------------------------------------------

    async def cancel(self, message_id: str) -> DeleteResponse:
        if not await self.store.cancel(message_id):
            raise NotFound(f"No message with id '{message_id}'.")
        return DeleteResponse(messageId=message_id)

    async def cancel_labelled(self, labels: list[str]) -> BulkDeleteResponse:
        if not labels:
            raise InvalidInput.field(
                "label", "give at least one label=name:value; DELETE /messages never cancels all"
            )
        count = await self.store.cancel_labelled(label_filters(labels))
        self.metrics.bulk_cancelled.inc(count)
        return BulkDeleteResponse(count=count)

    async def patch(self, message_id: str, changes: dict[str, Any]) -> MessageDetail:
        """A JSON merge patch (RFC 7396) of a pending message's definition."""
        record = await self.store.get(message_id)
        if not isinstance(record, MessageRecord):
            raise NotFound(f"No pending message with id '{message_id}'.")
        if changes.get("id", message_id) != message_id:
            raise InvalidInput.field("id", "cannot be changed; schedule a new message instead")
        merged = merge_patch(_as_request(record), changes)
        try:
            request = ScheduleRequest.model_validate(merged)
        except ValidationError as error:
            rows = field_errors(error.errors())
            raise InvalidInput(summarise(rows), errors=rows) from None
        meta = record.meta
        message = self._accept(
            request,
            message_id=message_id,
            created_ms=meta.created_ms,
            inc=meta.inc,
            trace=meta.trace,
        )
        self._refuse_unless_patched(
            await self.store.patch(message_id, read=record.raw, message=message), message_id
        )
        self.notify(message.due_ms, message.id)
        return await self.get(message_id)

    def _refuse_unless_patched(self, patched: Patched, message_id: str) -> None:
        if patched is Patched.NOT_FOUND:
            raise NotFound(f"No pending message with id '{message_id}'.")
        if patched is Patched.IN_FLIGHT:
            raise Conflict(f"Message '{message_id}' is being delivered right now; retry shortly.")
        if patched is Patched.DEAD:
            raise Conflict(f"Message '{message_id}' is a dead letter; redrive it first.")
        if patched is Patched.CHANGED:
            raise Conflict(f"Message '{message_id}' changed while it was patched; patch again.")


def label_filters(labels: list[str]) -> list[str]:
    """`name:value` query values as the `name=value` the scripts take; 422 when malformed."""
    out = []
    for text in labels:
        try:
            name, value = parse_label_filter(text)
        except ValueError as error:
            raise InvalidInput.field("label", str(error)) from None
        out.append(f"{name}={value}")
    return out


def next_cursor(page: Page) -> str | None:
    if page.last_examined is None:
        return None
    return encode_cursor(*page.last_examined)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge member by member, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    if "delay" in patch and patch["delay"] is not None:
        merged.pop("scheduleTo", None)  # a new delay replaces the time
    if "scheduleTo" in patch and patch["scheduleTo"] is not None:
        merged.pop("delay", None)
    return merged


def _as_request(record: MessageRecord) -> dict[str, Any]:
    """The stored message as the POST body that would make it (header values included)."""
    options = record.meta.opts
    body: dict[str, Any] = {
        "id": record.id,
        "scheduleTo": iso(record.meta.due_ms),
        "webhookUrl": record.meta.url,
        "method": options.method,
        "headers": record.headers or None,
        "labels": options.labels or None,
        "maxAttempts": options.max_attempts,
        "timeoutSeconds": options.timeout,
        "maxLatenessSeconds": options.max_lateness,
        "callbackUrl": options.callback_url,
        "failureCallbackUrl": options.failure_callback_url,
    }
    if record.payload:
        body["payload"] = json.loads(record.payload)
    return {key: value for key, value in body.items() if value is not None}


def request_options(request: ScheduleRequest | RecurringRequest) -> Options:
    """The options a request asks for, as stored (header names only: values are secrets)."""
    return Options(
        method=request.method,
        header_names=sorted(request.headers or {}),
        max_attempts=request.maxAttempts,
        timeout=request.timeoutSeconds,
        max_lateness=request.maxLatenessSeconds,
        labels=request.labels or {},
        callback_url=request.callbackUrl,
        failure_callback_url=request.failureCallbackUrl,
    )


def _failed(item: Any, code: str, detail: str) -> BatchItem:
    message_id = item.get("id") if isinstance(item, dict) else None
    return BatchItem(
        messageId=message_id if isinstance(message_id, str) else None,
        status="error",
        code=code,
        detail=detail,
    )
