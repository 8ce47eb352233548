"""The record-free backward pass: the same arithmetic as :func:`tracer.record.trace`, no records.

Iterations nobody is looking at run through :func:`gradients`. It walks the graph in the order
``trace`` does, asks each op of the op table for its derivatives (``local`` or ``vjp``), makes
the same products (:func:`tracer.record.upstream_times`) and broadcast sums
(:func:`tracer.ops.sum_to_shape`) and adds them up in the same order, so every gradient, and
so every parameter after the optimizer's step, is bit for bit what a recorded cycle gives (the
tests compare them on every built-in scenario). What it skips: the step
and node records, names, and the check that no value changed under the graph (the recorded
cycles run that check).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .arrays import constant, frozen
from .ops import sum_to_shape
from .record import _run_order, upstream_times
from .tensor import Tensor, quiet


def gradients(root: Tensor) -> list[Tensor]:
    """Fill ``.grad`` on the leaves below the scalar ``root`` (∂root/∂leaf) and return them.

    The ops run backward in the reverse of the order they ran, as :func:`trace` takes them, so
    each value's gradient adds up its consumers' contributions in the same order. Op results'
    ``.grad`` are left as they were: nobody reads them on the fast path.
    """
    ops: list[Tensor] = []
    leaves: list[Tensor] = []
    seen = {id(root)}
    stack = [root]
    while stack:
        t = stack.pop()
        (leaves if t._op is None else ops).append(t)
        for x in t._inputs:
            if id(x) not in seen:
                seen.add(id(x))
                stack.append(x)
    ops.sort(key=_run_order, reverse=True)
    grads = {id(root): constant(1.0, root.shape)}
    with quiet():
        for t in ops:
            g = grads.pop(id(t), None)
            if g is None:  # only reachable through non-differentiable inputs (labels)
                g = constant(0.0, t._data.shape)
            for x, c in zip(t._inputs, _contributions(t, g), strict=True):
                if c is None:  # as trace() records it: a zero contribution, still added
                    c = constant(0.0, x._data.shape)
                before = grads.get(id(x))
                if before is None:
                    grads[id(x)] = c
                else:
                    total = before + c
                    total.setflags(write=False)
                    grads[id(x)] = total
    for leaf in leaves:
        g = grads.get(id(leaf))
        leaf.grad = constant(0.0, leaf._data.shape) if g is None else g
    return leaves


def _contributions(t: Tensor, g: np.ndarray) -> list[np.ndarray | None]:
    """What op result ``t`` sends each of its inputs, given its upstream gradient ``g``: the
    contributions :func:`tracer.record._input_grads` records, without the rest of the record."""
    op, args = t._op, t._args
    if op.local is None:
        return [c if c is None else frozen(c) for c in op.vjp(g, *args, t._data, **t._attrs)]
    grads = []
    for x, local in zip(args, op.local(*args, t._data, **t._attrs), strict=True):
        full = upstream_times(g, local)
        if full.shape != x.shape:
            full = sum_to_shape(full, x.shape)[0]
        if full is not g:
            full.setflags(write=False)  # (a new array, or a read-only broadcast of one)
        grads.append(full)
    return grads


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
