"""The narration bar above the graph: the current step in plain English."""

from __future__ import annotations

from tracer.narration import narrate

from .panel import DebuggerPanel
from .quiz import Quiz, screen_quiz
from .repaint import TextPanel
from .state import Debugger


def narration_text(debugger: Debugger, quiz: Quiz | None = None) -> str:
    """The narration bar: the current step in plain English (kept back while a quiz asks)."""
    ask = quiz.current(debugger) if quiz is not None else None
    if ask is not None:  # the narration would give the answer away: ask instead
        return f"Quiz: {ask.question}  (a: answer, n: reveal)"
    before, after = debugger.predictions()
    return narrate(debugger.cycle, debugger.moment, prediction=before, prediction_after=after)


class NarrationBar(DebuggerPanel, TextPanel, can_focus=False):
    """:func:`narration_text` above the graph.

    Its height comes from tui/debugger_screen.tcss, so a new step repaints the bar alone. A
    narration that needs more lines makes it grow, by at most ``MAX_GROWTH`` lines and to at
    most a quarter of the terminal's height (beyond that it scrolls), and it stays that tall
    until the terminal is resized or presenter mode is toggled: the screen is laid out again
    only the first time a longer narration appears, and on any terminal of ordinary size no
    narration is cut off for someone who cannot scroll it (the bar never takes focus).
    """

    MAX_GROWTH = 4
    _fitted_for: tuple | None = None  # (screen size, presenter mode) the growth is for
    _base = 0  # the stylesheet's height, outer

    def moved(self, debugger: Debugger) -> None:
        self.show_text(narration_text(debugger, screen_quiz(self)))

    def fit(self, lines: int) -> None:
        if not self.outer_size.height:
            return  # not laid out yet
        key = (self.screen.size, self.screen.has_class("-present"))
        if key != self._fitted_for:
            self._fitted_for = key
            if self.styles.min_height is not None:
                self.styles.min_height = None
                self.call_after_refresh(self._wrap)  # again, at the stylesheet's height
                return
        if self.styles.min_height is None:
            self._base = self.outer_size.height
        chrome = self.outer_size.height - self.scrollable_content_region.height
        # at most MAX_GROWTH lines more, and never past a quarter of a small terminal
        limit = max(self._base, min(self._base + self.MAX_GROWTH, self.screen.size.height // 4))
        target = min(lines + chrome, limit)
        if target > self.outer_size.height:
            self.styles.min_height = target
