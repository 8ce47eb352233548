"""The schedule: every forward, backward and update step, the current one highlighted."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList

from tracer import explain
from tracer.network import Moment, Outcome

from .state import Debugger

PHASE_MARK = {"forward": "F", "backward": "B", "update": "U"}


def step_label(debugger: Debugger, moment: Moment) -> str:
    """One line naming a step: ``F 3 mul_1 = w1 · i1``, ``B 5 ∂L/∂w1``, ``U w1``."""
    trace = debugger.trace
    if moment.phase == "forward":
        what = explain.expression(trace, trace.nodes[moment.record.node])
    elif moment.phase == "backward":
        what = explain.grad_name(trace, moment.record.node)
    elif isinstance(moment.record, Outcome):
        what = "loss after the update"
    else:
        what = f"update {moment.record.name}"
    return f"{PHASE_MARK[moment.phase]} {moment.index + 1:>3} {what}"


class StepList(OptionList):
    """Select a step to jump to it; steps already taken are marked ✓."""

    def show(self, debugger: Debugger) -> None:
        """Fill the list for ``debugger``'s timeline (once per cycle)."""
        self.debugger = debugger
        self._marked = debugger.position
        self.set_options(self._prompt(k) for k in range(len(debugger.timeline)))
        self.highlighted = debugger.position

    def _prompt(self, k: int) -> Text:
        done = k < self.debugger.position
        mark = "✓ " if done else ("▶ " if k == self.debugger.position else "· ")
        return Text(mark + step_label(self.debugger, self.debugger.timeline[k]),
                    "dim" if done else "", no_wrap=True, overflow="ellipsis")

    def moved(self) -> None:
        """The cursor moved: re-mark only the steps between the old and new position."""
        old, new = self._marked, self.debugger.position
        for k in range(min(old, new), max(old, new) + 1):
            self.replace_option_prompt_at_index(k, self._prompt(k))
        self._marked = new
        self.highlighted = new
