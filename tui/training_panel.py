"""Iterations run so far: the loss curve, and a list to step through any iteration again."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from tracer import explain

from .iteration_list import IterationList
from .panel import DebuggerPanel
from .state import Debugger


class TrainingPanel(DebuggerPanel, Vertical):
    """``t`` runs more iterations; select one here to step through its passes."""

    def compose(self) -> ComposeResult:
        yield Static(id="training-summary")
        yield Sparkline([], id="training-curve")
        iterations = IterationList(id="iterations")
        iterations.border_title = "t: train more · [ ]: previous/next"
        yield iterations

    def cycle_changed(self, debugger: Debugger) -> None:
        history = debugger.loss_history()
        count, kept = len(debugger.cycles), len(debugger.cycles) - debugger.kept_from
        # Past the memory bound only the latest iterations can be stepped through again.
        kept_note = "" if kept == count else f", the last {kept:,} kept"
        self.query_one("#training-summary", Static).update(Text(
            f"{count:,} iteration(s){kept_note}: "
            f"{explain.loss_change(history[0], history[-1])}"))
        self.query_one(Sparkline).data = debugger.loss_curve()
        self.query_one(IterationList).show(debugger)
