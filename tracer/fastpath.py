"""The record-free backward pass: the same arithmetic as :func:`tracer.record.trace`, no records.

Iterations nobody is looking at run through :func:`gradients`. It walks the graph in the order
``trace`` does, asks each op of the op table for its derivatives (``local`` or ``vjp``), makes
the same products (:func:`tracer.record.upstream_times`) and broadcast sums
(:func:`tracer.ops.sum_to_shape`) and adds them up in the same order, so every gradient, and
so every parameter after the optimizer's step, is bit for bit what a recorded cycle gives (the
tests compare them on every built-in scenario). What it skips: the step
and node records, names, the check that no value changed under the graph (the recorded
cycles run that check), the optimizer's update records, and every gradient that leads to no
parameter (the inputs' ``.grad``, which it leaves ``None``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from operator import itemgetter

import numpy as np

from .arrays import constant, frozen
from .ops import sum_to_shape, vjp_for
from .record import upstream_times
from .tensor import Tensor, quiet


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
    # (when it ran, its id, the op result, its inputs' ids): each id() taken once
    ops: list[tuple[int, int, Tensor, tuple[int, ...]]] = []
    leaves: list[Tensor] = []
    seen = {id(root)}
    stack = [root]
    while stack:
        t = stack.pop()
        if t._op is None:
            leaves.append(t)
            continue
        inputs = t._inputs
        ids = tuple(map(id, inputs))
        ops.append((t._run, id(t), t, ids))
        for x, k in zip(inputs, ids, strict=True):
            if k not in seen:
                seen.add(k)
                stack.append(x)
    ops.sort(key=itemgetter(0))
    # what leads to a parameter, in the order the ops ran (an op's inputs ran before it)
    needed = {id(t) for t in leaves if t.kind == "param"}
    for _, k, _, ids in ops:
        if not needed.isdisjoint(ids):
            needed.add(k)
    grads = {id(root): constant(1.0, root.shape)}
    with quiet():
        for _, k, t, ids in reversed(ops):
            if k not in needed:
                continue
            g = grads.pop(k, None)
            if g is None:  # only reachable through non-differentiable inputs (labels)
                g = constant(0.0, t._data.shape)
            wanted = tuple([i in needed for i in ids])
            for i, w, a, c in zip(ids, wanted, t._args, _contributions(t, g, wanted),
                                  strict=True):
                if not w:
                    continue
                if c is None:  # as trace() records it: a zero contribution, still added
                    c = constant(0.0, a.shape)
                before = grads.get(i)
                grads[i] = c if before is None else before + c
    for leaf in leaves:
        if leaf.kind != "param":
            leaf.grad = None
            continue
        g = grads.get(id(leaf))
        leaf.grad = constant(0.0, leaf._data.shape) if g is None else frozen(g)
    return leaves


def _contributions(t: Tensor, g: np.ndarray, wanted: tuple[bool, ...]
                   ) -> list[np.ndarray | None]:
    """What op result ``t`` sends each of its inputs, given its upstream gradient ``g``, each in
    its input's shape: the contributions :func:`tracer.record._input_grads` records, without
    the rest of the record; ``None`` for an input ``wanted`` does not mark (not computed, where
    the op can skip it: see :attr:`tracer.ops.Op.selective`) or that has no gradient."""
    op, args = t._op, t._args
    if op.local is None:
        parts = vjp_for(op, g, args, t._data, t._attrs, wanted)
    else:
        parts = [upstream_times(g, local) if w else None
                 for local, w in zip(op.local(*args, t._data, **t._attrs), wanted, strict=True)]
    return [c if c is None or not w or c.shape == a.shape else sum_to_shape(c, a.shape)[0]
            for a, c, w in zip(args, parts, wanted, strict=True)]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Keep the cyclic garbage collector from running inside the block.

    Building records allocates many small objects and no reference cycles; every 700
    allocations CPython would otherwise walk all the objects alive, which for a big graph's
    records is a large share of the cycle's time (see ``benchmarks/engine.py``).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
