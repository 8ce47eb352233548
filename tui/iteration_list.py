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
    history = debugger.history
    mark = "▶ " if k == debugger.viewing else "  "
    return (f"{mark}#{history.first + k:<4} "
            f"{explain.loss_change(history.losses[k], history.losses_after[k])}")


class IterationList(LineList):
    """Iterations, the one being viewed highlighted; choosing an old one records it again
    from its checkpoint."""

    class Chosen(LineList.Chosen):
        """The user chose iteration ``index`` (0-based among those run)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.debugger: Debugger | None = None

    @property
    def count(self) -> int:
        return self.debugger.count if self.debugger is not None else 0

    def show(self, debugger: Debugger) -> None:
        self.debugger = debugger
        self.reset(debugger.viewing)

    def row(self, k: int) -> str:
        return iteration_label(self.debugger, k)
