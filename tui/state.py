"""What the debugger is looking at: a cursor over one cycle's records, a selection, breakpoints.

Pure Python (no Textual), so every key's effect is testable without a terminal. The widgets only
read this object and render it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import ClassVar

from tracer import Cycle, Moment, Network, Stepper, Trace, explain
from tracer.diagnostics import (
    THRESHOLDS,
    Condition,
    Finding,
    diagnose,
    one_step,
    param_check_cost,
)
from tracer.timeline import NodeState

__all__ = ["Debugger", "LetGo", "NodeState"]


@dataclass(frozen=True, slots=True)
class LetGo:
    """An iteration whose records were let go to bound memory (:attr:`Debugger.KEEP_BYTES`):
    what the loss history and the Training list still show of it."""

    iteration: int
    loss: float
    loss_after: float


@dataclass
class Debugger:
    """One network's debugging session: the cycles so far and a cursor into the latest one."""

    network: Network
    cycles: list[Cycle | LetGo] = field(default_factory=list)
    breakpoints: set[int] = field(default_factory=set)
    selected: int = 0
    quiz: bool = False

    # The records of past iterations kept to step through again. Beyond this the oldest are let
    # go: a cycle of an MNIST-sized MLP holds about 4 MB, one of a 2,000-node scalar network
    # about 3 MB, and the Training tab runs up to 10,000 iterations at a time.
    KEEP_BYTES: ClassVar[int] = 256 * 2**20

    def __post_init__(self) -> None:
        if not self.cycles:
            self.cycles.append(self.network.cycle())
        self.kept_from = 0  # the first iteration whose records are kept (all later ones are)
        self._sizes = {k: c.nbytes for k, c in enumerate(self.cycles) if isinstance(c, Cycle)}
        self._let_go()
        self.viewing = len(self.cycles) - 1
        self.revealed: set[int] = set()  # quiz: positions whose gradient has been shown
        self._words: dict[int, tuple[str | None, str | None]] = {}
        self._findings: dict[int, list[Finding]] = {}
        self.conditions: list[Condition] = []  # conditional breakpoints
        self._start_cycle()

    def _start_cycle(self, position: int = 0) -> None:
        # Held here, not looked up in `cycles`: a training run in a worker may let the viewed
        # cycle's slot go (see _let_go) while it is on screen.
        viewed = self.cycles[self.viewing]
        assert isinstance(viewed, Cycle)  # view() and train() only look at kept cycles
        self._viewed = viewed
        self.timeline = viewed.timeline
        # phase -> first and last position; stretch -> the same (see tracer.timeline.STRETCH)
        self._bounds: dict[str, tuple[int, int]] = {}
        self._stretches: dict[str, tuple[int, int]] = {}
        for k, moment in enumerate(self.timeline):
            for bounds, key in ((self._bounds, moment.phase), (self._stretches, moment.stretch)):
                bounds[key] = (bounds.get(key, (k,))[0], k)
        self.stepper: Stepper[Moment] = Stepper(self.timeline, position)
        self.revealed = set()
        self.selected = self.current_node if self.current_node is not None else 0

    # --- what is being looked at ---------------------------------------------------------------

    @property
    def cycle(self) -> Cycle:
        """The cycle being looked at: the latest, unless an earlier one was chosen to view."""
        return self._viewed

    @property
    def latest(self) -> bool:
        return self.viewing == len(self.cycles) - 1

    @property
    def trace(self) -> Trace:
        return self.cycle.trace

    @property
    def moment(self) -> Moment:
        return self.stepper.current

    @property
    def position(self) -> int:
        return self.stepper.position

    @property
    def phase(self) -> str:
        return self.moment.phase

    @property
    def current_node(self) -> int | None:
        """The node of the current forward or backward step (``None`` in the update and the
        outcome)."""
        return self.moment.node

    @property
    def update_applied(self) -> bool:
        """The cursor is on the outcome: the update has been applied and the loss re-measured."""
        return self.phase == "outcome"

    def phase_bounds(self, phase: str) -> tuple[int, int]:
        """First and last timeline positions of ``phase``."""
        return self._bounds[phase]

    def stretch_bounds(self, stretch: str) -> tuple[int, int]:
        """First and last timeline positions of a stretch (a phase; the update's includes the
        outcome, see :data:`tracer.timeline.STRETCH`)."""
        return self._stretches[stretch]

    def stretch_step(self, position: int) -> tuple[int, int]:
        """Which step of its stretch the timeline's ``position`` is, and how many steps the
        stretch has (both counted from 1): what the status bar and the step list number."""
        start, end = self.stretch_bounds(self.timeline[position].stretch)
        return position - start + 1, end - start + 1

    def node_state(self, node: int) -> NodeState:
        """How ``node`` looks at the current moment (the cycle's own answer)."""
        return self._viewed.status(node, self.moment)

    def active_edges(self) -> set[tuple[int, int]]:
        """Edges into the current node: where values flow in (forward) or gradients flow out
        to (backward) at this step."""
        node = self.current_node
        if node is None:
            return set()
        return {(i, node) for i in self.trace.nodes[node].inputs}

    # --- moving ------------------------------------------------------------------------------

    def _moved(self) -> None:
        if self.current_node is not None:
            self.selected = self.current_node

    def step(self, delta: int) -> None:
        self.stepper.goto(max(0, self.position + delta))
        self._moved()

    def goto(self, position: int) -> None:
        self.stepper.goto(position)
        self._moved()

    def continue_(self, reverse: bool = False) -> bool:
        """Run to the next breakpoint, or to the end (start, if ``reverse``) of the phase.

        Returns whether a breakpoint stopped it.
        """
        stretch = self.moment.stretch
        start, end = self.stretch_bounds(stretch)
        limit = start if reverse else end
        if self.position == limit:  # already at the phase's edge: go on into the next phase
            self.step(-1 if reverse else 1)
            stretch = self.moment.stretch
            start, end = self.stretch_bounds(stretch)
            limit = start if reverse else end

        def stop(m: Moment) -> bool:
            return m.stretch != stretch or self.breaks_at(m)

        hit = self.stepper.run_until(stop, reverse)
        if not hit or self.moment.stretch != stretch:  # ran out of it: stop on its last step
            self.stepper.goto(limit)
            hit = False
        self._moved()
        return hit

    def breaks_at(self, moment: Moment) -> bool:
        """Whether a breakpoint (on the node, or a condition) stops the cursor at ``moment``."""
        if moment.node is None:
            return False
        if moment.node in self.breakpoints:
            return True
        return any(condition(self.trace, moment.record) for condition in self.conditions)

    # --- diagnostics -------------------------------------------------------------------------

    def diagnose(self, whole_network: bool | None = None) -> list[Finding]:
        """The viewed cycle's findings (cached). ``whole_network`` adds the gradient check of
        every parameter against finite differences of the whole loss and the one-step probe,
        which re-run the forward pass; ``None`` (at open) runs them when they take under
        ``THRESHOLDS.param_check_at_open`` seconds, else the ``unchecked`` note offers them with
        their cost."""
        key = id(self.cycle)
        if whole_network or key not in self._findings:
            # The checks run the network's code on its tensors (the per-node checks use the
            # recorded values alone).
            with self.network.lock:
                skipped = None
                if whole_network is None:
                    cost = param_check_cost(self.network.forward)
                    whole_network = cost <= THRESHOLDS.param_check_at_open
                    skipped = None if whole_network else (
                        f"it takes about {explain.number(float(f'{cost:.2g}'))} s: "
                        f"ctrl+p, \"Check every parameter's gradient\"")
                run = self.network.forward if whole_network else None
                probe = (one_step(self.network, self.trace, self.cycle.optimizer_state)
                         if whole_network else None)
                self._findings[key] = diagnose(self.trace, run, params=self.network.params,
                                               probe=probe, skipped=skipped)
        return self._findings[key]

    @property
    def findings(self) -> list[Finding]:
        """The findings computed so far for the viewed cycle (empty until :meth:`diagnose`)."""
        return self._findings.get(id(self.cycle), [])

    def badge(self, node: int) -> str | None:
        """``"error"`` or ``"warning"``: the worst problem found at ``node``, if any."""
        worst = None
        for finding in self.findings:
            if finding.node == node and finding.is_problem:
                if finding.severity == "error":
                    return "error"
                worst = "warning"
        return worst

    def go_to_finding(self, finding: Finding) -> None:
        """Put the cursor where ``finding`` shows, and select its node."""
        if finding.phase is not None and finding.step is not None:
            self.goto(self.phase_bounds(finding.phase)[0] + finding.step)
        if finding.node is not None:
            self.selected = finding.node

    def apply_update(self) -> None:
        """Show the update applied: the loss before and after it."""
        self.goto(len(self.timeline) - 1)

    def next_iteration(self) -> None:
        """Re-run the forward pass on the updated parameters: a new cycle, cursor at its start."""
        self.train(1)

    def train(self, iterations: int) -> None:
        """Run ``iterations`` more cycles; look at the last one from its start."""
        for _ in range(iterations):
            self.cycles.append(self.network.cycle())
            self._sizes[len(self.cycles) - 1] = self.cycles[-1].nbytes
            self._let_go()
        self.viewing = len(self.cycles) - 1
        self._start_cycle()

    def _let_go(self) -> None:
        """Let the oldest kept cycles' records go while the kept ones hold more than
        :attr:`KEEP_BYTES`; the latest is always kept."""
        total = sum(self._sizes.values())
        while total > self.KEEP_BYTES and self.kept_from < len(self.cycles) - 1:
            k = self.kept_from
            cycle = self.cycles[k]
            self.cycles[k] = LetGo(cycle.iteration, cycle.loss, cycle.loss_after)
            total -= self._sizes.pop(k, 0)
            self.kept_from += 1

    def view(self, index: int) -> None:
        """Look at cycle ``index`` (0-based) of the ones run so far, from its start.

        Raises ``ValueError`` for an iteration whose records were let go (:attr:`KEEP_BYTES`).
        """
        index = max(0, min(index, len(self.cycles) - 1))
        if index < self.kept_from:
            kept = len(self.cycles) - self.kept_from
            raise ValueError(
                f"the records of iteration {self.cycles[index].iteration} were let go to save "
                f"memory: the last {kept:,} iterations are kept (up to "
                f"{self.KEEP_BYTES // 2**20} MB), from #{self.cycles[self.kept_from].iteration}")
        self.viewing = index
        self._start_cycle()

    def what_if(self, values: dict[str, object] | None = None, lr: float | None = None) -> float:
        """Re-run the latest cycle with some leaves or the learning rate changed, keeping the
        cursor where it is; return the loss before the change (to show what it did)."""
        if not self.latest:
            raise ValueError("what-ifs change the latest iteration; go back to it first")
        old = self.cycle.loss
        self.cycles[-1] = self.network.what_if(self.cycle, values, lr)
        self._sizes[len(self.cycles) - 1] = self.cycles[-1].nbytes
        self._start_cycle(self.position)
        return old

    @property
    def question(self) -> explain.Question | None:
        """Quiz mode: the current backward step as a question, while it is not revealed."""
        if not self.quiz or self.phase != "backward" or self.position in self.revealed:
            return None
        return explain.quiz_question(self.trace, self.moment.record)

    @property
    def hidden(self) -> bool:
        """Quiz mode: the current backward step's gradient is not revealed yet."""
        return self.question is not None

    def reveal(self) -> None:
        self.revealed.add(self.position)

    def next_in_quiz(self) -> None:
        """In quiz mode the first press on a hidden step reveals it; the next one moves on."""
        if self.hidden:
            self.reveal()
        else:
            self.step(1)

    def toggle_breakpoint(self, node: int | None = None) -> bool:
        """Toggle a breakpoint on ``node`` (default: the selection); return whether it is set."""
        node = self.selected if node is None else node
        if node in self.breakpoints:
            self.breakpoints.discard(node)
            return False
        self.breakpoints.add(node)
        return True

    def position_of(self, phase: str, node: int) -> int | None:
        """Timeline position of ``node``'s step in ``phase`` (``None`` if it has none there)."""
        return self._viewed.position_of(phase, node)

    def find(self, text: str) -> list[int]:
        """Nodes whose name matches ``text`` (case-insensitive), best first: the name itself,
        names that start with it, names that contain it, then names with its letters in order
        (``w12`` finds ``w1_2``); shorter names first within each, then forward order."""
        text = text.strip().lower()
        letters = re.compile(".*?".join(map(re.escape, text)))
        ranked = []
        for node in self.trace.nodes:
            name = node.name.lower()
            if text in name:
                rank = 0 if name == text else 1 if name.startswith(text) else 2
            elif letters.search(name):
                rank = 3
            else:
                continue
            ranked.append((rank, len(name), node.id))
        return [k for *_, k in sorted(ranked)]

    def predictions(self) -> tuple[str | None, str | None]:
        """The scenario's words for the prediction before and after the viewed cycle's update
        (``$420k`` …), worked out once per cycle; ``(None, None)`` when it has none."""
        story = self.network.prediction_text
        if story is None:
            return None, None
        cycle = self.cycle
        if id(cycle) not in self._words:
            # After the update is the next cycle's start; for the latest cycle, where the
            # parameters are now.
            following = None if self.latest else self.cycles[self.viewing + 1]
            if following is None:
                after = story(self.network.trace())
            else:  # unknown if its records were let go meanwhile
                after = story(following.trace) if isinstance(following, Cycle) else None
            self._words[id(cycle)] = (story(cycle.trace), after)
        return self._words[id(cycle)]

    def loss_history(self) -> list[float]:
        """Loss before each cycle, then the loss after the latest update."""
        return [c.loss for c in self.cycles] + [self.cycles[-1].loss_after]

    def loss_curve(self) -> list[float]:
        """:meth:`loss_history` without the NaN and infinite values, which cannot be plotted."""
        return [v for v in self.loss_history() if math.isfinite(v)]

    @property
    def can_update(self) -> bool:
        """The backward pass is done (every gradient known) and the update not yet shown."""
        return self.position >= self.phase_bounds("backward")[1] and not self.update_applied
