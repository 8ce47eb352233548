"""Gradient checks: each op node's backward against finite differences of its forward, and each
parameter's gradient against finite differences of the whole loss."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .. import explain
from ..arrays import frozen
from ..custom import derivative_origin, origin
from ..gradcheck import EPS, FLOOR, TOLERANCE, Check, check_node, check_params, relative_error
from ..record import BackwardStep, InputGrad, Trace
from ..tensor import Tensor
from .findings import (
    THRESHOLDS,
    Array,
    Finding,
    Thresholds,
    finite,
    index_text,
    listing,
    make_finding,
    op_name,
    sig,
)


@contextmanager
def recorded_values(trace: Trace) -> Iterator[None]:
    """Give every leaf tensor of ``trace`` its recorded value for the duration (then restore).

    After an optimizer step the parameters hold new values; gradient checks must probe the
    values the trace was recorded at.
    """
    saved = []
    for node in trace.nodes:
        tensor = trace.tensors[node.id]
        if tensor.op is None:
            saved.append((tensor, tensor._data))
            tensor.data = node.value  # read-only: shared, and copied if anyone asks for it
    try:
        yield
    finally:
        for tensor, data in saved:
            tensor._data = data


# --- gradient checks ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeCheck:
    """One input of one op node checked against finite differences.

    ``local`` is true when the local derivative ∂out/∂input itself was compared (elementwise
    ops); otherwise the gradient the backward step sent to the input (upstream × derivative)
    was, as :func:`tracer.gradcheck.check_node` does.
    """

    node: int
    input: int
    check: Check
    local: bool

    @property
    def ok(self) -> bool:
        return self.check.ok


def _local_check(trace: Trace, step: BackwardStep, record: InputGrad, tolerance: float,
                 eps: float = EPS) -> Check:
    """The recorded local derivative against differences of the op's forward, perturbing the
    whole input at once (each output element of an elementwise op depends on one input element).

    Where the op has a kink (ReLU at 0) the one-sided differences disagree; a local derivative
    that lies between them is accepted there.
    """
    nd = trace.nodes[step.node]
    op = trace.op(step.node)
    values = [trace.nodes[i].value for i in nd.inputs]

    def run(delta: float) -> Array:
        probe = list(values)
        probe[record.position] = values[record.position] + delta
        return np.broadcast_to(op.forward(*probe, **nd.attrs), nd.shape)

    with np.errstate(all="ignore"):
        up, mid, down = run(eps), run(0.0), run(-eps)
        central = (up - down) / (2 * eps)
        ahead, behind = (up - mid) / eps, (mid - down) / eps
        analytic = np.broadcast_to(np.asarray(record.local, dtype=float), nd.shape)
        usable = np.isfinite(central) & np.isfinite(analytic)
        scale = np.maximum(np.maximum(np.abs(analytic), np.abs(central)), FLOOR)
        error = np.abs(analytic - central) / scale
        slack = tolerance * scale
        between = ((analytic >= np.minimum(ahead, behind) - slack)
                   & (analytic <= np.maximum(ahead, behind) + slack))
        error = np.where(usable & ~between, error, 0.0)
    name = explain.local_name(trace, step.node, record.node)
    return Check(name, step.node, frozen(analytic), frozen(np.where(usable, central, np.nan)),
                 float(np.max(error)) if error.size else 0.0, tolerance)


def node_checks(trace: Trace, node: int, tolerance: float = TOLERANCE,
                limit: int | None = THRESHOLDS.node_check_limit) -> list[NodeCheck]:
    """Check one op node's backward against finite differences of its forward.

    Elementwise ops compare the local derivative itself (cheap at any size); other ops compare
    the gradient sent to each input, through :func:`tracer.gradcheck.check_node`, unless their
    inputs hold more than ``limit`` elements. Nodes with non-finite values or upstream gradient
    are not checked (the non-finite findings cover them). Probes use the recorded values.
    """
    nd = trace.nodes[node]
    op = trace.op(node)
    step = trace.backward_step(node)
    if op is None or not finite(step.upstream) or not all(
            finite(trace.nodes[i].value) for i in (node, *nd.inputs)):
        return []
    records = [r for r in step.inputs if r.differentiable]
    if op.elementwise:
        return [NodeCheck(node, r.node, _local_check(trace, step, r, tolerance), True)
                for r in records]
    size = sum(trace.nodes[r.node].value.size for r in records)
    if limit is not None and size > limit:
        return []
    checks = check_node(trace, node, tolerance=tolerance)  # on the recorded values alone
    out = []
    for r, c in zip(records, checks, strict=True):
        usable = np.isfinite(c.numeric) & np.isfinite(c.analytic)
        if not np.all(usable):  # the probe left the op's domain (a probability past 1)
            c = Check(c.name, c.node, c.analytic, c.numeric,
                      relative_error(c.analytic[usable], c.numeric[usable]), c.tolerance)
        out.append(NodeCheck(node, r.node, c, False))
    return out


def _side_by_side(analytic: Array, numeric: Array) -> tuple[str, str]:
    bad = np.isfinite(numeric) & ~np.isclose(analytic, numeric, rtol=1e-3, atol=1e-8)
    if analytic.size > 6 and np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return (f"{explain.number(analytic[idx])} at {index_text(idx)}",
                f"{explain.number(numeric[idx])}")
    return explain.short(analytic), explain.short(numeric)


def _pattern(analytic: Array, numeric: Array) -> str:
    """What a wrong derivative looks like next to the right one: a flipped sign or a constant
    factor (the two classic slips), or '' when it is neither."""
    a, n = np.ravel(analytic), np.ravel(numeric)
    use = np.isfinite(a) & np.isfinite(n) & (np.abs(n) > FLOOR)
    if not np.any(use):
        return ""
    ratios = a[use] / n[use]
    factor = float(np.median(ratios))
    if not np.allclose(ratios, factor, rtol=1e-3) or np.isclose(factor, 1.0, rtol=1e-3):
        return ""
    if np.isclose(factor, -1.0, rtol=1e-3):
        return " It is exactly the negative of the right value everywhere: a flipped sign."
    return (f" It is {sig(factor)} times the right value everywhere: a "
            f"{'wrong sign and a ' if factor < 0 else ''}constant factor is missing or extra.")


def node_findings(trace: Trace, limits: Thresholds) -> list[Finding]:
    found = []
    for nd in trace.nodes:
        for nc in node_checks(trace, nd.id, limits.tolerance, limits.node_check_limit):
            if nc.ok:
                continue
            c, x = nc.check, trace.nodes[nc.input]
            analytic, numeric = _side_by_side(np.asarray(c.analytic), np.asarray(c.numeric))
            what = (f"its local derivative {c.name}" if nc.local
                    else f"the gradient it sends to {x.name}, {explain.grad_name(trace, x.id)},")
            op = trace.op(nd.id)
            where = origin(op)
            formula = explain.formula(trace, trace.backward_step(nd.id),
                                      _record(trace, nd.id, nc))
            role = "local" if nc.local else "backward"
            fix = (f"Fix its {role}() (at {derivative_origin(op) or where}) so that it matches "
                   f"its formula, {formula}." if where else
                   f"Fix the derivative of the op {nd.op} ({formula}).")
            found.append(make_finding(
                "gradcheck-node", "error", trace, nd.id, "backward",
                f"{nd.name} ({nd.op}): backward {analytic}, finite differences {numeric}",
                f"The backward pass is wrong at {nd.name} ({op_name(trace, nd.id)}): {what} is "
                f"{analytic} in the backward pass but {numeric} by finite differences of the "
                f"op's forward, a relative error of {sig(c.error)} (the tolerance is "
                f"{explain.number(c.tolerance)}).{_pattern(c.analytic, c.numeric)} Every "
                f"gradient computed from it, the parameters' included, is wrong too, so "
                f"training follows the wrong direction. {fix}",
                input=x.name, compared="local derivative" if nc.local else "gradient",
                analytic=np.asarray(c.analytic).tolist(), numeric=np.asarray(c.numeric).tolist(),
                error=c.error, tolerance=c.tolerance, custom=where is not None))
    return found


def _record(trace: Trace, node: int, nc: NodeCheck) -> InputGrad:
    return next(r for r in trace.backward_step(node).inputs if r.node == nc.input)


def _kink(forward: Callable[[], Tensor], trace: Trace, check: Check, eps: float = EPS) -> bool:
    """Whether every element failing ``check`` has its backward value between the one-sided
    differences of the loss: the loss has a kink (a ReLU input at exactly 0) or bends sharply
    there (ln near 0), and central differences are what is off, not the backward.

    Call with the trace's recorded values in place (:func:`recorded_values`).
    """
    tensor = trace.tensors[check.node]
    value = trace.nodes[check.node].value
    analytic, numeric = np.asarray(check.analytic), np.asarray(check.numeric)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), FLOOR)
    failing = np.isfinite(numeric) & (np.abs(analytic - numeric) / scale > check.tolerance)
    kept = tensor._data

    def loss(delta: float, idx: tuple[int, ...]) -> float:
        probe = value.copy()
        probe[idx] += delta
        tensor.data = probe
        return float(forward().data.item())

    try:
        with np.errstate(all="ignore"):
            for idx in map(tuple, np.argwhere(failing)):
                up, mid, down = loss(eps, idx), loss(0.0, idx), loss(-eps, idx)
                low, high = sorted(((up - mid) / eps, (mid - down) / eps))
                slack = check.tolerance * scale[idx]
                if not low - slack <= analytic[idx] <= high + slack:
                    return False
    finally:
        tensor._data = kept
    return True


def param_findings(trace: Trace, forward: Callable[[], Tensor], limits: Thresholds,
                    culprits: Sequence[Finding]) -> list[Finding]:
    found = []
    with recorded_values(trace):
        checks = check_params(forward, trace, tolerance=limits.tolerance,
                              limit=limits.param_check_limit)
        failed = [c for c in checks if not c.ok and (culprits or not _kink(forward, trace, c))]
    for c in failed:
        probed = np.isfinite(c.numeric)
        analytic, numeric = _side_by_side(np.where(probed, c.analytic, np.nan),
                                          np.asarray(c.numeric))
        if culprits:
            cause = ("The per-node check pins it on "
                     + listing([f.name or "" for f in culprits]) + ", where the backward is "
                     "wrong.")
            severity = "error"
        else:
            cause = ("Every node's own check passes, so the wrong gradient comes from how the "
                     "graph is put together rather than from one op: check for an op applied "
                     "to data changed in place, or a forward() that depends on state besides "
                     "the parameters.")
            severity = "warning"
        found.append(make_finding(
            "gradcheck-param", severity, trace, c.node, "backward",
            f"∂L/∂{c.name}: backward {analytic}, finite differences of the loss {numeric}",
            f"The gradient of {c.name} from the backward pass, {analytic}, disagrees with "
            f"finite differences of the whole loss, {numeric}: a relative error of "
            f"{sig(c.error)} (the tolerance is {explain.number(c.tolerance)}). {cause}",
            analytic=np.asarray(c.analytic).tolist(), numeric=np.asarray(c.numeric).tolist(),
            error=c.error, tolerance=c.tolerance))
    return found


