"""A failing node check in words: the ``gradcheck-node`` finding, the numbers side by side (the
worst element, with its index and its own values), the classic slips, and the nodes no check
covered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import explain
from ..custom import derivative_origin, origin
from ..gradcheck import TOLERANCE
from ..record import InputGrad, Trace
from ..sizes import SHORT
from .findings import Array, Finding, make_finding, op_name, sig
from .nodecheck import Index, NodeCheck


def side_by_side(analytic: Array, numeric: Array, worst: Index | None) -> tuple[str, str]:
    """The backward's and the difference's numbers as a person reads them: whole arrays when
    small, else the worst element with its index and its own two values."""
    if worst is None or analytic.size <= SHORT:
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
                 and trace.step_of(nd.id) is not None
                 and any(r.differentiable for r in trace.backward_step(nd.id).inputs)]
    return {"nonfinite": nonfinite, "domain": domain}


def check_lines(findings: Sequence[Finding], node: int) -> list[explain.Line]:
    """For the inspector at ``node``'s backward step: each failing gradient check there, the
    backward's value and the finite difference side by side (the worst element, as the
    finding's message quotes it)."""
    lines: list[explain.Line] = []
    for f in findings:
        if f.node != node or f.kind not in ("gradcheck-node", "gradcheck-param"):
            continue
        analytic = np.asarray(f.details["analytic"], dtype=float)
        numeric = np.asarray(f.details["numeric"], dtype=float)
        element = f.details.get("element")
        worst = None if element is None else tuple(element)
        a, n = side_by_side(analytic, numeric, worst)
        against = ("finite differences of the op" if f.kind == "gradcheck-node" else
                   "finite differences of the loss")
        along = ", along a random direction" if "random" in f.details.get("compared", "") else ""
        what = f" ({f.details['input']}{along})" if "input" in f.details else ""
        lines += [explain.Line(f"gradient check fails{what}", "heading"),
                  explain.Line(f"backward: {a}", "value"),
                  explain.Line(f"{against}: {n}", "value"),
                  explain.Line(error_at(float(f.details["error"]), worst, analytic.size), "note")]
    return lines
