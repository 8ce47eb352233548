"""A network: a forward function over parameters, an optimizer, and the cycle they make.

One cycle is: trace the forward pass, record the backward pass, record the optimizer's update,
then re-run the forward pass for the loss after. The TUI, the CLI and tests all walk the same
:class:`Cycle`.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter
from typing import Any

import numpy as np

from .arrays import constant, shared
from .checkpoint import (
    Checkpoint,
    random_nbytes,
    random_state,
    same_random_state,
    set_random_state,
)
from .fastpath import gradients
from .optim import SGD, Optimizer, UpdateRecord
from .record import Trace, _topological, forward_values, trace
from .tensor import DATA_LOCK, Tensor, quiet
from .timeline import PHASES, STATES, STEP_PHASES, Moment, NodeState, Outcome

__all__ = ["PHASES", "Cycle", "Moment", "Network", "NetworkError", "NodeState", "Outcome"]


_DATA = attrgetter("_data")


class NetworkError(ValueError):
    """The network's forward function gave something that cannot be backpropagated."""


# The Python objects of one node's or one input edge's records (tuples, small arrays' headers,
# the tensor): 600 to 640 bytes on the scenarios and on scalar networks of 500 and 2,000 nodes
# (tracemalloc, CPython 3.11).
RECORD_BYTES = 640
# The Python objects of a checkpoint (tuples, the optimizer's and settings' dicts) and of each
# leaf in it (its array's header, its pair, the optimizer's memory for it): 600 + 220 bytes per
# leaf on xor, mazur and house-price (tracemalloc, CPython 3.11).
CHECKPOINT_OBJECT_BYTES = 600
LEAF_OBJECT_BYTES = 220


