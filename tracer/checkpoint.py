"""Checkpoints: everything a training iteration starts from, to re-run it bit for bit.

A checkpoint holds the values of the network's leaves (parameters and inputs), the optimizer's
memory and settings, and the random number generators' states. Restoring one and running the
same iterations again gives the same numbers, which is how the debugger shows any past iteration
without keeping its records (see :mod:`tracer.training`).

:class:`Checkpointing` is what a network offers for that; :class:`tracer.Network` implements it
for gradstep's own engine, and a bridge to another framework implements it with that
framework's own state (for PyTorch: ``state_dict()`` of the model and of the optimizer, and
``torch.get_rng_state()``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The state iteration ``iteration + 1`` starts from (``iteration`` iterations done).

    ``state`` belongs to whoever made the checkpoint (its network) and is only read back by it;
    ``nbytes`` is how much memory the checkpoint holds that no other one shares, so that a
    history can keep their total within a budget.
    """

    iteration: int
    state: Any
    nbytes: int


class Checkpointing(Protocol):
    """What a network offers a training history (:class:`tracer.training.History`).

    ``cycle()`` runs one iteration recording everything; ``fast_step()`` runs one through the
    same arithmetic without records and returns ``(loss, loss_after)``; ``checkpoint()`` and
    ``restore()`` save and put back the state iterations start from; ``detour()`` is a context
    in which iterations may be re-run and after which everything (the checkpointed state, and
    whatever the next iteration would have reused) is as it was.
    """

    iteration: int

    def cycle(self) -> Any: ...

    def fast_step(self) -> tuple[float, float]: ...

    def checkpoint(self) -> Checkpoint: ...

    def restore(self, checkpoint: Checkpoint) -> None: ...

    def detour(self) -> Any: ...

    def expect_checkpoint(self) -> None: ...


def random_state() -> tuple[Any, ...]:
    """The states of numpy's global generator (``np.random.seed``/``rand``) and Python's
    ``random``: what a network's forward pass may draw from (mini-batches, dropout masks).

    Both are kept as arrays (5 KB in all; Python's own tuple of ints would take 25 KB). Taking
    them costs about 30 µs, so it is done where a checkpoint needs it, not every iteration.
    """
    version, words, gauss = random.getstate()
    return (*np.random.get_state(), version, np.array(words, dtype=np.uint32), gauss)


def set_random_state(state: tuple[Any, ...]) -> None:
    """Put back what :func:`random_state` returned."""
    *numpy_state, version, words, gauss = state
    np.random.set_state(tuple(numpy_state))
    random.setstate((version, tuple(int(w) for w in words), gauss))


def same_random_state(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two :func:`random_state` results are the same state (a network that draws no
    random numbers has the same one at every checkpoint, and they can share it)."""
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
               for x, y in zip(a, b, strict=True))


def random_nbytes(state: tuple[Any, ...]) -> int:
    """The arrays' bytes of a :func:`random_state` result."""
    return sum(x.nbytes for x in state if isinstance(x, np.ndarray))


@contextmanager
def random_state_kept() -> Iterator[None]:
    """Run a block that may draw random numbers (an extra forward pass for a check) without
    moving the generators: iterations run later, and their replays, draw the same numbers."""
    state = random_state()
    try:
        yield
    finally:
        set_random_state(state)
