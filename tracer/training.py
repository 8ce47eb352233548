"""Training as a debugger: every iteration kept as a checkpoint, replayed on demand, and runs
that stop where something goes wrong.

A :class:`History` runs a network's iterations, most of them through the record-free fast path
(:meth:`tracer.Network.fast_step`), and keeps, instead of their records, the loss before and
after each and a checkpoint every ``interval`` iterations (:mod:`tracer.checkpoint`). Asked for
any iteration, it restores the nearest checkpoint at or before it, runs the iterations between
through the fast path and records that one: bit for bit the cycle that ran, the way a
time-travel debugger checkpoints and re-executes. When the checkpoints outgrow their budget
those nearest an even grid stay and new ones are taken at the grid's step, so memory stays
bounded however long the run and the gaps (the iterations a replay re-runs) stay about even.

:func:`run` trains a number of iterations until a :class:`StopCondition` fires (the loss is not
finite, the loss jumps by a factor, a conditional breakpoint of :mod:`tracer.diagnostics`) and
says where: the iteration, and the step of its timeline where the condition shows.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .checkpoint import Checkpoint, Checkpointing
from .diagnostics import (
    Condition,
    break_on_dead_unit,
    break_on_gradcheck_failure,
    break_on_gradient_above,
    break_on_nonfinite,
)
from .explain import loss_change
from .network import Cycle, Outcome

# What a history's checkpoints may hold in all: 10,000 iterations of a 784-128-10 MLP (814 KB
# of parameters) keep a checkpoint every 50 or so: a view re-runs up to that many iterations.
CHECKPOINT_BYTES = 160 * 2**20
KEEP_CYCLES = 4  # recorded cycles kept besides the latest (the ones looked at recently)
MAX_STEPS = 1_000_000  # iterations one run may ask for


class History:
    """The iterations a network has run, any of which can be recorded again on demand.

    Parameters
    ----------
    network
        Anything :class:`~tracer.checkpoint.Checkpointing` (a :class:`tracer.Network`). Its next
        iteration is the history's first.
    budget
        Bytes the checkpoints may hold (:data:`CHECKPOINT_BYTES`).

    Iterations are numbered as :attr:`tracer.Cycle.iteration` numbers them, from :attr:`first`.
    """

    def __init__(self, network: Checkpointing, budget: int = CHECKPOINT_BYTES):
        self.network = network
        self.budget = budget
        self.first = network.iteration + 1
        self.interval = 1  # a checkpoint every `interval` iterations (grows to fit the budget)
        self._newest = self.first  # the latest checkpoint's iteration
        self.checkpoints: dict[int, Checkpoint] = {}  # by the iteration that starts from it
        self.pinned: set[int] = set()  # checkpoints never thinned: where a what-if changed leaves
        self.losses: list[float] = []  # the loss before each iteration
        self.losses_after: list[float] = []  # ... and after its update
        self._cycles: OrderedDict[int, Cycle] = OrderedDict()  # recorded, least recent first
        self._bytes = 0

    def __len__(self) -> int:
        return len(self.losses)

    @property
    def last(self) -> int:
        """The latest iteration's number."""
        return self.first + len(self.losses) - 1

    @property
    def nbytes(self) -> int:
        """What the checkpoints hold (the budget's measure)."""
        return self._bytes

    def step(self, record: bool = False) -> Cycle | None:
        """Run the next iteration: recorded (returned, and kept as the latest) or through the
        fast path (``None``)."""
        k = self.network.iteration + 1
        if self._due(k) and k not in self.checkpoints:
            self._add(k, self.network.checkpoint())
        if self._due(k + 1):
            self.network.expect_checkpoint()
        if record:
            cycle = self.network.cycle()
            loss, after = cycle.loss, cycle.loss_after
            self._keep(cycle)
        else:
            cycle = None
            loss, after = self.network.fast_step()
        self.losses.append(loss)
        self.losses_after.append(after)
        return cycle

    def cycle(self, iteration: int) -> Cycle:
        """Iteration ``iteration``'s records: kept, or replayed from the nearest checkpoint."""
        if not self.first <= iteration <= self.last:
            raise IndexError(f"iteration {iteration} is not among {self.first}-{self.last}")
        cycle = self._cycles.get(iteration)
        if cycle is None:
            cycle = self.replay(iteration)
            self._keep(cycle)
        else:
            self._cycles.move_to_end(iteration)
        return cycle

    def cached(self, iteration: int) -> Cycle | None:
        """Iteration ``iteration``'s records if they are kept now, without replaying."""
        return self._cycles.get(iteration)

    def replay(self, iteration: int) -> Cycle:
        """Record ``iteration`` again from the nearest checkpoint at or before it; the network
        is left exactly where it was."""
        start = max(k for k in self.checkpoints if k <= iteration)
        with self.network.detour():
            self.network.restore(self.checkpoints[start])
            for _ in range(iteration - start):
                self.network.fast_step()
            return self.network.cycle()

    def what_if(self, values: Mapping[str, Any] | None = None, lr: float | None = None) -> Cycle:
        """Re-run the latest iteration with some leaves or the learning rate changed (see
        :meth:`tracer.Network.what_if`); later replays of it run it so."""
        k = self.last
        network = self.network
        cycle = network.what_if(self.cycle(k), values, lr)
        with network.detour():  # the changed start, as the latest iteration's checkpoint
            network.rewind(cycle)
            start = network.checkpoint()
        if k in self.checkpoints:
            self._bytes -= self.checkpoints[k].nbytes
        self.pinned.add(k)
        self._add(k, start)
        self.losses[-1], self.losses_after[-1] = cycle.loss, cycle.loss_after
        self._cycles.pop(k, None)
        self._keep(cycle)
        return cycle

    def _due(self, k: int) -> bool:
        return k == self.first or k - self._newest >= self.interval

    def _add(self, k: int, checkpoint: Checkpoint) -> None:
        self.checkpoints[k] = checkpoint
        self._newest = max(self._newest, k)
        self._bytes += checkpoint.nbytes
        if self._bytes > self.budget:
            self._thin()

    def _thin(self) -> None:
        """Keep as many checkpoints as fill nine tenths of the budget (the pinned ones too),
        none further from the one before it than the new interval, the grid's step, at which
        new ones are then taken: a replay re-runs at most ``interval - 1`` iterations, and
        thinning happens now and then, not at every iteration."""
        ks = sorted(self.checkpoints)
        first, newest = ks[0], ks[-1]
        count = max(2, int(len(ks) * 0.9 * self.budget / self._bytes))
        # a multiple of the interval the checkpoints were taken at, so that the ones kept are
        # about every m-th and their number fits (a step between two would keep them all)
        wanted = math.ceil((newest - first) / (count - 1))
        interval = self.interval * max(2, math.ceil(wanted / self.interval))
        keep, last = {first, newest, *self.pinned}, first
        for k, after in itertools.pairwise(ks):
            if k in keep or after - last > interval:  # (dropping k would leave a wider gap)
                keep.add(k)
                last = k
        for j in ks:
            if j not in keep:
                self._bytes -= self.checkpoints.pop(j).nbytes
        self.interval = interval

    def _keep(self, cycle: Cycle) -> None:
        """Keep ``cycle``'s records, with the latest iteration's and the few looked at last."""
        self._cycles[cycle.iteration] = cycle
        self._cycles.move_to_end(cycle.iteration)
        while len(self._cycles) > KEEP_CYCLES + 1:
            oldest = next(k for k in self._cycles if k != self.last)
            del self._cycles[oldest]


