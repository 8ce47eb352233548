"""A PyTorch network file's iterations: record-free steps, one forward pass each, checkpoints.

:class:`~tracer.torch_bridge.TorchNetwork` runs its iterations through :class:`Iterations`.
An iteration nobody looks at is a plain PyTorch training step: ``loss.backward()`` on a forward
pass run without the recorder, ``OPTIMIZER.step()``, then the forward pass the next iteration
starts from (it gives this one's loss after). A recorded iteration runs the recorder on its
forward pass and keeps hooks on its backward pass; the arithmetic is PyTorch's own either way,
so the parameters, the optimizer's memory and every loss are bit for bit the same whichever
iterations were recorded (the tests compare them).

The forward pass an iteration starts from ran at the end of the one before. If it ran without
the recorder and this iteration is recorded, it runs again under the recorder from where it
started: torch's random state (dropout masks, ``torch.randint`` mini-batches), numpy's and
Python's if ``forward()`` draws from them, and the modules' buffers (BatchNorm's running
statistics) are put back first, so it computes the same numbers.

A checkpoint holds the parameters' values (``state_dict()`` of the modules: parameters and
buffers), the file's other tensors where they changed, the optimizer's ``state_dict()``, and
the random states the next forward pass starts from; restoring one and running the same
iterations gives the same numbers, so :meth:`tracer.training.History.replay` re-records any
iteration of a PyTorch run bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .checkpoint import (
    Checkpoint,
    random_nbytes,
    random_state,
    same_random_state,
    set_random_state,
)

if TYPE_CHECKING:
    from .torch_bridge import TorchModel, TorchOptimizer, TorchTrace, _Recorder

RNG_BYTES = 5056  # torch.get_rng_state() of the CPU generator


@dataclass(frozen=True)
class Start:
    """What a forward pass starts from besides the parameters and inputs: torch's random
    state, numpy's and Python's (``None`` for a ``forward()`` that does not draw from them)
    and copies of the modules' buffers (none for a model without)."""

    torch_random: torch.Tensor
    host_random: tuple[Any, ...] | None
    buffers: tuple[torch.Tensor, ...]


@dataclass
class Pass:
    """A forward pass that ran: its loss (a tensor and a number), the recorder if it ran under
    one, the versions of the model's tensors after it (it holds while they are unchanged:
    PyTorch counts every in-place change) and where it started. After its backward pass, the
    parameters' gradients and, for a recorded one, its trace."""

    loss: torch.Tensor
    value: float  # the loss as a number
    recorder: _Recorder | None
    versions: tuple[int, ...]
    start: Start
    grads: list[torch.Tensor | None] | None = None
    trace: TorchTrace | None = None


@dataclass(frozen=True)
class TorchState:
    """A checkpoint's state: clones of the parameters and buffers, the other tensors' values
    (shared with the previous checkpoint where unchanged), the optimizer's snapshot and where
    the next forward pass starts."""

    params: tuple[torch.Tensor, ...]
    inputs: tuple[torch.Tensor, ...]
    optimizer: Any
    start: Start


