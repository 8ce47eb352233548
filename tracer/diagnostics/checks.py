"""Gradient checks node by node: each op's backward against finite differences of its forward.

Elementwise ops compare their local derivative ∂out/∂input element by element (a few runs of the
op at any size). Other ops compare the gradient they send each input along a random direction u:
uᵀ·(what the backward sent) against the central difference of Σ upstream·op(input + t·u), so an
op over 2,560 elements is checked as fully as one over 4, for four runs of the op. Both use the
error model of :class:`tracer.gradcheck.Differences`: steps from the values' magnitudes, two step
sizes, and a failure only where both disagree beyond rounding and truncation. A failing
directional check on an input of at most ``locate_limit`` elements is then repeated element by
element, to quote the worst element.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..gradcheck import SHRINKS, STEP, TOLERANCE, Differences, steps_for
from ..record import BackwardStep, InputGrad, Trace
from .findings import THRESHOLDS, Array, Thresholds, finite
from .nodecheck import NodeCheck, direction, worst_of


def _local_excess(op: Any, values: list[Array], out: Array, local: Array, position: int,
                  attrs: dict[str, Any], tolerance: float) -> tuple[Array, Array, Array]:
    """An elementwise op's local derivative ``local`` for input ``position`` against differences
    of its forward, moving the whole input at once (each output element depends on one input
    element): (analytic, numeric, excess), each of ``out``'s shape."""
    x = values[position]
    shape = out.shape
    analytic = np.broadcast_to(np.asarray(local, dtype=float), shape)
    # What the forward's rounding scales with: the output and each input's part in it.
    others = sum((np.abs(v) for v in values), np.zeros(shape))

    def run(step: Array) -> Array:
        probe = list(values)
        probe[position] = x + step
        return np.broadcast_to(op.forward(*probe, **attrs), shape)

    numeric = excess = None
    with np.errstate(all="ignore"):
        for shrink in SHRINKS:
            h = steps_for(x) * shrink
            ups, downs = (run(h), run(h / 2)), (run(-h), run(-h / 2))
            steps = (np.broadcast_to(h, shape), np.broadcast_to(h / 2, shape))
            sizes = tuple(np.maximum(np.abs(u), np.abs(d)) + others
                          for u, d in zip(ups, downs, strict=True))
            diff = Differences(steps, ups, downs, sizes, out)
            now = diff.excess(analytic, tolerance)
            if excess is None:
                numeric, excess = diff.numeric, now
            else:  # only where the larger steps left the op's domain
                numeric = np.where(np.isnan(excess), diff.numeric, numeric)
                excess = np.where(np.isnan(excess), now, excess)
            if not np.any(np.isnan(excess) & np.isfinite(analytic) & np.isfinite(out)):
                break
        return analytic, numeric, excess


def _local_check(trace: Trace, step: BackwardStep, record: InputGrad,
                 tolerance: float) -> NodeCheck:
    nd = trace.nodes[step.node]
    values = [trace.nodes[i].value for i in nd.inputs]
    analytic, numeric, excess = _local_excess(
        trace.op(step.node), values, np.broadcast_to(nd.value, nd.shape), record.local,
        record.position, nd.attrs, tolerance)
    worst, idx, error = worst_of(analytic, numeric, excess)
    return NodeCheck(step.node, record.node, True, analytic, numeric, worst, idx, error)


