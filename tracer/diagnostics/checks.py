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

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import explain
from ..custom import derivative_origin, origin
from ..gradcheck import STEP, TOLERANCE, Differences, steps_for
from ..record import BackwardStep, InputGrad, Trace
from .findings import THRESHOLDS, Array, Finding, Thresholds, finite, make_finding, op_name, sig

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


def _worst(analytic: Array, numeric: Array, excess: Array) -> tuple[float, Index | None, float]:
    usable = np.isfinite(excess)
    if not np.any(usable):
        return float("nan"), None, float("nan")
    flat = int(np.argmax(np.where(usable, excess, -np.inf)))
    idx = tuple(int(i) for i in np.unravel_index(flat, excess.shape))
    a, n = float(analytic[idx]), float(numeric[idx])
    error = abs(a - n) / max(abs(a), abs(n)) if a != n else 0.0
    return float(excess[idx]), idx, error


def _local_excess(op: Any, values: list[Array], out: Array, local: Array, position: int,
                  attrs: dict[str, Any], tolerance: float) -> tuple[Array, Array, Array]:
    """An elementwise op's local derivative ``local`` for input ``position`` against differences
    of its forward, moving the whole input at once (each output element depends on one input
    element): (analytic, numeric, excess), each of ``out``'s shape."""
    x = values[position]
    h = steps_for(x)
    shape = out.shape
    analytic = np.broadcast_to(np.asarray(local, dtype=float), shape)
    # What the forward's rounding scales with: the output and each input's part in it.
    others = sum((np.abs(v) for v in values), np.zeros(shape))

    def run(step: Array) -> Array:
        probe = list(values)
        probe[position] = x + step
        return np.broadcast_to(op.forward(*probe, **attrs), shape)

    with np.errstate(all="ignore"):
        ups, downs = (run(h), run(h / 2)), (run(-h), run(-h / 2))
        steps = (np.broadcast_to(h, shape), np.broadcast_to(h / 2, shape))
        sizes = tuple(np.maximum(np.abs(u), np.abs(d)) + others
                      for u, d in zip(ups, downs, strict=True))
        diff = Differences(steps, ups, downs, sizes, out)
        return analytic, diff.numeric, diff.excess(analytic, tolerance)


def _local_check(trace: Trace, step: BackwardStep, record: InputGrad,
                 tolerance: float) -> NodeCheck:
    nd = trace.nodes[step.node]
    values = [trace.nodes[i].value for i in nd.inputs]
    analytic, numeric, excess = _local_excess(
        trace.op(step.node), values, np.broadcast_to(nd.value, nd.shape), record.local,
        record.position, nd.attrs, tolerance)
    worst, idx, error = _worst(analytic, numeric, excess)
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
        for k, r, analytic, numeric, excess in zip(
                nodes, records, *(np.split(a, ends) for a in parts), strict=True):
            shape = trace.nodes[k].shape
            analytic, numeric, excess = (a.reshape(shape) for a in (analytic, numeric, excess))
            worst, idx, error = _worst(analytic, numeric, excess)
            checks.append(NodeCheck(k, r.node, True, analytic, numeric, worst, idx, error))
    return checks


def _direction(x: Array, seed: int) -> Array:
    """A random direction over ``x``, each element scaled to its own size (0 where ``x`` is not
    finite), the same for the same node every time."""
    z = np.random.default_rng(seed).standard_normal(x.shape)
    return z * steps_for(x) / STEP


