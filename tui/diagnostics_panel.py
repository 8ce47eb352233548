"""Diagnostics: what gradstep found wrong with the gradients; select one to go to its node."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static

from tracer import Finding
from tracer.diagnostics import verdict

from .paged_option_list import PagedOptionList
from .state import Debugger

SEVERITY_STYLE = {"error": ("✖", "bold red"), "warning": ("⚠", "bold yellow"),
                  "info": ("·", "dim")}


def finding_prompt(finding) -> Text:
    mark, style = SEVERITY_STYLE[finding.severity]
    text = Text(f"{mark} ", style)
    text.append(finding.summary)
    return text


class DiagnosticsPanel(Vertical):
    """The verdict, the findings as a list (Enter goes to one) and the highlighted one's full
    message."""

    class FindingChosen(Message):
        """The user chose ``finding`` (enter or a click on it in the list)."""

        def __init__(self, finding: Finding) -> None:
            super().__init__()
            self.finding = finding

    def compose(self) -> ComposeResult:
        yield Static(id="verdict", markup=False)
        yield PagedOptionList(id="findings")
        yield Static(id="finding-message", markup=False)

    def show(self, debugger: Debugger) -> None:
        self.debugger = debugger
        findings = debugger.findings
        options = self.query_one(OptionList)
        options.set_options(finding_prompt(f) for f in findings)
        self.query_one("#verdict", Static).update(verdict(findings))
        self.query_one("#finding-message", Static).update("")
        if findings:
            options.highlighted = 0

    def waiting(self, nodes: int) -> None:
        """A big graph is diagnosed only when asked: say how."""
        self.query_one(OptionList).clear_options()
        self.query_one("#verdict", Static).update("Not diagnosed yet.")
        self.query_one("#finding-message", Static).update(
            f"This graph has {nodes} nodes, so its diagnosis (a few seconds) runs when asked: "
            f"ctrl+p, then \"Diagnose this graph\".")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        findings = self.debugger.findings
        if event.option_index < len(findings):
            self.query_one("#finding-message", Static).update(findings[event.option_index].message)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        findings = self.debugger.findings
        if event.option_index < len(findings):
            self.post_message(self.FindingChosen(findings[event.option_index]))
