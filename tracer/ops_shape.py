"""Op table entries, joining family: stack and concatenate, which take any number of inputs.

The other shape methods need no entry of their own: ``swapaxes`` is a transpose, and
``flatten``, ``squeeze`` and ``expand_dims`` are reshapes (see :class:`tracer.tensor.Tensor`).
"""

from __future__ import annotations

import numpy as np

from .ops import Op, register

Array = np.ndarray


def _stack_vjp(g: Array, *inputs_and_out: Array, axis: int = 0) -> tuple[Array, ...]:
    count = len(inputs_and_out) - 1
    return tuple(np.take(g, k, axis=axis) for k in range(count))


def _concatenate_vjp(g: Array, *inputs_and_out: Array, axis: int = 0) -> tuple[Array, ...]:
    inputs = inputs_and_out[:-1]
    bounds = np.cumsum([x.shape[axis] for x in inputs])[:-1]
    return tuple(np.split(g, bounds, axis=axis))


STACK = register(Op(
    "stack", lambda *xs, axis=0: np.stack(xs, axis=axis),
    ("∂stack(…, xₖ, …)/∂xₖ: slice k of the gradient along the new axis",),
    "{out} stacks {x} along a new axis; each gets back its own slice of the gradient",
    vjp=_stack_vjp, symbol="stack({x})", letters=("x",), role="shape", variadic=True,
    accepts="arrays of the same shape"))

CONCATENATE = register(Op(
    "concatenate", lambda *xs, axis=0: np.concatenate(xs, axis=axis),
    ("∂concat(…, xₖ, …)/∂xₖ: xₖ's stretch of the gradient along the axis",),
    "{out} joins {x} end to end along an axis; each gets back its own stretch of the gradient",
    vjp=_concatenate_vjp, symbol="concatenate({x})", letters=("x",), role="shape",
    variadic=True, accepts="arrays whose shapes agree except along the axis joined"))
