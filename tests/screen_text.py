"""The text of a Textual SVG screenshot, row by row: golden files that survive colour changes."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

CELL = 12.2  # Textual's SVG cell width in px
_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
                   r'clip-path="url\(#[\w-]+-line-(\d+)\)">(.*?)</text>', re.S)


def svg_text(svg: str) -> str:
    """Rebuild the screen's characters from the SVG's positioned text runs."""
    rows: dict[int, dict[int, str]] = {}
    for x, line, content in _TEXT.findall(svg):
        col = round(float(x) / CELL)
        for k, ch in enumerate(html.unescape(content).replace("\xa0", " ")):
            rows.setdefault(int(line), {})[col + k] = ch
    out = []
    for line in range(max(rows, default=-1) + 1):
        cells = rows.get(line, {})
        out.append("".join(cells.get(c, " ") for c in range(max(cells, default=-1) + 1)).rstrip())
    return "\n".join(out)


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with ``golden/screens/NAME.txt``; GRADSTEP_UPDATE_GOLDEN=1 rewrites it."""
    path = Path(__file__).parent / "golden" / "screens" / f"{name}.txt"
    if os.environ.get("GRADSTEP_UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(text + "\n", encoding="utf-8")
        if os.environ.get("GRADSTEP_UPDATE_GOLDEN") != "1":
            raise AssertionError(f"golden file {path} was missing: written, check it by eye")
    assert text + "\n" == path.read_text(encoding="utf-8"), f"screen differs from {path}"
