"""The inspector: what the current (or selected) node's step computed, with its numbers.

It draws with the Line API (like the graph) rather than as a Static in a scroll container:
a new step then repaints only this panel instead of re-laying out the whole screen.
"""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tracer import explain
from tracer.network import Outcome

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


def inspector_lines(debugger: Debugger, full: bool = False) -> list[explain.Line]:
    """The lines to show for the selection at the current moment."""
    moment, trace = debugger.moment, debugger.trace
    if moment.phase == "update":
        if isinstance(moment.record, Outcome):
            return explain.outcome_lines(moment.record.loss_before, moment.record.loss_after)
        return explain.update_lines(moment.record, debugger.network.optimizer.formula, full)
    node = debugger.selected
    question = debugger.question
    if question is not None and node == debugger.current_node:
        return question.lines
    state = debugger.node_state(node)
    if state.grad_known:
        lines = explain.backward_lines(trace, trace.backward_step(node), full)
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


class Inspector(ScrollView, can_focus=True):
    """Scrollable, word-wrapped detail of the current step."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = Text()
        self._strips: list[Strip] = []

    @property
    def plain(self) -> str:
        """What the inspector shows, unwrapped (for tests and copying)."""
        return self.text.plain

    def show(self, debugger: Debugger, full: bool = False) -> None:
        self.text = render_lines(inspector_lines(debugger, full))
        self._wrap()
        self.scroll_home(animate=False, immediate=True)

    def on_resize(self, event: Resize) -> None:
        self._wrap()

    def _wrap(self) -> None:
        width = max(self.scrollable_content_region.width, 10)
        console = self.app.console
        lines = self.text.wrap(console, width, overflow="fold")
        self._strips = [Strip(list(line.render(console)), line.cell_len) for line in lines]
        # No shorter than the window: then a shorter text leaves the size alone, and a step
        # repaints this panel instead of laying out the whole screen again.
        height = max(len(self._strips), self.scrollable_content_region.height)
        self.virtual_size = Size(width, height)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        row = scroll_y + y
        style = self.rich_style
        if row >= len(self._strips):
            return Strip.blank(width, style)
        strip = self._strips[row].apply_style(style)
        return strip.crop_extend(scroll_x, scroll_x + width, style)



