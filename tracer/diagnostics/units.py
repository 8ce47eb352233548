"""Units stuck for the whole batch: dead ReLUs (an op that ``can_die``) and saturated sigmoids
and tanhs (an op with a ``peak_slope``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import explain
from ..record import Trace
from .findings import (
    THRESHOLDS,
    Array,
    Finding,
    Thresholds,
    listing,
    make_finding,
    positions,
    sig,
)

# --- dead and saturated units -------------------------------------------------------------------


def feature_axis(trace: Trace, node: int) -> int | None:
    """The axis of ``node``'s value whose index is one unit: the :attr:`~tracer.ops.Op.
    feature_axis` of the op that made its features (a convolution's channels), found back
    through the ops after it that keep the shape (a bias, a normalization, an activation);
    ``None`` where there is none (each index of the axes after the batch is then a unit)."""
    shape = trace.nodes[node].shape
    while (op := trace.op(node)) is not None and shape:
        if op.feature_axis is not None:
            return op.feature_axis % len(shape)
        if op.role not in ("activation", "elementwise", "arithmetic", "normalization"):
            return None
        node = next((i for i in trace.nodes[node].inputs if trace.nodes[i].shape == shape), None)
        if node is None:
            return None
    return None


def _stuck(mask: Array, axis: int | None) -> list[tuple[int, ...]]:
    """Units where ``mask`` holds for the whole batch. With 2 or more dimensions axis 0 is the
    batch; each index of ``axis`` is a unit (the other axes are positions: a channel is stuck
    where it is at every position), or, without one, each index of the other axes. Otherwise
    the node is one unit."""
    if mask.ndim >= 2 and axis is not None:
        return positions(np.all(mask, axis=tuple(a for a in range(mask.ndim) if a != axis)))
    if mask.ndim >= 2:
        return positions(np.all(mask, axis=0))
    return [()] if mask.size and np.all(mask) else []


def _unit_columns(units: list[tuple[int, ...]], axis: int | None) -> list[tuple[Any, ...]]:
    """Index expressions selecting each unit over the whole batch."""
    if axis is not None:
        return [(slice(None),) * axis + u for u in units]
    return [() if u == () else (slice(None), *u) for u in units]


def _subject(units: list[tuple[int, ...]], name: str, shape: tuple[int, ...],
             axis: int | None) -> tuple[str, bool]:
    """The units as the subject of a sentence, and whether it is plural."""
    if units == [()]:
        return name, False
    channels = axis is not None and len(shape) > 2 and axis != len(shape) - 1
    total = shape[axis] if axis is not None and len(shape) >= 2 else int(np.prod(shape[1:]))
    label = "channel" if channels else "column" if len(shape) == 2 else "unit"
    which = listing([", ".join(map(str, u)) for u in units])
    if len(units) == total:
        return f"all {total} {label}s of {name}", total > 1
    if len(units) == 1:
        return f"{label} {which} of {name} (of {total})", False
    return f"{len(units)} of the {total} {label}s of {name} ({label}s {which})", True


def _batch(nd_shape: tuple[int, ...], axis: int | None) -> str:
    """Over what a unit is stuck: the examples, and the positions where a unit has several."""
    examples = nd_shape[0] if len(nd_shape) >= 2 else 1
    batch = f"all {examples} examples" if examples > 1 else "the one example"
    if axis is not None and len(nd_shape) > 2:
        batch += " at every position"
    return batch


def dead_units(trace: Trace, node: int) -> list[tuple[int, ...]]:
    """The units of a node whose op can die (ReLU) that output 0 for every example (``[]`` for
    other nodes); ``[()]`` when the node is one unit and dead. A unit is an index of the
    node's :func:`feature_axis` (a convolution's channel, at every position), or of the axes
    after the batch."""
    op = trace.op(node)
    if op is None or not op.can_die:
        return []
    return _stuck(trace.nodes[node].value == 0, feature_axis(trace, node))


def saturated_units(trace: Trace, node: int, slope: float = THRESHOLDS.saturated_slope
                    ) -> list[tuple[int, ...]]:
    """The units of a saturating activation's node (sigmoid, tanh: an op with a peak slope)
    whose recorded local derivative is below ``slope`` for every example (``[]`` for other
    nodes); units as in :func:`dead_units`."""
    op = trace.op(node)
    if op is None or op.peak_slope is None or trace.step_of(node) is None:
        return []
    (record,) = trace.backward_step(node).inputs
    return _stuck(np.asarray(record.local) < slope, feature_axis(trace, node))


def _feeds_probability_loss_only(trace: Trace, node: int) -> bool:
    """Whether every consumer of ``node`` is a loss taking it as the probability (bce): then
    the loss's gradient 1/(p(1−p)) cancels the sigmoid's flat slope p(1−p)."""
    consumers = list(trace.graph.successors(node))
    return bool(consumers) and all(
        trace.op(k) is not None and trace.op(k).probability_input
        and trace.nodes[k].inputs[0] == node and trace.nodes[k].inputs.count(node) == 1
        for k in consumers)


def _dead_finding(trace: Trace, node: int, dead: list[tuple[int, ...]]) -> Finding:
    nd = trace.nodes[node]
    x = trace.nodes[nd.inputs[0]]
    examples = nd.shape[0] if nd.value.ndim >= 2 else 1
    axis = feature_axis(trace, node)
    subject, plural = _subject(dead, nd.name, nd.shape, axis)
    highest = max(float(np.max(x.value[c])) for c in _unit_columns(dead, axis))
    it, are = ("they", "are") if plural else ("it", "is")
    batch = _batch(nd.shape, axis)
    return make_finding(
        "dead-relu", "warning", trace, node, "forward",
        f"{subject} {are} 0 for {batch}",
        f"Dead ReLU: {subject} {are} 0 for {batch} in the batch, because {x.name} stays ≤ 0 "
        f"there (at most {sig(highest)}). ReLU's slope is 0 for inputs ≤ 0, so no gradient "
        f"flows back through {'them' if plural else 'it'}: the weights and biases feeding "
        f"{'them' if plural else 'it'} get a gradient of 0 from this batch, do not change, and "
        f"{it} stay{'' if plural else 's'} dead. Fix: lower the learning rate (one large step "
        f"often kills units), start the biases slightly positive and the weights with He "
        f"initialisation, or use a leaky ReLU.",
        units=[list(u) for u in dead], examples=examples, input_max=highest)


def _saturated_finding(trace: Trace, node: int, flat: list[tuple[int, ...]],
                       limits: Thresholds) -> Finding:
    nd = trace.nodes[node]
    step = trace.backward_step(node)
    (record,) = step.inputs
    x = trace.nodes[nd.inputs[0]]
    axis = feature_axis(trace, node)
    subject, plural = _subject(flat, nd.name, nd.shape, axis)
    columns = _unit_columns(flat, axis)
    steepest = max(float(np.max(record.local[c])) for c in columns)
    smallest = min(float(np.min(np.abs(x.value[c]))) for c in columns)
    peak = f"{trace.op(node).peak_slope:g}"
    output = (" For an output probability, compute the loss from the score with "
              "bce_with_logits." if trace.op(node).probability_output else "")
    return make_finding(
        "saturated", "warning", trace, node, "backward",
        f"{subject} {'are' if plural else 'is'} saturated: slope at most {sig(steepest)}",
        f"Saturated {nd.op}: {subject} {'sit' if plural else 'sits'} in the flat tails for "
        f"every example, where the local derivative "
        f"{explain.formula(trace, step, record)} is at most {sig(steepest)} (it peaks at "
        f"{peak} at 0; the threshold is {explain.number(limits.saturated_slope)}), because "
        f"|{x.name}| is at least {sig(smallest)} there. Almost no gradient gets through, so "
        f"the weights before it barely learn. Fix: scale the inputs, initialise smaller "
        f"weights (Xavier), or use ReLU in hidden layers.{output}",
        units=[list(u) for u in flat], slope_max=steepest)


def units(trace: Trace, limits: Thresholds) -> list[Finding]:
    found = []
    for nd in trace.nodes:
        dead = dead_units(trace, nd.id)
        if dead:
            found.append(_dead_finding(trace, nd.id, dead))
        flat = saturated_units(trace, nd.id, limits.saturated_slope)
        if flat and not _feeds_probability_loss_only(trace, nd.id):
            found.append(_saturated_finding(trace, nd.id, flat, limits))
    return found


