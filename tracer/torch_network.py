"""A PyTorch network file as a :class:`~tracer.network.Network`: its cycles recorded by
:mod:`tracer.torch_bridge`, its iterations, checkpoints and detours run by
:mod:`tracer.torch_fast`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .checkpoint import Checkpoint
from .network import Cycle, Network, leaf_changes
from .record import Trace
from .tensor import Tensor
from .torch_bridge import TorchModel
from .torch_fast import Iterations


@dataclass
class TorchNetwork(Network):
    """A :class:`~tracer.network.Network` whose cycle is recorded from PyTorch; its iterations
    run through :class:`tracer.torch_fast.Iterations` (plain PyTorch steps when not recorded,
    one forward pass each)."""

    model: TorchModel | None = None
    runs: Iterations | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.runs = Iterations(self.model, self.optimizer)

    def root(self) -> Tensor:
        return self.model.probe()

    def loss(self) -> float:
        return self.model.loss()

    def trace(self) -> Trace:
        """The trace of the forward pass the next iteration starts from (and its backward)."""
        with self.lock:
            return self.runs.traced(self.runs.current(record=True))

    @contextmanager
    def replaying(self, trace: Trace) -> Iterator[None]:
        """Checks of a cycle's trace run forward() again from where that cycle's forward pass
        started: its dropout masks and random mini-batch, not the next ones. Afterwards the
        random states and BatchNorm's statistics are what they were."""
        start = getattr(trace, "start", None)
        if start is None:
            yield
            return
        here = self.runs.start_here()
        self.runs.go_to(start)
        try:
            yield
        finally:
            self.runs.go_to(here)

    def checks_trace(self, trace: Trace) -> Trace:
        """The model's float64 copy recorded from where ``trace``'s forward pass started (its
        parameter values, random states and BatchNorm's statistics), unless the model computes
        in float64 already: the numbers a check of ``trace`` compares (``trace``'s arrays are
        float64, holding float32 numbers). The parameters are put back afterwards."""
        params = self.model.params
        if all(p.dtype == torch.float64 for p in params.values()):
            return trace
        with self.lock, self.replaying(trace):
            kept = {name: p.detach().clone() for name, p in params.items()}
            try:
                with torch.no_grad():
                    for node in trace.params:
                        params[node.name].copy_(torch.tensor(node.value))
                return self.model.record_float64()
            finally:
                with torch.no_grad():
                    for name, p in params.items():
                        p.copy_(kept[name])
                self.model.sync()

    def _cycle(self) -> Cycle:
        done = self.runs.current(record=True)
        recorded = self.runs.traced(done)
        start = done.start
        del done  # (its graph goes before the next one is built: see Iterations.fast_step)
        in_graph = {n.name for n in recorded.params}
        shells = self.model.shells  # (the trace gave those in it the values it recorded)
        self.model.sync(set(self.model.params) - in_graph)  # (fast steps leave them behind)
        params = sorted(((name, p, shells[name]._data) for name, p in self.model.params.items()),
                        key=lambda item: item[0] not in in_graph)
        state = self.optimizer.snapshot()
        nodes = {n.name: n.id for n in recorded.params}
        updates = tuple(u._replace(node=nodes.get(u.name))
                        for u in self.optimizer.step_torch(params, self.model.values))
        self.iteration += 1
        try:
            after = self.runs.advance(record=True)
        except BaseException:  # the iteration did not happen (as tracer.Network's)
            with torch.no_grad():
                for _, p, before in params:
                    p.copy_(torch.from_numpy(np.array(before)))
            self.optimizer.restore(state)
            self.iteration -= 1
            self.runs.go_to(start)
            raise
        for update in updates:
            shells[update.name]._data = update.after
        return Cycle(self.iteration, recorded, updates, after, self.optimizer.describe(), state)

    # --- training histories (see tracer.checkpoint and tracer.torch_fast) -----------------

    def fast_step(self) -> tuple[float, float]:
        """One iteration as a plain PyTorch training step; the loss before and after it."""
        with self.lock:
            losses = self.runs.fast_step()
            self.iteration += 1
            return losses

    def upcoming(self) -> Trace:
        return self.trace()

    def expect_checkpoint(self) -> None:
        """(Every forward pass keeps where it started: for torch's generator that is cheap.)"""

    def checkpoint(self) -> Checkpoint:
        """The parameters' values, the optimizer's memory and the random states (see
        :mod:`tracer.torch_fast`)."""
        with self.lock:
            return self.runs.checkpoint(self.iteration)

    def restore(self, checkpoint: Checkpoint) -> None:
        with self.lock:
            self.runs.restore(checkpoint.state)
            self.iteration = checkpoint.iteration

    @contextmanager
    def detour(self) -> Iterator[None]:
        with self.lock, self.runs.kept(self.iteration) as here:
            try:
                yield
            finally:
                self.iteration = here.iteration

    def rewind(self, cycle: Cycle, changes: Mapping[int, np.ndarray] | None = None) -> None:
        """Put the parameters and the optimizer back to where ``cycle`` started, with the
        leaves of node ids in ``changes`` given new values."""
        tensors = {**self.model.inputs, **self.model.params}
        with self.lock:
            with torch.no_grad():
                for node in cycle.trace.params:
                    self.model.params[node.name].copy_(torch.tensor(node.value))
                for k, new in (changes or {}).items():
                    tensors[cycle.trace.nodes[k].name].copy_(torch.tensor(new))
            self.model.sync()
            self.optimizer.restore(cycle.optimizer_state)
            self.runs.forget()
            self.iteration = cycle.iteration - 1

    def what_if(self, cycle: Cycle, values: Mapping[str, Any] | None = None,
                lr: float | None = None) -> Cycle:
        """Re-run ``cycle`` from where it started with some parameters or inputs (by name) or
        the learning rate changed (see :meth:`tracer.network.Network.what_if`)."""
        tensors = {**self.model.inputs, **self.model.params}
        changes = leaf_changes(cycle.trace, values, tensors.__contains__)
        if lr is not None:
            self.optimizer.set_lr(lr)
        with self.lock:
            self.rewind(cycle, changes)
            return self._cycle()
