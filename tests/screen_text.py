"""The text of a Textual SVG screenshot, row by row: golden files that survive colour changes."""

from __future__ import annotations

import difflib
import html
import os
import re
from pathlib import Path

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


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with ``golden/screens/NAME.txt``; GRADSTEP_UPDATE_GOLDEN=1 rewrites it."""
    path = Path(__file__).parent / "golden" / "screens" / f"{name}.txt"
    if os.environ.get("GRADSTEP_UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(text + "\n", encoding="utf-8")
        if os.environ.get("GRADSTEP_UPDATE_GOLDEN") != "1":
            raise AssertionError(f"golden file {path} was missing: written, check it by eye")
    expected = path.read_text(encoding="utf-8")
    if text + "\n" != expected:
        diff = difflib.unified_diff(expected.splitlines(), text.splitlines(), "golden", "now",
                                    lineterm="", n=1)
        raise AssertionError(f"screen differs from {path}:\n" + "\n".join(diff))
