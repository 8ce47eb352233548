"""Findings of the whole-loss gradient check (``gradcheck-param``) and the note that says what no
check covered (``unchecked``), so that a verdict never claims a pass it did not check."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

import networkx as nx
import numpy as np

from .. import explain
from ..lines import lines_of
from ..record import Trace
from ..tensor import Tensor
from .findings import Array, Finding, Thresholds, listing, make_finding
from .losscheck import Along, element_differences, failing_params, locate, place, recorded_values
from .nodecheck import NodeCheck
from .nodefindings import error_at, side_by_side, unchecked_nodes


def _worst_element(analytic: Array, numeric: Array) -> tuple[tuple[int, ...] | None, float]:
    probed = np.isfinite(numeric)
    if not np.any(probed):
        return None, float("nan")
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), 1e-300)
    error = np.where(probed, np.abs(analytic - numeric) / scale, -1.0)
    flat = int(np.argmax(error))
    return tuple(int(i) for i in np.unravel_index(flat, error.shape)), float(error.flat[flat])


def _line(trace: Trace, node: int, lines: Callable[[], dict[int, str] | None]) -> str | None:
    """The line computing ``node``: the trace's own, else ``lines()``, the capture of one extra
    forward pass (cached: at most one per diagnosis, and only when a finding needs a line)."""
    known = trace.source(node)
    if known is not None or trace.op(node) is None:
        return known
    captured = lines()
    return None if captured is None else captured.get(node)


def _cause(trace: Trace, node: int, culprits: Sequence[Finding], limits: Thresholds,
           lines: Callable[[], dict[int, str] | None]) -> str:
    below = nx.descendants(trace.graph, node)
    pinned = [f.name or "" for f in culprits if f.node in below]
    if pinned:
        return f"The per-node check pins it on {listing(pinned)}, where the backward is wrong."
    name = trace.nodes[node].name
    spot = locate(trace, node, limits)
    if spot is None:
        return (f"Replaying the recorded ops from {name} agrees with its recorded gradient, and "
                f"every node's own check passes, so forward() computes something other than "
                f"what was recorded: it depends on state besides the parameters (random "
                f"numbers, a counter, data changed between calls). Make forward() a function "
                f"of the parameters alone.")
    wrong, right = spot
    culprit = place(trace, right, _line(trace, right, lines))
    return (f"Bisecting the path from {name} to the loss, replaying the recorded ops from each "
            f"node: ∂L/∂{trace.nodes[wrong].name} is wrong while ∂L/∂{trace.nodes[right].name}"
            f" is right, so the backward of {culprit} sends "
            f"{trace.nodes[wrong].name} the wrong gradient.")


def param_findings(trace: Trace, forward: Callable[[], Tensor], limits: Thresholds,
                   culprits: Sequence[Finding]) -> tuple[list[Finding], Along | None]:
    """A ``gradcheck-param`` error for each parameter whose gradient disagrees with finite
    differences of the whole loss; also the check of all of them together (``None`` without
    parameters; its ``excess`` is NaN when it could not be taken)."""
    with recorded_values(trace):
        whole, failing = failing_params(trace, forward, limits)
        measured = [(k, result, element_differences(trace, forward, k, limits.param_check_limit))
                    for k, result in failing]
        lines = functools.cache(lambda: lines_of(trace, forward))
        causes = [_cause(trace, k, culprits, limits, lines) for k, _, _ in measured]
    found = []
    for (k, result, numeric), cause in zip(measured, causes, strict=True):
        nd = trace.nodes[k]
        analytic = np.asarray(nd.grad, dtype=float)
        worst, error = _worst_element(analytic, numeric)
        a, n = side_by_side(analytic, numeric, worst)
        probed = int(np.sum(np.isfinite(numeric)))
        which = ("" if probed == numeric.size else f" (of the first {probed} of its "
                                                   f"{numeric.size} elements)")
        element = (f" Element by element{which}: {a} in the backward pass and {n} by finite "
                   f"differences, {error_at(error, worst, analytic.size)}."
                   if worst is not None else "")
        found.append(make_finding(
            "gradcheck-param", "error", trace, k, "backward",
            f"∂L/∂{nd.name}: backward {a}, finite differences of the loss {n}",
            f"The gradient of {nd.name} from the backward pass disagrees with finite "
            f"differences of the whole loss: along a random direction u over its "
            f"{nd.value.size} elements, uᵀ·∂L/∂{nd.name} = "
            f"{explain.number(result.analytic)} but the loss changes at the rate "
            f"{explain.number(result.numeric)}, beyond what rounding and the step size explain "
            f"at both step sizes tried.{element} {cause}",
            analytic=analytic.tolist(), numeric=numeric.tolist(),
            element=None if worst is None else list(worst), error=error,
            directional={"analytic": result.analytic, "numeric": result.numeric,
                         "excess": result.excess}))
    return found, whole


def unchecked(trace: Trace, checks: list[NodeCheck], whole: Along | None, skipped: str | None,
              covered: bool) -> Finding | None:
    """An ``unchecked`` note naming what no gradient check covered, and why; ``skipped`` says
    why the whole-loss check did not run (``None`` when it did). With ``covered`` (a non-finite
    finding was made) what non-finite numbers kept from being checked is left to that finding."""
    parts: list[str] = []
    nodes = unchecked_nodes(trace, checks)
    names = {key: [trace.nodes[i].name for i in ids] for key, ids in nodes.items()}
    if names["nonfinite"] and not covered:
        parts.append(f"the backward of {len(names['nonfinite'])} node(s) whose value or "
                     f"upstream gradient is not finite ({listing(names['nonfinite'])})")
    if names["domain"]:
        parts.append(f"the backward of {len(names['domain'])} node(s) whose op is not finite a "
                     f"step away from the recorded inputs ({listing(names['domain'])})")
    if skipped is not None and not covered:
        parts.append(f"the parameters' gradients against the whole loss ({skipped})")
    elif whole is not None and not np.isfinite(whole.excess):
        parts.append("the parameters' gradients against the whole loss (the loss is not finite "
                     "a step away from the recorded parameters)")
    if not parts:
        return None
    text = "; ".join(parts)
    return make_finding(
        "unchecked", "info", None, None, None, f"not checked: {text}",
        f"Not checked: {text}. Findings and the verdict cover only what was checked.",
        nodes=names, whole_loss=skipped)


# Forward passes of a whole-loss check of a healthy network (two step sizes either way) and of
# the one-step probe.
FORWARDS_PER_CHECK = 5


def param_check_cost(forward: Callable[[], Tensor]) -> float:
    """Seconds the whole-loss check (and the probe) of a healthy network will take, from the
    time of one forward pass (run now; the caller holds the network's lock)."""
    start = time.perf_counter()
    forward()
    return FORWARDS_PER_CHECK * (time.perf_counter() - start)
