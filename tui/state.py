"""What the debugger is looking at: a cursor over one cycle's records, a selection, breakpoints.

Pure Python (no Textual), so every key's effect is testable without a terminal. The widgets only
read this object and render it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tracer import Cycle, Moment, Network, Stepper, Trace, explain
from tracer.checkpoint import random_state_kept
from tracer.diagnostics import (
    THRESHOLDS,
    Condition,
    Finding,
    diagnose,
    one_step,
    param_check_cost,
)
from tracer.timeline import NodeState
from tracer.training import (
    History,
    RunResult,
    StopCondition,
    run,
    until_breakpoint,
    until_nonfinite,
)

CURVE_POINTS = 1_000  # losses a loss curve is drawn from, at most about (it is a few dozen cells)

__all__ = ["CURVE_POINTS", "Debugger", "NodeState"]


@dataclass
class Debugger:
    """One network's debugging session: the iterations so far and a cursor into one of them.

    Every iteration stays viewable: :attr:`history` keeps checkpoints and records an old
    iteration again when it is looked at (:mod:`tracer.training`).
    """

    network: Network
    breakpoints: set[int] = field(default_factory=set)
    selected: int = 0
    quiz: bool = False

    def __post_init__(self) -> None:
        self.history = History(self.network)
        self.history.step(record=True)
        self.viewing = 0  # the iteration looked at, 0-based among the history's
        self.revealed: set[int] = set()  # quiz: positions whose gradient has been shown
        # By iteration: a replayed iteration is the same cycle again (a what-if clears its own)
        self._words: dict[int, tuple[str | None, str | None]] = {}
        self._findings: dict[int, list[Finding]] = {}
        self.conditions: list[Condition] = []  # conditional breakpoints
        self._start_cycle()

    @property
    def count(self) -> int:
        """How many iterations have run."""
        return len(self.history)

    def _start_cycle(self, position: int = 0) -> None:
        # Held here: the history keeps only a few iterations' records (it replays the others).
        viewed = self.history.cycle(self.history.first + self.viewing)
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
        return self.viewing == len(self.history) - 1

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
        key = self.cycle.iteration
        if whole_network or key not in self._findings:
            # The checks run the network's code on its tensors (the per-node checks use the
            # recorded values alone), as the viewed cycle ran it, without moving its random
            # numbers (see tracer.training).
            with self.network.lock, random_state_kept(), self.network.replaying(self.trace):
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
        return self._findings.get(self.cycle.iteration, [])

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

    def train(self, iterations: int, until: list[StopCondition] | None = None,
              progress: Callable[[int, int, float], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> RunResult:
        """Run ``iterations`` more (see :func:`tracer.training.run`), stopping where a
        condition fires: the loss turning NaN or infinite, a conditional breakpoint of
        :attr:`conditions`, or one of ``until``; then :meth:`land` there."""
        result = self.run(iterations, until, progress, cancelled)
        self.land(result)
        return result

    def run(self, iterations: int, until: list[StopCondition] | None = None,
            progress: Callable[[int, int, float], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> RunResult:
        """:meth:`train` without moving the view (a UI runs it in a worker, then lands)."""
        conditions = [until_nonfinite(), *map(until_breakpoint, self.conditions), *(until or ())]
        return run(self.history, iterations, conditions, progress, cancelled)

    def land(self, result: RunResult) -> None:
        """Look at the latest iteration from its start, or where ``result`` stopped."""
        self.viewing = len(self.history) - 1
        self._start_cycle()
        if result.stop is not None:
            self.goto(result.stop.position)

    def view(self, index: int) -> None:
        """Look at iteration ``index`` (0-based among those run), from its start; an old one is
        recorded again from its checkpoint (bit for bit what it was)."""
        self.viewing = max(0, min(index, len(self.history) - 1))
        self._start_cycle()

    def what_if(self, values: dict[str, object] | None = None, lr: float | None = None) -> float:
        """Re-run the latest cycle with some leaves or the learning rate changed, keeping the
        cursor where it is; return the loss before the change (to show what it did)."""
        if not self.latest:
            raise ValueError("what-ifs change the latest iteration; go back to it first")
        old = self.cycle.loss
        self.history.what_if(values, lr)
        self._findings.pop(self.cycle.iteration, None)
        self._words.pop(self.cycle.iteration, None)
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
        if cycle.iteration not in self._words:
            # After the update is the next cycle's start; for the latest cycle, where the
            # parameters are now.
            if self.latest:
                after = story(self.network.upcoming())
            else:  # unknown unless the next iteration's records are at hand
                following = self.history.cached(cycle.iteration + 1)
                after = story(following.trace) if following is not None else None
            self._words[cycle.iteration] = (story(cycle.trace), after)
        return self._words[cycle.iteration]

    def loss_history(self) -> list[float]:
        """Loss before each cycle, then the loss after the latest update."""
        history = self.history
        return [*history.losses, history.losses_after[-1]]

    def loss_curve(self, points: int | None = None) -> list[float]:
        """:meth:`loss_history` without the NaN and infinite values, which cannot be plotted;
        with ``points``, every k-th loss so that there are about that many (a curve a few
        dozen cells wide need not walk a million losses at every refresh of a run)."""
        history = self.history
        every = 1 if points is None else max(1, len(history.losses) // points)
        sampled = [*history.losses[::every], history.losses_after[-1]]
        return [v for v in sampled if math.isfinite(v)]

    @property
    def can_update(self) -> bool:
        """The backward pass is done (every gradient known) and the update not yet shown."""
        return self.position >= self.phase_bounds("backward")[1] and not self.update_applied
