"""The service's errors and their one mapping to HTTP.

    ServiceError              base; carries status, code and a message for the caller
    +-- Unauthorized          401  missing or wrong Bearer token
    +-- NotFound              404  no such message (or dead letter)
    +-- Conflict              409  a message with this id exists
    +-- PayloadTooLarge       413  body over MAX_PAYLOAD_BYTES (sent by the BodyLimit middleware)
    +-- InvalidInput          422  input that parsed but breaks a rule (the message says which)
    +-- QuotaExceeded         429  MAX_PENDING_MESSAGES or MAX_PENDING_BYTES reached
    +-- Unavailable           503  the store cannot serve the request now; `code` says why

Redis errors become Unavailable with a code per cause (store_errors.py); validation
errors become 422 with one line per field; anything else is a bug: logged with its
traceback and answered 500 in the same shape.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .store_errors import STORE_ERRORS, classify, store_log

log = logging.getLogger(__name__)


class ServiceError(Exception):
    status = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        if code is not None:
            self.code = code

    def body(self, **extra: Any) -> bytes:
        return error_body(self.message, self.code, **extra)


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class InvalidInput(ServiceError):
    status = 422
    code = "invalid_request"

    @classmethod
    def field(cls, field: str, message: str) -> InvalidInput:
        """The error of one field, in the shape validation errors have."""
        row = {"field": field, "message": message}
        return cls(f"Invalid request: {field}: {message}", errors=[row])


class QuotaExceeded(ServiceError):
    status = 429
    code = "quota_exceeded"


class Unavailable(ServiceError):
    status = 503
    code = "unavailable"


def error_body(message: str, code: str, **extra: Any) -> bytes:
    """The JSON bytes of an error response (also used by the ASGI middlewares)."""
    return orjson.dumps({"detail": message, "code": code, **extra})


_BODY_NOT_JSON = {"field": "body", "message": "is not valid UTF-8 JSON"}
_NAMED = re.compile(r"([A-Za-z]+): (.+)", re.DOTALL)
_HEADERS = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}


def _response(status: int, message: str, code: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"detail": message, "code": code, **extra}
    return JSONResponse(body, status_code=status, headers=_HEADERS.get(status))


def field_errors(items: Sequence[Any]) -> list[dict[str, str]]:
    """One {field, message} row per validation error (pydantic's or FastAPI's)."""
    rows = []
    for item in items:
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        field = ".".join(location) or "body"
        message = str(item.get("msg", "is invalid")).removeprefix("Value error, ")
        if not location and (named := _NAMED.fullmatch(message)):
            # A rule across fields says which field it is about: "delay: ...".
            field, message = named.group(1), named.group(2)
        if item.get("type") == "json_invalid":
            field, message = "body", f"is not valid JSON ({item.get('ctx', {}).get('error', '')})"
        elif item.get("type") == "model_attributes_type" and field == "body":
            message = "must be a JSON object sent with 'Content-Type: application/json'"
        rows.append({"field": field, "message": message})
    return rows


async def _on_service_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    if error.errors is not None:
        return _response(error.status, error.message, error.code, errors=error.errors)
    return _response(error.status, error.message, error.code)


def summarise(rows: list[dict[str, str]]) -> str:
    return "Invalid request: " + "; ".join(f"{row['field']}: {row['message']}" for row in rows)


async def _on_validation(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    rows = field_errors(error.errors())
    return _response(422, summarise(rows), "invalid_request", errors=rows)


async def _on_redis_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, STORE_ERRORS)
    condition = classify(error)
    if condition is None:  # a reply the service does not expect: a bug, not an outage
        return await _on_bug(request, error)
    store_log.note(condition, error)
    request.app.state.runtime.metrics.store_errors.labels(condition.code).inc()
    return await _on_service_error(request, Unavailable(condition.advice, code=condition.code))


async def _on_bug(request: Request, error: Exception) -> JSONResponse:
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=error)
    message = "Internal error: this is a bug in the service, not in your request."
    return _response(ServiceError.status, message, ServiceError.code)


async def _on_http(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:
        # FastAPI's answer to a body it cannot decode at all (e.g. not UTF-8): one shape, 422.
        message = "Invalid request: body: is not valid JSON (it must be UTF-8 encoded JSON)"
        return _response(422, message, "invalid_request", errors=[_BODY_NOT_JSON])
    codes = {404: "not_found", 405: "method_not_allowed", 413: PayloadTooLarge.code}
    return _response(error.status_code, str(error.detail), codes.get(error.status_code, "error"))


def install(app: FastAPI) -> None:
    """Map every error the service raises to its status and the one body shape."""
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    for kind in STORE_ERRORS:
        app.add_exception_handler(kind, _on_redis_error)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_bug)
