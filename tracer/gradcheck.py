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
    if t.op is None or trace.step_of(node) is None:  # no step: nothing recorded to check
        return []
    step = trace.backward_step(node)
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


# --- the error model: how far central differences may be off, from the magnitudes involved -----

ROUNDING = float(np.finfo(np.float64).eps)
# A step of ε^(1/3) (about 6e-6) relative to the value balances the truncation error of central
# differences (∝ h²) against the rounding error of the forward (∝ ε/h).
STEP = ROUNDING ** (1 / 3)
# Rounding errors allowed per unit of magnitude: each value of a forward pass rounds by up to ε
# of itself, and a sum of n terms by up to about log2(n)·ε of the sum of their sizes.
NOISE = 16
# Step sizes tried, as fractions of the usual one, where a probe leaves a function's domain (ln
# of 2e-6 moved by 6e-6; a probability of 0.9999999 past 1).
SHRINKS = (1.0, 1 / 64, 1 / 4096)


def steps_for(x: Array) -> Array:
    """A step per element of ``x``: :data:`STEP` times its size, at least :data:`STEP` (0 where
    ``x`` is not finite, so it is never moved)."""
    scale = np.maximum(1.0, np.abs(np.where(np.isfinite(x), x, 0.0)))
    return np.where(np.isfinite(x), STEP * scale, 0.0)


@dataclass(frozen=True, slots=True)
class Differences:
    """Central differences at two step sizes, ``h`` and ``h/2``, of a function along a direction.

    ``up`` and ``down`` hold f(+step) and f(−step) for each step size; ``sizes`` how big the
    terms that made each of them were (their rounding is :data:`NOISE` × ε × that); ``middle``
    f(0), for the one-sided differences at a kink. Arrays are elementwise (one function per
    element) or 0-d.
    """

    steps: tuple[Array, Array]
    up: tuple[Array, Array]
    down: tuple[Array, Array]
    sizes: tuple[Array, Array]
    middle: Array

    @property
    def numeric(self) -> Array:
        """The derivative by central differences at the larger step."""
        return (self.up[0] - self.down[0]) / (2 * self.steps[0])

    def excess(self, analytic: Array, tolerance: float, spread: Array | float = 0.0) -> Array:
        """How far ``analytic`` is from the differences, in units of what they may be off by:
        above 1 only where it disagrees at both step sizes beyond rounding (from the sizes),
        truncation (from how the two differ, when they nearly agree) and ``tolerance`` relative
        to the larger of ``|analytic|``, ``|numeric|`` and ``spread``; NaN where a difference is
        not finite. Where the one-sided differences settle as the step halves, a value between
        them is within (a kink, as ReLU's at 0, has a slope on each side)."""
        d = [(u - w) / (2 * h) for u, w, h in zip(self.up, self.down, self.steps, strict=True)]
        ahead = [(u - self.middle) / h for u, h in zip(self.up, self.steps, strict=True)]
        behind = [(self.middle - w) / h for w, h in zip(self.down, self.steps, strict=True)]
        rounding = [NOISE * ROUNDING * s / h for s, h in zip(self.sizes, self.steps, strict=True)]
        # Halving the step shrinks a truncation error fourfold (a one-sided one twofold), so
        # how far the two agree estimates it; but only while they agree to within a tenth:
        # differences that move more are not converging (a forward that changes between calls),
        # and excuse nothing.
        truncation = _settled(d[0], d[1], rounding[0])
        settled = (np.isfinite(_settled(ahead[0], ahead[1], rounding[0]))
                   & np.isfinite(_settled(behind[0], behind[1], rounding[0])))
        worst = None
        for k in range(2):
            scale = np.maximum(np.maximum(np.abs(analytic), np.abs(d[k])), spread)
            bound = (tolerance * scale + rounding[k]
                     + (4 / 3 if k == 0 else 1 / 3) * np.nan_to_num(truncation, nan=0.0))
            outside = np.maximum(np.maximum(np.minimum(ahead[k], behind[k]) - analytic,
                                            analytic - np.maximum(ahead[k], behind[k])), 0.0)
            off = np.where(settled, outside, np.abs(analytic - d[k]))
            ratio = np.where(bound > 0, off / np.where(bound > 0, bound, 1.0),
                             np.where(off > 0, np.inf, 0.0))
            worst = ratio if worst is None else np.minimum(worst, ratio)
        return np.where(np.isfinite(d[0]) & np.isfinite(d[1]) & np.isfinite(analytic), worst,
                        np.nan)


def _settled(first: Array, second: Array, rounding: Array) -> Array:
    """|first − second| where the two agree to within a tenth of their size (or rounding),
    NaN where they do not."""
    apart = np.abs(first - second)
    close = apart <= 0.1 * np.maximum(np.abs(first), np.abs(second)) + 2 * rounding
    return np.where(close, apart, np.nan)
