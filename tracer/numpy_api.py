"""numpy functions on Tensors: ``np.sqrt(t)``, ``np.stack([h1, h2])``, ``np.where(m, a, b)``.

``Tensor.__array_ufunc__`` and ``Tensor.__array_function__`` (numpy's dispatch protocols, NEP 13
and NEP 18) send each call here. A function gradstep traces records exactly the op the matching
Tensor method records; any other raises :class:`~tracer.tensor.GraphError` at once, naming the
function and the line that called it, never returning an object array that fails a line later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import ops, ops_elementwise, ops_shape
from .tensor import GraphError, Tensor, apply, as_tensor, at_user_line

# ufunc -> the op it records (binary ufuncs take two operands, unary ones one).
UFUNC_OPS: dict[np.ufunc, ops.Op] = {
    np.add: ops.ADD, np.subtract: ops.SUB, np.multiply: ops.MUL, np.true_divide: ops.DIV,
    np.negative: ops.NEG, np.exp: ops.EXP, np.log: ops.LOG, np.tanh: ops.TANH,
    np.matmul: ops.MATMUL, np.sqrt: ops_elementwise.SQRT, np.absolute: ops_elementwise.ABS,
    np.maximum: ops_elementwise.MAXIMUM, np.minimum: ops_elementwise.MINIMUM,
}
COMPARISONS = {ufunc: relation for relation, ufunc in ops_elementwise.RELATIONS.items()}

ADVICE = ("Write it with Tensor methods or the numpy functions gradstep traces (listed in the "
          "docs on network files), or define it as a CustomOp (a forward and its backward) so "
          "the debugger can step through it.")


def untraced(name: str, why: str = "") -> GraphError:
    """The error for a numpy function gradstep does not trace, at the user's line."""
    reason = why or (f"gradstep does not trace {name}, so it cannot send gradients back "
                     f"through it")
    return at_user_line(GraphError(f"{name} on a Tensor: {reason}",
                                   problem="a numpy function gradstep does not trace",
                                   advice=ADVICE))


def call_ufunc(ufunc: np.ufunc, method: str, inputs: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Tensor:
    """``ufunc(*inputs)`` recorded as its op (``Tensor.__array_ufunc__``)."""
    name = f"numpy.{ufunc.__name__}"
    if method != "__call__":
        raise untraced(f"{name}.{method}")
    if kwargs:
        raise untraced(name, f"gradstep traces it without {', '.join(map(repr, kwargs))}=")
    if ufunc in COMPARISONS:
        return apply(ops_elementwise.COMPARE, *inputs, relation=COMPARISONS[ufunc])
    if ufunc is np.power or ufunc is np.square:
        base, exponent = (inputs[0], 2) if ufunc is np.square else inputs
        if isinstance(exponent, Tensor) or not np.isscalar(exponent):
            raise untraced(name, "gradstep traces a number exponent only (t ** 2), not a tensor")
        return apply(ops.POW, base, p=float(exponent))
    op = UFUNC_OPS.get(ufunc)
    if op is None:
        raise untraced(name)
    return apply(op, *inputs)


# --- array functions: each takes numpy's arguments and calls the Tensor method ------------------

def _tensors(arrays: Sequence[Any]) -> tuple[Tensor, ...]:
    return tuple(as_tensor(a) for a in arrays)


def _join(op: ops.Op) -> Callable[..., Tensor]:
    def join(arrays: Sequence[Any], axis: int = 0) -> Tensor:
        return apply(op, *_tensors(arrays), axis=int(axis))
    return join


def _where(condition: Any, x: Any = None, y: Any = None) -> Tensor:
    if x is None or y is None:
        raise untraced("numpy.where with one argument",
                       "it gives indices, not values; use np.where(mask, a, b)")
    return apply(ops_elementwise.WHERE, condition, x, y)


def _clip(a: Any, a_min: Any = None, a_max: Any = None, *, min: Any = None,
          max: Any = None) -> Tensor:
    return as_tensor(a).clip(a_min if min is None else min, a_max if max is None else max)


def _dot(a: Any, b: Any) -> Tensor:
    if np.ndim(_value(a)) > 2 or np.ndim(_value(b)) > 2:
        raise untraced("numpy.dot of arrays above 2-D",
                       "its N-D rule differs from matmul's; use a @ b (numpy.matmul)")
    return apply(ops.MATMUL, a, b)


def _value(a: Any) -> Any:
    return a._data if isinstance(a, Tensor) else a


def _method(name: str) -> Callable[..., Tensor]:
    """``np.NAME(a, ...)`` as ``a.NAME(...)``, for array functions that mirror a method."""
    def call(a: Any, *args: Any, **kwargs: Any) -> Tensor:
        return getattr(as_tensor(a), name)(*args, **kwargs)
    return call


def _reduction(name: str) -> Callable[..., Tensor]:
    def reduce(a: Any, axis: Any = None, *, keepdims: bool = False) -> Tensor:
        return getattr(as_tensor(a), name)(axis=axis, keepdims=keepdims)
    return reduce


def _reshape(a: Any, shape: Any = None, *, newshape: Any = None) -> Tensor:
    return as_tensor(a).reshape(shape if newshape is None else newshape)


def _transpose(a: Any, axes: Any = None) -> Tensor:
    return as_tensor(a).transpose(axes)


FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.sum: _reduction("sum"), np.mean: _reduction("mean"), np.max: _reduction("max"),
    np.min: _reduction("min"), np.amax: _reduction("max"), np.amin: _reduction("min"),
    np.var: _reduction("var"), np.std: _reduction("std"),
    np.stack: _join(ops_shape.STACK), np.concatenate: _join(ops_shape.CONCATENATE),
    np.where: _where, np.clip: _clip, np.dot: _dot, np.reshape: _reshape,
    np.transpose: _transpose, np.swapaxes: _method("swapaxes"), np.squeeze: _method("squeeze"),
    np.expand_dims: _method("expand_dims"), np.ravel: _method("flatten"),
    np.shape: lambda a: as_tensor(a).shape, np.ndim: lambda a: as_tensor(a).ndim,
    np.size: lambda a: as_tensor(a).size,
}


def call_function(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``func(*args, **kwargs)`` recorded as its op (``Tensor.__array_function__``)."""
    name = f"{func.__module__}.{func.__name__}"
    handler = FUNCTIONS.get(func)
    if handler is None:
        raise untraced(name)
    try:
        return handler(*args, **kwargs)
    except TypeError as exc:
        if exc.__traceback__.tb_next is not None:  # raised inside the handler: not the arguments
            raise
        extra = ", ".join(f"{k}=" for k in kwargs) or f"{len(args)} arguments"
        raise untraced(name, f"gradstep traces it without {extra}") from None


__all__ = ["FUNCTIONS", "UFUNC_OPS", "call_function", "call_ufunc", "untraced"]
