"""Response bodies of the HTTP API, with the original product's field names."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue


def example(*examples: dict[str, Any]) -> ConfigDict:
    """A model's examples, shown in /docs and carried into generated clients."""
    return ConfigDict(json_schema_extra={"examples": list(examples)})


_ID = "unique-message-id"
_URL = "https://your-webhook-endpoint.com"
_JOB = {
    "messageId": _ID,
    "nextRun": "2030-12-25T10:30:00.000Z",
    "webhookUrl": _URL,
    "attempts": 0,
    "lastError": None,
    "labels": {"contact": "c-1042"},
}
_DEAD = {
    "messageId": _ID,
    "deadAt": "2030-12-25T10:41:12.031Z",
    "webhookUrl": _URL,
    "attempts": 10,
    "lastError": "HTTP 503",
    "labels": None,
}
_ATTEMPT = {
    "attempt": 1,
    "startedAt": "2030-12-25T10:30:00.004Z",
    "durationMs": 212,
    "responseStatus": 503,
    "error": "HTTP 503",
}
_SCHEDULE = {
    "scheduleId": "weekday-report",
    "cron": "0 9 * * MON-FRI",
    "every": None,
    "timezone": "America/Sao_Paulo",
    "paused": False,
    "webhookUrl": "https://n8n.example.com/webhook/report",
    "labels": {"team": "sales"},
    "nextRun": "2030-12-25T12:00:00.000Z",
}
_NEXT_RUNS = [f"2030-12-{day}T12:00:00.000Z" for day in (25, 26, 27, 30, 31)]


class ScheduleResponse(BaseModel):
    """The message is stored and will be delivered."""

    model_config = example({"status": "scheduled", "messageId": _ID})

    status: Literal["scheduled"] = "scheduled"
    messageId: str


class DeleteResponse(BaseModel):
    """The message is cancelled (or the dead letter dropped)."""

    model_config = example({"status": "deleted", "messageId": _ID})

    status: Literal["deleted"] = "deleted"
    messageId: str


class BulkDeleteResponse(BaseModel):
    """How many messages carrying the labels were cancelled."""

    model_config = example({"status": "deleted", "count": 3})

    status: Literal["deleted"] = "deleted"
    count: int = Field(description="Messages cancelled.")


class RedriveResponse(BaseModel):
    """The dead letter is due again now."""

    model_config = example(
        {"status": "scheduled", "messageId": _ID, "nextRun": "2030-12-26T08:00:00.000Z"}
    )

    status: Literal["scheduled"] = "scheduled"
    messageId: str
    nextRun: str = Field(description="When it is due again (now), ISO-8601 UTC.")


class BatchItem(BaseModel):
    """The outcome of one item of a batch."""

    model_config = example(
        {"messageId": _ID, "status": "scheduled", "code": None, "detail": None},
        {
            "messageId": "second",
            "status": "error",
            "code": "conflict",
            "detail": "A message with id 'second' already exists.",
        },
    )

    messageId: str | None = Field(description="The id; null when the item had none and failed.")
    status: Literal["scheduled", "error"]
    code: str | None = Field(default=None, description="Why it failed, as in the error shape.")
    detail: str | None = Field(default=None, description="What to fix.")


class BatchResponse(BaseModel):
    """One result per item of the batch, in request order."""

    model_config = example(
        {
            "results": [
                {"messageId": _ID, "status": "scheduled", "code": None, "detail": None},
                {
                    "messageId": None,
                    "status": "error",
                    "code": "invalid_request",
                    "detail": "Invalid request: webhookUrl: Field required",
                },
            ]
        }
    )

    results: list[BatchItem] = Field(description="One result per item, in request order.")


class JobSummary(BaseModel):
    """A pending message, as listed."""

    model_config = example(_JOB)

    messageId: str
    nextRun: str = Field(
        description="When the next attempt is due, ISO-8601 UTC (for a message in flight: "
        "when its claim expires)."
    )
    webhookUrl: str
    attempts: int = Field(description="Delivery attempts made so far.")
    lastError: str | None = Field(default=None, description="Why the last attempt failed.")
    labels: dict[str, str] | None = Field(default=None, description="The message's labels.")


