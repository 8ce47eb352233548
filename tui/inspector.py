"""The inspector: what the current (or selected) node's step computed, with its numbers.

It is a :class:`~tui.repaint.TextPanel` (Line API) rather than a Static in a scroll container:
a new step then repaints only this panel instead of laying out the whole screen again.
"""

from __future__ import annotations

from rich.text import Text

from tracer import explain
from tracer.diagnostics import check_lines

from .panel import DebuggerPanel
from .quiz import screen_quiz
from .repaint import TextPanel
from .state import Debugger

ROLE_STYLES = {
    "heading": "bold",
    "sentence": "italic",
    "formula": "bold cyan",
    "equation": "bold",
    "label": "dim",
    "value": "",
    "note": "dim italic",
}


def inspector_lines(debugger: Debugger, full: bool = False,
                    asking: list[explain.Line] | None = None) -> list[explain.Line]:
    """The lines to show for the selection at the current moment (``asking``: a quiz's
    question, shown at its step instead of the answer)."""
    moment, trace = debugger.moment, debugger.trace
    if moment.phase == "outcome":
        return explain.outcome_lines(moment.record.loss_before, moment.record.loss_after)
    if moment.phase == "update":
        return explain.update_lines(moment.record, debugger.network.optimizer.formula, full)
    node = debugger.selected
    question = debugger.question
    if question is not None and node == debugger.current_node:
        return asking or question.lines
    state = debugger.node_state(node)
    if state.grad_known:
        lines = explain.backward_lines(trace, trace.backward_step(node), full)
        lines += check_lines(debugger.findings, node)
    elif state.value_known:
        lines = explain.forward_lines(trace, node, full)
    else:
        nd = trace.nodes[node]
        return [explain.Line(f"{nd.name}  ({nd.op})", "heading"),
                explain.Line(explain.expression(trace, nd) if nd.inputs else nd.name, "formula"),
                explain.Line("not computed yet at this step", "note")]
    if node != debugger.current_node:
        lines.insert(1, explain.Line("(selected; the current step is elsewhere)", "note"))
    return lines


def render_lines(lines: list[explain.Line]) -> Text:
    """Lines as one Rich Text, styled by role (never parsed as markup)."""
    text = Text()
    for k, line in enumerate(lines):
        if k:
            text.append("\n")
        text.append(line.text, ROLE_STYLES.get(line.role, ""))
    return text


class Inspector(DebuggerPanel, TextPanel, can_focus=True):
    """Scrollable, word-wrapped detail of the current step; ``full`` shows arrays in full (e)."""

    full = False

    def moved(self, debugger: Debugger) -> None:
        quiz = screen_quiz(self)
        asking = quiz.lines(debugger) if quiz is not None else None
        self.show_text(render_lines(inspector_lines(debugger, self.full, asking)))
