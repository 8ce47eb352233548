"""The one-line header: scenario title, iteration, phase, step k of N, and the loss."""

from __future__ import annotations

from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from tracer import explain

from .graph_canvas import cut
from .panel import DebuggerPanel
from .quiz import screen_quiz
from .state import Debugger

PHASE_STYLES = {"forward": "bold black on #7fb3ff", "backward": "bold black on #ffb86c",
                "update": "bold black on #8be28b"}


def status_text(debugger: Debugger, width: int | None = None, score: str | None = None
                ) -> Text:
    """``gradstep │ title │ iteration 2 │ BACKWARD 5/23 │ loss 0.2984``.

    In ``width`` cells the step and the loss stay: the title is shortened first (cut with
    ``…``), then the program's name and the word "iteration" go. A quiz's ``score`` follows
    the loss.
    """
    stretch = debugger.moment.stretch  # the outcome is the update's last step
    k, total = debugger.stretch_step(debugger.position)
    network = debugger.network
    title = network.title or network.name
    iteration = f"iteration {debugger.cycle.iteration}"
    name = " gradstep │ "
    cycle = debugger.cycle
    state = Text(f" {stretch.upper()} ", PHASE_STYLES[stretch])
    state.append(f" step {k}/{total} │ ")
    # The loss (and the prediction) exist once the forward pass has reached them.
    known = stretch != "forward" or k == total
    if debugger.update_applied:
        state.append(explain.loss_change(cycle.loss, cycle.loss_after), "bold")
    else:
        state.append(explain.loss_change(cycle.loss) if known else "loss ·")
    if score:
        state.append(f" │ {score}", "bold")
    if width is not None:
        width -= 2  # room for the " …" that says something was cut after the loss

        def needed() -> int:
            return len(name) + len(title) + len(iteration) + 6 + state.cell_len

        if needed() > width:
            title = cut(title, max(width - needed() + len(title), 8))
        if needed() > width:
            name, iteration = " ", f"#{debugger.cycle.iteration}"
        if needed() > width:
            title = cut(title, max(width - needed() + len(title), 1))
    text = Text(name, "bold")
    text.append(title, "bold")
    text.append(f" │ {iteration} │ ")
    text.append_text(state)
    # The words describe the same moment as the loss: after the update once it is applied.
    before, after = debugger.predictions()
    words = None if not known else after if debugger.update_applied else before
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

    _debugger: Debugger | None = None

    def moved(self, debugger: Debugger) -> None:
        self._debugger = debugger
        quiz = screen_quiz(self)
        self.update(status_text(debugger, self.size.width or None,
                                quiz.score() if quiz is not None else None))

    def on_resize(self) -> None:
        if self._debugger is not None:
            self.moved(self._debugger)

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