class MessageList(BaseModel):
    """A page of pending messages, soonest first."""

    model_config = example({"scheduledJobs": [_JOB], "count": 1, "inFlight": 0, "nextCursor": None})

    scheduledJobs: list[JobSummary]
    count: int = Field(
        description="Messages waiting for delivery, all pages (with a filter: the size of "
        "the index it walks, an upper bound)."
    )
    inFlight: int = Field(description="Messages being delivered right now.")
    nextCursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class DeadLetter(BaseModel):
    """A message whose delivery failed for good."""

    model_config = example(_DEAD)

    messageId: str
    deadAt: str = Field(description="When the message was dead-lettered, ISO-8601 UTC.")
    webhookUrl: str
    attempts: int
    lastError: str | None
    labels: dict[str, str] | None = None


class DeadLetterList(BaseModel):
    """A page of dead letters, oldest first."""

    model_config = example({"deadLetters": [_DEAD], "count": 1, "nextCursor": None})

    deadLetters: list[DeadLetter]
    count: int = Field(description="Total dead letters (all pages).")
    nextCursor: str | None


class Attempt(BaseModel):
    """One delivery attempt and how it ended."""

    model_config = example(_ATTEMPT)

    attempt: int
    startedAt: str
    durationMs: int
    responseStatus: int | None = Field(description="The HTTP status; null when none came.")
    error: str | None


class MessageDetail(BaseModel):
    """One message: its definition (header names only), state and last attempts."""

    model_config = example(
        {
            "messageId": _ID,
            "state": "pending",
            "scheduleTo": "2030-12-25T10:30:00.000Z",
            "nextRun": "2030-12-25T10:30:05.120Z",
            "payload": {"data": "your webhook payload"},
            "webhookUrl": _URL,
            "method": "POST",
            "headerNames": ["X-N8N-Auth"],
            "labels": {"contact": "c-1042"},
            "maxAttempts": 5,
            "timeoutSeconds": None,
            "maxLatenessSeconds": None,
            "callbackUrl": None,
            "failureCallbackUrl": None,
            "callbackOf": None,
            "attemptCount": 1,
            "attempts": [_ATTEMPT],
            "lastError": "HTTP 503",
            "createdAt": "2030-12-24T18:02:41.377Z",
            "deadAt": None,
            "finishedAt": None,
        }
    )

    messageId: str
    state: Literal["pending", "in_flight", "dead", "delivered", "dead_lettered", "cancelled"] = (
        Field(
            description="pending, in_flight or dead (a dead letter) while the message is "
            "held; delivered, dead_lettered or cancelled once it has ended (kept for "
            "HISTORY_RETENTION_SECONDS, without payload or header values)."
        )
    )
    scheduleTo: str = Field(description="The requested delivery time, ISO-8601 UTC.")
    nextRun: str | None = Field(description="When the next attempt is due; null unless pending.")
    payload: JsonValue = Field(description="The payload; null once the message has ended.")
    webhookUrl: str
    method: str
    headerNames: list[str] = Field(description="Names of the headers given; never values.")
    labels: dict[str, str]
    maxAttempts: int | None
    timeoutSeconds: float | None
    maxLatenessSeconds: float | None
    callbackUrl: str | None
    failureCallbackUrl: str | None
    callbackOf: str | None = Field(description="For a callback: the message it reports on.")
    attemptCount: int = Field(description="Attempts made.")
    attempts: list[Attempt] = Field(description="The last 20 attempts, oldest first.")
    lastError: str | None
    createdAt: str
    deadAt: str | None
    finishedAt: str | None = Field(description="When it was delivered, dead-lettered or cancelled.")