def _directional(trace: Trace, step: BackwardStep, record: InputGrad, tolerance: float,
                 direction: Array | None = None) -> tuple[Differences, float, float]:
    """Along ``direction`` (default: random) over one input: (the differences of
    Σ upstream·op(…, input + t·u, …), uᵀ·(the gradient the backward sent), the spread the
    tolerance is relative to)."""
    nd = trace.nodes[step.node]
    op = trace.op(step.node)
    values = [trace.nodes[i].value for i in nd.inputs]
    x = values[record.position]
    u = _direction(x, 1000 * step.node + record.position) if direction is None else direction
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

    with np.errstate(all="ignore"):
        (up1, s_up1), (down1, s_down1) = run(STEP), run(-STEP)
        (up2, s_up2), (down2, s_down2) = run(STEP / 2), run(-STEP / 2)
        middle, _ = run(0.0)
        diff = Differences((np.float64(STEP), np.float64(STEP / 2)),
                           (np.float64(up1), np.float64(up2)),
                           (np.float64(down1), np.float64(down2)),
                           (np.float64(max(s_up1, s_down1)), np.float64(max(s_up2, s_down2))),
                           np.float64(middle))
        terms = np.where(u != 0, u * record.contribution, 0.0)
        analytic = float(np.sum(terms))
        spread = float(np.sqrt(np.sum(terms ** 2)))
    return diff, analytic, spread


def _elementwise_gradient(trace: Trace, step: BackwardStep, record: InputGrad,
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
    worst, idx, error = _worst(analytic, numeric, excess)
    return NodeCheck(step.node, record.node, False, analytic, numeric, worst, idx, error)


def node_checks(trace: Trace, node: int, tolerance: float = TOLERANCE,
                limit: int | None = THRESHOLDS.locate_limit) -> list[NodeCheck]:
    """Check one op node's backward against finite differences of its forward, on the recorded
    values (see the module's docstring); ``limit`` is the largest input whose failing check is
    repeated element by element. Nodes whose value is not finite anywhere, or whose upstream
    gradient is not finite, are not checked (the non-finite findings cover them); inputs that
    could not be compared come back with a NaN ``excess`` (:func:`unchecked` names them)."""
    op = trace.op(node)
    step = trace.backward_step(node)
    if not _checkable(trace, node):
        return []
    checks = []
    for r in step.inputs:
        if not r.differentiable:
            continue
        if op.elementwise:
            checks.append(_local_check(trace, step, r, tolerance))
            continue
        diff, analytic, spread = _directional(trace, step, r, tolerance)
        excess = float(diff.excess(np.float64(analytic), tolerance, spread))
        size = trace.nodes[r.node].value.size
        if excess > 1 and (limit is None or size <= limit):
            checks.append(_elementwise_gradient(trace, step, r, tolerance))
            continue
        numeric = float(diff.numeric)
        error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-300)
        checks.append(NodeCheck(node, r.node, False, np.float64(analytic), np.float64(numeric),
                                excess, None, error, directional=True))
    return checks


