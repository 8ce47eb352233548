"""What every panel of the debugger screen answers to: the viewed cycle changed, or the cursor
moved. The screen calls these two on each panel and computes nothing for them."""

from __future__ import annotations

from .state import Debugger


class DebuggerPanel:
    """A widget showing part of the debugger's state (mixed into a Textual widget).

    :meth:`moved` is called after every change of the cursor, the selection or the breakpoints;
    :meth:`cycle_changed` when another cycle is viewed (the first one, a re-run, a what-if, a
    training run, another iteration). A panel redraws only what it shows from ``debugger``.
    """

    def cycle_changed(self, debugger: Debugger) -> None:
        self.moved(debugger)

    def moved(self, debugger: Debugger) -> None:
        """The cursor, the selection or the breakpoints changed."""
