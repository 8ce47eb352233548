"""The cursor's moments: what a cycle's timeline is made of, and how a node looks at one.

A cycle's timeline is its forward steps, its backward steps, one moment per parameter update,
then the outcome (the loss before and after the update). :class:`~tracer.network.Cycle` answers
where a node stands at a moment (:meth:`~tracer.network.Cycle.status`), so that the TUI, the CLI
and the exports never work it out themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The phases of a cycle, in timeline order. Forward has one step per node, backward one per node
# that needs a gradient (a parameter upstream, or the root; see Trace.step_of / Trace.node_of);
# update one moment per parameter; the outcome one moment.
PHASES = ("forward", "backward", "update", "outcome")
STEP_PHASES = ("forward", "backward")  # the phases whose moments are a node's step

# The stretch of the timeline a phase belongs to: the outcome closes the update, so "continue"
# runs through to it and the status bar counts it among the update's steps.
STRETCH = {"forward": "forward", "backward": "backward", "update": "update",
           "outcome": "update"}


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of a cycle: the loss before the update and after it (from a re-run forward)."""

    loss_before: float
    loss_after: float

    @property
    def change(self) -> float:
        return self.loss_after - self.loss_before


@dataclass(frozen=True, slots=True)
class Moment:
    """One position of the debugger's cursor: a phase and that phase's record."""

    phase: str  # one of PHASES
    index: int  # position within the phase
    record: Any  # ForwardStep, BackwardStep, UpdateRecord or Outcome

    @property
    def node(self) -> int | None:
        """The node whose forward or backward step this is; ``None`` in the update and the
        outcome."""
        return self.record.node if self.phase in STEP_PHASES else None

    @property
    def stretch(self) -> str:
        """The part of the timeline this moment is shown in: its phase, except that the outcome
        ends the update (see :data:`STRETCH`)."""
        return STRETCH[self.phase]


@dataclass(frozen=True, slots=True)
class NodeState:
    """How one node looks at a moment of its cycle."""

    status: str  # "pending", "current" or "done"
    value_known: bool
    grad_known: bool


# Every state a node can be in (made once: a repaint asks for the state of every box it draws).
STATES = {(status, value, grad): NodeState(status, value, grad)
          for status in ("pending", "current", "done")
          for value in (False, True) for grad in (False, True)}
