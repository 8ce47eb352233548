"""The key bar at the bottom: Textual's footer, showing only the keys that fit whole.

Textual's footer lays its keys out in one row and docks the command palette's key on the right,
over them: in a narrow window the last keys ran on under it (``p Play▏^p palettei``, the ``i``
of ``q Quit`` showing past it). Here the keys that do not fit whole before the palette's key
are left out instead; the bindings' order says which come first (``? Help`` early), and ``?``
lists them all.
"""

from __future__ import annotations

from textual.widgets import Footer

PALETTE = "-command-palette"  # the class of the palette's key, docked right


class KeyBar(Footer):
    """A footer whose keys never run under the command palette's key or off the window."""

    async def recompose(self) -> None:
        """The keys again (the bindings changed), then, once they are laid out, trimmed."""
        await super().recompose()
        self.call_after_refresh(self.trim)

    def on_mount(self) -> None:  # (Textual calls the footer's own on_mount too)
        self.call_after_refresh(self.trim)

    def on_resize(self) -> None:
        # Keys left out may fit now (or more must go): lay them all out again, then trim.
        self.call_after_refresh(self.recompose)

    def trim(self) -> None:
        """Hide the keys that end past the palette's key (or the window), and those after."""
        keys = list(self.query_children("FooterKey"))  # the footer's own (private) key widget
        palette = next((k for k in keys if k.has_class(PALETTE)), None)
        limit = self.region.right if palette is None else palette.region.x
        over = False
        for key in keys:
            if key is palette:
                continue
            over = over or key.region.right > limit
            if over:
                key.display = False