@dataclass(frozen=True)
class Cycle:
    """Everything one training iteration did, as records."""

    iteration: int
    trace: Trace
    updates: tuple[UpdateRecord, ...]
    loss_after: float
    optimizer: str
    optimizer_state: Any = None  # the optimizer's memory before this cycle's step (what-ifs)
    # The root of the forward pass re-run after the update (the one that gave loss_after, and
    # the next iteration's start): see values_after.
    after_root: Tensor | None = field(default=None, repr=False, compare=False)

    @property
    def loss(self) -> float:
        return self.trace.loss

    @cached_property
    def values_after(self) -> tuple[np.ndarray, ...] | None:
        """Every node's value in the forward pass re-run after the update (the one that gave
        ``loss_after``), in the trace's node order, worked out when first asked for; ``None``
        if the re-run built a different graph (or there is none)."""
        if self.after_root is None:
            return None
        values = forward_values(self.after_root)
        nodes = self.trace.nodes
        same = len(values) == len(nodes) and all(
            v.shape == n.value.shape for v, n in zip(values, nodes, strict=True))
        return values if same else None

    @property
    def nbytes(self) -> int:
        """About how much memory the cycle's records hold: their arrays' buffers, each counted
        once (with those shared with the cycles before and after it, such as parameter
        values, so this errs high), plus the Python objects of a record per node and per input
        edge (:data:`RECORD_BYTES` each)."""
        steps = self.trace.backward
        arrays = [a for node in self.trace.nodes for a in (node.value, node.grad)]
        arrays += [a for step in steps for r in step.inputs
                   for a in (r.local, r.contribution, r.unreduced, r.grad_after)]
        arrays += [a for u in self.updates for a in (u.change, u.after, *u.state.values())]
        arrays += list(self.values_after or ())
        buffers: dict[int, int] = {}
        for a in arrays:
            while isinstance(a, np.ndarray) and isinstance(a.base, np.ndarray):
                a = a.base
            if isinstance(a, np.ndarray):
                buffers[id(a)] = a.nbytes
        records = len(self.trace.nodes) + sum(len(step.inputs) for step in steps)
        return sum(buffers.values()) + RECORD_BYTES * records

    @property
    def timeline(self) -> tuple[Moment, ...]:
        """Forward steps, then backward steps, then one step per update, then the outcome."""
        moments = [Moment("forward", k, s) for k, s in enumerate(self.trace.forward)]
        moments += [Moment("backward", k, s) for k, s in enumerate(self.trace.backward)]
        moments += [Moment("update", k, u) for k, u in enumerate(self.updates)]
        moments.append(Moment("outcome", 0, Outcome(self.loss, self.loss_after)))
        return tuple(moments)

    def status(self, node: int, moment: Moment) -> NodeState:
        """How ``node`` looks at ``moment``: pending, current or done, and whether its value and
        its gradient are known yet (after the backward pass, every gradient the pass computed).

        A node with no step in a phase (no backward step: nothing to send back) counts as done
        in it, with no gradient known.
        """
        phase = moment.phase
        trace = self.trace
        if phase not in STEP_PHASES:
            return STATES["done", True, trace.step_of(node) is not None]
        turn = trace.step_of(node, phase)
        if turn is None:
            return STATES["done", True, False]
        reached = turn <= moment.index
        status = "current" if turn == moment.index else "done" if reached else "pending"
        if phase == "forward":
            return STATES[status, reached, False]
        return STATES[status, True, reached]

    def done_count(self, members: Sequence[int], moment: Moment) -> int:
        """How many of the nodes ``members`` have had their step by ``moment`` (its own step
        excluded; a node with no step in the phase counts as done); all of them after the
        backward pass."""
        if moment.phase not in STEP_PHASES:
            return len(members)
        return bisect_left(self._member_steps(members, moment.phase), moment.index)

    def group_status(self, members: Sequence[int], moment: Moment) -> tuple[str, int]:
        """The status of the nodes ``members`` (sorted ids) seen as one box, and how many are
        done: current while any of them is the current step's node, done once all are."""
        done = self.done_count(members, moment)
        node = moment.node
        if node is not None and members:
            k = bisect_left(members, node)
            if k < len(members) and members[k] == node:
                return "current", done
        return ("done" if done == len(members) else "pending"), done

    @cached_property
    def _steps_of_groups(self) -> dict[tuple[int, str], tuple[Sequence[int], list[int]]]:
        return {}

    def _member_steps(self, members: Sequence[int], phase: str) -> list[int]:
        """The sorted step indices of ``members`` in ``phase``, -1 for a member with no step
        there (cached per member list: a repaint asks for every group box it draws)."""
        key = (id(members), phase)
        cached = self._steps_of_groups.get(key)
        if cached is None or cached[0] is not members:
            steps = (self.trace.step_of(m, phase) for m in members)
            cached = (members, sorted(-1 if s is None else s for s in steps))
            self._steps_of_groups[key] = cached
        return cached[1]

    def updates_done(self, moment: Moment) -> int:
        """How many parameter updates have been applied at ``moment`` (the current one
        included): none before the update phase, all of them at the outcome."""
        if moment.phase == "update":
            return moment.index + 1
        return len(self.updates) if moment.phase == "outcome" else 0

    def position_of(self, phase: str, node: int) -> int | None:
        """Timeline position of ``node``'s step in ``phase`` (``"forward"`` or ``"backward"``),
        ``None`` if it has no step there."""
        step = self.trace.step_of(node, phase)
        if step is None:
            return None
        return step + (len(self.trace.forward) if phase == "backward" else 0)


def leaf_changes(recorded: Trace, values: Mapping[str, Any] | None,
                 changeable: Callable[[str], bool] = lambda name: True) -> dict[int, np.ndarray]:
    """A what-if's new values by node: each name must be a leaf of ``recorded`` (and
    ``changeable``), each value of its shape (or of its size, reshaped).

    Raises ``KeyError`` for a name that is not a leaf and ``ValueError`` for a wrong shape.
    """
    changes = {}
    for name, value in (values or {}).items():
        node = recorded.find(name)
        if node.inputs or not changeable(name):
            raise KeyError(f"{name} is computed by the network; only parameters and inputs "
                           f"can be changed")
        new = np.array(value, dtype=np.float64)
        if new.shape != node.shape and new.size == node.value.size:
            new = new.reshape(node.shape)
        if new.shape != node.shape:
            raise ValueError(f"{name} has shape {node.shape}, not {new.shape}")
        changes[node.id] = new
    return changes


