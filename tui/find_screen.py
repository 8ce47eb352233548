"""``/``: find a node by name."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from .state import Debugger


class FindScreen(ModalScreen[int | None]):
    """Type part of a node's name; Enter selects the best match, Escape cancels."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, debugger: Debugger) -> None:
        super().__init__()
        self.debugger = debugger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Find a node by name", classes="dialog-title")
            yield Input(placeholder="e.g. w1, net_h1, loss", id="find-input")
            yield Static("", id="find-matches", markup=False)

    def on_input_changed(self, event: Input.Changed) -> None:
        hits = self.debugger.find(event.value) if event.value.strip() else []
        names = [self.debugger.trace.nodes[k].name for k in hits[:8]]
        more = f" … and {len(hits) - 8} more" if len(hits) > 8 else ""
        text = ", ".join(names) + more if hits else ("no node matches" if event.value else "")
        self.query_one("#find-matches", Static).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        hits = self.debugger.find(event.value)
        if hits:
            self.dismiss(hits[0])
        else:
            self.query_one("#find-matches", Static).update(f"no node matches {event.value!r}")

    def action_cancel(self) -> None:
        self.dismiss(None)
