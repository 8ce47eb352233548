"""Parameters: value, gradient, −lr·grad and new value; then the loss before → after."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from tracer import explain

from .panel import DebuggerPanel
from .params_table import ParamsTable
from .state import CURVE_POINTS, Debugger


def param_cells(debugger: Debugger) -> list[tuple[str, str, str, str, str]]:
    """Every parameter's row with everything known (formatted once per cycle: a network of
    thousands of parameters would otherwise format them all at every step)."""
    return [(u.name, explain.short(u.before), explain.short(u.grad), explain.short(u.change),
             explain.short(u.after)) for u in debugger.cycle.updates]


def param_rows(debugger: Debugger, cells: list | None = None
               ) -> list[tuple[str, str, str, str, str]]:
    """One row per parameter: name, value, gradient, change, new value, as known now.

    ``cells`` is :func:`param_cells` of the same cycle, if the caller keeps it.
    """
    cells = param_cells(debugger) if cells is None else cells
    rows = []
    state = debugger.node_state
    done = debugger.cycle.updates_done(debugger.moment)
    for k, (update, (name, before, grad, change, after)) in enumerate(
            zip(debugger.cycle.updates, cells, strict=True)):
        grad_known = update.node is None or state(update.node).grad_known
        rows.append((name, before, grad if grad_known else "·", change if grad_known else "·",
                     after if k < done else "·"))
    return rows


def loss_line(debugger: Debugger) -> Text:
    cycle = debugger.cycle
    if debugger.update_applied:
        text = Text(f"{explain.loss_change(cycle.loss, cycle.loss_after)} after the update",
                    "bold")
    else:
        text = Text(explain.loss_change(cycle.loss))
    history = debugger.loss_history()
    if len(history) > 2:
        text.append(f"   history: {explain.loss_trail(history[-5:])}", "dim")
    return text


class ParamsPanel(DebuggerPanel, Vertical):
    """The parameter table, the loss line and a sparkline of the loss across iterations."""

    def compose(self) -> ComposeResult:
        yield ParamsTable(id="params-table")
        yield Static(id="loss-line")
        yield Sparkline([], id="loss-spark")

    _shown: tuple = ()
    _cells: tuple = (None, [])  # (cycle, param_cells of it)
    _waiting: Debugger | None = None  # shown while the tab was hidden: fill it when it shows

    def moved(self, debugger: Debugger) -> None:
        # Hidden (another tab is open): the rows of thousands of parameters are made when the
        # tab is opened, not at every step nor before the graph's first paint.
        if not all(node.display for node in self.ancestors_with_self if hasattr(node, "display")):
            self._waiting = debugger
            return
        self._waiting = None
        if self._cells[0] is not debugger.cycle:
            self._cells = (debugger.cycle, param_cells(debugger))
        rows = param_rows(debugger, self._cells[1])
        loss = loss_line(debugger)
        # what the curve shows changes only with the iterations run and the latest losses
        history = (debugger.count, debugger.history.losses[-1], debugger.history.losses_after[-1])
        cursor = debugger.moment.index if debugger.phase == "update" else None
        if (rows, loss.plain, history, cursor) == self._shown:
            return  # most steps change nothing here
        self._shown = (rows, loss.plain, history, cursor)
        self.query_one(ParamsTable).show(rows, cursor if cursor is not None and cursor < len(rows)
                                         else None)
        self.query_one("#loss-line", Static).update(loss, layout=False)
        self.query_one(Sparkline).data = debugger.loss_curve(CURVE_POINTS)

    def on_show(self) -> None:
        if self._waiting is not None:
            self.moved(self._waiting)
