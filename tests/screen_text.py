"""The text of a Textual SVG screenshot, row by row: golden files that survive colour changes."""

from __future__ import annotations

import html
import re

CELL = 12.2  # Textual's SVG cell width in px
_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
                   r'clip-path="url\(#[\w-]+-line-(\d+)\)">(.*?)</text>', re.S)


# Scrollbar thumbs are drawn with eighth blocks whose exact glyph depends on sub-cell scroll
# offsets; they are blanked so that a golden file records content, not thumb positions.
_THUMBS = str.maketrans(dict.fromkeys("▁▂▃▄▅▆▇█", " "))


def svg_text(svg: str) -> str:
    """Rebuild the screen's characters from the SVG's positioned text runs (scrollbar thumbs
    blanked)."""
    rows: dict[int, dict[int, str]] = {}
    for x, line, content in _TEXT.findall(svg):
        col = round(float(x) / CELL)
        for k, ch in enumerate(html.unescape(content).replace("\xa0", " ")):
            rows.setdefault(int(line), {})[col + k] = ch
    out = []
    for line in range(max(rows, default=-1) + 1):
        cells = rows.get(line, {})
        line_text = "".join(cells.get(c, " ") for c in range(max(cells, default=-1) + 1))
        out.append(line_text.translate(_THUMBS).rstrip())
    return "\n".join(out)


def blank_region(text: str, x: int, y: int, width: int, height: int, note: str = "") -> str:
    """``text`` (rows of a screen) with the cells of a region blanked and ``note`` written at
    its top left: a golden file of the screen then does not depend on what the region shows
    (the narration bar, whose sentences have tests of their own)."""
    rows = text.split("\n")
    for k in range(y, min(y + height, len(rows))):
        row = rows[k].ljust(x + width)
        fill = note.ljust(width)[:width] if k == y else " " * width
        rows[k] = (row[:x] + fill + row[x + width:]).rstrip()
    return "\n".join(rows)
