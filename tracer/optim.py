"""Optimizers whose every step is a record: what each parameter was, its gradient, the change.

Each optimizer's update rule sits in one ``_change`` method beside the formula the debugger
shows for it. An optimizer never mutates a parameter's array in place: it assigns a new,
read-only one that its record shares (see :mod:`tracer.arrays`), so the records of earlier steps
keep showing the values they saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .arrays import constant, frozen, shared
from .tensor import DATA_LOCK, Tensor

Array = np.ndarray


class UpdateRecord(NamedTuple):
    """One parameter's update: ``after = before + change``; ``state`` is the optimizer's memory
    for it after the step (momentum's velocity, Adam's moments); ``node`` is the parameter's
    node in the cycle's trace (``None`` for a parameter the loss does not reach). Immutable,
    like the trace's records."""

    name: str
    before: Array
    grad: Array
    change: Array
    after: Array
    state: Mapping[str, Array]
    node: int | None = None


def make_update_record(*, name: str, before: Array, grad: Array, change: Array, after: Array,
                       state: Mapping[str, Array], node: int | None = None) -> UpdateRecord:
    """An :class:`UpdateRecord` from its named fields (made with ``tuple.__new__``, as the
    trace's records are: see :mod:`tracer.record`)."""
    return tuple.__new__(UpdateRecord, (name, before, grad, change, after, state, node))


class Optimizer:
    """Base class: ``step(params)`` updates each trainable tensor and returns the records."""

    name = "optimizer"
    formula = ""

    def __init__(self, lr: float = 0.1):
        self.set_lr(lr)
        self._state: dict[int, dict[str, Array]] = {}
        self.iteration = 0

    def step(self, params: Iterable[tuple[str, Tensor]],
             nodes: Sequence[int | None] | None = None, *, record: bool = True
             ) -> tuple[UpdateRecord, ...]:
        """Update every ``(name, tensor)`` whose kind is ``"param"``; skip the rest.

        ``nodes``, if given, are the parameters' node ids in the trace (one per pair, ``None``
        for one outside it); each record carries its own. With ``record=False`` (the fast
        path) the same update makes no records and returns ``()``.
        """
        self.iteration += 1
        if not record:
            self._step_unrecorded(params)
            return ()
        steps = []
        for k, (name, p) in enumerate(params):
            if p.kind != "param":
                continue  # inputs and constants are never trained
            grad = p.grad
            if grad is None:
                grad = constant(0.0, p.shape)
            elif grad.base is not None or grad.flags.writeable:  # (a trace's is read-only)
                grad = shared(grad)
            state = self._state.setdefault(id(p), {})
            change = frozen(self._change(grad, state))
            memory = {k: frozen(v) for k, v in state.items()} if state else {}
            steps.append((name, p, grad, change, memory, None if nodes is None else nodes[k]))
        records = []
        with DATA_LOCK:  # read and replace in one go (see Tensor.data)
            for name, p, grad, change, memory, node in steps:
                before = shared(p._data)
                after = p._data = frozen(before + change)  # copied if asked for .data
                # (UpdateRecord's fields in order, built directly: see tracer.record.sent)
                records.append(tuple.__new__(UpdateRecord, (name, before, grad, change, after,
                                                            memory, node)))
        return tuple(records)

    def _step_unrecorded(self, params: Iterable[tuple[str, Tensor]]) -> None:
        """The sums of :meth:`step`, nothing kept beside them (the fast path): each gradient is
        used as it is (no state keeps it, so it needs no read-only copy), and the parameters
        take their new values under one hold of the lock."""
        states = self._state
        changes = []
        for _, p in params:
            if p.kind != "param":
                continue
            state = states.get(id(p))
            if state is None:
                state = states[id(p)] = {}
            grad = constant(0.0, p.shape) if p.grad is None else p.grad
            changes.append((p, self._change(grad, state)))
        with DATA_LOCK:
            for p, change in changes:
                p._data = frozen(p._data + change)

    def _change(self, grad: Array, state: dict[str, Array]) -> Array:
        raise NotImplementedError

    def snapshot(self) -> tuple[int, dict[int, dict[str, Array]]]:
        """The optimizer's memory (iteration and per-parameter state), to :meth:`restore` later.

        The state's arrays are never written in place, so a shallow copy per parameter keeps
        the snapshot intact.
        """
        return self.iteration, {k: dict(v) for k, v in self._state.items()}

    def restore(self, snapshot: tuple[int, dict[int, dict[str, Array]]] | None) -> None:
        if snapshot is not None:
            self.iteration, state = snapshot
            self._state = {k: dict(v) for k, v in state.items()}

    def set_lr(self, lr: float) -> None:
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"the learning rate must be a positive number, not {lr!r}")
        self.lr = float(lr)

    def describe(self) -> str:
        return f"{self.name} (lr {self.lr:g})"


class SGD(Optimizer):
    """Plain gradient descent: ``new = value − lr·grad``."""

    name = "sgd"
    formula = "new = value − lr·grad"

    def _change(self, grad: Array, state: dict[str, Array]) -> Array:
        return -self.lr * grad


class Momentum(Optimizer):
    """SGD with momentum: ``v = β·v + grad``, ``new = value − lr·v``."""

    name = "momentum"
    formula = "v = β·v + grad;  new = value − lr·v"

    def __init__(self, lr: float = 0.1, beta: float = 0.9):
        super().__init__(lr)
        self.beta = float(beta)

    def _change(self, grad: Array, state: dict[str, Array]) -> Array:
        state["velocity"] = self.beta * state.get("velocity", 0.0) + grad
        return -self.lr * state["velocity"]

    def describe(self) -> str:
        return f"momentum (lr {self.lr:g}, β {self.beta:g})"


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction, as ``torch.optim.Adam``."""

    name = "adam"
    formula = "m = β₁m + (1−β₁)g;  v = β₂v + (1−β₂)g²;  new = value − lr·m̂/(√v̂ + ε)"

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _change(self, grad: Array, state: dict[str, Array]) -> Array:
        t = state["t"] = state.get("t", 0) + 1
        m = state["m"] = self.beta1 * state.get("m", 0.0) + (1 - self.beta1) * grad
        v = state["v"] = self.beta2 * state.get("v", 0.0) + (1 - self.beta2) * grad * grad
        m_hat = m / (1 - self.beta1 ** t)
        v_hat = v / (1 - self.beta2 ** t)
        return -self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def describe(self) -> str:
        return f"adam (lr {self.lr:g}, β₁ {self.beta1:g}, β₂ {self.beta2:g})"


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name: str, lr: float, **options: Any) -> Optimizer:
    """An optimizer by name (``sgd``, ``momentum``, ``adam``); ``KeyError`` for another name."""
    return OPTIMIZERS[name.lower()](lr, **options)
