"""The schedule: every forward, backward and update step, the current one highlighted.

A network of 5,000 nodes has over 10,000 steps. An ``OptionList`` re-measures every option
whenever one prompt changes, so re-marking the steps a jump passed over cost a fifth of a second
per step there. This list draws with the Line API instead: a row's label is formatted when it is
first drawn, and its mark (done, current, pending) comes from the cursor at drawing time, so a
step or a jump of any length repaints only the visible rows.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tracer import explain
from tracer.network import Moment, Outcome

from .state import Debugger

PHASE_MARK = {"forward": "F", "backward": "B", "update": "U"}


def step_label(debugger: Debugger, moment: Moment) -> str:
    """One line naming a step: ``F 3 mul_1 = w1 · i1``, ``B 5 ∂L/∂w1``, ``U w1``."""
    trace = debugger.trace
    if moment.phase == "forward":
        what = explain.expression(trace, trace.nodes[moment.record.node])
    elif moment.phase == "backward":
        what = explain.grad_name(trace, moment.record.node)
    elif isinstance(moment.record, Outcome):
        what = "loss after the update"
    else:
        what = f"update {moment.record.name}"
    return f"{PHASE_MARK[moment.phase]} {moment.index + 1:>3} {what}"


def step_mark(k: int, position: int) -> str:
    """``✓`` for a step already taken, ``▶`` for the current one, ``·`` for the rest."""
    return "✓ " if k < position else ("▶ " if k == position else "· ")


class StepList(ScrollView, can_focus=True):
    """Select a step to jump to it; steps already taken are marked ✓.

    Up/down (and page up/down, home, end) move a highlight; enter or a click posts
    :class:`StepList.Chosen` for the highlighted step.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("enter", "choose", "Go to the step", show=False),
    ]

    # Looks like an OptionList (same border, padding and cursor colours).
    DEFAULT_CSS = """
    StepList {
        height: auto;
        max-height: 100%;
        color: $foreground;
        overflow-x: hidden;
        border: tall $border-blurred;
        padding: 0 1;
        background: $surface;
        & > .step-list--highlighted {
            color: $block-cursor-blurred-foreground;
            background: $block-cursor-blurred-background;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus {
            border: tall $border;
            background-tint: $foreground 5%;
            & > .step-list--highlighted {
                color: $block-cursor-foreground;
                background: $block-cursor-background;
                text-style: $block-cursor-text-style;
            }
        }
        & > .step-list--done {
            text-style: dim;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"step-list--highlighted", "step-list--done"}

    class Chosen(Message):
        """The user chose step ``index`` (a timeline position) with enter or a click."""

        def __init__(self, step_list: StepList, index: int) -> None:
            super().__init__()
            self.step_list = step_list
            self.index = index

        @property
        def control(self) -> StepList:
            return self.step_list

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.debugger: Debugger | None = None
        self.highlighted: int | None = None
        self._marked: int | None = None  # the cursor position the rows were last drawn for
        self._labels: dict[int, str] = {}

    @property
    def count(self) -> int:
        return len(self.debugger.timeline) if self.debugger is not None else 0

    def show(self, debugger: Debugger) -> None:
        """Show ``debugger``'s timeline (once per cycle)."""
        self.debugger = debugger
        self._marked = debugger.position
        self._labels = {}
        self.virtual_size = Size(self.scrollable_content_region.width, self.count)
        self.highlighted = debugger.position
        self.refresh(layout=True)  # an auto height follows the number of steps
        self.call_after_refresh(self._scroll_to_highlight)

    def moved(self) -> None:
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
            label = self._labels[k] = step_label(self.debugger, self.debugger.timeline[k])
        return label

    def prompt(self, k: int) -> str:
        """What row ``k`` shows: its mark and label (plain text, for tests)."""
        return step_mark(k, self.debugger.position) + self.label(k)

    # --- drawing -------------------------------------------------------------------------------

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.count

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, self.count)

    _frame: tuple | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles and sizes looked up once per frame, not once per row (each walks the DOM).
        base = self.rich_style
        self._frame = (self.scrollable_content_region.width, self.scroll_offset.y, base,
                       base + self.get_component_rich_style("step-list--highlighted"),
                       base + self.get_component_rich_style("step-list--done"))
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        frame = self._frame
        if frame is None:
            base = self.rich_style
            frame = (self.scrollable_content_region.width, self.scroll_offset.y, base,
                     base + self.get_component_rich_style("step-list--highlighted"),
                     base + self.get_component_rich_style("step-list--done"))
        width, top, base, highlighted, done = frame
        k = top + y
        if self.debugger is None or not 0 <= k < self.count:
            return Strip.blank(width, base)
        position = self.debugger.position
        style = base
        if k == self.highlighted:
            style = highlighted
        elif k < position:
            style = done
        text = step_mark(k, position) + self.label(k)
        if len(text) > width:  # cut with an ellipsis
            text = text[: max(width - 1, 0)] + "…"
        return Strip([Segment(text.ljust(width), style)], width)

    def _scroll_to_highlight(self) -> None:
        if self.highlighted is None or not self.is_mounted:
            return
        self.scroll_to_region(Region(0, self.highlighted, 1, 1), animate=False, force=True,
                              immediate=True)

    PAGE_CONTEXT = 2  # rows kept on the far side of the current step when the list pages

    def _page_to_highlight(self) -> None:
        """Keep the current step in sight by pages: while it is in the window nothing scrolls
        (a scroll repaints every row); past the bottom the list scrolls to show it near the
        top with what comes next below, past the top the other way round."""
        if self.highlighted is None or not self.is_mounted:
            return
        top, height = round(self.scroll_y), self.scrollable_content_region.height
        k = self.highlighted
        if top <= k < top + height:
            return
        context = min(self.PAGE_CONTEXT, max(height - 1, 0) // 2)
        y = k - context if k >= top + height else k - height + 1 + context
        self.scroll_to(y=max(y, 0), animate=False, force=True, immediate=True)

    # --- keys and mouse --------------------------------------------------------------------------

    def _highlight(self, k: int) -> None:
        if self.count:
            self.highlighted = max(0, min(k, self.count - 1))
            self._scroll_to_highlight()
            self.refresh()

    def action_cursor(self, delta: int) -> None:
        if self.highlighted is not None:
            self._highlight(self.highlighted + delta)

    def action_page(self, direction: int) -> None:
        if self.highlighted is not None:
            page = max(self.scrollable_content_region.height - 1, 1)
            self._highlight(self.highlighted + direction * page)

    def action_cursor_to(self, k: int) -> None:
        self._highlight(k if k >= 0 else self.count - 1)

    def action_choose(self) -> None:
        if self.highlighted is not None:
            self.post_message(self.Chosen(self, self.highlighted))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        k = None if offset is None else offset.y + int(self.scroll_y)
        if k is not None and 0 <= k < self.count:
            self._highlight(k)
            self.action_choose()
