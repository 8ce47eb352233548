"""Parameters: value, gradient, −lr·grad and new value; then the loss before → after."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Sparkline, Static

from tracer import explain
from tracer.network import Outcome

from .state import Debugger


def param_rows(debugger: Debugger) -> list[tuple[str, str, str, str, str]]:
    """One row per parameter: name, value, gradient, change, new value, as known now."""
    rows = []
    state = debugger.node_state
    by_name = {n.name: n for n in debugger.trace.params}
    applied = debugger.phase == "update"
    for k, update in enumerate(debugger.cycle.updates):
        node = by_name.get(update.name)
        grad_known = node is None or state(node.id).grad_known
        shown = applied and (debugger.update_applied or k <= debugger.moment.index)
        rows.append((update.name, explain.short(update.before),
                     explain.short(update.grad) if grad_known else "·",
                     explain.short(update.change) if grad_known else "·",
                     explain.short(update.after) if shown else "·"))
    return rows


def loss_line(debugger: Debugger) -> Text:
    cycle = debugger.cycle
    text = Text(f"loss {explain.number(cycle.loss, 6)}")
    if isinstance(debugger.moment.record, Outcome):
        text.append(f" → {explain.number(cycle.loss_after, 6)} after the update", "bold")
    history = debugger.loss_history()
    if len(history) > 2:
        text.append(f"   history: {' → '.join(explain.number(v, 4) for v in history[-5:])}",
                    "dim")
    return text


class ParamsPanel(Vertical):
    """The parameter table, the loss line and a sparkline of the loss across iterations."""

    def compose(self) -> ComposeResult:
        table = DataTable(id="params-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("param", "value", "grad", "−lr·grad", "new")
        yield table
        yield Static(id="loss-line")
        yield Sparkline([], id="loss-spark")

    _shown: tuple = ()

    def show(self, debugger: Debugger) -> None:
        rows = param_rows(debugger)
        loss = loss_line(debugger)
        history = debugger.loss_history()
        cursor = debugger.moment.index if debugger.phase == "update" else None
        if (rows, loss.plain, history, cursor) == self._shown:
            return  # most steps change nothing here: skip the table's costly rebuild
        self._shown = (rows, loss.plain, history, cursor)
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            table.add_row(*(Text(cell, no_wrap=True, overflow="ellipsis") for cell in row))
        if cursor is not None and cursor < len(rows):
            table.move_cursor(row=cursor)
        self.query_one("#loss-line", Static).update(loss, layout=False)
        self.query_one(Sparkline).data = history
