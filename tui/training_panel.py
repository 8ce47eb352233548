"""Iterations run so far: the loss curve, and a list to step through any iteration again.

During a training run the panel shows its progress live (Textual's ProgressBar, the iteration,
the loss, iterations per second and the curve growing); the run itself is in a worker.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Sparkline, Static

from tracer import explain

from .iteration_list import IterationList
from .panel import DebuggerPanel
from .state import CURVE_POINTS, Debugger


def progress_text(done: int, total: int, loss: float, rate: float) -> str:
    """``iteration 120 of 1,000 │ loss 0.412700 │ 850 it/s │ esc cancels``."""
    return (f"iteration {done:,} of {total:,} │ loss {explain.loss_value(loss)} │ "
            f"{rate:,.0f} it/s │ esc cancels")


class TrainingPanel(DebuggerPanel, Vertical):
    """``t`` runs more iterations; select one here to step through its passes."""

    def compose(self) -> ComposeResult:
        yield Static(id="training-summary")
        progress = ProgressBar(id="training-progress", show_eta=True)
        progress.display = False
        yield progress
        yield Sparkline([], id="training-curve")
        iterations = IterationList(id="iterations")
        iterations.border_title = "t: train more · [ ]: previous/next"
        yield iterations

    def cycle_changed(self, debugger: Debugger) -> None:
        """The iterations run so far (after a run, or when the view moves to another)."""
        history = debugger.loss_history()
        self.query_one("#training-progress", ProgressBar).display = False
        self.query_one("#training-summary", Static).update(Text(
            f"{debugger.count:,} iteration(s): "
            f"{explain.loss_change(history[0], history[-1])}"))
        self.query_one(Sparkline).data = debugger.loss_curve(CURVE_POINTS)
        self.query_one(IterationList).show(debugger)

    def progress(self, debugger: Debugger, done: int, total: int, loss: float,
                 rate: float) -> None:
        """A run in progress: ``done`` of ``total`` iterations, the last one's ``loss``."""
        bar = self.query_one("#training-progress", ProgressBar)
        bar.display = True
        bar.update(total=total, progress=done)
        self.query_one("#training-summary", Static).update(
            Text(progress_text(done, total, loss, rate)))
        self.query_one(Sparkline).data = debugger.loss_curve(CURVE_POINTS)