class Iterations:
    """The forward passes, backward passes and steps of a :class:`TorchModel`'s iterations.

    Parameters
    ----------
    model
        The network file's model.
    optimizer
        What steps its parameters.
    """

    def __init__(self, model: TorchModel, optimizer: TorchOptimizer):
        self.model = model
        self.optimizer = optimizer
        self.params = list(model.params.values())
        self.inputs = list(model.inputs.values())
        self.watched = [*self.params, *self.inputs, *model.buffers]
        self.pending: Pass | None = None  # the forward pass the next iteration starts from
        self.draws_host_random: bool | None = None  # learnt from the first forward pass
        self._last_inputs: tuple[tuple[int, torch.Tensor], ...] = ()  # (version, copy)

    # --- forward passes ------------------------------------------------------------------

    def start_here(self) -> Start:
        """Where a forward pass run now would start."""
        host = None if self.draws_host_random is False else random_state()
        return Start(torch.get_rng_state(), host,
                     tuple(b.clone() for b in self.model.buffers))

    def go_to(self, start: Start) -> None:
        """Put the random states and buffers back to ``start``."""
        torch.set_rng_state(start.torch_random)
        if start.host_random is not None:
            set_random_state(start.host_random)
        with torch.no_grad():
            for b, kept in zip(self.model.buffers, start.buffers, strict=True):
                b.copy_(kept)

    def forward(self, record: bool) -> Pass:
        """Run ``forward()``, under the recorder if ``record``, as the next iteration's start."""
        start = self.start_here()
        self.pending = None
        try:
            if record:
                recorder, loss = self.model.forward_recorded()
                recorder.start = start
            else:
                recorder, loss = None, self.model.forward_plain()
        except BaseException:
            self.go_to(start)  # (a forward pass that failed drew nothing)
            raise
        if self.draws_host_random is None:
            self.draws_host_random = not same_random_state(start.host_random, random_state())
        self.pending = Pass(loss, float(loss.item()), recorder, self.versions(), start)
        return self.pending

    def versions(self) -> tuple[int, ...]:
        return tuple(t._version for t in self.watched)

    def current(self, record: bool) -> Pass:
        """The forward pass the next iteration starts from: the one that ran, if the tensors
        are unchanged since (and it ran under the recorder, if ``record``); else run again
        from where that one started (a check's forward pass may have moved BatchNorm's
        statistics), or anew if there is none (:meth:`forget`)."""
        done = self.pending
        if done is not None:
            if done.versions == self.versions() and (done.recorder is not None or not record):
                return done
            self.go_to(done.start)
            del done  # (see fast_step)
        return self.forward(record)

    def advance(self, record: bool) -> float:
        """Run the forward pass the next iteration starts from; return its loss (the loss
        after this iteration's update)."""
        return self.forward(record).value

    def forget(self) -> None:
        """Let go of the forward pass that ran: the next iteration runs its own from where
        the random states and buffers are now."""
        self.pending = None

    # --- backward passes and steps -------------------------------------------------------

    def backward(self, done: Pass) -> None:
        """PyTorch's backward pass of ``done``, once (a recorded pass keeps its trace);
        the parameters' ``.grad`` hold its gradients afterwards."""
        if done.grads is None:
            if done.recorder is not None:
                done.trace = self.model.trace_of(done.recorder, done.loss)
            else:
                self.model.backward(done.loss)
            done.grads = [p.grad for p in self.params]
        else:  # (a check in between may have cleared them)
            for p, g in zip(self.params, done.grads, strict=True):
                p.grad = g

    def traced(self, done: Pass) -> TorchTrace:
        """The records of ``done`` and of its backward pass (run now if it has not been)."""
        self.backward(done)
        assert done.trace is not None, "a recorded forward pass has a trace"
        return done.trace

    def fast_step(self) -> tuple[float, float]:
        """One iteration as a plain training step; ``(loss, loss_after)``.

        If the forward pass after the update raises, the update stays (undoing it would mean
        copying the parameters and the optimizer's memory every iteration): its loss after is
        NaN, and the next iteration, which starts from that forward pass, raises the error
        again before it changes anything.
        """
        done = self.current(record=False)
        self.backward(done)
        self.optimizer.step_torch(())
        loss = done.value
        # Its graph goes before the next one is built: one alive at a time (the parameters'
        # AccumulateGrad nodes, and any hooks on them, are made anew for each graph)
        del done
        try:
            after = self.advance(record=False)
        except Exception:
            after = math.nan
        return loss, after

    # --- checkpoints ---------------------------------------------------------------------

    def checkpoint(self, iteration: int) -> Checkpoint:
        """The state the next iteration starts from (see :class:`TorchState`)."""
        start = self.pending.start if self.pending is not None else self.start_here()
        params = tuple(p.detach().clone() for p in self.params)
        kept = dict(self._last_inputs)
        inputs, new = [], 0
        for t in self.inputs:
            copy = kept.get(id(t))
            if copy is None or copy[0] != t._version:
                copy = (t._version, t.detach().clone())
                new += copy[1].nbytes
            inputs.append(copy)
        self._last_inputs = tuple((id(t), c) for t, c in zip(self.inputs, inputs, strict=True))
        optimizer = self.optimizer.snapshot()
        nbytes = (sum(t.nbytes for t in (*params, *start.buffers)) + new + RNG_BYTES
                  + (random_nbytes(start.host_random) if start.host_random else 0)
                  + sum(v.nbytes for entry in optimizer[1]["state"].values()
                        for v in entry.values() if isinstance(v, torch.Tensor)))
        state = TorchState(params, tuple(c for _, c in inputs), optimizer, start)
        return Checkpoint(iteration, state, nbytes)

    def restore(self, state: TorchState) -> None:
        """Put back a checkpoint's state (the next forward pass runs anew from it)."""
        with torch.no_grad():
            for t, value in zip([*self.params, *self.inputs], [*state.params, *state.inputs],
                                strict=True):
                t.copy_(value)
        self._last_inputs = ()
        self.model.sync()
        self.optimizer.restore(state.optimizer)
        self.go_to(state.start)
        self.forget()

    @contextmanager
    def kept(self, iteration: int) -> Iterator[Checkpoint]:
        """A block after which the state is what it was before it (see
        :meth:`tracer.Network.detour`); the next forward pass then runs again."""
        here = self.checkpoint(iteration)
        try:
            yield here
        finally:
            self.restore(here.state)