def _local_checks_together(trace: Trace, nodes: list[int], tolerance: float) -> list[NodeCheck]:
    """The local checks of many nodes of one elementwise op (same attributes, no broadcasting)
    run as one: their inputs laid end to end, so a network of 20,000 scalars takes a few runs
    of each op rather than 20,000."""
    first = trace.nodes[nodes[0]]
    op = trace.op(first.id)
    sizes = [trace.nodes[k].value.size for k in nodes]
    ends = np.cumsum(sizes)[:-1]
    values = [np.concatenate([np.ravel(trace.nodes[trace.nodes[k].inputs[p]].value)
                              for k in nodes]) for p in range(len(first.inputs))]
    out = np.concatenate([np.ravel(trace.nodes[k].value) for k in nodes])
    checks: list[NodeCheck] = []
    for position in range(len(first.inputs)):
        records = [trace.backward_step(k).inputs[position] for k in nodes]
        local = np.concatenate([np.ravel(np.broadcast_to(r.local, trace.nodes[k].shape))
                                for k, r in zip(nodes, records, strict=True)])
        parts = _local_excess(op, values, out, local, position, first.attrs, tolerance)
        if len(ends) == len(nodes) - 1 == out.size - 1:  # scalars: one element each, no search
            checks += _scalar_checks(nodes, records, *parts)
            continue
        for k, r, analytic, numeric, excess in zip(
                nodes, records, *(np.split(a, ends) for a in parts), strict=True):
            shape = trace.nodes[k].shape
            analytic, numeric, excess = (a.reshape(shape) for a in (analytic, numeric, excess))
            worst, idx, error = worst_of(analytic, numeric, excess)
            checks.append(NodeCheck(k, r.node, True, analytic, numeric, worst, idx, error))
    return checks


def _scalar_checks(nodes: list[int], records: list[InputGrad], analytic: Array,
                   numeric: Array, excess: Array) -> list[NodeCheck]:
    """The checks of scalar nodes checked together: each its own one element."""
    with np.errstate(all="ignore"):
        errors = np.where(analytic == numeric, 0.0, np.abs(analytic - numeric)
                          / np.maximum(np.abs(analytic), np.abs(numeric)))
    usable = np.isfinite(excess)
    nan = float("nan")
    return [NodeCheck(k, r.node, True, a, n, float(e) if u else nan, () if u else None,
                      float(err) if u else nan)
            for k, r, a, n, e, u, err in zip(nodes, records, analytic, numeric, excess, usable,
                                             errors, strict=True)]


def _directional(trace: Trace, step: BackwardStep, record: InputGrad, tolerance: float,
                 along: Array | None = None, shrink: float = 1.0
                 ) -> tuple[Differences, float, float]:
    """Along ``along`` (default: a random direction) over one input: (the differences of
    Σ upstream·op(…, input + t·u, …), uᵀ·(the gradient the backward sent), the spread the
    tolerance is relative to)."""
    nd = trace.nodes[step.node]
    op = trace.op(step.node)
    values = [trace.nodes[i].value for i in nd.inputs]
    x = values[record.position]
    u = direction(x, 1000 * step.node + record.position, op.picks) if along is None else along
    # Outputs that are not finite (a masked score of −inf) take no part, nor should they get
    # any upstream gradient; if they do, the check says it cannot compare.
    finite_out = np.isfinite(nd.value)
    g = np.where(finite_out, np.broadcast_to(step.upstream, nd.shape), 0.0)
    # Each input's rounding reaches the sum through its gradient: Σ|gradient × value|.
    inputs_size = sum(float(np.sum(np.abs(np.where(np.isfinite(values[r.position]),
                                                   values[r.position], 0.0) * r.contribution)))
                      for r in step.inputs if r.differentiable)

    def run(t: float) -> tuple[float, float]:
        probe = list(values)
        probe[record.position] = np.where(u != 0, x + t * u, x)
        out = np.broadcast_to(op.forward(*probe, **nd.attrs), nd.shape)
        terms = np.where(finite_out, g * np.where(finite_out, out, 0.0), 0.0)
        if not np.all(np.isfinite(out) == finite_out):
            return float("nan"), 0.0
        return float(np.sum(terms)), float(np.sum(np.abs(terms))) + inputs_size

    h = STEP * shrink
    with np.errstate(all="ignore"):
        (up1, s_up1), (down1, s_down1) = run(h), run(-h)
        (up2, s_up2), (down2, s_down2) = run(h / 2), run(-h / 2)
        middle, _ = run(0.0)
        diff = Differences((np.float64(h), np.float64(h / 2)),
                           (np.float64(up1), np.float64(up2)),
                           (np.float64(down1), np.float64(down2)),
                           (np.float64(max(s_up1, s_down1)), np.float64(max(s_up2, s_down2))),
                           np.float64(middle))
        terms = np.where(u != 0, u * record.contribution, 0.0)
        analytic = float(np.sum(terms))
        spread = float(np.sqrt(np.sum(terms ** 2)))
    return diff, analytic, spread


