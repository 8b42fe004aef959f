"""Request bodies of the HTTP API, with the original product's field names (camelCase).

Responses are in responses.py; the rules for single fields in fields.py.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .fields import (
    MAX_ID_LENGTH,
    Delay,
    JsonBody,
    as_utc,
    check_headers,
    check_id,
    check_labels,
    parse_delay,
)
from .recurrence import RecurrenceError, check_cron, zone
from .urls import MAX_URL_LENGTH, check_webhook_url

EXAMPLE_MESSAGE: dict[str, Any] = {
    "id": "unique-message-id",
    "scheduleTo": "2030-12-25T10:30:00Z",
    "payload": {"data": "your webhook payload"},
    "webhookUrl": "http://localhost:9000/hook",
}
EXAMPLE_WITH_OPTIONS: dict[str, Any] = {
    "delay": "PT30M",
    "payload": {"contact": "c-1042", "step": "follow-up"},
    "webhookUrl": "https://n8n.example.com/webhook/follow-up",
    "headers": {"X-N8N-Auth": "secret-value"},
    "labels": {"contact": "c-1042", "flow": "onboarding"},
    "maxAttempts": 5,
    "callbackUrl": "https://n8n.example.com/webhook/delivered",
}


def _url(value: str) -> str:
    check_webhook_url(value)
    return value


WebhookUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(_url)
]


def _check_body(method: str, given: bool, present: bool) -> None:
    """GET and DELETE send no body, so no payload; every other method needs one (which
    may be null). Shared by messages and recurring schedules."""
    if method in ("GET", "DELETE"):
        if present:
            raise ValueError(f"payload: a {method} request sends no body: omit payload")
    elif not given:
        raise ValueError("payload: Field required")


class MessageOptions(BaseModel):
    """What a message may ask of its delivery besides when, what and where."""

    method: Literal["POST", "PUT", "PATCH", "DELETE", "GET"] = Field(
        default="POST",
        description="HTTP method of the webhook request. GET and DELETE send no body, so "
        "`payload` must then be absent or null.",
    )
    headers: Annotated[dict[str, str], AfterValidator(check_headers)] | None = Field(
        default=None,
        description="Headers sent with every attempt (for example the credentials of an "
        "n8n Header Auth webhook). At most 32, 8 KiB in all; names are RFC 9110 tokens; "
        "values are printable ASCII. Host, Content-Length, Transfer-Encoding, Connection, "
        "Upgrade, TE, Trailer, Keep-Alive, Proxy-*, Idempotency-Key, webhook-*, "
        "traceparent, tracestate and X-Message-Id are set by the service. Values are "
        "secrets: no answer ever shows them, only their names.",
    )
    maxAttempts: int | None = Field(
        default=None, ge=1, le=100, description="Attempts before dead-lettering (1 to 100)."
    )
    timeoutSeconds: float | None = Field(
        default=None,
        gt=0,
        description="Seconds one attempt may take in all; below CLAIM_TIMEOUT_SECONDS.",
    )
    maxLatenessSeconds: float | None = Field(
        default=None,
        gt=0,
        description="No attempt starts later than the due time plus this; past it the "
        "message is dead-lettered with lastError 'expired: ...'.",
    )
    labels: Annotated[dict[str, str], AfterValidator(check_labels)] | None = Field(
        default=None,
        description="Up to 16 labels for finding and cancelling messages. Keys: 1 to 63 "
        "of A-Z a-z 0-9 _ . -; values: 1 to 256 characters.",
    )
    callbackUrl: WebhookUrl | None = Field(
        default=None, description="After a 2xx, the service POSTs the result here."
    )
    failureCallbackUrl: WebhookUrl | None = Field(
        default=None,
        description="After the message is dead-lettered, the service POSTs the result here.",
    )


class ScheduleRequest(MessageOptions):
    """A webhook to send at `scheduleTo` (or after `delay`)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [EXAMPLE_MESSAGE, EXAMPLE_WITH_OPTIONS]}
    )

    id: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=MAX_ID_LENGTH),
            AfterValidator(check_id),
        ]
        | None
    ) = Field(
        default=None,
        description="Your unique id for the message: 1 to 256 characters, no slash, "
        "white space, control or invisible format characters. Omit it and the service "
        "makes one (time-ordered) and answers it as messageId.",
        examples=["unique-message-id"],
    )
    scheduleTo: datetime | None = Field(
        default=None,
        description="When to deliver, ISO-8601; without an offset the time is UTC. A time "
        "in the past is delivered at once. Give this or `delay`, not both.",
        examples=["2030-12-25T10:30:00Z"],
    )
    delay: Delay | None = Field(
        default=None,
        description="Deliver this long after the service accepts the message: seconds "
        "(90, 0.5) or an ISO-8601 duration (PT90S, PT1H30M, P3D). Give this or "
        "`scheduleTo`, not both.",
        examples=["PT30M"],
    )
    payload: JsonBody | None = Field(
        default=None,
        description="Any JSON value, sent as the webhook's JSON body. Required unless "
        "`method` is GET or DELETE.",
        examples=[{"data": "your webhook payload"}],
    )
    webhookUrl: WebhookUrl = Field(
        description="http:// or https:// URL that receives the request; redirects are not "
        "followed. user:password@ in it is sent as Basic auth and never shown.",
        examples=["http://localhost:9000/hook"],
    )

    @field_validator("scheduleTo")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @model_validator(mode="after")
    def _when_and_what(self) -> Self:
        # "field: message" lets the error handler name the field (errors.py).
        if (self.scheduleTo is None) == (self.delay is None):
            raise ValueError("scheduleTo: give exactly one of scheduleTo and delay")
        _check_body(self.method, "payload" in self.model_fields_set, self.payload is not None)
        return self

    @property
    def payload_bytes(self) -> bytes:
        """The body to send: the encoded payload, `null` for a JSON null, b'' for none."""
        if "payload" not in self.model_fields_set:
            return b""
        return b"null" if self.payload is None else bytes(self.payload)

    @property
    def payload_depth(self) -> int:
        return 0 if self.payload is None else self.payload.depth

    def due_ms(self, now_ms: int | None = None) -> int:
        """The due time: scheduleTo, or now plus delay (the service's clock)."""
        if self.scheduleTo is not None:
            return int(self.scheduleTo.timestamp() * 1000)
        assert self.delay is not None
        start = int(time.time() * 1000) if now_ms is None else now_ms
        return start + int(self.delay.total_seconds() * 1000)


