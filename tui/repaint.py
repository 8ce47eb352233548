"""Keeping a step's repaint small.

A widget refreshed with ``layout=True`` makes Textual lay out the whole screen again, and when a
widget's height changes every panel below it moves and is painted again: on a step that was most
of the work. Changing a ``ScrollView``'s ``virtual_size`` asks for a layout too (it is a layout
reactive), although the panel's size on screen stays the same. :class:`TextPanel` shows text
that changes at every step (the narration, the inspector) without either.
"""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class TextPanel(ScrollView):
    """Word-wrapped text in a panel whose size comes from CSS, scrolled when the text is longer.

    New text repaints this panel only. Its scrollable height changes without a layout; only
    when the vertical scrollbar has to appear or go does the screen lay out again, and the
    scrollbar's column is always kept (``scrollbar-gutter: stable``), so the text wraps to the
    same width either way.
    """

    DEFAULT_CSS = """
    TextPanel {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = Text()
        self._strips: list[Strip] = []

    @property
    def plain(self) -> str:
        """What the panel shows, unwrapped (for tests and copying)."""
        return self.text.plain

    def show_text(self, text: Text | str) -> None:
        """Show ``text`` (a plain string is never read as markup) from its first line."""
        self.text = Text(text) if isinstance(text, str) else text
        self.scroll_home(animate=False, immediate=True)  # (a scroll repaints every row)
        self._wrap(every_row=False)

    def on_resize(self, event: Resize) -> None:
        self._wrap()

    def _wrap(self, every_row: bool = True) -> None:
        width = max(self.scrollable_content_region.width, 10)
        console = self.app.console
        lines = self.text.wrap(console, width, overflow="fold")
        old, self._strips = self._strips, [Strip(list(line.render(console)), line.cell_len)
                                           for line in lines]
        self.fit(len(self._strips))
        size = Size(width, len(self._strips))
        if size != self.virtual_size:
            overflows = size.height > self.container_size.height
            # A folded-away panel (no size) lays nothing out: shown, it is resized and wraps.
            if overflows != self.show_vertical_scrollbar and self.size:
                self.virtual_size = size  # the scrollbar appears or goes: a layout
            else:
                self.set_reactive(ScrollView.virtual_size, size)
                if overflows:
                    self.vertical_scrollbar.window_virtual_size = size.height
        if every_row:
            self.refresh()
            return
        # Only the rows whose text changed: the blank rows below a short text stay as they are.
        new = self._strips
        for y in range(min(max(len(old), len(new)), self.scroll_offset.y + self.size.height)):
            if y >= len(old) or y >= len(new) or old[y] != new[y]:
                self.refresh_line(y)

    def fit(self, lines: int) -> None:
        """Called with the number of wrapped lines before they are shown: a panel that may
        change its own size for them does it here."""

    _frame: tuple | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        # The style and scroll position looked up once per frame, not once per row (the style
        # walks the DOM).
        self._frame = (self.rich_style, self.scroll_offset, self.size.width)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        style, (scroll_x, scroll_y), width = self._frame or (
            self.rich_style, self.scroll_offset, self.size.width)
        row = scroll_y + y
        if row >= len(self._strips):
            return Strip.blank(width, style)
        strip = self._strips[row].apply_style(style)
        return strip.crop_extend(scroll_x, scroll_x + width, style)