class Health(BaseModel):
    """Readiness of this replica."""

    model_config = example(
        {
            "status": "healthy",
            "redis": "connected",
            "leader": True,
            "draining": False,
            "version": "1.0.0",
        }
    )

    status: Literal["healthy", "unhealthy"]
    redis: Literal[
        "connected",
        "disconnected",
        "loading",
        "out_of_memory",
        "read_only",
        "disk_error",
        "busy",
        "script_cache",
        "cluster_down",
        "master_down",
        "no_replicas",
    ] = Field(description="`connected` when Redis accepts writes, else why it does not.")
    leader: bool = Field(description="This replica holds the housekeeping lease.")
    draining: bool = Field(description="The replica is shutting down.")
    version: str


class Liveness(BaseModel):
    """Liveness of this process: its background loops run."""

    model_config = example({"status": "alive", "stoppedLoops": None})

    status: Literal["alive", "dead"]
    stoppedLoops: list[str] | None = Field(
        default=None, description="The loops that stopped (delivery, lease, housekeeping)."
    )


class ErrorDetail(BaseModel):
    """What is wrong with one field."""

    model_config = example({"field": "delay", "message": "must not be negative"})

    field: str
    message: str


class ErrorBody(BaseModel):
    """The one error shape: `detail` says what is wrong and what to fix."""

    model_config = example(
        {
            "detail": "Invalid request: delay: must not be negative",
            "code": "invalid_request",
            "errors": [{"field": "delay", "message": "must not be negative"}],
        },
        {"detail": "No message with id 'unique-message-id'.", "code": "not_found"},
    )

    detail: str
    code: str
    errors: list[ErrorDetail] | None = None


class ScheduleCreated(BaseModel):
    """The schedule is stored; its first fires are scheduled."""

    model_config = example(
        {"status": "scheduled", "scheduleId": "weekday-report", "nextRuns": _NEXT_RUNS}
    )

    status: Literal["scheduled"] = "scheduled"
    scheduleId: str
    nextRuns: list[str] = Field(description="The next five fire times, ISO-8601 UTC.")


class ScheduleDeleted(BaseModel):
    """The schedule is deleted and fires no more."""

    model_config = example({"status": "deleted", "scheduleId": "weekday-report"})

    status: Literal["deleted"] = "deleted"
    scheduleId: str


class ScheduleSummary(BaseModel):
    """A recurring schedule, as listed."""

    model_config = example(_SCHEDULE)

    scheduleId: str
    cron: str | None
    every: float | None = Field(description="The interval in seconds, for an interval schedule.")
    timezone: str
    paused: bool
    webhookUrl: str
    labels: dict[str, str]
    nextRun: str | None = Field(description="The next fire time; null when paused or ended.")


class ScheduleList(BaseModel):
    """A page of recurring schedules, in the order they were created."""

    model_config = example({"schedules": [_SCHEDULE], "count": 1, "nextCursor": None})

    schedules: list[ScheduleSummary]
    count: int = Field(
        description="Recurring schedules in all (with a label filter: an upper bound)."
    )
    nextCursor: str | None


class ScheduleDetail(ScheduleSummary):
    """One recurring schedule: its definition (header names only), next runs and fire counts."""

    model_config = example(
        {
            **_SCHEDULE,
            "startAt": None,
            "endAt": None,
            "method": "POST",
            "headerNames": [],
            "maxAttempts": None,
            "timeoutSeconds": None,
            "maxLatenessSeconds": None,
            "callbackUrl": None,
            "failureCallbackUrl": None,
            "payload": {"report": "daily"},
            "nextRuns": _NEXT_RUNS,
            "lastFiredAt": "2030-12-24T12:00:00.000Z",
            "firesDelivered": 12,
            "firesDeadLettered": 0,
            "createdAt": "2030-12-09T14:20:03.512Z",
        }
    )

    startAt: str | None
    endAt: str | None
    method: str
    headerNames: list[str]
    maxAttempts: int | None
    timeoutSeconds: float | None
    maxLatenessSeconds: float | None
    callbackUrl: str | None
    failureCallbackUrl: str | None
    payload: JsonValue
    nextRuns: list[str] = Field(description="The next five fire times, ISO-8601 UTC.")
    lastFiredAt: str | None = Field(
        description="The scheduled time of the last fire that finished (delivered or "
        "dead-lettered)."
    )
    firesDelivered: int
    firesDeadLettered: int
    createdAt: str
