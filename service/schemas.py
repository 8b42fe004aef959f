"""Request and response bodies of the HTTP API, with the original product's field names."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainValidator,
    WithJsonSchema,
    field_validator,
)

from .urls import MAX_URL_LENGTH, check_webhook_url

MAX_ID_LENGTH = 256
# Ids travel in URL paths (DELETE /messages/{id}) and headers, so a slash, white space,
# a control character (C0 or C1) or an invisible format character (zero-width space,
# bidi override) would make a message impossible to address or misleading to read.
_ID_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
# Printable ASCII but '/' and space: the ids nearly everyone sends, checked in one step.
_PLAIN_ID = re.compile(r"[!-.0-~]+")

EXAMPLE_MESSAGE: dict[str, Any] = {
    "id": "unique-message-id",
    "scheduleTo": "2024-12-25T10:30:00Z",
    "payload": {"data": "your webhook payload"},
    "webhookUrl": "https://your-webhook-endpoint.com",
}


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC (naive means UTC); ValueError when UTC cannot hold it."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-01:00 is in year 10000 in UTC; 0001-01-01T00:00+01:00 in year 0.
        raise ValueError(
            "is out of range: in UTC it must fall between 0001-01-01 and 9999-12-31"
        ) from None


def iso(ms: int) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with a `Z`."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)
    return moment.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


class EncodedJson(bytes):
    """A payload encoded for the wire, remembering how deeply it nests."""

    depth: int


def json_depth(value: Any) -> int:
    """How many arrays and objects nest inside each other in `value` (a scalar is 0)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _json_body(value: Any) -> EncodedJson:
    """Any JSON value, encoded once, here, as the webhook's body (compact, UTF-8).

    The standard encoder keeps integers of any size exact; `allow_nan=False` refuses the
    NaN and Infinity that Python's JSON parser lets through, so the body is strict JSON.
    """
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        raise ValueError("must be strict JSON: NaN and Infinity are not allowed") from None
    body = EncodedJson(text.encode())
    body.depth = json_depth(value)
    return body


# Validated into its encoded bytes; documented as what it is on the wire: any JSON value.
JsonBody = Annotated[EncodedJson, PlainValidator(_json_body), WithJsonSchema({})]


def check_id(value: str) -> str:
    """ValueError naming the first character an id may not hold."""
    if _PLAIN_ID.fullmatch(value):
        return value
    for position, char in enumerate(value):
        if char == "/" or unicodedata.category(char) in _ID_FORBIDDEN_CATEGORIES:
            raise ValueError(
                "must not contain '/', white space or control characters "
                f"(found U+{ord(char):04X} at position {position})"
            )
    return value


class ScheduleRequest(BaseModel):
    """A webhook to POST at `scheduleTo`."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_MESSAGE]})

    id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_ID_LENGTH,
            description="Your unique id for the message; also the webhook's idempotency key. "
            "1 to 256 characters, no slash, white space, control or invisible format "
            "characters.",
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
        return check_id(value)

    @field_validator("scheduleTo")
    @classmethod
    def _as_utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("webhookUrl")
    @classmethod
    def _http_url(cls, value: str) -> str:
        check_webhook_url(value)
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
