"""PyTorch's backward against the op table's: the ``torch-vjp-mismatch`` finding.

A PyTorch model's node recorded as an op of gradstep's op table (:mod:`tracer.torch_ops`) has
two backward passes to compare: what PyTorch's autograd sent along each edge, and the table's
own vector-Jacobian product of that op, from the same upstream gradient PyTorch's Node ran with
and the recorded input values. They agree up to PyTorch's rounding; a disagreement beyond it
means PyTorch's backward for that call is not the derivative of its forward (a backward
registered with ``torch.library``, a patched or overridden kernel, an extension's op): every
gradient computed from it is wrong.

The tolerance comes from the dtype PyTorch computed in, not a fixed number. Each element of a
vector-Jacobian product is a sum of at most ``k`` terms (``k``: the upstream's number of
elements), each the upstream times a local derivative PyTorch evaluates to a few units in the
last place; rounding in that dtype moves such a sum by at most about ``(k + 4)·ε·M``, where
``ε`` is the dtype's machine epsilon and ``M`` the size of the largest sum of the terms' absolute
values along that edge: ``|upstream|·|local derivative|`` summed back for elementwise ops, and
the op's own product taken on ``|upstream|`` and ``|inputs|`` for the others (a bound for the
multilinear ones: matmul, convolution, sums, reshapes). A difference beyond that is a finding.

Native traces have nothing to compare (their ``pytorch_vjps()`` is empty).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ops import sum_to_shape
from ..record import Trace, _input_grads
from .findings import Array, Finding, index_text, make_finding, sig

KIND = "torch-vjp-mismatch"
# PyTorch evaluates a local derivative (tanh's 1 - y², GELU's Φ(x) + x·φ(x)) to a few units in
# the last place of its dtype, on top of the rounding of the sum.
_ULPS_PER_TERM = 4


class PyTorchVJP(NamedTuple):
    """What PyTorch's backward gave and sent at one node recorded as an op of the table."""

    node: int
    upstream: Array  # ∂L/∂node as PyTorch's autograd Node received it (float64 of its numbers)
    positions: tuple[int, ...]  # the inputs PyTorch sent a gradient to (the edges' contributions)
    eps: float  # the machine epsilon of the dtype PyTorch computed in
    module: str | None = None  # the module path the call ran in ("block.norm")


class Mismatch(NamedTuple):
    """One edge where the two backward passes disagree: the worst element."""

    node: int
    position: int
    element: tuple[int, ...]
    pytorch: float
    table: float
    difference: float
    tolerance: float
    module: str | None


def _magnitude(trace: Trace, node: int, values: list[Array], upstream: Array,
               local: list[Array | None]) -> list[Array | None]:
    """For each input, the size of the terms its gradient sums (see the module's docstring)."""
    nd = trace.nodes[node]
    t = trace.tensors[node]
    g = np.abs(upstream)
    if t.op.local is not None:
        sizes = []
        for x, factor in zip(values, local, strict=True):
            full = np.broadcast_to(g * np.abs(np.broadcast_to(factor, nd.shape)), nd.shape)
            sizes.append(sum_to_shape(full, x.shape)[0] if full.shape != x.shape else full)
        return sizes
    try:
        grads = _input_grads(t, [np.abs(v) for v in values], np.abs(nd.value), g)
    except (ValueError, TypeError, IndexError, FloatingPointError):
        return [None] * len(values)
    return [None if c is None else np.abs(c) for c, *_ in grads]


def mismatches(trace: Trace) -> list[Mismatch]:
    """Every edge, of every node recorded as an op of the table, whose gradient PyTorch sent
    differs from the table's vector-Jacobian product beyond rounding (its worst element)."""
    found = []
    with np.errstate(all="ignore"):
        for sent in trace.pytorch_vjps():
            if not sent.positions or not np.isfinite(sent.upstream).all():
                continue  # (a non-finite gradient is the nonfinite-gradient finding's)
            nd = trace.nodes[sent.node]
            step = trace.backward_step(sent.node) if trace.step_of(sent.node) is not None \
                else None
            if step is None:
                continue
            values = [trace.nodes[i].value for i in nd.inputs]
            ours = _input_grads(trace.tensors[sent.node], values, nd.value, sent.upstream)
            sizes = _magnitude(trace, sent.node, values, sent.upstream,
                               [local for _, local, *_ in ours])
            terms = max(1, sent.upstream.size)
            for position in sent.positions:
                table = ours[position][0]
                if table is None:
                    continue
                pytorch = step.inputs[position].contribution
                size = sizes[position]
                scale = max(float(np.max(size, initial=0.0)) if size is not None else 0.0,
                            float(np.max(np.abs(table), initial=0.0)))
                tolerance = (terms + _ULPS_PER_TERM) * sent.eps * scale
                usable = np.isfinite(table) & np.isfinite(pytorch)
                difference = np.where(usable, np.abs(table - pytorch), 0.0)
                if not np.any(difference > tolerance):
                    continue
                worst = tuple(int(i) for i in np.unravel_index(np.argmax(difference),
                                                                difference.shape))
                found.append(Mismatch(sent.node, position, worst, float(pytorch[worst]),
                                      float(table[worst]), float(difference[worst]), tolerance,
                                      sent.module))
    return found


def torch_vjp_findings(trace: Trace) -> list[Finding]:
    """A ``torch-vjp-mismatch`` error for each edge where PyTorch's backward disagrees with the
    op table's derivative of the same op."""
    found = []
    for m in mismatches(trace):
        nd = trace.nodes[m.node]
        x = trace.nodes[nd.inputs[m.position]]
        at = index_text(m.element)
        inside = f" in the module {m.module}" if m.module else ""
        found.append(make_finding(
            KIND, "error", trace, m.node, "backward",
            f"{nd.name} ({nd.op}): PyTorch sent {sig(m.pytorch, 6)} to {x.name}{at}, the op "
            f"table's derivative gives {sig(m.table, 6)}",
            f"PyTorch's backward disagrees with the derivative of {nd.op} at {nd.name}{inside}: "
            f"the gradient it sent to {x.name} (input {m.position + 1}) is {sig(m.pytorch, 6)}"
            f"{' at ' + at + ', the worst element' if at else ''}, but the op table's "
            f"vector-Jacobian product of {nd.op}, from the same upstream gradient and the "
            f"recorded inputs, gives {sig(m.table, 6)}: a difference of {sig(m.difference)}, "
            f"beyond the {sig(m.tolerance)} that rounding explains. PyTorch's forward of this "
            f"call is {nd.op}, but its backward is not {nd.op}'s derivative, so every gradient "
            f"computed from it, the parameters' included, is wrong. Look for a backward "
            f"registered or overridden for this op (torch.library, a custom autograd kernel, "
            f"a patched function, an extension).",
            input=x.name, position=m.position, element=list(m.element), pytorch=m.pytorch,
            table=m.table, difference=m.difference, tolerance=m.tolerance, module=m.module))
    return found
