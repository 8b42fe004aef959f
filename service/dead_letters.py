"""What the API does with dead letters: list (by label too), redrive, drop."""

from __future__ import annotations

from collections.abc import Callable

from . import render
from .cursor import decode_cursor
from .errors import NotFound
from .fields import iso
from .messages import label_filters, next_cursor
from .responses import DeadLetterList, DeleteResponse, RedriveResponse
from .store import Store


class DeadLetters:
    """The operations behind /dead-letters."""

    def __init__(self, *, store: Store, notify: Callable[[int, str], None]) -> None:
        self.store = store
        self.notify = notify

    async def list(self, *, limit: int, cursor: str | None, labels: list[str]) -> DeadLetterList:
        wanted = label_filters(labels)
        page = await self.store.page(
            index="dlbl" if wanted else "dead",
            limit=limit,
            after=decode_cursor(cursor),
            labels=wanted,
        )
        return DeadLetterList(
            deadLetters=[render.dead_letter(row) for row in page.rows],
            count=page.total,
            nextCursor=next_cursor(page),
        )

    async def redrive(self, message_id: str) -> RedriveResponse:
        due = await self.store.redrive(message_id)
        if due is None:
            raise NotFound(f"No dead letter with id '{message_id}'.")
        self.notify(due, message_id)
        return RedriveResponse(messageId=message_id, nextRun=iso(due))

    async def cancel(self, message_id: str) -> DeleteResponse:
        if not await self.store.cancel(message_id, dead_only=True):
            raise NotFound(f"No dead letter with id '{message_id}'.")
        return DeleteResponse(messageId=message_id)