# --- stopping where something goes wrong ----------------------------------------------------


@dataclass(frozen=True)
class StopCondition:
    """When a training run stops: after an iteration whose losses meet ``on_losses``
    (``loss``, ``loss_after``; checked on the fast path), or any of whose steps meets the
    conditional breakpoint ``breakpoint`` (which needs every iteration recorded).

    ``where`` is the breakpoint that finds the step where the condition shows in the stopped
    iteration's records; if none does, it shows at the outcome (the loss after the update).
    """

    name: str
    label: str
    on_losses: Callable[[float, float], bool] | None = None
    breakpoint: Condition | None = None
    where: Condition | None = None

    def fired(self, cycle: Cycle | None, loss: float, loss_after: float) -> bool:
        if self.on_losses is not None and self.on_losses(loss, loss_after):
            return True
        return (self.breakpoint is not None and cycle is not None
                and first_position(cycle, self.breakpoint) is not None)

    def position(self, cycle: Cycle) -> int:
        """The timeline position in ``cycle`` where the condition shows."""
        found = first_position(cycle, self.breakpoint or self.where)
        return len(cycle.timeline) - 1 if found is None else found


def first_position(cycle: Cycle, condition: Condition | None) -> int | None:
    """The first position of ``cycle``'s timeline whose record meets ``condition``."""
    if condition is None:
        return None
    trace = cycle.trace
    for k, moment in enumerate(cycle.timeline):
        if condition(trace, moment.record):
            return k
    return None


DEFAULT_SPIKE = 2.0


def until_nonfinite() -> StopCondition:
    """The loss, or the loss after the update, is NaN or infinite; it shows at the first value
    or gradient that is, else at the outcome."""
    return StopCondition(
        "nan", "the loss is not finite",
        on_losses=lambda loss, after: not (math.isfinite(loss) and math.isfinite(after)),
        where=break_on_nonfinite())


