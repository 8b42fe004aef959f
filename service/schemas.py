"""Request and response bodies of the HTTP API, with the original product's field names."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainValidator,
    WithJsonSchema,
    field_validator,
)

MAX_ID_LENGTH = 256
MAX_URL_LENGTH = 2048
# Ids travel in URL paths (DELETE /messages/{id}), so a slash or white space would
# make a message impossible to address.
_ID_FORBIDDEN = re.compile(r"[\s/\x00-\x1f\x7f]")

EXAMPLE_MESSAGE: dict[str, Any] = {
    "id": "unique-message-id",
    "scheduleTo": "2024-12-25T10:30:00Z",
    "payload": {"data": "your webhook payload"},
    "webhookUrl": "https://your-webhook-endpoint.com",
}


def iso(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with a `Z`."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _json_body(value: Any) -> bytes:
    """Any JSON value, encoded once, here, as the webhook's body (compact, UTF-8).

    The standard encoder keeps integers of any size exact; `allow_nan=False` refuses the
    NaN and Infinity that Python's JSON parser lets through, so the body is strict JSON.
    """
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        raise ValueError("must be strict JSON: NaN and Infinity are not allowed") from None
    return text.encode()


# Validated into its encoded bytes; documented as what it is on the wire: any JSON value.
JsonBody = Annotated[bytes, PlainValidator(_json_body), WithJsonSchema({})]


class ScheduleRequest(BaseModel):
    """A webhook to POST at `scheduleTo`."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_MESSAGE]})

    id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_ID_LENGTH,
            description="Your unique id for the message; also the webhook's idempotency key. "
            "1 to 256 characters, no slash, white space or control characters.",
            examples=["unique-message-id"],
        ),
    ]
    scheduleTo: Annotated[
        datetime,
        Field(
            description="When to deliver, ISO-8601. Without an offset the time is UTC. "
            "A time in the past is delivered at once.",
            examples=["2024-12-25T10:30:00Z"],
        ),
    ]
    payload: Annotated[
        JsonBody,
        Field(
            description="Any JSON value; POSTed as the webhook's JSON body.",
            examples=[{"data": "your webhook payload"}],
        ),
    ]
    webhookUrl: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_URL_LENGTH,
            description="http:// or https:// URL that receives the POST; redirects are "
            "not followed.",
            examples=["https://your-webhook-endpoint.com"],
        ),
    ]

    @field_validator("id")
    @classmethod
    def _id_is_addressable(cls, value: str) -> str:
        if _ID_FORBIDDEN.search(value):
            raise ValueError("must not contain '/', white space or control characters")
        return value

    @field_validator("scheduleTo")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_validator("webhookUrl")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as error:
            raise ValueError(f"is not a valid URL ({error})") from None
        if parts.scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        if not parts.hostname:
            raise ValueError("must name a host")
        if port == 0:
            raise ValueError("must not use port 0")
        if any(ch.isspace() for ch in value):
            raise ValueError("must not contain white space")
        return value

    def due_ms(self) -> int:
        return int(self.scheduleTo.timestamp() * 1000)


class ScheduleResponse(BaseModel):
    status: Literal["scheduled"] = "scheduled"
    messageId: str


class DeleteResponse(BaseModel):
    status: Literal["deleted"] = "deleted"
    messageId: str


class RedriveResponse(BaseModel):
    status: Literal["scheduled"] = "scheduled"
    messageId: str
    nextRun: str = Field(description="When it is due again (now), ISO-8601 UTC.")


class JobSummary(BaseModel):
    messageId: str
    nextRun: str = Field(description="When the next attempt is due, ISO-8601 UTC.")
    webhookUrl: str
    attempts: int = Field(description="Delivery attempts made so far.")
    lastError: str | None = Field(default=None, description="Why the last attempt failed.")


class MessageList(BaseModel):
    scheduledJobs: list[JobSummary]
    count: int = Field(description="Total messages waiting for delivery (all pages).")
    inFlight: int = Field(description="Messages being delivered right now (not listed).")
    nextCursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class DeadLetter(BaseModel):
    messageId: str
    deadAt: str = Field(description="When the message was dead-lettered, ISO-8601 UTC.")
    webhookUrl: str
    attempts: int
    lastError: str | None


class DeadLetterList(BaseModel):
    deadLetters: list[DeadLetter]
    count: int = Field(description="Total dead letters (all pages).")
    nextCursor: str | None


class MessageDetail(BaseModel):
    messageId: str
    state: Literal["pending", "in_flight", "dead"]
    scheduleTo: str = Field(description="The requested delivery time, ISO-8601 UTC.")
    nextRun: str | None = Field(description="When the next attempt is due; null unless pending.")
    payload: JsonValue
    webhookUrl: str
    attempts: int
    lastError: str | None
    createdAt: str
    deadAt: str | None


class Health(BaseModel):
    status: Literal["healthy", "unhealthy"]
    redis: Literal["connected", "disconnected"]
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
