"""Waiting between failed tries of a background step: doubling pauses, capped."""

from __future__ import annotations


class Pause:
    """0.05 s, 0.1 s, 0.2 s, ... up to `cap`; back to the first after a success."""

    def __init__(self, *, first: float = 0.05, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self._current = first

    def next(self) -> float:
        """The pause to take now; the one after it doubles."""
        current = self._current
        self._current = min(current * 2, self.cap)
        return current

    def reset(self) -> None:
        self._current = self.first