@dataclass
class Network:
    """A forward function and what trains it.

    Parameters
    ----------
    forward
        Builds the graph from the current parameter values and returns the scalar loss.
    optimizer
        Defaults to SGD with learning rate 0.1.
    params
        Trainable tensors declared by the network, so that one the loss never reaches is still
        listed (with gradient 0). Parameters found in the graph are always included.
    """

    forward: Callable[[], Tensor]
    name: str = "network"
    title: str = ""
    description: str = ""
    optimizer: Optimizer = field(default_factory=SGD)
    params: Sequence[Tensor] = ()
    source: str | None = None
    prediction_text: Callable[[Trace], str] | None = None
    iteration: int = 0
    # Held while the network's code runs on its tensors (cycle, what-if, a whole-network
    # gradient check): a UI runs them in worker threads, and they all move the parameters.
    lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False,
                                  compare=False)
    # The forward pass the next iteration starts from: run right after the last step (it gave
    # that step's loss after), so an iteration runs the forward pass once, not twice. With it,
    # each leaf's array at the time (it is valid while they are the same arrays) and the random
    # state before it, when a checkpoint asked for that (:meth:`expect_checkpoint`).
    _pending: tuple[Tensor, tuple[tuple[Tensor, np.ndarray], ...], Any] | None = field(
        default=None, init=False, repr=False, compare=False)
    _leaves: tuple[Tensor, ...] = field(default=(), init=False, repr=False, compare=False)
    _random_due: bool = field(default=False, init=False, repr=False, compare=False)
    _last_random: Any = field(default=None, init=False, repr=False, compare=False)
    _last_arrays: frozenset[int] = field(default=frozenset(), init=False, repr=False,
                                         compare=False)

    def root(self) -> Tensor:
        """Run ``forward()`` and check that it returned a scalar Tensor."""
        with quiet():
            out = self.forward()
        if not isinstance(out, Tensor):
            raise NetworkError(f"forward() must return a Tensor (the loss), but it returned "
                               f"{type(out).__name__}. Return the scalar to backpropagate from.")
        if out._data.size != 1:
            raise NetworkError(f"forward() must return a scalar (one number), but it returned "
                               f"shape {out.shape}. Reduce it, e.g. with .sum() or .mean().")
        return out

    def loss(self) -> float:
        """The loss at the current parameters, from an untraced forward pass."""
        return float(self.root().data.item())  # the loss may be shaped (1,)

    def trace(self) -> Trace:
        return trace(self.root())

    def trace_for_checks(self) -> Trace:
        """The trace gradient checks compare with finite differences: :meth:`checks_trace` of
        :meth:`trace` (a PyTorch network's float64 copy, see :mod:`tracer.torch_bridge`)."""
        return self.checks_trace(self.trace())

    def cycle(self) -> Cycle:
        """Trace, backpropagate, update the parameters, and measure the loss after."""
        with self.lock:
            return self._cycle()

    def _cycle(self) -> Cycle:
        root = self._start()
        recorded = trace(root)  # (the collector paused while it builds the records)
        params = recorded.params
        pairs = self._trainable([(n.name, recorded.tensors[n.id]) for n in params],
                                recorded.tensors)
        # each record carries its parameter's node (none for one the loss does not reach)
        nodes: list[int | None] = [n.id for n in params]
        nodes += [None] * (len(pairs) - len(nodes))
        state = self.optimizer.snapshot()
        updates, after = self._step(root, pairs, state, nodes)
        # (the forward pass that gave loss_after, the next iteration's start: its values are
        # worked out when asked for, from the arrays its ops computed from)
        return Cycle(self.iteration, recorded, updates, after, self.optimizer.describe(), state,
                     self._pending[0])

    def fast_step(self) -> tuple[float, float]:
        """One iteration without records, through the same arithmetic as :meth:`cycle` (the
        parameters end bit for bit where a recorded cycle puts them); return the loss before
        and after its update."""
        with self.lock, quiet():  # (one quiet block for the backward and forward passes)
            root = self._start()
            leaves = gradients(root)
            pairs = self._trainable([("", t) for t in leaves if t.kind == "param"], leaves)
            _, after = self._step(root, pairs, self.optimizer.snapshot(), record=False)
            return float(root._data.item()), after

    def _step(self, root: Tensor, pairs: list[tuple[str, Tensor]], state: Any,
              nodes: Sequence[int | None] | None = None, record: bool = True
              ) -> tuple[tuple[UpdateRecord, ...], float]:
        """Update the parameters and run the forward pass the next iteration starts from;
        return the update records and its loss. If that forward pass fails (the network's own
        code may raise), the update is undone: the iteration did not happen, and running it
        again starts from ``root`` as before."""
        values = [(p, p._data) for _, p in pairs]
        updates = self.optimizer.step(pairs, nodes, record=record)
        self.iteration += 1
        try:
            return updates, self._advance()
        except BaseException:
            with DATA_LOCK:
                for p, value in values:
                    p._data = value
            self.optimizer.restore(state)
            self.iteration -= 1
            self._pending = (root, self._leaf_arrays(), None)
            raise

    def _trainable(self, pairs: list[tuple[str, Tensor]], graph: Sequence[Tensor]
                   ) -> list[tuple[str, Tensor]]:
        """``pairs`` (the graph's parameters) and the declared ones the loss does not reach,
        with gradient 0; remembers the graph's leaves for the next forward pass."""
        in_graph = {id(t) for _, t in pairs}
        unused = [p for p in self.params if id(p) not in in_graph]
        for k, p in enumerate(unused):
            p.grad = constant(0.0, p.shape)  # the loss does not depend on it
            pairs.append((p.name or f"param_unused_{k + 1}", p))
        self._leaves = (*(t for t in graph if t._op is None and t.kind != "constant"), *unused)
        return pairs

    def _leaf_arrays(self) -> tuple[tuple[Tensor, np.ndarray], ...]:
        """Each leaf with the array it holds now (a forward pass is valid while they hold
        the same ones)."""
        leaves = self._leaves
        return tuple(zip(leaves, map(_DATA, leaves), strict=True))

    def _start(self) -> Tensor:
        """The root of this iteration's forward pass: the one run after the last step if its
        leaves still hold the arrays it used, else a new forward pass."""
        pending, self._pending = self._pending, None
        if pending is not None and all(t._data is a for t, a in pending[1]):
            return pending[0]
        return self.root()

    def upcoming(self) -> Trace:
        """The trace of the forward pass the next iteration starts from: what the parameters
        give now, after the last update (run now if it has not been)."""
        with self.lock:
            pending = self._pending
            root = self._start()
            if pending is None or pending[0] is not root:  # it ran now
                pending = (root, self._leaf_arrays(), None)
            self._pending = pending
            return trace(root)

    def _advance(self) -> float:
        """Run the forward pass the next iteration starts from; return its loss."""
        random = random_state() if self._random_due else None
        self._random_due = False
        root = self.root()
        self._pending = (root, self._leaf_arrays(), random)
        return float(root._data.item())

    # --- checkpoints (see tracer.checkpoint) ---------------------------------------------------

    def expect_checkpoint(self) -> None:
        """A checkpoint will be taken before the next iteration: keep the random state before
        the forward pass it starts from (taking it costs more than a small iteration)."""
        self._random_due = True

    def checkpoint(self) -> Checkpoint:
        """The state the next iteration starts from: every leaf's value (parameters and
        inputs, read-only arrays shared, not copied), the optimizer's memory and settings, and
        the random state before the next forward pass."""
        with self.lock:
            if self._pending is None or self._pending[2] is None:
                # That forward pass ran without the random state kept: run it again from here.
                self._random_due = True
                self._advance()
            if not self._leaves:  # before the first iteration: learn them from its graph
                root = self._pending[0]
                self._leaves = tuple(t for t in _topological(root)
                                     if t._op is None and t.kind != "constant")
                self._pending = (root, self._leaf_arrays(),
                                 self._pending[2])
            random = self._pending[2]
            shares = self._last_random is not None and same_random_state(random,
                                                                         self._last_random)
            random = self._last_random = self._last_random if shares else random
            with DATA_LOCK:
                leaves = tuple((t, shared(t._data)) for t in self._leaves)
            optimizer = self.optimizer.snapshot()
            settings = {k: v for k, v in vars(self.optimizer).items()
                        if k not in ("_state", "iteration")}
            # What it holds that the last checkpoint did not: new parameter values, inputs made
            # anew by each forward pass (a mini-batch), the optimizer's memory.
            arrays = [a for _, a in leaves if id(a) not in self._last_arrays]
            self._last_arrays = frozenset(id(a) for _, a in leaves)
            arrays += [a for per in optimizer[1].values() for a in per.values()
                       if isinstance(a, np.ndarray)]
            return Checkpoint(self.iteration, (leaves, optimizer, settings, random),
                              sum(a.nbytes for a in arrays)
                              + (0 if shares else random_nbytes(random))
                              + CHECKPOINT_OBJECT_BYTES + LEAF_OBJECT_BYTES * len(leaves))

    def restore(self, checkpoint: Checkpoint) -> None:
        """Put back the state of ``checkpoint``: the next iteration is ``iteration + 1`` and
        runs exactly as it did after the checkpoint was taken."""
        leaves, optimizer, settings, random = checkpoint.state
        with self.lock:
            with DATA_LOCK:
                for t, a in leaves:
                    t._data = a
            self._leaves = tuple(t for t, _ in leaves)
            self.optimizer.restore(optimizer)
            vars(self.optimizer).update(settings)
            set_random_state(random)
            self._pending = None
            self.iteration = checkpoint.iteration

    def checks_trace(self, trace: Trace) -> Trace:
        """The trace the gradient checks of ``trace`` run on (see
        :func:`tracer.diagnostics.diagnose`): ``trace`` itself, recorded in float64; a PyTorch
        model recorded in float32 gives its float64 copy of the same forward pass."""
        return trace

    @contextmanager
    def replaying(self, trace: Trace) -> Iterator[None]:
        """Inside the block, :attr:`forward` and :meth:`loss` run as ``trace``'s forward pass
        ran, from the random state it started from, for checks that compare its records with
        forward passes run again. A native network's forward pass draws the same numbers each
        time it runs (``tracer.nn.dropout`` takes a seed), so this is the block itself; the
        PyTorch bridge puts back torch's generator (dropout) and BatchNorm's statistics."""
        yield

    @contextmanager
    def detour(self) -> Iterator[None]:
        """Run iterations again inside the block (a replay); afterwards the network is exactly
        where it was, the forward pass the next iteration starts from included."""
        with self.lock:
            due = self._random_due
            here = self.checkpoint()
            pending, random = self._pending, random_state()
            try:
                yield
            finally:
                self.restore(here)
                set_random_state(random)
                self._pending, self._random_due = pending, due

    def what_if(self, cycle: Cycle, values: Mapping[str, Any] | None = None,
                lr: float | None = None) -> Cycle:
        """Re-run ``cycle`` from where it started, with some leaves or the learning rate changed.

        Every parameter goes back to the value ``cycle`` traced, and the optimizer to the state
        it had then; then the named leaves (parameters or inputs, by node name) take their new
        values and the cycle runs again. Changed inputs stay changed for later cycles.

        Raises ``KeyError`` for a name that is not a leaf of the graph and ``ValueError`` for a
        value of the wrong shape or a learning rate that is not a positive number.
        """
        recorded = cycle.trace
        changes = leaf_changes(recorded, values)
        if lr is not None:
            self.optimizer.set_lr(lr)
        with self.lock:
            self.rewind(cycle, changes)
            return self._cycle()

    def rewind(self, cycle: Cycle, changes: Mapping[int, np.ndarray] | None = None) -> None:
        """Put every parameter back to the value ``cycle`` traced and the optimizer to the
        state it had then, with the leaves of node ids in ``changes`` given new values: the
        next iteration is ``cycle``'s again (the start of :meth:`what_if`)."""
        recorded = cycle.trace
        changes = changes or {}
        with self.lock:
            for node in recorded.nodes:
                if node.kind == "param" or node.id in changes:
                    # a recorded value is read-only, so the tensor may share it
                    recorded.tensors[node.id].data = changes.get(node.id, node.value)
            self.optimizer.restore(cycle.optimizer_state)
            self.iteration = cycle.iteration - 1
            self._pending = None

    def train(self, steps: int) -> list[float]:
        """Run ``steps`` iterations without records; return the loss before each, then the
        loss after the last."""
        losses = [self.fast_step() for _ in range(steps)]
        return [before for before, _ in losses] + [losses[-1][1] if losses else self.loss()]
