"""Iterations run so far: the loss curve, and a list to step through any iteration again."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Sparkline, Static

from tracer import explain

from .state import Debugger


def iteration_label(debugger: Debugger, k: int) -> Text:
    cycle = debugger.cycles[k]
    mark = "▶ " if k == debugger.viewing else "  "
    return Text(f"{mark}#{cycle.iteration:<4} loss {explain.number(cycle.loss, 5)} → "
                f"{explain.number(cycle.loss_after, 5)}", no_wrap=True)


class TrainingPanel(Vertical):
    """``t`` runs more iterations; select one here to step through its passes."""

    def compose(self) -> ComposeResult:
        yield Static(id="training-summary")
        yield Sparkline([], id="training-curve")
        yield OptionList(id="iterations")

    def show(self, debugger: Debugger) -> None:
        history = debugger.loss_history()
        self.query_one("#training-summary", Static).update(Text(
            f"{len(debugger.cycles)} iteration(s): loss {explain.number(history[0], 5)} → "
            f"{explain.number(history[-1], 5)}   (t: train more, [ ]: previous/next)"),
            layout=False)
        self.query_one(Sparkline).data = debugger.loss_curve()
        options = self.query_one(OptionList)
        options.set_options(iteration_label(debugger, k) for k in range(len(debugger.cycles)))
        options.highlighted = debugger.viewing
