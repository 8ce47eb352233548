"""The iterations run so far, one row each; choose one to step through its passes again.

A training run adds up to 10,000 iterations at a time, so this is a
:class:`~tui.line_list.LineList`: a row is formatted only when it is drawn.
"""

from __future__ import annotations

from tracer import explain

from .line_list import LineList
from .state import Debugger


def iteration_label(debugger: Debugger, k: int) -> str:
    """``▶ #3    loss 0.298371 → 0.291028`` (▶ on the iteration being viewed)."""
    cycle = debugger.cycles[k]
    mark = "▶ " if k == debugger.viewing else "  "
    return f"{mark}#{cycle.iteration:<4} {explain.loss_change(cycle.loss, cycle.loss_after)}"


class IterationList(LineList):
    """Iterations, the one being viewed highlighted; those whose records were let go to bound
    memory are dimmed (choosing one says so)."""

    class Chosen(LineList.Chosen):
        """The user chose iteration ``index`` (0-based, as ``Debugger.cycles``)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.debugger: Debugger | None = None

    @property
    def count(self) -> int:
        return len(self.debugger.cycles) if self.debugger is not None else 0

    def show(self, debugger: Debugger) -> None:
        self.debugger = debugger
        self.reset(debugger.viewing)

    def row(self, k: int) -> str:
        return iteration_label(self.debugger, k)

    def dimmed(self, k: int) -> bool:
        return k < self.debugger.kept_from
