"""One node's gradient check as a record (:class:`NodeCheck`), and the random directions the
checks move values along."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..gradcheck import STEP, steps_for
from .findings import Array

Index = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NodeCheck:
    """One input of one op node checked against finite differences.

    Attributes
    ----------
    node, input
        The op node and the input whose gradient was checked.
    local
        True when the local derivative ∂out/∂input itself was compared (elementwise ops);
        otherwise the gradient the backward step sent to the input (upstream × derivative).
    analytic, numeric
        The backward's value and the finite difference: arrays when compared element by element,
        0-d along a random direction (``directional``).
    excess
        The largest disagreement in units of what the differences may be off by (above 1 fails);
        NaN when no difference could be taken (the op is not finite a step away).
    worst
        The index of the worst element (``None`` along a direction).
    error
        The relative error |backward − difference| / max(|backward|, |difference|) there.
    """

    node: int
    input: int
    local: bool
    analytic: Array
    numeric: Array
    excess: float
    worst: Index | None
    error: float
    directional: bool = False

    @property
    def checked(self) -> bool:
        return bool(np.isfinite(self.excess))

    @property
    def ok(self) -> bool:
        """Not shown wrong (an unchecked input is not a failure; :func:`unchecked` says so)."""
        return not self.checked or self.excess <= 1.0


def worst_of(analytic: Array, numeric: Array, excess: Array) -> tuple[float, Index | None, float]:
    usable = np.isfinite(excess)
    if not np.any(usable):
        return float("nan"), None, float("nan")
    flat = int(np.argmax(np.where(usable, excess, -np.inf)))
    idx = tuple(int(i) for i in np.unravel_index(flat, excess.shape))
    a, n = float(analytic[idx]), float(numeric[idx])
    error = abs(a - n) / max(abs(a), abs(n)) if a != n else 0.0
    return float(excess[idx]), idx, error


def direction(x: Array, seed: int, ties: bool = False) -> Array:
    """A random direction over ``x``, each element scaled to its own size (0 where ``x`` is not
    finite), the same for the same node every time. With ``ties``, elements of equal value
    move as one (see :attr:`tracer.ops.Op.picks`)."""
    rng = np.random.default_rng(seed)
    if ties:
        values, same = np.unique(x, return_inverse=True)
        z = rng.standard_normal(values.size)[same.reshape(x.shape)]
    else:
        z = rng.standard_normal(x.shape)
    return z * steps_for(x) / STEP
