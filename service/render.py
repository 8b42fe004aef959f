"""Records into response bodies: what a caller may see of a message, and nothing more.

URL passwords are redacted and header values never leave the service: this is the one
place responses are built from records.
"""

from __future__ import annotations

import json

from .fields import iso
from .history import AttemptEntry, HistoryRecord
from .options import Options
from .records import MessageRecord, Summary
from .responses import Attempt, DeadLetter, JobSummary, MessageDetail
from .urls import redact


def job(row: Summary) -> JobSummary:
    return JobSummary(
        messageId=row.id,
        nextRun=iso(row.score_ms),
        webhookUrl=redact(row.meta.url),
        attempts=row.meta.attempts,
        lastError=row.meta.error,
        labels=row.meta.opts.labels or None,
    )


def dead_letter(row: Summary) -> DeadLetter:
    return DeadLetter(
        messageId=row.id,
        deadAt=iso(row.score_ms),
        webhookUrl=redact(row.meta.url),
        attempts=row.meta.attempts,
        lastError=row.meta.error,
        labels=row.meta.opts.labels or None,
    )


def attempts(log: list[AttemptEntry]) -> list[Attempt]:
    return [
        Attempt(
            attempt=entry.attempt,
            startedAt=iso(entry.started_ms),
            durationMs=entry.duration_ms,
            responseStatus=entry.status,
            error=entry.error,
        )
        for entry in log
    ]


def _options(options: Options) -> dict[str, object]:
    return {
        "method": options.method,
        "headerNames": list(options.header_names),
        "labels": dict(options.labels),
        "maxAttempts": options.max_attempts,
        "timeoutSeconds": options.timeout,
        "maxLatenessSeconds": options.max_lateness,
        "callbackUrl": options.callback_url and redact(options.callback_url),
        "failureCallbackUrl": options.failure_callback_url and redact(options.failure_callback_url),
        "callbackOf": options.callback_of,
    }


def live(record: MessageRecord) -> MessageDetail:
    meta = record.meta
    return MessageDetail(
        messageId=record.id,
        state=meta.state.value,
        scheduleTo=iso(meta.due_ms),
        nextRun=None if record.next_run_ms is None else iso(record.next_run_ms),
        payload=json.loads(record.payload) if record.payload else None,
        webhookUrl=redact(meta.url),
        attemptCount=meta.attempts,
        attempts=attempts(record.log),
        lastError=meta.error,
        createdAt=iso(meta.created_ms),
        deadAt=None if meta.dead_ms is None else iso(meta.dead_ms),
        finishedAt=None,
        **_options(meta.opts),  # type: ignore[arg-type]
    )


def ended(message_id: str, record: HistoryRecord) -> MessageDetail:
    return MessageDetail(
        messageId=message_id,
        state=record.state.value,
        scheduleTo=iso(record.due_ms),
        nextRun=None,
        payload=None,
        webhookUrl=redact(record.url),
        attemptCount=record.attempts,
        attempts=attempts(record.log),
        lastError=record.error,
        createdAt=iso(record.created_ms),
        deadAt=None,
        finishedAt=iso(record.finished_ms),
        **_options(record.options),  # type: ignore[arg-type]
    )