class BatchRequest(BaseModel):
    """Up to 1,000 messages, each checked and scheduled on its own."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"messages": [EXAMPLE_MESSAGE, EXAMPLE_WITH_OPTIONS]}]}
    )

    messages: list[Any] = Field(
        min_length=1,
        max_length=1000,
        description="Bodies as for POST /messages; one bad item does not stop the others.",
    )


def _interval(value: Any) -> timedelta:
    interval = parse_delay(value)
    if interval < timedelta(seconds=1):
        raise ValueError("must be at least 1 second")
    return interval


Interval = Annotated[
    timedelta,
    PlainValidator(_interval),
    WithJsonSchema(
        {
            "oneOf": [{"type": "number", "minimum": 1}, {"type": "string"}],
            "description": "Seconds (300) or an ISO-8601 duration (PT5M); at least 1 s.",
        }
    ),
]


def _cron(value: str) -> str:
    try:
        return check_cron(value)
    except RecurrenceError as error:
        raise ValueError(str(error)) from None


def _zone(value: str) -> str:
    try:
        zone(value)
    except RecurrenceError as error:
        raise ValueError(str(error)) from None
    return value


EXAMPLE_SCHEDULE: dict[str, Any] = {
    "id": "weekday-report",
    "cron": "0 9 * * MON-FRI",
    "timezone": "America/Sao_Paulo",
    "payload": {"report": "daily"},
    "webhookUrl": "https://n8n.example.com/webhook/report",
    "labels": {"team": "sales"},
}


class RecurringRequest(MessageOptions):
    """A webhook sent on a cron schedule or at a fixed interval."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                EXAMPLE_SCHEDULE,
                {"every": "PT5M", "payload": {}, "webhookUrl": "https://example.com/tick"},
            ]
        }
    )

    id: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=MAX_ID_LENGTH),
            AfterValidator(check_id),
        ]
        | None
    ) = Field(
        default=None,
        description="Your id for the schedule, with the rules of a message id; omitted: made "
        "by the service. Each fire is a message with id `<id>:<fire time in epoch ms>`.",
    )
    cron: Annotated[str, AfterValidator(_cron)] | None = Field(
        default=None,
        description="5-field cron: minute hour day-of-month month day-of-week, with lists, "
        "ranges, steps and names (`0 9 * * MON-FRI`). Give this or `every`.",
        examples=["0 9 * * MON-FRI"],
    )
    every: Interval | None = Field(
        default=None,
        description="A fixed interval, in real time: seconds (300) or an ISO-8601 duration "
        "(PT5M), at least 1 s. Give this or `cron`.",
    )
    timezone: Annotated[str, AfterValidator(_zone)] = Field(
        default="UTC",
        description="IANA time zone the cron fields are read in (America/Sao_Paulo).",
    )
    startAt: datetime | None = Field(default=None, description="No fire before this.")
    endAt: datetime | None = Field(default=None, description="No fire after this.")
    paused: bool = Field(default=False, description="A paused schedule does not fire.")
    payload: JsonBody | None = Field(
        default=None,
        description="Any JSON value each fire sends. Required unless `method` is GET or DELETE.",
    )
    webhookUrl: WebhookUrl = Field(description="Where each fire is sent, as for a message.")

    @field_validator("startAt", "endAt")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @field_validator("labels")
    @classmethod
    def _room_for_the_schedule_label(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        # Every fire is labelled `schedule: <id>` beside these.
        if value and "schedule" in value:
            raise ValueError("'schedule' is set on every fire by the service")
        if value and len(value) > 15:
            raise ValueError("at most 15 labels: every fire also carries `schedule`")
        return value

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        if (self.cron is None) == (self.every is None):
            raise ValueError("cron: give exactly one of cron and every")
        if self.startAt and self.endAt and self.endAt <= self.startAt:
            raise ValueError("endAt: must be after startAt")
        _check_body(self.method, "payload" in self.model_fields_set, self.payload is not None)
        return self

    @property
    def payload_bytes(self) -> bytes:
        if "payload" not in self.model_fields_set or self.method in ("GET", "DELETE"):
            return b""
        return b"null" if self.payload is None else bytes(self.payload)
