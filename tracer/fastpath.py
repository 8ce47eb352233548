"""The record-free backward pass: the same arithmetic as :func:`tracer.record.trace`, no records.

Iterations nobody is looking at run through :func:`gradients`. It walks the graph in the order
``trace`` does, asks each op of the op table for its derivatives (``local``, or ``vjp`` told
which inputs need a gradient: :func:`tracer.ops.vjp_for`), makes
the same products (:func:`tracer.record.upstream_times`) and broadcast sums
(:func:`tracer.ops.sum_to_shape`) and adds them up in the same order, so every gradient, and
so every parameter after the optimizer's step, is bit for bit what a recorded cycle gives (the
tests compare them on every built-in scenario). What it skips: the step
and node records, names, the check that no value changed under the graph (the recorded
cycles run that check), the optimizer's update records, and every gradient that leads to no
parameter (the inputs' ``.grad``, which it leaves ``None``).
"""

from __future__ import annotations

from operator import attrgetter

from .arrays import constant, frozen
from .ops import sum_to_shape, vjp_for
from .record import upstream_times
from .tensor import Tensor, quiet

_run_order = attrgetter("_run")


def gradients(root: Tensor) -> list[Tensor]:
    """Fill ``.grad`` on the parameters below the scalar ``root`` (∂root/∂param); return the
    graph's leaves.

    The ops run backward in the reverse of the order they ran, as :func:`trace` takes them, so
    each parameter's gradient adds up its consumers' contributions in the same order. Only
    gradients that reach a parameter are worked out: an op none of whose inputs leads to one is
    skipped, as is a contribution to an input that leads to none (the batch's ∂L/∂X is all an
    op's derivative may still compute, when its op returns every input's gradient at once).
    Other leaves' ``.grad`` is set to ``None`` and op results' left as they were: nobody reads
    them on the fast path (a recorded cycle fills every one).
    """
    # Tensors are the keys of these sets and dicts themselves (no id() calls): a tensor hashes
    # by identity, and distinct live tensors never share a hash, so their == (which builds a
    # comparison op) is never asked.
    ops: list[Tensor] = []
    leaves: list[Tensor] = []
    seen = {root}
    stack = [root]
    while stack:
        t = stack.pop()
        if t._op is None:
            leaves.append(t)
            continue
        ops.append(t)
        for x in t._inputs:
            if x not in seen:
                seen.add(x)
                stack.append(x)
    ops.sort(key=_run_order)
    # what leads to a parameter, in the order the ops ran (an op's inputs ran before it)
    needed = {t for t in leaves if t.kind == "param"}
    for t in ops:
        if not needed.isdisjoint(t._inputs):
            needed.add(t)
    grads = {root: constant(1.0, root.shape)}
    with quiet():
        for t in reversed(ops):
            if t not in needed:
                continue
            g = grads.pop(t, None)
            if g is None:  # only reachable through non-differentiable inputs (labels)
                g = constant(0.0, t._data.shape)
            op, args, inputs = t._op, t._args, t._inputs
            wanted = tuple(map(needed.__contains__, inputs))
            elementwise = op.local is not None
            # what the op sends each input (trace()'s contributions, without their records):
            # an elementwise op's local factors times g, or a vjp that skips unwanted inputs
            parts = (op.local(*args, t._data, **t._attrs) if elementwise
                     else vjp_for(op, g, args, t._data, t._attrs, wanted))
            for x, w, a, part in zip(inputs, wanted, args, parts, strict=True):
                if not w:
                    continue
                c = upstream_times(g, part) if elementwise else part
                if c is None:  # as trace() records it: a zero contribution, still added
                    c = constant(0.0, a.shape)
                elif c.shape != a.shape:  # broadcast (a bias), or a batch of matrix products
                    c = sum_to_shape(c, a.shape)[0]
                before = grads.get(x)
                grads[x] = c if before is None else before + c
    for leaf in leaves:
        if leaf.kind != "param":
            leaf.grad = None
            continue
        g = grads.get(leaf)
        leaf.grad = constant(0.0, leaf._data.shape) if g is None else frozen(g)
    return leaves

