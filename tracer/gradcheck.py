"""Gradient checks against central finite differences: for whole parameters, and per node.

The per-node check perturbs one op's inputs and re-runs that op alone, so a wrong backward is
pinned to the node where it is wrong, not smeared over the whole network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .arrays import frozen
from .record import Trace
from .tensor import Tensor

Array = np.ndarray

EPS = 1e-6
TOLERANCE = 1e-5


# Below this magnitude gradients are compared absolutely. Central differences with EPS = 1e-6
# carry about 1e-10·|f| of rounding noise, so a smaller floor flags correct vanishing gradients
# (a saturated sigmoid's 2e-9 measures as 2.1e-9).
FLOOR = 1e-4


def relative_error(analytic: Array, numeric: Array) -> float:
    """max |a − n| / max(|a|, |n|, FLOOR), elementwise, so tiny gradients are compared
    absolutely."""
    a, n = np.asarray(analytic, dtype=float), np.asarray(numeric, dtype=float)
    if a.size == 0:
        return 0.0
    scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), FLOOR)
    return float(np.max(np.abs(a - n) / scale))


@dataclass(frozen=True, slots=True)
class Check:
    """Analytic against numerical gradient for one parameter or one input of one node."""

    name: str
    node: int
    analytic: Array
    numeric: Array
    error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tolerance)


def numeric_gradient(f: Callable[[], float], x: Array, eps: float = EPS,
                     limit: int | None = None) -> Array:
    """Central differences of ``f()`` with respect to each element of ``x``, perturbed in place.

    With ``limit``, only the first ``limit`` elements are probed; the others stay NaN.
    """
    grad = np.full(x.shape, np.nan)
    flat = x.reshape(-1)
    for k in range(flat.size if limit is None else min(limit, flat.size)):
        old = flat[k]
        flat[k] = old + eps
        up = f()
        flat[k] = old - eps
        down = f()
        flat[k] = old
        grad.flat[k] = (up - down) / (2 * eps)
    return grad


def check_params(forward: Callable[[], Tensor], trace: Trace, eps: float = EPS,
                 tolerance: float = TOLERANCE, limit: int | None = 200) -> list[Check]:
    """Check every parameter's gradient in ``trace`` against finite differences of ``forward``.

    ``limit`` caps the elements probed per parameter (each costs two forward passes).
    """
    checks = []
    with np.errstate(all="ignore"):
        for node in trace.params:
            tensor = trace.tensors[node.id]
            original = tensor._data  # restored as is, shared or not
            # Probe a private copy of the traced value: the trace's records stay untouched, and
            # so does a parameter the optimizer has moved since.
            data = tensor.data = node.value.copy()
            try:
                numeric = numeric_gradient(lambda: float(forward().data.item()), data, eps,
                                           limit)
            finally:
                tensor._data = original
            probed = ~np.isnan(numeric)
            checks.append(Check(node.name, node.id, node.grad, frozen(numeric),
                                relative_error(node.grad[probed], numeric[probed]), tolerance))
    return checks


def check_node(trace: Trace, node: int, eps: float = EPS,
               tolerance: float = TOLERANCE) -> list[Check]:
    """Check each input's contribution at one op node against finite differences of that op.

    The recorded upstream gradient ``u`` is held fixed and ∂(Σ u·op(inputs))/∂input is measured
    numerically, so the check covers exactly what the backward step computed.
    """
    t = trace.tensors[node]
    step = trace.backward_step(node)
    if t.op is None:
        return []
    u = np.asarray(step.upstream)
    # The recorded values, not the tensors' current data: parameters move after an update.
    inputs = [trace.nodes[i].value.copy() for i in trace.nodes[node].inputs]

    def f() -> float:
        return float(np.sum(u * t.op.forward(*inputs, **t.attrs)))

    checks = []
    with np.errstate(all="ignore"):
        for record in step.inputs:
            if not record.differentiable:
                continue
            numeric = numeric_gradient(f, inputs[record.position], eps)
            name = f"{trace.nodes[node].name} → {trace.nodes[record.node].name}"
            checks.append(Check(name, node, record.contribution, frozen(numeric),
                                relative_error(record.contribution, numeric), tolerance))
    return checks