def _gradient_by_element(trace: Trace, step: BackwardStep, record: InputGrad,
                         tolerance: float) -> NodeCheck:
    """The gradient sent to one input, element by element (each along its own unit direction):
    to say which element is wrong once the directional check has failed."""
    x = trace.nodes[record.node].value
    scale = steps_for(x) / STEP
    analytic = np.full(x.shape, np.nan)
    numeric = np.full(x.shape, np.nan)
    excess = np.full(x.shape, np.nan)
    for flat in range(x.size):
        idx = np.unravel_index(flat, x.shape)
        if scale[idx] == 0:
            continue
        unit = np.zeros(x.shape)
        unit[idx] = scale[idx]
        diff, a, spread = _directional(trace, step, record, tolerance, unit)
        # Per unit of the input: the direction moved it by scale, not 1.
        analytic[idx] = a / scale[idx]
        numeric[idx] = float(diff.numeric) / scale[idx]
        excess[idx] = float(diff.excess(np.float64(a), tolerance, spread))
    worst, idx, error = worst_of(analytic, numeric, excess)
    return NodeCheck(step.node, record.node, False, analytic, numeric, worst, idx, error)


def node_checks(trace: Trace, node: int, tolerance: float = TOLERANCE,
                limit: int | None = THRESHOLDS.locate_limit) -> list[NodeCheck]:
    """Check one op node's backward against finite differences of its forward, on the recorded
    values (see the module's docstring); ``limit`` is the largest input whose failing check is
    repeated element by element. Nodes whose value is not finite anywhere, or whose upstream
    gradient is not finite, are not checked (the non-finite findings cover them); inputs that
    could not be compared come back with a NaN ``excess`` (:func:`unchecked` names them)."""
    op = trace.op(node)
    if not _checkable(trace, node):
        return []
    step = trace.backward_step(node)
    checks = []
    for r in step.inputs:
        if not r.differentiable:
            continue
        if op.elementwise:
            checks.append(_local_check(trace, step, r, tolerance))
            continue
        for shrink in SHRINKS:
            diff, analytic, spread = _directional(trace, step, r, tolerance, shrink=shrink)
            excess = float(diff.excess(np.float64(analytic), tolerance, spread))
            if not np.isnan(excess):
                break
        size = trace.nodes[r.node].value.size
        if excess > 1 and (limit is None or size <= limit):
            checks.append(_gradient_by_element(trace, step, r, tolerance))
            continue
        numeric = float(diff.numeric)
        error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-300)
        checks.append(NodeCheck(node, r.node, False, np.float64(analytic), np.float64(numeric),
                                excess, None, error, directional=True))
    return checks


def _checkable(trace: Trace, node: int) -> bool:
    nd = trace.nodes[node]
    # a node with no backward step (no parameter upstream) has no backward step to check
    return (trace.op(node) is not None and trace.step_of(node) is not None
            and finite(trace.backward_step(node).upstream)
            and bool(np.any(np.isfinite(nd.value))))


def _together_key(trace: Trace, node: int) -> tuple[Any, ...] | None:
    """Nodes with the same key can be checked together (:func:`_local_checks_together`)."""
    nd = trace.nodes[node]
    op = trace.op(node)
    if (op is None or not op.elementwise or not _checkable(trace, node)
            or any(trace.nodes[i].shape != nd.shape for i in nd.inputs)
            or not all(r.differentiable for r in trace.backward_step(node).inputs)):
        return None
    key = (op.name, tuple(sorted(nd.attrs.items())))
    try:
        hash(key)
    except TypeError:  # an attribute that is an array
        return None
    return key


def all_node_checks(trace: Trace, limits: Thresholds) -> list[NodeCheck]:
    """Every op node's checks, in forward order (elementwise nodes of one op together)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    checks: list[NodeCheck] = []
    for nd in trace.nodes:
        key = _together_key(trace, nd.id)
        if key is None:
            checks += node_checks(trace, nd.id, limits.tolerance, limits.locate_limit)
        else:
            groups.setdefault(key, []).append(nd.id)
    for nodes in groups.values():
        checks += _local_checks_together(trace, nodes, limits.tolerance)
    return sorted(checks, key=lambda c: c.node)
