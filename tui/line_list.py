"""A list drawn with the Line API: one line of text per row, a highlight to move and choose.

An ``OptionList`` measures every option again whenever one changes: a fifth of a second per step
on the 10,000 steps of a 5,000-node network, and as much per iteration on a long training run.
This list formats a row only when it draws it and repaints only the rows in view, so a list of
any length costs what its window costs. The step list and the Training tab's iterations are such
lists.
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


def cursor_css(component: str) -> str:
    """CSS rules (inside a widget's block) giving the rows styled ``component`` Textual's cursor
    colours, brighter while the widget has focus: the highlighted row of a list or table."""
    return f"""
        & > .{component} {{
            color: $block-cursor-blurred-foreground;
            background: $block-cursor-blurred-background;
            text-style: $block-cursor-blurred-text-style;
        }}
        &:focus > .{component} {{
            color: $block-cursor-foreground;
            background: $block-cursor-background;
            text-style: $block-cursor-text-style;
        }}
    """


class LineList(ScrollView, can_focus=True):
    """Rows of text; up/down (and page up/down, home, end) move a highlight, enter or a click
    posts :class:`LineList.Chosen` for the highlighted row. Subclasses say how many rows there
    are (:attr:`count`), what each says (:meth:`row`) and which are dimmed (:meth:`dimmed`)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("enter", "choose", "Choose", show=False),
    ]

    # Looks like an OptionList (same border, padding and cursor colours).
    DEFAULT_CSS = """
    LineList {
        height: auto;
        max-height: 100%;
        color: $foreground;
        overflow-x: hidden;
        border: tall $border-blurred;
        padding: 0 1;
        background: $surface;
        &:focus {
            border: tall $border;
            background-tint: $foreground 5%;
        }
        & > .line-list--dim {
            text-style: dim;
        }
    """ + cursor_css("line-list--highlighted") + "}"

    COMPONENT_CLASSES: ClassVar[set[str]] = {"line-list--highlighted", "line-list--dim"}

    class Chosen(Message):
        """The user chose row ``index`` with enter or a click."""

        def __init__(self, line_list: LineList, index: int) -> None:
            super().__init__()
            self.line_list = line_list
            self.index = index

        @property
        def control(self) -> LineList:
            return self.line_list

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.highlighted: int | None = None

    # --- what subclasses say -------------------------------------------------------------------

    @property
    def count(self) -> int:
        return 0

    def row(self, k: int) -> str:
        """Row ``k``'s text."""
        raise NotImplementedError

    def dimmed(self, k: int) -> bool:
        return False

    def reset(self, highlighted: int | None) -> None:
        """The rows changed (their number too): draw them again, ``highlighted`` in view."""
        self.virtual_size = Size(self.scrollable_content_region.width, self.count)
        self.highlighted = highlighted
        self.refresh(layout=True)  # an auto height follows the number of rows
        self.call_after_refresh(self._scroll_to_highlight)

    # --- drawing -------------------------------------------------------------------------------

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.count

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, self.count)

    _frame: tuple | None = None

    def _styles(self) -> tuple:
        # Looked up once per frame, not once per row (each walks the DOM).
        base = self.rich_style
        return (self.scrollable_content_region.width, self.scroll_offset.y, base,
                base + self.get_component_rich_style("line-list--highlighted"),
                base + self.get_component_rich_style("line-list--dim"))

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame = self._styles()
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        width, top, base, highlighted, dim = self._frame or self._styles()
        k = top + y
        if not 0 <= k < self.count:
            return Strip.blank(width, base)
        style = highlighted if k == self.highlighted else dim if self.dimmed(k) else base
        text = self.row(k)
        if len(text) > width:  # cut with an ellipsis
            text = text[: max(width - 1, 0)] + "…"
        return Strip([Segment(text.ljust(width), style)], width)

    def _scroll_to_highlight(self) -> None:
        if self.highlighted is None or not self.is_mounted:
            return
        self.scroll_to_region(Region(0, self.highlighted, 1, 1), animate=False, force=True,
                              immediate=True)

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
