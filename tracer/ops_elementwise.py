"""Op table entries, elementwise family: sqrt, abs, clip, maximum/minimum, comparisons, where,
the modern activations (leaky ReLU, GELU, SiLU, softplus) and dropout.

Each entry registers into :data:`tracer.ops.OPS` like the ops in :mod:`tracer.ops`; the module
docstring there says what an entry holds. Where PyTorch picks a value for a derivative at a kink
or a tie, these pick the same one (checked against torch in ``tests/test_ops.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .ops import BROADCAST, NonFinite, Op, _sigmoid, _unary, register

Array = np.ndarray


def _winner(name: str, function: Any, wins: Any, word: str, symbol: str, sign: str) -> Op:
    """The maximum (or minimum) entry: 1 for the operand that won, 0 for the one that lost,
    ½ each where they are equal (as ``torch.maximum`` does); its detail says who won where."""

    def local(a: Array, b: Array, out: Array) -> tuple[Array, Array]:
        won = wins(a, b).astype(np.float64)
        tie = 0.5 * (a == b)
        return won + tie, (1.0 - won) - tie

    def detail(a: Array, b: Array, out: Array) -> str:
        a, b = np.broadcast_arrays(a, b)
        ties = int(np.sum(a == b))
        a_wins = int(np.sum(wins(a, b)))
        text = (f"{{a}} was the {word} at {a_wins} of {out.size} positions and {{b}} at "
                f"{out.size - a_wins - ties}; the gradient goes to the {word} one")
        if ties:
            text += (f"; at {ties} tie{'s' if ties != 1 else ''} each gets half, as "
                     f"torch.{name} does")
        return text

    return register(Op(
        name, function,
        (f"∂{symbol}(a,b)/∂a = 1 where a {sign} b, ½ where a = b, else 0",
         f"∂{symbol}(a,b)/∂b = 1 where b {sign} a, ½ where a = b, else 0"),
        f"{{out}} takes the {word} of {{a}} and {{b}} element by element; the gradient goes to "
        f"the winner", local=local, symbol=f"{symbol}({{a}}, {{b}})", accepts=BROADCAST,
        role="elementwise", detail=detail))


MAXIMUM = _winner("maximum", np.maximum, np.greater, "larger", "max", ">")
MINIMUM = _winner("minimum", np.minimum, np.less, "smaller", "min", "<")

SQRT = _unary("sqrt", np.sqrt, lambda x, out: (0.5 / out,), "∂√x/∂x = 1/(2√x)",
              "{out} is the square root of {x}; near 0 its slope grows without bound",
              "√{x}", role="elementwise",
              nonfinite=lambda x: NonFinite("sqrt-of-negative") if x < 0 else None)

ABS = _unary("abs", np.abs, lambda x, out: (np.sign(x),), "∂|x|/∂x = sign(x) (0 at x = 0)",
             "{out} is the absolute value of {x}; the gradient keeps its sign where {x} > 0 "
             "and flips it where {x} < 0", "|{x}|", role="elementwise")


def _clip(x: Array, a_min: float | None = None, a_max: float | None = None) -> Array:
    return np.clip(x, a_min, a_max)


def _clip_local(x: Array, out: Array, a_min: float | None = None,
                a_max: float | None = None) -> tuple[Array]:
    # Inclusive at the bounds, as torch.clamp: a value exactly at a bound still gets gradient.
    inside = np.ones(x.shape, dtype=bool)
    if a_min is not None:
        inside &= x >= a_min
    if a_max is not None:
        inside &= x <= a_max
    return (inside.astype(np.float64),)


CLIP = _unary("clip", _clip, _clip_local, "∂clip(x)/∂x = 1 inside [min, max], 0 outside",
              "{out} is {x} limited to [min, max]; where {x} was cut off no gradient flows",
              "clip({x})", role="elementwise")

# --- comparisons and selection --------------------------------------------------------------

RELATIONS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
             "==": np.equal, "!=": np.not_equal}


def _compare(a: Array, b: Array, relation: str) -> Array:
    return RELATIONS[relation](a, b).astype(np.float64)


COMPARE = register(Op(
    "compare", _compare,
    ("a comparison is flat (a step): no gradient flows to a",
     "a comparison is flat (a step): no gradient flows to b"),
    "{out} is a mask, 1 where {a} {relation} {b} holds and 0 elsewhere; a mask is a constant "
    "to the backward pass",
    vjp=lambda g, a, b, out, relation: (None, None), symbol="({a} {relation} {b})",
    role="comparison", accepts=BROADCAST,
    no_gradient="a comparison is a step, flat everywhere, so no gradient flows through the mask"))


def _where_vjp(g: Array, cond: Array, a: Array, b: Array, out: Array
               ) -> tuple[None, Array, Array]:
    pick = cond != 0
    return None, np.where(pick, g, 0.0), np.where(pick, 0.0, g)


WHERE = register(Op(
    "where", lambda cond, a, b: np.where(cond != 0, a, b),
    ("the condition picks, it gets no gradient",
     "∂where(c,a,b)/∂a = 1 where c holds, else 0", "∂where(c,a,b)/∂b = 1 where c fails, else 0"),
    "{out} takes {a} where {c} holds and {b} elsewhere; each gets the gradient where it was "
    "picked", vjp=_where_vjp, symbol="where({c}, {a}, {b})", letters=("c", "a", "b"),
    role="shape", accepts="a condition and two values whose shapes broadcast together",
    no_gradient="it is the condition: it picks between the values and is not one"))

# --- activations ------------------------------------------------------------------------------

LEAKY_RELU = _unary(
    "leaky_relu", lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x),
    lambda x, out, negative_slope=0.01: (np.where(x > 0, 1.0, negative_slope),),
    "∂leaky_relu(x)/∂x = 1 for x > 0, else the negative slope",
    "{out} keeps {x} where it is positive and scales it by a small slope elsewhere; some "
    "gradient flows even where {x} ≤ 0, so the unit cannot die", "leaky_relu({x})",
    role="activation")

_erf = np.frompyfunc(math.erf, 1, 1)  # exact to float64; numpy has no erf of its own
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _normal_cdf(x: Array) -> Array:
    return 0.5 * (1.0 + _erf(np.asarray(x) / math.sqrt(2.0)).astype(np.float64))


GELU = _unary(
    "gelu", lambda x: x * _normal_cdf(x),
    lambda x, out: (_normal_cdf(x) + x * np.exp(-0.5 * x * x) / _SQRT_2PI,),
    "∂(x·Φ(x))/∂x = Φ(x) + x·φ(x)",
    "{out} is {x} times the chance Φ({x}) that a standard normal is below it (GELU, erf "
    "form); it lets a little negative signal through, and its slope is about 1 for large "
    "inputs", "gelu({x})", role="activation")

SILU = _unary(
    "silu", lambda x: x * _sigmoid(x),
    lambda x, out: (_sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x))),),
    "∂(x·σ(x))/∂x = σ(x)·(1 + x·(1 − σ(x)))",
    "{out} is {x} times its own sigmoid (SiLU, also called swish); smooth, with a small dip "
    "below 0", "silu({x})", role="activation")

SOFTPLUS = _unary(
    "softplus", lambda x: np.logaddexp(0.0, x), lambda x, out: (_sigmoid(x),),
    "∂ln(1 + eˣ)/∂x = σ(x)",
    "{out} is ln(1 + e^{x}), a smooth ReLU; its slope is the sigmoid of {x}", "softplus({x})",
    role="activation")

# --- dropout ----------------------------------------------------------------------------------

DROPOUT = _unary(
    "dropout", lambda x, keep, p: x * keep / (1.0 - p),
    lambda x, out, keep, p: (keep / (1.0 - p),),
    "∂dropout(x)/∂x = 1/(1−p) where kept, 0 where dropped",
    "{out} is {x} with some elements dropped (set to 0) and the rest scaled by 1/(1−p); the "
    "dropped elements get no gradient", "dropout({x}, p={p:g})", role="elementwise")
