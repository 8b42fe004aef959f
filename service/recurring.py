"""What the API does with recurring schedules: /schedules."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from .cursor import decode_cursor, encode_cursor
from .errors import Conflict, InvalidInput, NotFound, field_errors, summarise
from .fields import iso
from .firing import next_runs, plan
from .messages import label_filters, merge_patch, request_options
from .metrics import Metrics
from .records import NewMessage, new_message_id, split_body
from .recurring_records import Definition, fire
from .responses import (
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleDetail,
    ScheduleList,
    ScheduleSummary,
)
from .schedule_store import Put, ScheduleStore, StoredSchedule
from .schemas import RecurringRequest
from .urls import redact


class Recurring:
    """The operations behind /schedules."""

    def __init__(
        self,
        *,
        schedules: ScheduleStore,
        metrics: Metrics,
        check: Callable[[RecurringRequest], None],
        notify: Callable[[int, str], None],
    ) -> None:
        self.schedules = schedules
        self.metrics = metrics
        self.check = check  # the rules that need settings, shared with messages
        self.notify = notify

    async def create(self, request: RecurringRequest) -> ScheduleCreated:
        self.check(request)
        schedule_id = request.id or new_message_id()
        now_ms = int(time.time() * 1000)
        definition = _definition(request, created_ms=now_ms)
        version = await self._put(schedule_id, definition, request, None, now_ms)
        if version == Put.MISSING_OR_EXISTS:
            raise Conflict(f"A schedule with id '{schedule_id}' already exists.")
        self.metrics.schedules_created.inc()
        runs = next_runs(definition, now_ms)
        return ScheduleCreated(scheduleId=schedule_id, nextRuns=[iso(run) for run in runs])

    async def _put(
        self,
        schedule_id: str,
        definition: Definition,
        request: RecurringRequest,
        version: int | None,
        now_ms: int,
    ) -> int:
        """Store the definition with its first fires (none while paused)."""
        body = _body(request)
        ticks, ended = (
            ([], True) if definition.paused else plan(definition.recurrence, None, now_ms)
        )
        fires = [fire(schedule_id, definition, body, tick, now_ms) for tick in ticks]
        result = await self.schedules.put(
            schedule_id,
            version=version,
            definition=definition.encode(),
            body=body,
            next_fire_ms=None if ended or not ticks else ticks[-1],
            created_ms=definition.created_ms,
            fires=fires,
        )
        if ticks and result > 0:
            self.notify(ticks[0], schedule_id)
        return result

    async def get(self, schedule_id: str) -> ScheduleDetail:
        stored = await self.schedules.get(schedule_id)
        if stored is None:
            raise NotFound(f"No schedule with id '{schedule_id}'.")
        return _detail(stored, int(time.time() * 1000))

    async def list(self, *, limit: int, cursor: str | None, labels: list[str]) -> ScheduleList:
        page = await self.schedules.page(
            limit=limit, after=decode_cursor(cursor), labels=label_filters(labels)
        )
        now_ms = int(time.time() * 1000)
        rows = [_summary(sid, Definition.decode(raw), now_ms) for sid, _, raw in page.rows]
        last = page.last_examined
        return ScheduleList(
            schedules=rows, count=page.total, nextCursor=encode_cursor(*last) if last else None
        )

    async def patch(self, schedule_id: str, changes: dict[str, Any]) -> ScheduleDetail:
        """A JSON merge patch; a new cron or interval takes effect from the next fire."""
        stored = await self.schedules.get(schedule_id)
        if stored is None:
            raise NotFound(f"No schedule with id '{schedule_id}'.")
        if changes.get("id", schedule_id) != schedule_id:
            raise InvalidInput.field("id", "cannot be changed; create a new schedule instead")
        current = Definition.decode(stored.definition)
        merged = _merge(_as_request(schedule_id, current, stored.body), changes)
        try:
            request = RecurringRequest.model_validate(merged)
        except ValidationError as error:
            rows = field_errors(error.errors())
            raise InvalidInput(summarise(rows), errors=rows) from None
        self.check(request)
        now_ms = int(time.time() * 1000)
        definition = _definition(
            request, created_ms=current.created_ms, keep=current, now_ms=now_ms
        )
        result = await self._put(schedule_id, definition, request, stored.version, now_ms)
        if result == Put.MISSING_OR_EXISTS:
            raise NotFound(f"No schedule with id '{schedule_id}'.")
        if result == Put.CHANGED:
            raise Conflict(f"Schedule '{schedule_id}' changed while it was patched; patch again.")
        return await self.get(schedule_id)

    async def delete(self, schedule_id: str) -> ScheduleDeleted:
        if not await self.schedules.delete(schedule_id):
            raise NotFound(f"No schedule with id '{schedule_id}'.")
        return ScheduleDeleted(scheduleId=schedule_id)


def _definition(
    request: RecurringRequest,
    *,
    created_ms: int,
    keep: Definition | None = None,
    now_ms: int | None = None,
) -> Definition:
    every_ms = int(request.every.total_seconds() * 1000) if request.every else None
    start_ms = int(request.startAt.timestamp() * 1000) if request.startAt else None
    anchor = start_ms if start_ms is not None else created_ms + (every_ms or 0)
    if keep is not None and keep.every_ms == every_ms and keep.start_ms == start_ms:
        anchor = keep.anchor_ms  # the same interval keeps its rhythm through an edit
    elif keep is not None and start_ms is None and every_ms and now_ms is not None:
        anchor = now_ms + every_ms  # a new interval counts from the edit
    return Definition(
        cron=request.cron,
        every_ms=every_ms,
        timezone=request.timezone,
        start_ms=start_ms,
        end_ms=int(request.endAt.timestamp() * 1000) if request.endAt else None,
        paused=request.paused,
        url=request.webhookUrl,
        options=request_options(request),
        created_ms=created_ms,
        anchor_ms=anchor,
    )


def _body(request: RecurringRequest) -> bytes:
    return NewMessage("", 0, request.payload_bytes, "", 0, headers=request.headers or {}).body()


def _as_request(schedule_id: str, definition: Definition, body: bytes) -> dict[str, Any]:
    """The stored schedule as the POST body that would make it (header values included)."""
    headers, payload = split_body(body)
    options = definition.options
    request: dict[str, Any] = {
        "id": schedule_id,
        "cron": definition.cron,
        "every": definition.every_ms / 1000 if definition.every_ms else None,
        "timezone": definition.timezone,
        "startAt": iso(definition.start_ms) if definition.start_ms is not None else None,
        "endAt": iso(definition.end_ms) if definition.end_ms is not None else None,
        "paused": definition.paused,
        "webhookUrl": definition.url,
        "method": options.method,
        "headers": headers or None,
        "labels": options.labels or None,
        "maxAttempts": options.max_attempts,
        "timeoutSeconds": options.timeout,
        "maxLatenessSeconds": options.max_lateness,
        "callbackUrl": options.callback_url,
        "failureCallbackUrl": options.failure_callback_url,
    }
    request = {key: value for key, value in request.items() if value is not None}
    if payload:
        request["payload"] = json.loads(payload)
    return request


def _merge(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = merge_patch(current, changes)
    # One recurrence at a time: a new cron replaces an interval, and the other way round.
    if changes.get("cron") is not None:
        merged.pop("every", None)
    if changes.get("every") is not None:
        merged.pop("cron", None)
    return merged


def _summary(schedule_id: str, definition: Definition, now_ms: int) -> ScheduleSummary:
    runs = next_runs(definition, now_ms, count=1)
    return ScheduleSummary(
        scheduleId=schedule_id,
        cron=definition.cron,
        every=definition.every_ms / 1000 if definition.every_ms else None,
        timezone=definition.timezone,
        paused=definition.paused,
        webhookUrl=redact(definition.url),
        labels=definition.options.labels,
        nextRun=iso(runs[0]) if runs else None,
    )


def _detail(stored: StoredSchedule, now_ms: int) -> ScheduleDetail:
    definition = Definition.decode(stored.definition)
    options = definition.options
    _, payload = split_body(stored.body)
    summary = _summary(stored.id, definition, now_ms)
    return ScheduleDetail(
        **summary.model_dump(),
        startAt=iso(definition.start_ms) if definition.start_ms is not None else None,
        endAt=iso(definition.end_ms) if definition.end_ms is not None else None,
        method=options.method,
        headerNames=list(options.header_names),
        maxAttempts=options.max_attempts,
        timeoutSeconds=options.timeout,
        maxLatenessSeconds=options.max_lateness,
        callbackUrl=options.callback_url and redact(options.callback_url),
        failureCallbackUrl=options.failure_callback_url and redact(options.failure_callback_url),
        payload=json.loads(payload) if payload else None,
        nextRuns=[iso(run) for run in next_runs(definition, now_ms)],
        lastFiredAt=iso(int(stored.last_fire, 36)) if stored.last_fire else None,
        firesDelivered=stored.delivered,
        firesDeadLettered=stored.dead,
        createdAt=iso(definition.created_ms),
    )
