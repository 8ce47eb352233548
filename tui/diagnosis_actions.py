"""The debugger screen's diagnosis: findings worked out in a worker, and conditional breakpoints.

:class:`DiagnosisActions` is mixed into :class:`~tui.debugger_screen.DebuggerScreen`; it reads
the screen's ``debugger`` and shows the findings in the Diagnostics tab and as the graph's
badges.
"""

from __future__ import annotations

from textual import work
from textual.widgets import OptionList, TabbedContent

from tracer.diagnostics import (
    THRESHOLDS,
    Condition,
    break_on_dead_unit,
    break_on_gradcheck_failure,
    break_on_gradient_above,
    break_on_nonfinite,
    verdict,
)

from .diagnostics_panel import DiagnosticsPanel
from .graph_view import GraphView
from .prompt_screen import PromptScreen

CONDITIONS = {"nonfinite": break_on_nonfinite, "gradcheck": break_on_gradcheck_failure,
              "dead": break_on_dead_unit}


class DiagnosisActions:
    """Diagnosing the viewed cycle (at once, or from the palette on a big graph) and the
    palette's conditional breakpoints."""

    def run_diagnosis(self, whole_network: bool | None = None, asked: bool = False) -> None:
        """Diagnose the viewed cycle in a worker. On a big graph the checks hold Python's GIL
        long enough to make the UI stutter, so there it waits to be asked (palette)."""
        if self.debugger is None:
            return
        nodes = len(self.debugger.trace.nodes)
        if nodes > THRESHOLDS.diagnose_at_open and not (asked or whole_network):
            self.query_one(DiagnosticsPanel).waiting(nodes)
            return
        self.diagnose_in_background(whole_network)

    @work(thread=True, exclusive=True, group="diagnose")
    def diagnose_in_background(self, whole_network: bool | None = None) -> None:
        """Diagnose the viewed cycle off the UI thread (the per-node gradient checks take a
        moment on a big graph); ``whole_network`` adds the finite-difference check of every
        parameter against the whole loss, which re-runs the network (``None``: when it takes
        under a second, see :meth:`Debugger.diagnose`; else the palette offers it)."""
        debugger = self.debugger
        try:
            debugger.diagnose(whole_network)
        except Exception as exc:  # the user's network code may raise anything
            self.app.call_from_thread(self.app.show_error, str(exc))
            return
        self.app.call_from_thread(self.diagnosed, whole_network)

    def diagnosed(self, whole_network: bool | None = None) -> None:
        panel = next(iter(self.query(DiagnosticsPanel)), None)
        if panel is None:  # the screen was left, or the app is closing, while the worker ran
            return
        debugger = self.debugger
        panel.show(debugger)
        problems = [f for f in debugger.findings if f.is_problem]
        tab = self.query_one(TabbedContent).get_tab("diagnostics-tab")
        label = f"Diagnostics ({len(problems)})" if problems else "Diagnostics"
        if str(tab.label) != label:  # a new label re-lays the tabs out and moves the underline
            tab.label = label
        self.query_one(GraphView).update_state()  # badges
        if problems:
            self.notify(f"{len(problems)} problem(s) found: {problems[0].summary}",
                        title="diagnostics", severity="warning", markup=False)
        elif whole_network:  # asked for: say what came of it, gaps included
            self.notify(verdict(debugger.findings), title="gradient check", markup=False)

    def action_diagnostics(self) -> None:
        """Show the Diagnostics tab and put the keyboard on its list of findings."""
        self.query_one(TabbedContent).active = "diagnostics-tab"
        self.query_one("#findings", OptionList).focus()

    def action_break_on(self, name: str) -> None:
        """Add a conditional breakpoint (see tracer.diagnostics); ``gradient`` asks for a
        threshold first."""
        if self.debugger is None:
            return
        if name == "gradient":
            self.app.push_screen(PromptScreen("Stop where |gradient| is above…",
                                              "a positive number", "10"), self._gradient_above)
            return
        self._add_condition(CONDITIONS[name]())

    def _gradient_above(self, text: str | None) -> None:
        try:
            threshold = float(text or "")
        except ValueError:
            return
        if threshold > 0:
            self._add_condition(break_on_gradient_above(threshold))

    def _add_condition(self, condition: Condition) -> None:
        self.debugger.conditions.append(condition)
        self.notify(f"c now also stops at {condition.label}", markup=False)

    def action_clear_conditions(self) -> None:
        if self.debugger is not None:
            self.debugger.conditions.clear()
            self.notify("conditional breakpoints cleared")
