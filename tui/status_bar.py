"""The one-line header: scenario title, iteration, phase, step k of N, and the loss."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tracer import explain

from .state import Debugger

PHASE_STYLES = {"forward": "bold black on #7fb3ff", "backward": "bold black on #ffb86c",
                "update": "bold black on #8be28b"}


def status_text(debugger: Debugger) -> Text:
    """``gradstep │ title │ iteration 2 │ BACKWARD 5/23 │ loss 0.2984``."""
    start, end = debugger.phase_bounds(debugger.phase)
    k, total = debugger.position - start + 1, end - start + 1
    network = debugger.network
    text = Text(" gradstep ", "bold")
    text.append("│ ")
    text.append(network.title or network.name, "bold")
    text.append(f" │ iteration {debugger.cycle.iteration} │ ")
    text.append(f" {debugger.phase.upper()} ", PHASE_STYLES[debugger.phase])
    text.append(f" step {k}/{total} │ loss {explain.number(debugger.cycle.loss, 6)}")
    if debugger.update_applied:
        text.append(f" → {explain.number(debugger.cycle.loss_after, 6)}", "bold")
    words = debugger.predictions()[0]
    if words:
        text.append(f" │ {words}", "italic")
    return text


class StatusBar(Static):
    """Shows :func:`status_text`."""

    def show(self, debugger: Debugger) -> None:
        self.update(status_text(debugger), layout=False)  # always one line
