"""Waiting for behaviour instead of sleeping: poll a condition, bounded in time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.02
) -> bool:
    """True as soon as `predicate()` is truthy; its last value's truth after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
