"""Conditional breakpoints: :class:`Condition` objects a debugger walking the records stops at
(a non-finite value, a gradient above a threshold, a failing gradient check, a dead unit)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import explain
from ..gradcheck import TOLERANCE
from ..record import BackwardStep, ForwardStep, Trace
from .checks import node_checks
from .findings import THRESHOLDS, finite
from .units import dead_units, saturated_units

# --- conditional breakpoints --------------------------------------------------------------------

Record = ForwardStep | BackwardStep


@dataclass(frozen=True)
class Condition:
    """A conditional breakpoint: ``condition(trace, record)`` says whether to stop at a step.

    ``record`` is a forward or backward step record of ``trace``; anything else (an update
    record, the outcome) never stops. ``name`` is stable, ``label`` is for a menu.
    """

    name: str
    label: str
    test: Callable[[Trace, Record], bool]

    def __call__(self, trace: Trace, record: Any) -> bool:
        return isinstance(record, ForwardStep | BackwardStep) and bool(self.test(trace, record))


def _nonfinite_step(trace: Trace, record: Record) -> bool:
    if isinstance(record, ForwardStep):
        return not finite(record.value)
    return not finite(record.upstream) or any(not finite(r.contribution)
                                               for r in record.inputs)


def break_on_nonfinite() -> Condition:
    """Stop at a forward step whose value, or a backward step whose gradient, is NaN or ±inf:
    continuing forward from the start, the first stop is the first non-finite value."""
    return Condition("nonfinite", "a value or gradient that is NaN or infinite", _nonfinite_step)


def break_on_gradient_above(threshold: float) -> Condition:
    """Stop at a backward step whose gradient ∂L/∂node has an element with |·| > ``threshold``
    (NaN and ±inf count as above)."""
    if not threshold >= 0:
        raise ValueError(f"the threshold is a size, 0 or more, not {threshold!r}")

    def test(trace: Trace, record: Record) -> bool:
        if not isinstance(record, BackwardStep):
            return False
        g = np.abs(record.upstream)
        return bool(np.any(~np.isfinite(g) | (g > threshold)))

    return Condition("gradient-above", f"|gradient| above {explain.number(threshold)}", test)


def break_on_gradcheck_failure(tolerance: float = TOLERANCE,
                               limit: int | None = THRESHOLDS.locate_limit) -> Condition:
    """Stop at a backward step whose op fails the per-node gradient check (see
    :func:`node_checks`); each node is checked once per trace."""
    memo: dict[str, Any] = {"trace": None, "results": {}}

    def test(trace: Trace, record: Record) -> bool:
        if not isinstance(record, BackwardStep):
            return False
        if memo["trace"] is not trace:
            memo["trace"], memo["results"] = trace, {}
        results = memo["results"]
        if record.node not in results:
            results[record.node] = any(not c.ok for c in node_checks(trace, record.node,
                                                                     tolerance, limit))
        return results[record.node]

    return Condition("gradcheck", "a node whose backward fails the gradient check", test)


def break_on_dead_unit(saturated: bool = False,
                       slope: float = THRESHOLDS.saturated_slope) -> Condition:
    """Stop at the forward and backward steps of a ReLU with a dead unit (0 for every example);
    with ``saturated``, also of a sigmoid or tanh with a saturated unit."""

    def test(trace: Trace, record: Record) -> bool:
        return bool(dead_units(trace, record.node)
                    or (saturated and saturated_units(trace, record.node, slope)))

    label = "a dead ReLU" + (" or saturated sigmoid/tanh unit" if saturated else " unit")
    return Condition("dead-unit", label, test)


