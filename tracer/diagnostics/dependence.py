"""Dependence: parameters the loss does not depend on, and parameters or inputs whose gradient is
exactly 0, with the consumer that blocks it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import explain
from ..record import InputGrad, Trace
from ..tensor import Tensor
from .findings import Finding, finite, listing, make_finding, op_name


def reachable(trace: Trace) -> set[int]:
    """Nodes with a path to the loss through inputs that get a gradient (not only labels)."""
    reached = {trace.root}
    for step in trace.backward:
        if step.node in reached:
            reached.update(r.node for r in step.inputs if r.differentiable)
    return reached

# --- parameters the loss does not depend on, and zero gradients ---------------------------------


def _blockers(trace: Trace, node: int) -> list[tuple[int, InputGrad]]:
    """Where ``node``'s gradient stops: the consumer steps that receive a non-zero gradient but
    send 0 on towards ``node`` (following consumers whose own gradient is 0 towards the loss)."""
    found, seen, stack = [], {node}, [node]
    while stack:
        n = stack.pop()
        for k in sorted(set(trace.graph.successors(n))):
            if trace.step_of(k) is None:  # no parameter upstream of k: not on a path to one
                continue
            step = trace.backward_step(k)
            if not np.any(step.upstream):
                if k not in seen:
                    seen.add(k)
                    stack.append(k)
                continue
            found += [(k, r) for r in step.inputs if r.node == n and r.differentiable]
    return found


def _blocked_because(trace: Trace, k: int, record: InputGrad) -> tuple[str, str]:
    """Why consumer ``k`` sends 0 to ``record``'s input, and what that means for learning."""
    nd = trace.nodes[k]
    x = trace.nodes[record.node]
    op = trace.op(k)
    others = [trace.nodes[i] for p, i in enumerate(nd.inputs) if p != record.position]
    if op is None:
        pass
    elif op.scaled_by_other and others and not np.any(others[0].value):
        other = others[0].name
        if op.elementwise:  # the local derivative is the other input itself
            return (f"{explain.expression(trace, nd)}, and {other} = "
                    f"{explain.short(others[0].value)}, so "
                    f"{explain.local_name(trace, k, x.id)} = {other} = 0",
                    f"it will get a gradient from examples where {other} is not 0")
        return (f"{explain.expression(trace, nd)}, and {other} is all zeros",
                f"it will get a gradient once {other} is not all zeros")
    elif op.can_die:
        return (f"{nd.name} = {op.name}({x.name}) and {x.name} ≤ 0 wherever a gradient "
                f"arrives, so {op.name} passes none back (see the dead-relu finding)",
                f"it stays stuck for as long as {nd.name} is dead")
    elif op.peak_slope is not None:
        return (f"{nd.name} = {op.name}({x.name}) is so saturated that its slope rounds to 0",
                f"it stays stuck for as long as {nd.name} is saturated")
    if record.local is not None:
        return (f"the local derivative {explain.local_name(trace, k, x.id)} "
                f"({explain.formula(trace, trace.backward_step(k), record)}) is 0 wherever a "
                f"gradient arrives at {nd.name}",
                "it will get a gradient where that slope is not 0")
    return (f"{nd.name}'s backward ({op_name(trace, k)}) sends it 0 for this upstream "
            f"gradient", "it will get a gradient when other values let one through")


def dependence(trace: Trace, params: Sequence[Tensor]) -> list[Finding]:
    found = []
    in_graph = {id(trace.tensors[n.id]) for n in trace.params}
    for k, p in enumerate(params):
        if p.kind == "param" and id(p) not in in_graph:
            name = p.name or f"param_unused_{k + 1}"
            because = trace.unused_because(name)
            if because is not None:
                found.append(make_finding(
                    "unused-param", "warning", None, None, None,
                    f"the loss does not depend on {name}, though forward() uses it",
                    f"The loss does not depend on {name}: {because}.", name=name,
                    shape=list(p.shape), in_graph=False))
                continue
            found.append(make_finding(
                "unused-param", "warning", None, None, None,
                f"{name} is never used: the loss does not depend on it",
                f"The loss does not depend on {name}: forward() never uses it, so it is not in "
                f"the graph, its gradient is 0 by definition and no update will ever change it. "
                f"This is usually a forgotten term (a bias defined but never added, a layer "
                f"left out of forward()). Fix: use it in forward(), or delete it if it is not "
                f"meant to be there.", name=name, shape=list(p.shape), in_graph=False))
    reached = reachable(trace)
    for nd in trace.nodes:
        if nd.kind == "param" and nd.id not in reached:
            consumers = listing([trace.nodes[k].name for k in trace.graph.successors(nd.id)])
            found.append(make_finding(
                "unused-param", "warning", trace, nd.id, "forward",
                f"{nd.name} reaches the loss only as a label",
                f"The loss does not depend on {nd.name} in a way that has a gradient: it "
                f"reaches the loss only through an input that gets none (a label of "
                f"{consumers}), so it always gets a gradient of 0 and no update changes it. "
                f"Fix: feed it into the computation, or make it a constant or an input instead "
                f"of a param.", shape=list(nd.shape), in_graph=True))
        elif (nd.kind in ("param", "input") and nd.id in reached and nd.grad.size
              and finite(nd.grad) and not np.any(nd.grad)):
            blocks = _blockers(trace, nd.id)
            if not blocks:
                continue
            k, record = blocks[0]
            why, outlook = _blocked_because(trace, k, record)
            role = "parameter" if nd.kind == "param" else "input"
            effect = (f"this update leaves {nd.name} where it is; {outlook}"
                      if nd.kind == "param" else "nudging it would not change the loss")
            found.append(make_finding(
                "zero-gradient", "info", trace, nd.id, "backward",
                f"∂L/∂{nd.name} is exactly 0: blocked at {trace.nodes[k].name}",
                f"∂L/∂{nd.name} is exactly 0, though the {role} {nd.name} does reach the loss "
                f"(so it is not unused): {why}. With these values no gradient gets through, so "
                f"{effect}.", shows_at=k, blocked_at=trace.nodes[k].name, in_graph=True))
    return found


