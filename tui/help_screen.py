"""``?``: every key, and what each panel shows."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

PANELS = [
    ("Graph", "the recorded computation, inputs on the left, the loss on the right. A box shows "
              "a node's name and kind, its value (v) once the forward pass reached it and its "
              "gradient ∂L/∂node (g) once the backward pass did. The highlighted edges carry the "
              "value or gradient of the current step."),
    ("Inspector", "the current step with its numbers: the op's formula, the upstream gradient, "
                  "the local derivative, their chain-rule product, where a value fed several "
                  "places the sum of its gradients, and where an input was broadcast the sum "
                  "back to its shape. In the update phase: each parameter's update."),
    ("Steps", "the whole schedule (F forward, B backward, U update); select one to jump there."),
    ("Parameters", "each parameter's value, gradient, −lr·grad and new value, and the loss "
                   "before → after the update, with its history across iterations."),
]


def key_label(keys: str) -> str:
    names = {"space": "space", "slash": "/", "question_mark": "?", "right": "→", "left": "←",
             "up": "↑", "down": "↓", "enter": "enter", "escape": "esc",
             "less_than_sign": "<", "greater_than_sign": ">", "plus": "+", "equals_sign": "=",
             "minus": "-", "left_square_bracket": "[", "right_square_bracket": "]"}
    return " ".join(names.get(k, k) for k in keys.split(","))


def help_text(bindings: list[Binding]) -> Text:
    """The key table (built from the screen's own bindings) and the panel guide."""
    text = Text()
    text.append("Keys\n", "bold underline")
    for b in bindings:
        text.append(f"  {key_label(b.key):<14}", "bold")
        text.append(f"{b.description}\n")
    text.append("  ctrl+p        ", "bold")
    text.append("command palette: scenarios, jump to a node, themes\n")
    text.append("\nPanels\n", "bold underline")
    for name, what in PANELS:
        text.append(f"  {name}: ", "bold")
        text.append(f"{what}\n")
    text.append("\nPress escape or ? to close.", "dim")
    return text


class HelpScreen(ModalScreen[None]):
    """The help dialog."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help"):
            yield Static(help_text(self.bindings), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