def _checkable(trace: Trace, node: int) -> bool:
    nd = trace.nodes[node]
    return (trace.op(node) is not None and finite(trace.backward_step(node).upstream)
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


# --- what a failing check looks like in words -----------------------------------------------


SMALL = 6  # elements: arrays up to this size are quoted whole


def side_by_side(analytic: Array, numeric: Array, worst: Index | None) -> tuple[str, str]:
    """The backward's and the difference's numbers as a person reads them: whole arrays when
    small, else the worst element with its index and its own two values."""
    if worst is None or analytic.size <= SMALL:
        return explain.short(analytic), explain.short(numeric)
    at = "[" + ", ".join(map(str, worst)) + "]"
    return (f"{explain.number(float(analytic[worst]))} at {at}",
            explain.number(float(numeric[worst])))


def error_at(error: float, worst: Index | None, size: int) -> str:
    """``a relative error of 0.71`` (``at [1, 0], the worst element,`` when there are several)."""
    where = (f" at [{', '.join(map(str, worst))}], the worst element"
             if worst is not None and size > 1 else "")
    return f"a relative error of {sig(error)}{where}"


def pattern(analytic: Array, numeric: Array) -> str:
    """What a wrong derivative looks like next to the right one: a flipped sign or a constant
    factor (the two classic slips), or '' when it is neither."""
    a, n = np.ravel(analytic), np.ravel(numeric)
    use = np.isfinite(a) & np.isfinite(n) & (np.abs(n) > 1e-4)
    if not np.any(use) or a.size < 2:
        return ""
    ratios = a[use] / n[use]
    factor = float(np.median(ratios))
    if not np.allclose(ratios, factor, rtol=1e-3) or np.isclose(factor, 1.0, rtol=1e-3):
        return ""
    if np.isclose(factor, -1.0, rtol=1e-3):
        return " It is exactly the negative of the right value everywhere: a flipped sign."
    return (f" It is {sig(factor)} times the right value everywhere: a "
            f"{'wrong sign and a ' if factor < 0 else ''}constant factor is missing or extra.")


def _record(trace: Trace, nc: NodeCheck) -> InputGrad:
    return next(r for r in trace.backward_step(nc.node).inputs if r.node == nc.input)


def where_to_fix(trace: Trace, nc: NodeCheck) -> str:
    """The sentence that says which derivative to fix, and where (a custom op's line)."""
    nd = trace.nodes[nc.node]
    op = trace.op(nc.node)
    where = origin(op)
    formula = explain.formula(trace, trace.backward_step(nc.node), _record(trace, nc))
    role = "local" if nc.local else "backward"
    if where:
        return (f"Fix its {role}() (at {derivative_origin(op) or where}) so that it matches its "
                f"formula, {formula}.")
    return f"Fix the derivative of the op {nd.op} ({formula})."


def node_findings(trace: Trace, checks: list[NodeCheck]) -> list[Finding]:
    """A ``gradcheck-node`` error for each failing check."""
    found = []
    for nc in checks:
        if nc.ok:
            continue
        nd, x = trace.nodes[nc.node], trace.nodes[nc.input]
        analytic, numeric = side_by_side(nc.analytic, nc.numeric, nc.worst)
        if nc.directional:
            what = (f"the gradient it sends to {x.name} ({x.value.size} elements), compared "
                    f"along a random direction u, uᵀ·{explain.grad_name(trace, x.id)},")
        elif nc.local:
            what = f"its local derivative {explain.local_name(trace, nc.node, x.id)}"
        else:
            what = f"the gradient it sends to {x.name}, {explain.grad_name(trace, x.id)},"
        found.append(make_finding(
            "gradcheck-node", "error", trace, nc.node, "backward",
            f"{nd.name} ({nd.op}): backward {analytic}, finite differences {numeric}",
            f"The backward pass is wrong at {nd.name} ({op_name(trace, nc.node)}): {what} is "
            f"{analytic} in the backward pass but {numeric} by finite differences of the op's "
            f"forward, {error_at(nc.error, nc.worst, nc.analytic.size)}, beyond what rounding and "
            f"the step "
            f"size explain at both step sizes tried.{pattern(nc.analytic, nc.numeric)} Every "
            f"gradient computed from it, the parameters' included, is wrong too, so training "
            f"follows the wrong direction. {where_to_fix(trace, nc)}",
            input=x.name, compared=("local derivative" if nc.local else
                                    "gradient along a random direction" if nc.directional
                                    else "gradient"),
            analytic=np.asarray(nc.analytic).tolist(), numeric=np.asarray(nc.numeric).tolist(),
            element=None if nc.worst is None else list(nc.worst), error=nc.error,
            excess=nc.excess, tolerance=TOLERANCE, custom=origin(trace.op(nc.node)) is not None))
    return found


def unchecked_nodes(trace: Trace, checks: list[NodeCheck]) -> dict[str, Any]:
    """The op nodes no check covered, by reason: their value is not finite anywhere or their
    upstream gradient is not (``nonfinite``), or the op is not finite a step away from the
    recorded inputs (``domain``)."""
    checked = {c.node for c in checks}
    domain = sorted({c.node for c in checks if not c.checked})
    nonfinite = [nd.id for nd in trace.nodes
                 if trace.op(nd.id) is not None and nd.id not in checked
                 and any(r.differentiable for r in trace.backward_step(nd.id).inputs)]
    return {"nonfinite": nonfinite, "domain": domain}
