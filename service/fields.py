"""Rules for single fields of a request: ids, times, delays, payloads, headers, labels.

Each rule raises ValueError with a message that says what is wrong; the request models
(schemas.py) attach it to the field it belongs to.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import PlainValidator, TypeAdapter, WithJsonSchema

MAX_ID_LENGTH = 256
# Ids travel in URL paths (DELETE /messages/{id}) and headers, so a slash, white space,
# a control character (C0 or C1) or an invisible format character (zero-width space,
# bidi override) would make a message impossible to address or misleading to read.
_ID_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
# Printable ASCII but '/' and space: the ids nearly everyone sends, checked in one step.
_PLAIN_ID = re.compile(r"[!-.0-~]+")

MAX_HEADERS = 32
MAX_HEADER_BYTES = 8192
# RFC 9110 token characters.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
# Headers the service sets itself, or that would let a message corrupt its own request.
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "idempotency-key",
        "traceparent",
        "tracestate",
        "x-message-id",
    }
)
_RESERVED_PREFIXES = ("proxy-", "webhook-")

MAX_LABELS = 16
_LABEL_KEY = re.compile(r"[A-Za-z0-9_.-]{1,63}")
MAX_LABEL_VALUE = 256

_DURATION = TypeAdapter(timedelta)
MAX_DELAY = timedelta(days=36500)
_CALENDAR_UNITS = re.compile(r"P[^T]*[YM]")


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


def parse_delay(value: Any) -> timedelta:
    """Seconds (a number) or an ISO-8601 duration without years or months, at least 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a number of seconds or an ISO-8601 duration such as PT90S")
    if isinstance(value, str) and _CALENDAR_UNITS.match(value.upper()):
        raise ValueError("years and months have no fixed length: use days (P30D) or scheduleTo")
    if isinstance(value, str) and not value.upper().startswith("P"):
        raise ValueError("must be a number of seconds or an ISO-8601 duration such as PT90S")
    try:
        delay = _DURATION.validate_python(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO-8601 duration such as PT90S or P3D") from None
    if delay < timedelta(0):
        raise ValueError("must not be negative")
    if delay > MAX_DELAY:
        raise ValueError("must be at most 100 years (P36500D)")
    return delay


Delay = Annotated[
    timedelta,
    PlainValidator(parse_delay),
    WithJsonSchema(
        {
            "oneOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
            "description": "Seconds (90, 0.5) or an ISO-8601 duration (PT90S, PT1H30M, P3D).",
        }
    ),
]


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


def encode_json(value: Any) -> EncodedJson:
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
JsonBody = Annotated[EncodedJson, PlainValidator(encode_json), WithJsonSchema({})]


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header names are tokens and not the service's own; values are printable ASCII."""
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    size = sum(len(name) + len(value) for name, value in headers.items())
    if size > MAX_HEADER_BYTES:
        raise ValueError(f"names and values together must fit in {MAX_HEADER_BYTES} bytes")
    seen: set[str] = set()
    for name, value in headers.items():
        lower = name.lower()
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"'{name}' is not a valid header name (RFC 9110 token)")
        if lower in _RESERVED_HEADERS or lower.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"'{name}' is set by the service and cannot be given")
        if lower in seen:
            raise ValueError(f"'{name}' is given twice (names are case-insensitive)")
        if not _HEADER_VALUE.fullmatch(value):
            raise ValueError(f"the value of '{name}' must be printable ASCII, without CR or LF")
        seen.add(lower)
    return headers


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    """At most 16; keys `[A-Za-z0-9_.-]{1,63}`; values 1 to 256 visible characters."""
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    for key, value in labels.items():
        check_label(key, value)
    return labels


def check_label(key: str, value: str) -> None:
    if not _LABEL_KEY.fullmatch(key):
        raise ValueError(f"label key '{key}' must be 1 to 63 of A-Z a-z 0-9 _ . -")
    if not 1 <= len(value) <= MAX_LABEL_VALUE:
        raise ValueError(f"label '{key}' must have a value of 1 to {MAX_LABEL_VALUE} characters")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError(f"label '{key}' must not hold control characters")


def parse_label_filter(text: str) -> tuple[str, str]:
    """`name:value` from a query string, checked like a label."""
    key, sep, value = text.partition(":")
    if not sep:
        raise ValueError(f"'{text}' must look like name:value")
    check_label(key, value)
    return key, value
