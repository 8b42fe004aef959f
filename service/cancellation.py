"""Stopping background loops reliably when they are cancelled."""

from __future__ import annotations

import asyncio


def reraise_if_cancelling() -> None:
    """Raise CancelledError if the current task was asked to stop.

    A cancel that lands inside a Redis call can be swallowed on the way (its own
    timeouts and connection clean-up catch it) or surface as another error. Loops that
    must stay alive call this once per turn and in their error handlers, so they still
    stop when they are cancelled.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
