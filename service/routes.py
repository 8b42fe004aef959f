"""API routes: thin functions that check the token, call Messages or DeadLetters, answer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials

from . import auth
from .dead_letters import DeadLetters
from .messages import Messages
from .openapi import error_responses as _errors
from .recurring import Recurring
from .responses import (
    BatchResponse,
    BulkDeleteResponse,
    DeadLetterList,
    DeleteResponse,
    MessageDetail,
    MessageList,
    RedriveResponse,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleDetail,
    ScheduleList,
    ScheduleResponse,
)
from .runtime import Runtime
from .schemas import BatchRequest, RecurringRequest, ScheduleRequest


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def require_token(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(auth.bearer_scheme)],
) -> None:
    auth.check(request, runtime(request).token)


# async on purpose: FastAPI runs plain `def` dependencies in a worker thread.
async def messages(request: Request) -> Messages:
    return runtime(request).messages


async def dead_letters(request: Request) -> DeadLetters:
    return runtime(request).dead_letters


# OpenAPI links: what a client (and schemathesis' stateful phase) can do next with the
# id an answer carries.
_BY_ID = {"message_id": "$response.body#/messageId"}
_SCHEDULED_LINKS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Scheduled: stored in Redis before this answer, so it survives restarts.",
        "links": {
            "GetMessage": {"operationId": "getMessage", "parameters": _BY_ID},
            "CancelMessage": {"operationId": "cancelMessage", "parameters": _BY_ID},
            "PatchMessage": {"operationId": "patchMessage", "parameters": _BY_ID},
        },
    }
}

MessagesDep = Annotated[Messages, Depends(messages)]
DeadLettersDep = Annotated[DeadLetters, Depends(dead_letters)]
# Longer than an id (256): callbacks and fires have ids derived from another id.
MessageId = Annotated[
    str,
    Path(
        min_length=1, max_length=320, description="The message id.", examples=["unique-message-id"]
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.", examples=[100])]
Cursor = Annotated[
    str | None,
    Query(
        max_length=1024,
        description="nextCursor of the previous page.",
        examples=["MTkyNDMzODYwMDAwMDp1bmlxdWUtbWVzc2FnZS1pZA"],
    ),
]
Labels = Annotated[
    list[str],
    Query(
        alias="label",
        max_length=16,
        description="`name:value`; repeat it and every label must match.",
        examples=[["contact:c-1042"]],
    ),
]
StateFilter = Annotated[
    Literal["scheduled", "retrying", "in_flight"] | None,
    Query(
        description="Only messages never attempted, waiting for a retry, or in flight.",
        examples=["scheduled"],
    ),
]

api = APIRouter(dependencies=[Depends(require_token)])


@api.post(
    "/messages",
    response_model=ScheduleResponse,
    responses={**_errors(409, 413, 422, 429), **_SCHEDULED_LINKS},
    operation_id="scheduleMessage",
    tags=["messages"],
)
async def schedule_message(body: ScheduleRequest, ops: MessagesDep) -> ScheduleResponse:
    """Schedule `payload` to be sent to `webhookUrl` at `scheduleTo` (or after `delay`)."""
    return await ops.schedule(body)


@api.post(
    "/messages/batch",
    response_model=BatchResponse,
    responses=_errors(413, 422),
    operation_id="scheduleMessages",
    response_description="One result per item, in request order.",
    tags=["messages"],
)
async def schedule_messages(body: BatchRequest, ops: MessagesDep) -> BatchResponse:
    """Schedule up to 1,000 messages in one request; each succeeds or fails on its own."""
    return await ops.schedule_batch(body)


@api.get(
    "/messages",
    response_model=MessageList,
    responses=_errors(422),
    operation_id="listMessages",
    response_description="A page of pending messages, soonest first.",
    tags=["messages"],
)
async def list_messages(
    ops: MessagesDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    labels: Labels = [],  # noqa: B006 (FastAPI copies query defaults)
    state: StateFilter = None,
) -> MessageList:
    """Pending messages in delivery order, a page at a time, by label and state."""
    return await ops.list_pending(limit=limit, cursor=cursor, labels=labels, state=state)


@api.delete(
    "/messages",
    response_model=BulkDeleteResponse,
    responses=_errors(422),
    operation_id="cancelMessagesByLabel",
    response_description="How many messages were cancelled.",
    tags=["messages"],
)
async def cancel_messages_by_label(ops: MessagesDep, labels: Labels = []) -> BulkDeleteResponse:  # noqa: B006
    """Cancel every pending or in-flight message carrying all the given labels."""
    return await ops.cancel_labelled(labels)


@api.get(
    "/messages/{message_id}",
    response_model=MessageDetail,
    responses=_errors(404, 422),
    operation_id="getMessage",
    response_description="The message, its options (header names only) and its last attempts.",
    tags=["messages"],
)
async def get_message(message_id: MessageId, ops: MessagesDep) -> MessageDetail:
    """One message with its payload and attempts; a finished one while history keeps it."""
    return await ops.get(message_id)


@api.patch(
    "/messages/{message_id}",
    response_model=MessageDetail,
    responses=_errors(404, 409, 413, 422),
    operation_id="patchMessage",
    response_description="The message as changed.",
    tags=["messages"],
)
async def patch_message(
    message_id: MessageId,
    ops: MessagesDep,
    changes: Annotated[
        dict[str, Any],
        Body(
            description="A JSON merge patch (RFC 7396): members given replace, null removes.",
            examples=[{"delay": "PT2H", "labels": {"step": "reminder-2"}}],
        ),
    ],
) -> MessageDetail:
    """Change a pending message: any field but `id`; 409 while it is being delivered."""
    return await ops.patch(message_id, changes)


@api.delete(
    "/messages/{message_id}",
    response_model=DeleteResponse,
    responses=_errors(404, 422),
    operation_id="cancelMessage",
    response_description="Cancelled.",
    tags=["messages"],
)
async def cancel_message(message_id: MessageId, ops: MessagesDep) -> DeleteResponse:
    """Cancel a message, whatever its state. A request already on the wire still arrives."""
    return await ops.cancel(message_id)


@api.get(
    "/dead-letters",
    response_model=DeadLetterList,
    responses=_errors(422, resource="dead letter"),
    operation_id="listDeadLetters",
    response_description="A page of dead letters, oldest first.",
    tags=["dead letters"],
)
async def list_dead_letters(
    ops: DeadLettersDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    labels: Labels = [],  # noqa: B006
) -> DeadLetterList:
    """Messages whose delivery failed for good, oldest first, with their last error."""
    return await ops.list(limit=limit, cursor=cursor, labels=labels)


@api.post(
    "/dead-letters/{message_id}/redrive",
    response_model=RedriveResponse,
    responses=_errors(404, 422, resource="dead letter"),
    operation_id="redriveDeadLetter",
    response_description="Due again now, attempts reset.",
    tags=["dead letters"],
)
async def redrive_dead_letter(message_id: MessageId, ops: DeadLettersDep) -> RedriveResponse:
    """Deliver a dead letter again now, with its attempts reset."""
    return await ops.redrive(message_id)


@api.delete(
    "/dead-letters/{message_id}",
    response_model=DeleteResponse,
    responses=_errors(404, 422, resource="dead letter"),
    operation_id="deleteDeadLetter",
    response_description="Dropped.",
    tags=["dead letters"],
)
async def cancel_dead_letter(message_id: MessageId, ops: DeadLettersDep) -> DeleteResponse:
    """Drop a dead letter for good (its history says dead_lettered)."""
    return await ops.cancel(message_id)


async def recurring(request: Request) -> Recurring:
    return runtime(request).recurring


RecurringDep = Annotated[Recurring, Depends(recurring)]
ScheduleId = Annotated[
    str,
    Path(min_length=1, max_length=256, description="The schedule id.", examples=["weekday-report"]),
]


@api.post(
    "/schedules",
    response_model=ScheduleCreated,
    responses=_errors(409, 413, 422, resource="schedule"),
    operation_id="createSchedule",
    response_description="Created, with its next five fire times.",
    tags=["schedules"],
)
async def create_schedule(body: RecurringRequest, ops: RecurringDep) -> ScheduleCreated:
    """Create a recurring schedule: a cron expression in a time zone, or a fixed interval."""
    return await ops.create(body)


@api.get(
    "/schedules",
    response_model=ScheduleList,
    responses=_errors(422, resource="schedule"),
    operation_id="listSchedules",
    response_description="A page of schedules, in the order they were created.",
    tags=["schedules"],
)
async def list_schedules(
    ops: RecurringDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    labels: Labels = [],  # noqa: B006
) -> ScheduleList:
    """Recurring schedules in the order they were created, a page at a time."""
    return await ops.list(limit=limit, cursor=cursor, labels=labels)


@api.get(
    "/schedules/{schedule_id}",
    response_model=ScheduleDetail,
    responses=_errors(404, 422, resource="schedule"),
    operation_id="getSchedule",
    response_description="The schedule, its next runs and fire counts.",
    tags=["schedules"],
)
async def get_schedule(schedule_id: ScheduleId, ops: RecurringDep) -> ScheduleDetail:
    """One schedule: its definition (header names only), next runs and fire counts."""
    return await ops.get(schedule_id)


@api.patch(
    "/schedules/{schedule_id}",
    response_model=ScheduleDetail,
    responses=_errors(404, 409, 413, 422, resource="schedule"),
    operation_id="patchSchedule",
    response_description="The schedule as changed.",
    tags=["schedules"],
)
async def patch_schedule(
    schedule_id: ScheduleId,
    ops: RecurringDep,
    changes: Annotated[
        dict[str, Any],
        Body(
            description="A JSON merge patch (RFC 7396): members given replace, null removes.",
            examples=[{"paused": True}],
        ),
    ],
) -> ScheduleDetail:
    """Change a schedule ({"paused": true} pauses it); takes effect from the next fire."""
    return await ops.patch(schedule_id, changes)


@api.delete(
    "/schedules/{schedule_id}",
    response_model=ScheduleDeleted,
    responses=_errors(404, 422, resource="schedule"),
    operation_id="deleteSchedule",
    response_description="Deleted: no fire after this answer.",
    tags=["schedules"],
)
async def delete_schedule(schedule_id: ScheduleId, ops: RecurringDep) -> ScheduleDeleted:
    """Delete a schedule: no fire after the answer; fires already due or in flight finish."""
    return await ops.delete(schedule_id)
