"""HTTP routes: thin functions that check auth, call Messages and return bodies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import auth
from .messages import Messages
from .runtime import Runtime
from .schemas import (
    DeadLetterList,
    DeleteResponse,
    ErrorBody,
    Health,
    MessageDetail,
    MessageList,
    RedriveResponse,
    ScheduleRequest,
    ScheduleResponse,
)


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def require_token(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(auth.bearer_scheme)],
) -> None:
    auth.check(request, runtime(request).token)


async def messages(request: Request) -> Messages:
    # async on purpose: FastAPI runs plain `def` dependencies in a worker thread.
    return runtime(request).messages


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in (401, 503, *statuses)}


# OpenAPI links: what a client (and schemathesis' stateful phase) can do next with the
# id an answer carries.
_BY_ID = {"message_id": "$response.body#/messageId"}
_SCHEDULED_LINKS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Scheduled.",
        "links": {
            "GetMessage": {"operationId": "getMessage", "parameters": _BY_ID},
            "CancelMessage": {"operationId": "cancelMessage", "parameters": _BY_ID},
        },
    }
}


MessagesDep = Annotated[Messages, Depends(messages)]
MessageId = Annotated[str, Path(min_length=1, max_length=256, description="The message id.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=1024, description="nextCursor of the previous page.")
]

api = APIRouter(dependencies=[Depends(require_token)])
probes = APIRouter()


@api.post(
    "/messages",
    response_model=ScheduleResponse,
    responses={**_errors(409, 413, 422, 429), **_SCHEDULED_LINKS},
    operation_id="scheduleMessage",
)
async def schedule_message(body: ScheduleRequest, ops: MessagesDep) -> ScheduleResponse:
    """Schedule `payload` to be POSTed to `webhookUrl` at `scheduleTo`."""
    return await ops.schedule(body)


@api.get(
    "/messages", response_model=MessageList, responses=_errors(422), operation_id="listMessages"
)
async def list_messages(ops: MessagesDep, limit: Limit = 100, cursor: Cursor = None) -> MessageList:
    """Pending messages in delivery order, a page at a time."""
    return await ops.list_pending(limit=limit, cursor=cursor)


@api.get(
    "/messages/{message_id}",
    response_model=MessageDetail,
    responses=_errors(404, 422),
    operation_id="getMessage",
)
async def get_message(message_id: MessageId, ops: MessagesDep) -> MessageDetail:
    """One message with its payload, attempts and last error."""
    return await ops.get(message_id)


@api.delete(
    "/messages/{message_id}",
    response_model=DeleteResponse,
    responses=_errors(404, 422),
    operation_id="cancelMessage",
)
async def cancel_message(message_id: MessageId, ops: MessagesDep) -> DeleteResponse:
    """Cancel a message, whatever its state. A request already on the wire still arrives."""
    return await ops.cancel(message_id)


@api.get(
    "/dead-letters",
    response_model=DeadLetterList,
    responses=_errors(422),
    operation_id="listDeadLetters",
)
async def list_dead_letters(
    ops: MessagesDep, limit: Limit = 100, cursor: Cursor = None
) -> DeadLetterList:
    """Messages whose delivery failed for good, oldest first, with their last error."""
    return await ops.list_dead(limit=limit, cursor=cursor)


@api.post(
    "/dead-letters/{message_id}/redrive",
    response_model=RedriveResponse,
    responses=_errors(404, 422),
    operation_id="redriveDeadLetter",
)
async def redrive_dead_letter(message_id: MessageId, ops: MessagesDep) -> RedriveResponse:
    """Deliver a dead letter again now, with its attempts reset."""
    return await ops.redrive(message_id)


@api.delete(
    "/dead-letters/{message_id}",
    response_model=DeleteResponse,
    responses=_errors(404, 422),
    operation_id="cancelDeadLetter",
)
async def cancel_dead_letter(message_id: MessageId, ops: MessagesDep) -> DeleteResponse:
    """Drop a dead letter for good."""
    return await ops.cancel_dead(message_id)


@probes.get(
    "/health", response_model=Health, responses={503: {"model": Health}}, operation_id="health"
)
async def health(request: Request) -> JSONResponse:
    """Readiness: 200 while Redis accepts writes and the replica is not draining. No auth."""
    rt = runtime(request)
    condition = await rt.store_condition()
    healthy = condition is None and not rt.draining
    body = Health(
        status="healthy" if healthy else "unhealthy",
        redis="connected" if condition is None else condition.health,  # type: ignore[arg-type]
        leader=rt.is_leader,
        draining=rt.draining,
        version=rt.version,
    )
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


@probes.get(
    "/livez",
    responses={503: {"description": "A background loop has stopped."}},
    operation_id="liveness",
)
async def livez(request: Request) -> JSONResponse:
    """Liveness: 200 while the process and its loops run, whatever Redis does. No auth."""
    stopped = runtime(request).stopped_loops
    if stopped:
        return JSONResponse({"status": "dead", "stoppedLoops": stopped}, status_code=503)
    return JSONResponse({"status": "alive"})


@probes.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 401: {"model": ErrorBody}},
    operation_id="metrics",
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics; needs `Bearer METRICS_TOKEN` only when that is set."""
    rt = runtime(request)
    if rt.metrics_token is not None:
        auth.check(request, rt.metrics_token)
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