def until_spike(factor: float = DEFAULT_SPIKE) -> StopCondition:
    """The update multiplies a positive loss by more than ``factor``; it shows at the outcome."""
    if not (math.isfinite(factor) and factor > 1):
        raise ValueError(f"a spike's factor is a number above 1, not {factor!r}")
    return StopCondition(
        "spike", f"the loss rose more than {factor:g}×",
        on_losses=lambda loss, after: loss > 0 and after > factor * loss)


def until_breakpoint(condition: Condition) -> StopCondition:
    """A conditional breakpoint (:mod:`tracer.diagnostics`) stops at a step of the iteration."""
    return StopCondition(condition.name, condition.label, breakpoint=condition)


# `--until` words: name -> (what the argument is, how to make the condition from it or None)
UNTIL: dict[str, tuple[str, Callable[[float | None], StopCondition]]] = {
    "nan": ("", lambda _: until_nonfinite()),
    "spike": ("FACTOR (default 2)",
              lambda x: until_spike(DEFAULT_SPIKE if x is None else x)),
    "grad-above": ("THRESHOLD", lambda x: until_breakpoint(break_on_gradient_above(x))),
    "gradcheck": ("", lambda _: until_breakpoint(break_on_gradcheck_failure())),
    "dead-unit": ("", lambda _: until_breakpoint(break_on_dead_unit())),
}


def parse_until(text: str) -> StopCondition:
    """``nan``, ``spike``, ``spike:3``, ``grad-above:100``, ``gradcheck``, ``dead-unit`` as a
    condition; ``ValueError`` saying what is allowed for anything else."""
    name, _, arg = text.strip().partition(":")
    choices = ", ".join(f"{n}:{a.split()[0]}" if a else n for n, (a, _) in UNTIL.items())
    if name not in UNTIL:
        raise ValueError(f"unknown condition {text!r}; choose from {choices}")
    wants, make = UNTIL[name]
    if not arg:
        if wants and "default" not in wants:
            raise ValueError(f"{name} needs a number: {name}:{wants.split()[0]}")
        return make(None)
    if not wants:
        raise ValueError(f"{name} takes no number (write just {name})")
    try:
        value = float(arg)
    except ValueError:
        raise ValueError(f"{name}'s {wants.split()[0]} must be a number, not {arg!r}") from None
    return make(value)


@dataclass(frozen=True)
class Stop:
    """Where a condition stopped a run: ``iteration``, at ``position`` of its timeline."""

    condition: StopCondition
    iteration: int
    position: int
    cycle: Cycle

    @property
    def where(self) -> str:
        """``forward step 5 (log_not_p)``, ``backward step 3 (h1)`` or ``the outcome``."""
        moment = self.cycle.timeline[self.position]
        if isinstance(moment.record, Outcome):
            return "the outcome (the loss after the update)"
        if moment.node is None:
            return f"update {moment.index + 1} ({moment.record.name})"
        name = self.cycle.trace.nodes[moment.node].name
        return f"{moment.phase} step {moment.index + 1} ({name})"

    @property
    def message(self) -> str:
        outcome = self.cycle.timeline[-1].record
        return (f"stopped at iteration {self.iteration}, {self.where}: {self.condition.label} "
                f"({loss_change(outcome.loss_before, outcome.loss_after)})")


@dataclass(frozen=True)
class RunResult:
    """What :func:`run` did: ``done`` of ``requested`` iterations; ``stop`` if a condition
    fired; ``cancelled`` if asked to stop before the end."""

    requested: int
    done: int
    stop: Stop | None = None
    cancelled: bool = False


def run(history: History, steps: int, until: Sequence[StopCondition] = (),
        progress: Callable[[int, int, float], None] | None = None,
        cancelled: Callable[[], bool] | None = None) -> RunResult:
    """Train ``steps`` more iterations, stopping at the first that meets a condition of
    ``until``.

    Parameters
    ----------
    history
        Where the iterations go.
    steps
        From 1 to :data:`MAX_STEPS`.
    until
        Stop conditions; a conditional breakpoint among them records every iteration (slower),
        the others let iterations run through the fast path.
    progress
        Called after each iteration with (iterations done, ``steps``, its loss).
    cancelled
        Asked before each iteration; ``True`` ends the run there, keeping what was trained.

    The last iteration run is always recorded (kept as the history's latest).
    """
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be from 1 to {MAX_STEPS:,}, not {steps}")
    every = any(c.breakpoint is not None for c in until)
    for done in range(1, steps + 1):
        if cancelled is not None and cancelled():
            return RunResult(steps, done - 1, cancelled=True)
        cycle = history.step(record=every or done == steps)
        loss, after = history.losses[-1], history.losses_after[-1]
        for condition in until:
            if condition.fired(cycle, loss, after):
                cycle = cycle or history.cycle(history.last)
                stop = Stop(condition, cycle.iteration, condition.position(cycle), cycle)
                return RunResult(steps, done, stop)
        if progress is not None:
            progress(done, steps, loss)
    return RunResult(steps, steps)
