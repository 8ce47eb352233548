"""The Textual app (placeholder until the TUI lands)."""

from __future__ import annotations

from tracer import Network


def run_app(network: Network | None = None) -> None:
    """Open the debugger on ``network``, or on the scenario picker when it is ``None``."""
    raise SystemExit("gradstep: the interactive debugger is not built yet; "
                     "use `gradstep trace TARGET` meanwhile.")
