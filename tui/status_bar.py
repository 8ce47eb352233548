"""The one-line header: scenario title, iteration, phase, step k of N, and the loss."""

from __future__ import annotations

from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from tracer import explain

from .panel import DebuggerPanel
from .state import Debugger

PHASE_STYLES = {"forward": "bold black on #7fb3ff", "backward": "bold black on #ffb86c",
                "update": "bold black on #8be28b"}


def status_text(debugger: Debugger) -> Text:
    """``gradstep │ title │ iteration 2 │ BACKWARD 5/23 │ loss 0.2984``."""
    stretch = debugger.moment.stretch  # the outcome is the update's last step
    k, total = debugger.stretch_step(debugger.position)
    network = debugger.network
    text = Text(" gradstep ", "bold")
    text.append("│ ")
    text.append(network.title or network.name, "bold")
    text.append(f" │ iteration {debugger.cycle.iteration} │ ")
    text.append(f" {stretch.upper()} ", PHASE_STYLES[stretch])
    text.append(f" step {k}/{total} │ ")
    cycle = debugger.cycle
    if debugger.update_applied:
        text.append(explain.loss_change(cycle.loss, cycle.loss_after), "bold")
    else:
        text.append(explain.loss_change(cycle.loss))
    words = debugger.predictions()[0]
    if words:
        text.append(f" │ {words}", "italic")
    return text


class StatusBar(DebuggerPanel, Widget):
    """Shows :func:`status_text` on one line; what does not fit is cut after a word, with "…".

    It draws with the Line API: a Static re-renders its text through Textual's content
    pipeline at every step, and the status bar changes at every step.
    """

    DEFAULT_CSS = "StatusBar { height: 1; }"

    def __init__(self, text: str | Text = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.update(text)

    @property
    def plain(self) -> str:
        """What the bar shows (for tests)."""
        return self.text.plain

    def update(self, text: str | Text) -> None:
        """Show ``text`` (a plain string is never read as markup)."""
        self.text = Text(text) if isinstance(text, str) else text
        self.refresh()

    def moved(self, debugger: Debugger) -> None:
        self.update(status_text(debugger))

    def render_line(self, y: int) -> Strip:
        style, width = self.rich_style, self.size.width
        if y:
            return Strip.blank(width, style)
        text = self.text
        if text.cell_len > width:  # cut after a word, with a mark: never half a number
            cut = text.plain.rfind(" ", 0, width - 1)
            text = text[: cut + 1 if cut > 0 else max(width - 1, 0)] + "…"
        strip = Strip(list(text.render(self.app.console))).apply_style(style)
        return strip.crop_extend(0, width, style)
