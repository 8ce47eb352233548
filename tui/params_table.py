"""The parameter table: every parameter's value, gradient, change and new value.

A jump or an applied update changes every row at once. A ``DataTable`` re-adds and re-measures
each row for that, a quarter of a second at 1,200 parameters; this table keeps the rows' text
and draws with the Line API, so any change repaints only the rows in view.
"""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .line_list import cursor_css

Row = tuple[str, ...]


class ParamsTable(ScrollView, can_focus=True):
    """Rows of text under a fixed header, zebra-striped, one row highlighted (the current
    update); the arrow and page keys scroll it."""

    COLUMNS: ClassVar[Row] = ("param", "value", "grad", "−lr·grad", "new")

    # Looks like a DataTable (same header, stripes and cursor colours).
    DEFAULT_CSS = """
    ParamsTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
        }
        & > .params-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .params-table--even-row {
            background: $surface-lighten-1 50%;
        }
        &:dark > .params-table--even-row {
            background: $surface-darken-1 40%;
        }
    """ + cursor_css("params-table--highlighted") + "}"

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "params-table--header", "params-table--even-row", "params-table--highlighted"}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows: list[Row] = []
        self.highlighted: int | None = None
        self._widths = [cell_len(c) for c in self.COLUMNS]

    def show(self, rows: list[Row], highlighted: int | None = None) -> None:
        """Show ``rows`` (one string per column), highlighting row ``highlighted``."""
        self.rows = rows
        self.highlighted = highlighted
        widths = [cell_len(c) for c in self.COLUMNS]
        for row in rows:
            for c, cell in enumerate(row):
                if cell_len(cell) > widths[c]:
                    widths[c] = cell_len(cell)
        self._widths = widths
        self.virtual_size = Size(sum(widths) + 2 * len(widths), len(rows) + 1)
        self.refresh()
        if highlighted is not None:
            self._scroll_to_row(highlighted)

    def line(self, k: int | None) -> str:
        """Row ``k`` as drawn (``None``: the header), each cell padded to its column."""
        cells = self.COLUMNS if k is None else self.rows[k]
        return "".join(f" {cell}{' ' * (w - cell_len(cell))} "
                       for cell, w in zip(cells, self._widths, strict=False))

    def _scroll_to_row(self, k: int) -> None:
        # Row k is drawn on line k + 1 under a header that hides line `top`: keeping lines k
        # and k + 1 in view keeps the row out from under the header.
        self.scroll_to_region(Region(0, k, 1, 2), animate=False, force=True, immediate=True)

    # --- drawing -------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        left, top = self.scroll_offset
        if y == 0:  # the header stays in place while the rows scroll under it
            k, style = None, self._style("params-table--header")
        else:
            k = top + y - 1
            if not 0 <= k < len(self.rows):
                return Strip.blank(width, base)
            if k == self.highlighted:
                style = self._style("params-table--highlighted")
            elif k % 2 == 0:
                style = self._style("params-table--even-row")
            else:
                style = base
        text = self.line(k)
        strip = Strip([Segment(text, style)], cell_len(text))
        return strip.crop(left, left + width).extend_cell_length(width, style)

    def _style(self, component: str) -> Style:
        return self.rich_style + self.get_component_rich_style(component)
