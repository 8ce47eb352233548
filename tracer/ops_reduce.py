"""Op table entries, reduction family: max and min over axes, variance and standard deviation
(dividing by n − ``correction``: numpy's ddof, 0 by default; PyTorch's default is 1), and
log-softmax. Sum and mean are in :mod:`tracer.ops`.

Each takes numpy's ``axis`` (``None``: every element; an int; a tuple) and ``keepdims``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ops import REDUCE_ACCEPTS, Op, expand_reduced, reduced_count, register
from .positions import position_list

Array = np.ndarray


def _extreme_vjp(g: Array, x: Array, out: Array, axis: Any = None, keepdims: bool = False
                 ) -> tuple[Array]:
    # Ties share the gradient evenly, as torch.amax and torch.max() (no dim) do; torch.max(dim)
    # would instead give it all to one of them.
    winners = x == expand_reduced(out, x, axis, keepdims)
    count = expand_reduced(np.sum(winners, axis=axis, keepdims=keepdims), x, axis, keepdims)
    return (expand_reduced(g, x, axis, keepdims) * winners / count,)


def _extreme(name: str, reduce: Any, adjective: str, word: str, plural: str) -> Op:
    """The max (or min) reduction's entry: the same maths, told with its own words."""

    def detail(x: Array, out: Array, axis: Any = None, keepdims: bool = False) -> str:
        winners = x == expand_reduced(out, x, axis, keepdims)
        where = position_list(winners)
        text = (f"the {word} is at {where}: only it gets" if int(np.sum(winners)) == 1 else
                f"the {plural} are at {where}: only they get")
        text += " the gradient, every other element of {x} gets 0"
        if int(np.sum(winners)) > out.size:
            text += (f"; where several elements tie for the {word}, they share the gradient "
                     f"evenly, as torch.a{name} does")
        return text

    return register(Op(
        name, lambda x, axis=None, keepdims=False: reduce(x, axis=axis, keepdims=keepdims),
        (f"∂{name}(x)/∂xᵢ = 1 for the {adjective} element, 0 for the others (ties share it)",),
        f"{{out}} is the {adjective} element of {{x}}; only that element gets the gradient",
        vjp=_extreme_vjp, symbol=f"{name}({{x}})", letters=("x",), role="reduction",
        accepts=REDUCE_ACCEPTS + ", over a non-empty array", detail=detail, picks=True))


MAX = _extreme("max", np.max, "largest", "maximum", "maxima")
MIN = _extreme("min", np.min, "smallest", "minimum", "minima")


def _centred(x: Array, axis: Any) -> Array:
    return x - np.mean(x, axis=axis, keepdims=True)


def _var_vjp(g: Array, x: Array, out: Array, axis: Any = None, keepdims: bool = False,
             correction: float = 0.0) -> tuple[Array]:
    n = reduced_count(x, axis) - correction
    return (expand_reduced(g, x, axis, keepdims) * 2.0 * _centred(x, axis) / n,)


def _std_vjp(g: Array, x: Array, out: Array, axis: Any = None, keepdims: bool = False,
             correction: float = 0.0) -> tuple[Array]:
    return _var_vjp(g / (2.0 * out), x, out, axis, keepdims, correction)  # ∂√v = ∂v / (2√v)


def _var(x: Array, axis: Any = None, keepdims: bool = False, correction: float = 0.0) -> Array:
    return np.var(x, axis=axis, keepdims=keepdims, ddof=correction)


def _spread_detail(x: Array, out: Array, axis: Any = None, keepdims: bool = False,
                   correction: float = 0.0) -> str:
    if not correction:
        return ""  # numpy's n, which the formula says
    n = reduced_count(x, axis)
    return (f"it divides by n − {correction:g} = {n - correction:g}, not n = {n} (PyTorch's "
            f"correction={correction:g}, the sample's estimate)")


VAR = register(Op(
    "var", _var,
    ("∂var(x)/∂xᵢ = 2(xᵢ − mean)/(n − c), c the correction (0; PyTorch's default 1)",),
    "{out} is the variance of {x}, the mean squared distance from the mean; elements far from "
    "the mean get the most gradient, and since the distances sum to 0 so do the gradients",
    vjp=_var_vjp, symbol="var({x})", letters=("x",), role="reduction", accepts=REDUCE_ACCEPTS,
    detail=_spread_detail))

STD = register(Op(
    "std", lambda x, axis=None, keepdims=False, correction=0.0: np.sqrt(
        _var(x, axis, keepdims, correction)),
    ("∂std(x)/∂xᵢ = (xᵢ − mean)/((n − c)·std), c the correction (0; PyTorch's default 1)",),
    "{out} is the standard deviation of {x}, the square root of its variance; all equal "
    "elements (std 0) make the gradient infinite",
    vjp=_std_vjp, symbol="std({x})", letters=("x",), role="reduction", accepts=REDUCE_ACCEPTS,
    detail=_spread_detail))


def _log_softmax(x: Array, axis: int = -1) -> Array:
    shifted = x - np.max(x, axis=axis, keepdims=True)  # so exp never overflows
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _log_softmax_vjp(g: Array, x: Array, out: Array, axis: int = -1) -> tuple[Array]:
    return (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)


LOG_SOFTMAX = register(Op(
    "log_softmax", _log_softmax, ("∂log sᵢ/∂xⱼ = δᵢⱼ − sⱼ",),
    "{out} is the log of the probabilities softmax gives the scores {x}, computed without "
    "overflow", vjp=_log_softmax_vjp, symbol="log_softmax({x})", letters=("x",),
    role="activation", accepts="an axis of the input"))
