"""The schedule: every forward, backward and update step, the current one highlighted.

A network of 5,000 nodes has over 10,000 steps: the list is a :class:`~tui.line_list.LineList`,
which draws only the rows in view.
"""

from __future__ import annotations

from tracer import explain

from .line_list import LineList
from .panel import DebuggerPanel
from .state import Debugger

PHASE_MARK = {"forward": "F", "backward": "B", "update": "U", "outcome": "U"}


def step_label(debugger: Debugger, position: int) -> str:
    """One line naming a step: ``F 3 mul_1 = w1 · i1``, ``B 5 ∂L/∂w1``, ``U w1``."""
    trace, moment = debugger.trace, debugger.timeline[position]
    if moment.phase == "forward":
        what = explain.expression(trace, trace.nodes[moment.record.node])
    elif moment.phase == "backward":
        what = explain.grad_name(trace, moment.record.node)
    elif moment.phase == "update":
        what = f"update {moment.record.name}"
    else:
        what = "loss after the update"
    return f"{PHASE_MARK[moment.phase]} {debugger.stretch_step(position)[0]:>3} {what}"


def step_mark(k: int, position: int) -> str:
    """``✓`` for a step already taken, ``▶`` for the current one, ``·`` for the rest."""
    return "✓ " if k < position else ("▶ " if k == position else "· ")


class StepList(DebuggerPanel, LineList):
    """Select a step to jump to it; steps already taken are marked ✓ (and dimmed).

    A row's label is formatted when it is first drawn, and its mark comes from the cursor at
    drawing time, so a step or a jump of any length repaints only the visible rows.
    """

    class Chosen(LineList.Chosen):
        """The user chose step ``index`` (a timeline position) with enter or a click."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.debugger: Debugger | None = None
        self._marked: int | None = None  # the cursor position the rows were last drawn for
        self._labels: dict[int, str] = {}

    @property
    def count(self) -> int:
        return len(self.debugger.timeline) if self.debugger is not None else 0

    def cycle_changed(self, debugger: Debugger) -> None:
        """Show ``debugger``'s timeline (once per cycle)."""
        self.debugger = debugger
        self._marked = debugger.position
        self._labels = {}
        self.reset(debugger.position)

    def moved(self, debugger: Debugger) -> None:
        """The cursor moved: the marks follow at drawing time, only the view needs to move."""
        if self.debugger is None:
            return
        old, new = self._marked, self.debugger.position
        previous, self.highlighted, self._marked = self.highlighted, new, new
        self._page_to_highlight()  # a scroll repaints every row by itself
        if old is None or abs(new - old) > 64:
            self.refresh()
        else:  # only the rows whose mark or highlight changed
            self.refresh_lines(min(old, new), abs(new - old) + 1)
            if previous is not None and not min(old, new) <= previous <= max(old, new):
                self.refresh_lines(previous)

    def label(self, k: int) -> str:
        """Step ``k``'s label, formatted on first use."""
        label = self._labels.get(k)
        if label is None:
            label = self._labels[k] = step_label(self.debugger, k)
        return label

    def prompt(self, k: int) -> str:
        """What row ``k`` shows: its mark and label (plain text, for tests)."""
        return step_mark(k, self.debugger.position) + self.label(k)

    def row(self, k: int) -> str:
        return self.prompt(k)

    def dimmed(self, k: int) -> bool:
        return k < self.debugger.position

    PAGE_CONTEXT = 2  # rows kept on the far side of the current step when the list pages

    def on_resize(self) -> None:
        self._page_to_highlight()

    def _page_to_highlight(self) -> None:
        """Keep the current step in sight by pages: while it is in the window nothing scrolls
        (a scroll repaints every row); past the bottom the list scrolls to show it near the
        top with what comes next below, past the top the other way round."""
        if self.highlighted is None or not self.is_mounted:
            return
        top, height = round(self.scroll_y), self.scrollable_content_region.height
        k = self.highlighted
        if not height or top <= k < top + height:  # folded away: paged when shown (resize)
            return
        context = min(self.PAGE_CONTEXT, max(height - 1, 0) // 2)
        y = k - context if k >= top + height else k - height + 1 + context
        self.scroll_to(y=max(y, 0), animate=False, force=True, immediate=True)
