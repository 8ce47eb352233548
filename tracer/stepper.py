"""A cursor over recorded steps. Stepping back moves the cursor; nothing is recomputed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Stepper(Generic[T]):
    """Walk a sequence of records: next, previous, go to, first, last, run until.

    ``position`` is the index of the current record, from 0 to ``len(records) - 1``.
    """

    def __init__(self, records: Sequence[T], position: int = 0):
        if not records:
            raise ValueError("nothing to step through: the record list is empty")
        self.records = records
        self.position = 0
        self.goto(position)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def current(self) -> T:
        return self.records[self.position]

    @property
    def at_start(self) -> bool:
        return self.position == 0

    @property
    def at_end(self) -> bool:
        return self.position == len(self.records) - 1

    def goto(self, position: int) -> T:
        """Move to ``position`` (negative counts from the end, as in Python); clamp to the ends."""
        if position < 0:
            position += len(self.records)
        self.position = max(0, min(position, len(self.records) - 1))
        return self.current

    def next(self) -> T:
        return self.goto(self.position + 1)

    def prev(self) -> T:
        return self.goto(max(self.position - 1, 0))

    def first(self) -> T:
        return self.goto(0)

    def last(self) -> T:
        return self.goto(len(self.records) - 1)

    def run_until(self, stop: Callable[[T], bool], reverse: bool = False) -> bool:
        """Step (backwards if ``reverse``) until ``stop(record)`` holds; stay at the end if never.

        Returns whether it stopped because the predicate held. The record it starts on is not
        tested, so pressing *continue* on a breakpoint moves past it.
        """
        step = -1 if reverse else 1
        k = self.position + step
        while 0 <= k < len(self.records):
            if stop(self.records[k]):
                self.position = k
                return True
            k += step
        self.position = 0 if reverse else len(self.records) - 1
        return False
