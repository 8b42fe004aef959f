"""Response bodies of the HTTP API, with the original product's field names."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, JsonValue


class ScheduleResponse(BaseModel):
    status: Literal["scheduled"] = "scheduled"
    messageId: str


class DeleteResponse(BaseModel):
    status: Literal["deleted"] = "deleted"
    messageId: str


class BulkDeleteResponse(BaseModel):
    status: Literal["deleted"] = "deleted"
    count: int = Field(description="Messages cancelled.")


class RedriveResponse(BaseModel):
    status: Literal["scheduled"] = "scheduled"
    messageId: str
    nextRun: str = Field(description="When it is due again (now), ISO-8601 UTC.")


class BatchItem(BaseModel):
    messageId: str | None = Field(description="The id; null when the item had none and failed.")
    status: Literal["scheduled", "error"]
    code: str | None = Field(default=None, description="Why it failed, as in the error shape.")
    detail: str | None = Field(default=None, description="What to fix.")


class BatchResponse(BaseModel):
    results: list[BatchItem] = Field(description="One result per item, in request order.")


class JobSummary(BaseModel):
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
    messageId: str
    deadAt: str = Field(description="When the message was dead-lettered, ISO-8601 UTC.")
    webhookUrl: str
    attempts: int
    lastError: str | None
    labels: dict[str, str] | None = None


class DeadLetterList(BaseModel):
    deadLetters: list[DeadLetter]
    count: int = Field(description="Total dead letters (all pages).")
    nextCursor: str | None


class Attempt(BaseModel):
    attempt: int
    startedAt: str
    durationMs: int
    responseStatus: int | None = Field(description="The HTTP status; null when none came.")
    error: str | None


class MessageDetail(BaseModel):
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


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """The one error shape: `detail` says what is wrong and what to fix."""

    detail: str
    code: str
    errors: list[ErrorDetail] | None = None


class ScheduleCreated(BaseModel):
    status: Literal["scheduled"] = "scheduled"
    scheduleId: str
    nextRuns: list[str] = Field(description="The next five fire times, ISO-8601 UTC.")


class ScheduleDeleted(BaseModel):
    status: Literal["deleted"] = "deleted"
    scheduleId: str


class ScheduleSummary(BaseModel):
    scheduleId: str
    cron: str | None
    every: float | None = Field(description="The interval in seconds, for an interval schedule.")
    timezone: str
    paused: bool
    webhookUrl: str
    labels: dict[str, str]
    nextRun: str | None = Field(description="The next fire time; null when paused or ended.")


class ScheduleList(BaseModel):
    schedules: list[ScheduleSummary]
    count: int = Field(
        description="Recurring schedules in all (with a label filter: an upper bound)."
    )
    nextCursor: str | None


class ScheduleDetail(ScheduleSummary):
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
