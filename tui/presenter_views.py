"""Presenter views: the update as a large table, the training as a loss curve, each on a key.

Either one takes the graph's place (``U`` and ``T``; the same key again gives the graph back),
in presenter mode or not. The curve is drawn by plotext (through textual-plotext) with labelled
axes; it grows while a training run goes on.
"""

from __future__ import annotations

import math

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import ContentSwitcher, Static
from textual_plotext import PlotextPlot

from tracer import explain

from .panel import DebuggerPanel
from .params_panel import param_rows
from .state import Debugger

VIEWS = {"update": "the update", "training": "the training"}


def update_table(debugger: Debugger) -> Table:
    """Every parameter's value, gradient, −lr·grad and new value as a table, the current
    update's row highlighted; new values appear as the updates are stepped through."""
    cycle = debugger.cycle
    table = Table(title=f"new = value − lr·grad: {cycle.optimizer}", title_style="bold",
                  title_justify="left", expand=True, padding=(0, 2), header_style="bold",
                  show_edge=False)
    for column in ("parameter", "value", "gradient", "−lr·grad", "new"):
        table.add_column(column, justify="left" if column == "parameter" else "right")
    current = debugger.moment.index if debugger.phase == "update" else None  # outcome: none
    for k, row in enumerate(param_rows(debugger)):
        table.add_row(*row, style="reverse bold" if k == current else None)
    return table


def loss_words(debugger: Debugger) -> Text:
    """The loss before the update and, once it is shown, after it."""
    cycle = debugger.cycle
    text = Text(explain.loss_change(cycle.loss), "bold")
    if debugger.update_applied:
        text = Text(explain.loss_change(cycle.loss, cycle.loss_after) + " after the update",
                    "bold")
    else:
        text.append("    (u shows the loss after the update)", "dim")
    return text


def loss_title(history: list[float]) -> str:
    """``loss over 100 iterations: 0.2984 → 0.0353``: the curve's title."""
    runs = len(history) - 1
    first, last = explain.number(history[0], 4), explain.number(history[-1], 4)
    return f"loss over {runs:,} iteration{'s' if runs != 1 else ''}: {first} → {last}"


class UpdateView(VerticalScroll):
    """The update table, large, and the loss before → after."""

    DEFAULT_CSS = """
    UpdateView { padding: 1 4; }
    UpdateView #update-table { text-style: bold; }
    UpdateView #update-loss { margin-top: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="update-table")
        yield Static(id="update-loss")

    def show(self, debugger: Debugger) -> None:
        self.query_one("#update-table", Static).update(update_table(debugger))
        self.query_one("#update-loss", Static).update(loss_words(debugger))


class TrainingView(Vertical):
    """The loss curve over the iterations run so far, with labelled axes."""

    DEFAULT_CSS = """
    TrainingView { padding: 0 1; }
    TrainingView #training-title { height: 1; text-style: bold; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="training-title")
        yield PlotextPlot(id="training-plot")

    def show(self, debugger: Debugger) -> None:
        history = debugger.loss_history()
        shown = [(k, v) for k, v in enumerate(history) if math.isfinite(v)]
        title = loss_title(history)
        if len(history) < 3:
            title += "   (t trains more iterations)"
        self.query_one("#training-title", Static).update(Text(title))
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if shown:
            xs, ys = zip(*shown, strict=True)
            plt.plot(list(xs), list(ys), marker="braille")
            ticks = sorted({round(k * xs[-1] / 4) for k in range(5)})
            plt.xticks(ticks, [f"{t:,}" for t in ticks])  # iterations are whole numbers
        plt.xlabel("iteration")
        plt.ylabel("loss")
        plot.refresh()


class PresenterViews(DebuggerPanel, ContentSwitcher):
    """One of the views, in the graph's place while it is on."""

    def compose(self) -> ComposeResult:
        yield UpdateView(id="update")
        yield TrainingView(id="training")

    def moved(self, debugger: Debugger) -> None:
        """Bring the view on screen up to date (the hidden one waits until it is shown)."""
        if self.current is not None and self.display:
            self.get_child_by_id(self.current).show(debugger)
