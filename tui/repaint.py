"""Keeping a step's repaint small.

A widget refreshed with ``layout=True`` makes Textual lay out and repaint the whole screen,
every panel and scrollbar: on a step that was half of the work. These helpers ask for a layout
only when a widget's size can actually change.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


def update_text(static: Static, text: str) -> None:
    """Show plain ``text`` (no markup) in an auto-height ``static``, laying the screen out again
    only when the text wraps to a different number of lines than before."""
    width = static.content_region.width
    lines = Content(text).get_height(static.styles, width) if width > 0 else -1
    previous = getattr(static, "_gradstep_lines", None)
    static._gradstep_lines = lines
    static.update(text, layout=lines != previous or lines < 0)
