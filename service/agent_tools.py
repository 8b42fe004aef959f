"""The agent tools: what each one does, the arguments it takes and the operation it calls.

Every tool validates its arguments with the model its HTTP route uses (or one with the
same rules) and calls the same operation (Messages, DeadLetters, Recurring), so a tool
answers what the route answers and refuses what the route refuses, with the same words.
Descriptions are written for a language model choosing and filling in a tool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .responses import (
    BulkDeleteResponse,
    DeadLetterList,
    DeleteResponse,
    MessageDetail,
    MessageList,
    RedriveResponse,
    ScheduleCreated,
    ScheduleDeleted,
    ScheduleList,
    ScheduleResponse,
)
from .runtime import Runtime
from .schemas import RecurringRequest, ScheduleRequest

_UTC = "Times in the answer are ISO-8601 in UTC (they end in Z)."
_PAGING = (
    "At most `limit` rows (1 to 1000, default 100) per call; when `nextCursor` is not null, "
    "call again with it as `cursor` for the next page."
)


class _Arguments(BaseModel):
    # A misspelt argument is refused by name rather than silently ignored.
    model_config = ConfigDict(extra="forbid")


class Page(_Arguments):
    limit: int = Field(default=100, ge=1, le=1000, description="Rows per call, 1 to 1000.")
    cursor: str | None = Field(
        default=None, max_length=1024, description="`nextCursor` of the previous answer."
    )
    labels: dict[str, str] | None = Field(
        default=None,
        description='Only rows carrying every one of these labels, e.g. {"contact": "c-1042"}.',
    )

    @property
    def label_filter(self) -> list[str]:
        """The labels as the `name:value` filters of the HTTP query string."""
        return [f"{name}:{value}" for name, value in (self.labels or {}).items()]


class MessagePage(Page):
    state: Literal["scheduled", "retrying", "in_flight"] | None = Field(
        default=None,
        description="scheduled: never attempted yet; retrying: waiting for a retry after a "
        "failed attempt; in_flight: being sent right now. Omit for all.",
    )


class MessageRef(_Arguments):
    messageId: str = Field(min_length=1, max_length=320, description="The message id.")


class LabelSelector(_Arguments):
    labels: dict[str, str] = Field(
        min_length=1,
        description='Every label a message must carry to be cancelled, e.g. {"contact": "c-1042"}.',
    )

    @property
    def label_filter(self) -> list[str]:
        return [f"{name}:{value}" for name, value in self.labels.items()]


class ScheduleRef(_Arguments):
    scheduleId: str = Field(min_length=1, max_length=256, description="The schedule id.")


async def _schedule_message(rt: Runtime, args: ScheduleRequest) -> ScheduleResponse:
    return await rt.messages.schedule(args)


async def _list_messages(rt: Runtime, args: MessagePage) -> MessageList:
    return await rt.messages.list_pending(
        limit=args.limit, cursor=args.cursor, labels=args.label_filter, state=args.state
    )


async def _get_message(rt: Runtime, args: MessageRef) -> MessageDetail:
    return await rt.messages.get(args.messageId)


async def _cancel_message(rt: Runtime, args: MessageRef) -> DeleteResponse:
    return await rt.messages.cancel(args.messageId)


async def _cancel_by_label(rt: Runtime, args: LabelSelector) -> BulkDeleteResponse:
    return await rt.messages.cancel_labelled(args.label_filter)


async def _list_dead_letters(rt: Runtime, args: Page) -> DeadLetterList:
    labels = args.label_filter
    return await rt.dead_letters.list(limit=args.limit, cursor=args.cursor, labels=labels)


async def _redrive(rt: Runtime, args: MessageRef) -> RedriveResponse:
    return await rt.dead_letters.redrive(args.messageId)


async def _create_schedule(rt: Runtime, args: RecurringRequest) -> ScheduleCreated:
    return await rt.recurring.create(args)


async def _list_schedules(rt: Runtime, args: Page) -> ScheduleList:
    return await rt.recurring.list(limit=args.limit, cursor=args.cursor, labels=args.label_filter)


async def _delete_schedule(rt: Runtime, args: ScheduleRef) -> ScheduleDeleted:
    return await rt.recurring.delete(args.scheduleId)


@dataclass(frozen=True, slots=True)
class AgentTool:
    """One tool: its name and description, its argument and answer models, its operation."""

    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    answer: type[BaseModel]
    operation: Callable[[Runtime, Any], Awaitable[BaseModel]]
    read_only: bool = False
    destructive: bool = False

    async def call(self, runtime: Runtime, arguments: dict[str, Any]) -> BaseModel:
        """Validate the arguments (pydantic's ValidationError when they are wrong), then run."""
        return await self.operation(runtime, self.arguments.model_validate(arguments))


TOOLS: tuple[AgentTool, ...] = (
    AgentTool(
        name="schedule_message",
        title="Schedule a webhook",
        description=(
            "Schedule one HTTP request (a webhook) to be sent once, later: the service sends "
            "`payload` as JSON to `webhookUrl` at `scheduleTo`, or `delay` after now. Use it to "
            "set a reminder or a follow-up, e.g. call a workflow's webhook in three days. Give "
            "exactly one of `scheduleTo`, an ISO-8601 date-time with its UTC offset "
            "(2030-12-25T10:30:00Z, 2030-12-25T07:30:00-03:00; without an offset it is read as "
            "UTC; a time in the past is sent at once), and `delay`, in seconds (90) or as an "
            "ISO-8601 duration (PT90S, PT1H30M, P3D; no years or months). Optional: `id` (your "
            "unique id; omitted, the service makes one), `labels` (name/value pairs to find or "
            'cancel it later, e.g. {"contact": "c-1042"}), `method`, `headers`, `maxAttempts`, '
            "`timeoutSeconds`, `maxLatenessSeconds`, `callbackUrl`, `failureCallbackUrl`. "
            "Answers the `messageId`. A failed delivery is retried with backoff, then kept as a "
            "dead letter."
        ),
        arguments=ScheduleRequest,
        answer=ScheduleResponse,
        operation=_schedule_message,
    ),
    AgentTool(
        name="list_messages",
        title="List pending messages",
        description=(
            "List the messages waiting to be sent, soonest first, with their next attempt time "
            "(`nextRun`), attempts so far and last error. Filter by `labels` (every one must "
            f"match) and `state`. {_PAGING} {_UTC} Use get_message for one message's payload "
            "and attempts."
        ),
        arguments=MessagePage,
        answer=MessageList,
        operation=_list_messages,
        read_only=True,
    ),
    AgentTool(
        name="get_message",
        title="Get one message",
        description=(
            "Get one message by id: its state (pending, in_flight, dead, delivered, "
            "dead_lettered or cancelled), payload, webhook URL, options (header names only, "
            "never their values) and its last 20 delivery attempts with status and error. A "
            "message that has ended stays readable for a while, without its payload. "
            f"{_UTC}"
        ),
        arguments=MessageRef,
        answer=MessageDetail,
        operation=_get_message,
        read_only=True,
    ),
    AgentTool(
        name="cancel_message",
        title="Cancel one message",
        description=(
            "Cancel one message by id, whatever its state, so that it is not sent (a request "
            "already on the wire still arrives). Also removes a dead letter. An unknown id is "
            "an error."
        ),
        arguments=MessageRef,
        answer=DeleteResponse,
        operation=_cancel_message,
        destructive=True,
    ),
    AgentTool(
        name="cancel_messages_by_label",
        title="Cancel messages by label",
        description=(
            "Cancel every pending or in-flight message that carries all the given `labels`, "
            'e.g. {"contact": "c-1042"} once that contact has replied and the follow-ups are '
            "no longer wanted. At least one label is required. Answers how many were cancelled."
        ),
        arguments=LabelSelector,
        answer=BulkDeleteResponse,
        operation=_cancel_by_label,
        destructive=True,
    ),
    AgentTool(
        name="list_dead_letters",
        title="List dead letters",
        description=(
            "List the messages whose delivery failed for good (every attempt used, or an "
            "answer that retrying cannot fix), oldest first, with `lastError` saying why and "
            f"`deadAt`. Filter by `labels`. {_PAGING} {_UTC} Use redrive_dead_letter to send "
            "one again once its cause is fixed."
        ),
        arguments=Page,
        answer=DeadLetterList,
        operation=_list_dead_letters,
        read_only=True,
    ),
    AgentTool(
        name="redrive_dead_letter",
        title="Redrive a dead letter",
        description=(
            "Send a dead letter again now, with its attempts reset to none. Use it after "
            "fixing the cause its `lastError` names. Answers `nextRun`, ISO-8601 in UTC."
        ),
        arguments=MessageRef,
        answer=RedriveResponse,
        operation=_redrive,
    ),
    AgentTool(
        name="create_schedule",
        title="Create a recurring schedule",
        description=(
            "Create a recurring schedule that sends `payload` to `webhookUrl` again and again. "
            "Give exactly one of `cron`, 5 fields (minute hour day-of-month month day-of-week, "
            'e.g. "0 9 * * MON-FRI" for 09:00 on weekdays) read in `timezone` (an IANA name '
            "such as Europe/Berlin; default UTC; daylight saving is handled), and `every`, a "
            "fixed interval in seconds (300) or as an ISO-8601 duration (PT5M), at least 1 s. "
            "Optional: `id`, `startAt` and `endAt` (ISO-8601 date-times), `paused`, `labels` "
            "and the options of schedule_message. Each fire is an ordinary message with id "
            "`<scheduleId>:<fire time in epoch milliseconds>` and the label schedule=<scheduleId>. "
            "Answers the `scheduleId` and the next five fire times, ISO-8601 in UTC. For a "
            "one-off request use schedule_message."
        ),
        arguments=RecurringRequest,
        answer=ScheduleCreated,
        operation=_create_schedule,
    ),
    AgentTool(
        name="list_schedules",
        title="List recurring schedules",
        description=(
            "List the recurring schedules in the order they were created, each with its cron "
            "expression or interval (`every`, in seconds), time zone, paused flag and next fire "
            f"time (`nextRun`). Filter by `labels`. {_PAGING} {_UTC}"
        ),
        arguments=Page,
        answer=ScheduleList,
        operation=_list_schedules,
        read_only=True,
    ),
    AgentTool(
        name="delete_schedule",
        title="Delete a recurring schedule",
        description=(
            "Delete a recurring schedule by id: it fires no more after the answer (a fire "
            "already due or being sent still finishes). To stop a single fire, cancel its "
            "message with cancel_message instead."
        ),
        arguments=ScheduleRef,
        answer=ScheduleDeleted,
        operation=_delete_schedule,
        destructive=True,
    ),
)
