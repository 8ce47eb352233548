"""The op table: every operation's forward, derivative, formula and explanation, side by side.

The table is one dict, :data:`OPS`, filled by family: this module holds arithmetic, the classic
nonlinearities, matmul, the basic shape ops, sum and mean, softmax and the losses;
:mod:`tracer.ops_elementwise`, :mod:`tracer.ops_reduce`, :mod:`tracer.ops_shape` and
:mod:`tracer.ops_nn` hold the rest (imported at the end of this module). Adding an op touches
only its family's module. An op is either

* *elementwise*: it gives ``local(*inputs, out)``, the derivative of each output element with
  respect to the matching element of each input (broadcast to the output's shape). The engine
  multiplies it by the upstream gradient and, where numpy broadcast an input, sums the product
  back to that input's shape; or
* *structural* (matmul, reductions, indexing, softmax, losses): it gives ``vjp(g, *inputs, out)``,
  the vector-Jacobian product for each input directly. Its explicit local derivative, where small
  enough to show, is the Jacobian the engine assembles from that same ``vjp``.

Formulas use ``a``/``b`` (or ``x``) for the inputs. Sentences are templates over ``{out}`` and the
input letters (``{a}``, ``{b}`` / ``{x}``); sentences and symbols may also use the op's attributes
(``{p:g}``).
:mod:`tracer.explain` fills them in with names and numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

Array = np.ndarray


class NonFinite(NamedTuple):
    """Why an op gives NaN or ±inf for finite inputs: ``cause``, a key diagnostics keys its
    advice by (``log-of-zero``, ``log-of-negative``, ``exp-overflow``, ``division-by-zero``);
    the ``input`` whose value to quote; and a ``note`` said after it (``{exp_limit}``,
    ``{largest}`` and ``{dtype}`` in it name the limits of the type the values were computed
    in)."""

    cause: str
    input: int = 0
    note: str = ""


@dataclass(frozen=True)
class Op:
    """One differentiable operation.

    Parameters
    ----------
    name
        Short identifier, also the stem of automatic node names (``mul`` -> ``mul_3``).
    forward
        ``forward(*arrays, **attrs) -> array``.
    formulas
        The local derivative with respect to each input, as text shown by the debugger.
    sentence
        Plain-English template saying what the op computes, over ``{out}`` and the input letters.
    local
        Elementwise ops: ``local(*arrays, out, **attrs) -> tuple`` of ∂out/∂input factors.
    vjp
        Structural ops: ``vjp(g, *arrays, out, **attrs) -> tuple`` of input gradients (``None``
        for an input that has no gradient, such as class labels).
    selective
        The op's ``vjp`` also takes ``needs=`` (one bool per input; by default every input's
        gradient is computed) and skips the work for an input marked ``False``, giving
        ``None`` for it: a matmul's ∂L/∂X of the data, a loss's gradient of its labels.
        :func:`vjp_for` passes it; the plain call form computes them all.
    symbol
        How the op reads in an expression, e.g. ``"{a} · {b}"``.
    role
        What the op is for, one of :data:`ROLES`: every list of activations or losses elsewhere
        (layers in diagnostics and the graph's groups, a TOML file's choices, which loss input
        is a prediction) is derived from it with :func:`with_role`.
    peak_slope
        An activation that saturates: its largest slope (sigmoid 0.25, tanh 1). Far from its
        peak the slope vanishes, which diagnostics report as a saturated unit.
    can_die
        An activation whose output and slope are 0 on a whole half-line (ReLU): a unit that
        stays there for every example is dead.
    probability_input
        A loss whose first input is a probability, with a gradient 1/(p(1−p)) that cancels a
        sigmoid's flat slope (so a saturated sigmoid feeding it is not a problem).
    variadic
        The op takes any number of inputs of one kind (stack, concatenate): its one formula
        applies to each, and its one letter stands for all of them.
    accepts
        What the op accepts, said in a shape error next to the shapes it got (the rule that
        failed).
    detail
        ``detail(*arrays, out, **attrs) -> str``: a sentence about this application that the
        formula cannot say, such as which element won a max or which axes a matmul summed.
    no_gradient
        Why an input whose gradient is ``None`` gets none (a label, a mask, an index).
    probability_output
        An activation whose output is a probability (sigmoid): a loss on it is better computed
        from its input, the score.
    nonfinite
        Elementwise ops that can give NaN or ±inf from finite inputs: ``nonfinite(*x, **attrs)``
        with one input element each says why (a :class:`NonFinite`), or ``None`` when these
        inputs are not the op's problem (an overflow, say).
    scaled_by_other
        A product of two inputs (mul, matmul): the gradient one input gets is scaled by the
        other input, so an all-zero other input sends it none.
    picks
        The result picks among the input's elements (max-pooling, max, min): where elements
        tie, the op has a kink, and its backward sends the gradient to one of them (or shares
        it). Gradient checks move tied elements together, so that they compare a slope rather
        than a kink (after a ReLU, a max-pooling window of zeros is a tie).
    feature_axis
        An op that makes features (a weighted sum): the axis of its output whose index is one
        unit, a convolution's channels (1) or a matmul's columns (−1). Diagnostics count dead
        and saturated units per index of it, through the ops after it that keep the shape (a
        bias, a normalization, an activation); the other axes are examples and positions.
    """

    name: str
    forward: Callable[..., Array]
    formulas: tuple[str, ...]
    sentence: str
    local: Callable[..., tuple[Any, ...]] | None = None
    vjp: Callable[..., tuple[Array | None, ...]] | None = None
    symbol: str = ""
    letters: tuple[str, ...] = field(default=("a", "b"))
    role: str = "arithmetic"
    peak_slope: float | None = None
    can_die: bool = False
    probability_input: bool = False
    variadic: bool = False
    accepts: str = ""
    detail: Callable[..., str] | None = None
    no_gradient: str = "it is a label, not a value"
    probability_output: bool = False
    nonfinite: Callable[..., NonFinite | None] | None = None
    scaled_by_other: bool = False
    selective: bool = False
    picks: bool = False
    feature_axis: int | None = None

    @property
    def elementwise(self) -> bool:
        return self.local is not None

    def formula(self, position: int) -> str:
        """The local-derivative formula for the input at ``position``."""
        return self.formulas[0 if self.variadic else position]

    def named(self, names: list[str]) -> dict[str, str]:
        """The op's letters mapped to the inputs' ``names`` (or values as text), to fill its
        sentence and symbol; a variadic op's one letter stands for all of them."""
        if self.variadic:
            return {self.letters[0]: ", ".join(names)}
        return dict(zip(self.letters, names, strict=True))


# arithmetic: + − · / and powers; activation: a layer's nonlinearity; elementwise: another
# function applied per element; linear: a weighted sum (matmul, convolution); shape: moves
# elements without computing; reduction: sums, averages or picks among elements (pooling too);
# normalization: rescales values by statistics of their own (layer norm); comparison: a mask,
# through which no gradient flows; loss: compares a prediction with a target; custom: defined by
# a network file.
ROLES = ("arithmetic", "activation", "elementwise", "linear", "shape", "reduction",
         "normalization", "comparison", "loss", "custom")

OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    """Add ``op`` to the table (custom ops use this too) and return it."""
    if (op.local is None) == (op.vjp is None):
        raise ValueError(f"op {op.name!r} needs exactly one of local= or vjp=")
    if op.role not in ROLES:
        raise ValueError(f"op {op.name!r} has role {op.role!r}, not one of {ROLES}")
    OPS[op.name] = op
    return op


def vjp_for(op: Op, g: Array, arrays: Sequence[Array], out: Array, attrs: Mapping[str, Any],
            needs: tuple[bool, ...]) -> tuple[Array | None, ...]:
    """``op``'s input gradients for upstream ``g``, where ``needs`` marks the inputs whose
    gradient is wanted: a :attr:`Op.selective` op skips the others (``None``); any other op
    computes them all, as its plain ``vjp`` call does."""
    if op.selective:
        return op.vjp(g, *arrays, out, needs=needs, **attrs)
    return op.vjp(g, *arrays, out, **attrs)


def with_role(*roles: str) -> frozenset[str]:
    """The names of the ops (built-in and custom, as registered now) whose role is in ``roles``."""
    return frozenset(name for name, op in OPS.items() if op.role in roles)


def role_of(name: str) -> str | None:
    """The role of the op called ``name`` (``None`` for a leaf kind such as ``"param"``)."""
    op = OPS.get(name)
    return None if op is None else op.role


def _unary(name: str, forward, local, formula: str, sentence: str, symbol: str,
           **traits: Any) -> Op:
    return register(Op(name, forward, (formula,), sentence, local=local, symbol=symbol,
                       letters=("x",), **traits))


# --- elementwise arithmetic -------------------------------------------------------------------

# numpy's broadcasting rule, said in every elementwise op's shape error.
BROADCAST = ("two arrays that broadcast: their shapes are compared from the last axis, and "
             "each pair of sizes must be equal or one of them 1")

ADD = register(Op(
    "add", lambda a, b: a + b,
    ("∂(a+b)/∂a = 1", "∂(a+b)/∂b = 1"),
    "{out} adds {a} and {b}; a sum passes its gradient to both inputs unchanged",
    local=lambda a, b, out: (1.0, 1.0), symbol="{a} + {b}", accepts=BROADCAST))

SUB = register(Op(
    "sub", lambda a, b: a - b,
    ("∂(a−b)/∂a = 1", "∂(a−b)/∂b = −1"),
    "{out} subtracts {b} from {a}; {a} gets the gradient as is, {b} gets it with its sign flipped",
    local=lambda a, b, out: (1.0, -1.0), symbol="{a} − {b}", accepts=BROADCAST))

MUL = register(Op(
    "mul", lambda a, b: a * b,
    ("∂(a·b)/∂a = b", "∂(a·b)/∂b = a"),
    "{out} multiplies {a} by {b}; each input's slope is the other input",
    local=lambda a, b, out: (b, a), symbol="{a} · {b}", accepts=BROADCAST,
    scaled_by_other=True))

DIV = register(Op(
    "div", lambda a, b: a / b,
    ("∂(a/b)/∂a = 1/b", "∂(a/b)/∂b = −a/b²"),
    "{out} divides {a} by {b}",
    local=lambda a, b, out: (1.0 / b, -out / b), symbol="{a} / {b}", accepts=BROADCAST,
    nonfinite=lambda a, b: NonFinite("division-by-zero", 1) if b == 0 else None))


def _pow_nonfinite(x: float, p: float) -> NonFinite | None:
    if x == 0 and p < 0:
        return NonFinite("division-by-zero", note=": 0 to a negative power")
    if x < 0 and p != int(p):
        return NonFinite("log-of-negative", note=": a negative number to a fractional power")
    return None



POW = _unary(
    "pow", lambda x, p: x ** p,
    lambda x, out, p: (p * x ** (p - 1) if p != 0 else np.zeros_like(x),),  # x⁰: 0, not 0·0⁻¹
    "∂(xᵖ)/∂x = p·xᵖ⁻¹", "{out} raises {x} to a fixed power", "{x}^{p:g}",
    nonfinite=_pow_nonfinite)

NEG = _unary("neg", lambda x: -x, lambda x, out: (-1.0,),
             "∂(−x)/∂x = −1", "{out} flips the sign of {x}", "−{x}")

# --- elementwise nonlinearities ---------------------------------------------------------------


def _sigmoid(x: Array) -> Array:
    # Two branches so that exp never overflows: e^-x for x >= 0, e^x for x < 0.
    e = np.exp(-np.abs(x))
    d = 1.0 + e
    return np.where(x >= 0, 1.0 / d, e / d)


RELU = _unary("relu", lambda x: np.maximum(x, 0.0), lambda x, out: ((x > 0).astype(float),),
              "∂relu(x)/∂x = 1[x>0]",
              "{out} keeps {x} where it is positive and zeroes it elsewhere; "
              "gradient flows only where {x} > 0", "relu({x})", role="activation", can_die=True)

TANH = _unary("tanh", np.tanh, lambda x, out: (1.0 - out * out,),
              "∂tanh(x)/∂x = 1 − tanh²(x)",
              "{out} squashes {x} into (−1, 1); its slope peaks at 0 and vanishes in the tails",
              "tanh({x})", role="activation", peak_slope=1.0)

SIGMOID = _unary("sigmoid", _sigmoid, lambda x, out: (out * (1.0 - out),),
                 "∂σ(x)/∂x = σ(x)·(1 − σ(x))",
                 "{out} squashes {x} into (0, 1); the slope is at most 0.25, at x = 0",
                 "σ({x})", role="activation", peak_slope=0.25, probability_output=True)

EXP = _unary("exp", np.exp, lambda x, out: (out,), "∂eˣ/∂x = eˣ",
             "{out} is e to the power {x}; its slope is its own value", "exp({x})",
             role="elementwise",
             nonfinite=lambda x: (NonFinite("exp-overflow", note=", past {exp_limit}") if x > 0
                                  else None))

LOG = _unary("log", np.log, lambda x, out: (1.0 / x,), "∂ln(x)/∂x = 1/x",
             "{out} is the natural log of {x}; small inputs get steep slopes", "ln({x})",
             role="elementwise",
             nonfinite=lambda x: (None if x > 0 else
                                  NonFinite("log-of-zero" if x == 0 else "log-of-negative")))

# --- structural ops ---------------------------------------------------------------------------


def _matmul_vjp(g: Array, a: Array, b: Array, out: Array, needs: tuple[bool, bool] = (True, True)
                ) -> tuple[Array | None, Array | None]:
    # numpy.matmul's rules: a 1-D operand is a row (left) or a column (right) whose added axis
    # is dropped from the result; axes before the last two are batch axes, broadcast. Each
    # gradient comes back in the broadcast batch shape, and the engine sums it over the batch
    # axes its operand was broadcast along (a weight shared by every example of a batch).
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if b.ndim == 1:
        g = g[..., None]
    if a.ndim == 1:
        g = g[..., None, :]
    da = db = None
    if needs[0]:
        da = g @ b2.swapaxes(-1, -2)
        da = da[..., 0, :] if a.ndim == 1 else da
    if needs[1]:
        db = a2.swapaxes(-1, -2) @ g
        db = db[..., 0] if b.ndim == 1 else db
    return da, db


def _matmul(a: Array, b: Array) -> Array:
    try:
        return a @ b
    except ValueError:
        pass  # say which of numpy.matmul's rules failed, in words
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("a number is not a matrix: use * to scale")
    k_a, k_b = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"the last axis of the left operand ({k_a}) must equal the "
                         f"{'only' if b.ndim == 1 else 'second-to-last'} axis of the right "
                         f"operand ({k_b})")
    raise ValueError(f"the batch axes {a.shape[:-2]} and {b.shape[:-2]} (all but the last "
                     f"two) do not broadcast")


def _matmul_detail(a: Array, b: Array, out: Array) -> str:
    if out.ndim <= 2 and a.ndim <= 2 and b.ndim <= 2:
        return ""
    batch = out.shape[:-2] if a.ndim > 1 and b.ndim > 1 else out.shape[:-1]
    return (f"a batch of {'×'.join(map(str, batch))} matrix products, one per index of the "
            f"leading axes; an operand with fewer batch axes is shared by all of them, so its "
            f"gradient adds up over the batch")


MATMUL = register(Op(
    "matmul", _matmul,
    ("∂(A@B)/∂A: ∂L/∂A = ∂L/∂out @ Bᵀ", "∂(A@B)/∂B: ∂L/∂B = Aᵀ @ ∂L/∂out"),
    "{out} is the matrix product of {a} and {b}: each output is a weighted sum of inputs",
    vjp=_matmul_vjp, symbol="{a} @ {b}", role="linear", detail=_matmul_detail, feature_axis=-1,
    scaled_by_other=True, selective=True,
    accepts="numpy.matmul's operands: A (…, n, k) @ B (…, k, m) -> (…, n, m), a 1-D operand "
            "as a row (left) or column (right), the leading batch axes broadcast"))


def _transpose(x: Array, axes: tuple[int, ...] | None = None) -> Array:
    return np.transpose(x, axes)


def _transpose_vjp(g: Array, x: Array, out: Array, axes: tuple[int, ...] | None = None
                   ) -> tuple[Array]:
    return (np.transpose(g, None if axes is None else np.argsort(axes)),)


def _transpose_detail(x: Array, out: Array, axes: tuple[int, ...] | None = None) -> str:
    if x.ndim <= 2:
        return ""
    order = axes if axes is not None else tuple(range(x.ndim))[::-1]
    return (f"axis k of {{out}} is axis order[k] of {{x}}, order = {order}: shape {x.shape} "
            f"becomes {out.shape}, and the gradient goes back through the inverse order "
            f"{tuple(int(a) for a in np.argsort(order))}")


TRANSPOSE = register(Op(
    "transpose", _transpose, ("∂transpose(x)/∂x: the gradient's axes are put back in order",),
    "{out} is {x} with its axes reordered (reversed when no order is given)",
    vjp=_transpose_vjp, symbol="{x}ᵀ", letters=("x",), role="shape", detail=_transpose_detail,
    accepts="a permutation of the array's axes (each axis once)"))

RESHAPE = register(Op(
    "reshape", lambda x, shape: x.reshape(shape),
    ("∂reshape(x)/∂x: the gradient is reshaped back",),
    "{out} is {x} with its elements rearranged into a new shape",
    vjp=lambda g, x, out, shape: (g.reshape(x.shape),), symbol="reshape({x})", letters=("x",),
    role="shape", accepts="a shape with the same number of elements (one axis may be −1: "
                          "whatever is left)"))


def _index_vjp(g: Array, x: Array, out: Array, key: Any) -> tuple[Array]:
    gx = np.zeros_like(x)
    np.add.at(gx, key, g)  # add.at, not +=, so an element picked twice gets both gradients
    return (gx,)


INDEX = register(Op(
    "index", lambda x, key: x[key],
    ("∂x[i]/∂x = 1 at i, 0 elsewhere (an element picked twice adds up)",),
    "{out} picks elements out of {x}; only the picked elements get gradient",
    vjp=_index_vjp, symbol="{x}[{key}]", letters=("x",), role="shape",
    accepts="numpy indexing: integers, slices or index arrays within each axis's length"))


def expand_reduced(g: Array, x: Array, axis: Any, keepdims: bool = False) -> Array:
    """A reduction's gradient ``g`` spread back over the axes of ``x`` that were reduced away
    (a new array, so each record owns its own)."""
    if axis is None:  # (a 0-d g, or all ones with keepdims: it broadcasts)
        spread = np.empty(x.shape)
        spread[...] = g  # what np.full does, without its Python wrapper (once per sum)
        return spread
    return np.array(np.broadcast_to(g if keepdims else np.expand_dims(g, axis), x.shape))


def reduced_count(x: Array, axis: Any) -> int:
    """How many elements of ``x`` each result of a reduction over ``axis`` comes from."""
    if axis is None:
        return x.size
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([x.shape[a] for a in axes]))


REDUCE_ACCEPTS = "axis=None (all), an axis or a tuple of distinct axes of the input"

SUM = register(Op(
    "sum", lambda x, axis, keepdims=False: x.sum(axis=axis, keepdims=keepdims),
    ("∂Σx/∂xᵢ = 1",),
    "{out} adds up the elements of {x}; every element gets the same gradient",
    vjp=lambda g, x, out, axis, keepdims=False: (expand_reduced(g, x, axis, keepdims),),
    symbol="Σ{x}", letters=("x",), role="reduction", accepts=REDUCE_ACCEPTS))

MEAN = register(Op(
    "mean", lambda x, axis, keepdims=False: x.mean(axis=axis, keepdims=keepdims),
    ("∂mean(x)/∂xᵢ = 1/n",),
    "{out} averages the elements of {x}; each element gets 1/n of the gradient",
    vjp=lambda g, x, out, axis, keepdims=False: (
        expand_reduced(g / reduced_count(x, axis), x, axis, keepdims),),
    symbol="mean({x})", letters=("x",), role="reduction", accepts=REDUCE_ACCEPTS))


def _softmax(x: Array, axis: int) -> Array:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))  # shift so exp never overflows
    return e / np.sum(e, axis=axis, keepdims=True)


def _softmax_vjp(g: Array, x: Array, out: Array, axis: int) -> tuple[Array]:
    return (out * (g - np.sum(g * out, axis=axis, keepdims=True)),)


SOFTMAX = register(Op(
    "softmax", _softmax, ("∂sᵢ/∂xⱼ = sᵢ·(δᵢⱼ − sⱼ)",),
    "{out} turns the scores {x} into probabilities that sum to 1",
    vjp=_softmax_vjp, symbol="softmax({x})", letters=("x",), role="activation",
    accepts="an axis of the input"))

# --- losses (each averages over its elements, as PyTorch's default reduction does) -------------

def sum_to_shape(g: Array, shape: tuple[int, ...]) -> tuple[Array, tuple[int, ...]]:
    """Sum ``g`` over the axes numpy broadcast, back to an operand's ``shape``; also say which.

    This is where a bias's gradient is summed over the batch.
    """
    if g.shape == shape:
        return g, ()
    axes = _broadcast_axes(g.shape, shape)
    return np.add.reduce(g, axis=axes).reshape(shape), axes  # (g.sum's own reduction)


@lru_cache(maxsize=256)
def _broadcast_axes(full: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes numpy broadcast an operand of ``shape`` along to get ``full`` (remembered: a
    network asks about the same few shapes every iteration)."""
    lead = len(full) - len(shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and full[lead + i] != 1)


def _per_operand(g: Array, a: Array, b: Array, da: Callable[[], Array],
                 db: Callable[[], Array], needs: tuple[bool, bool] = (True, True)
                 ) -> tuple[Array | None, Array | None]:
    """A mean loss's gradients ``g·da/n`` and ``g·db/n`` (n: elements after broadcasting), each
    summed back to its operand's shape; ``da``/``db`` make the factors, only for the operands
    ``needs`` marks (``None`` for the others)."""
    shape = a.shape if a.shape == b.shape else np.broadcast(a, b).shape
    n = math.prod(shape)
    grads = []
    for x, factor, wanted in ((a, da, needs[0]), (b, db, needs[1])):
        if not wanted:
            grads.append(None)
            continue
        full = g * factor() / n
        if full.shape != shape:
            full = np.broadcast_to(full, shape)
        grads.append(sum_to_shape(full, x.shape)[0])
    return grads[0], grads[1]


def _mse_vjp(g: Array, p: Array, t: Array, out: Array, needs: tuple[bool, bool] = (True, True)
             ) -> tuple[Array | None, Array | None]:
    return _per_operand(g, p, t, lambda: 2 * (p - t), lambda: -2 * (p - t), needs)


MSE = register(Op(
    "mse", lambda p, t: np.mean((p - t) ** 2),
    ("∂mean((p−t)²)/∂p = 2(p−t)/n", "∂mean((p−t)²)/∂t = −2(p−t)/n"),
    "{out} is the mean squared error between the prediction {p} and the target {t}",
    vjp=_mse_vjp, symbol="mse({p}, {t})", letters=("p", "t"), role="loss", accepts=BROADCAST,
    selective=True))


def _xlogy(x: Array, y: Array) -> Array:
    """x·log(y), taken as 0 where x == 0 even when y == 0 (so a sure, right answer costs 0)."""
    zero = x == 0
    return np.where(zero, 0.0, x * np.log(np.where(zero, 1.0, y)))


# The labels _binary_labels saw last and its answer: a training loop asks about the same
# read-only labels array in every forward and backward pass.
_last_labels: tuple[Array | None, Array | None] = (None, None)


def _binary_labels(y: Array) -> Array | None:
    """Where the labels ``y`` are 1, if every one is exactly 0 or 1 (the usual case), else
    ``None``. Then each example's terms of the cross-entropy and of its slope are one
    expression, bit for bit what the general ones give there (x·ln p is ln p for x = 1 and the
    other term is the exact 0 added), at a third of the numpy calls. The answer for a
    read-only array that owns its data (which nothing changes) is remembered."""
    global _last_labels
    seen, answer = _last_labels
    if seen is y:
        return answer
    one = y == 1
    answer = one if np.count_nonzero(one) + np.count_nonzero(y == 0) == y.size else None
    if y.base is None and not y.flags.writeable:
        one.setflags(write=False)
        _last_labels = (y, answer)
    return answer


def _bce(p: Array, y: Array) -> Array:
    one = _binary_labels(y)
    if one is not None:  # ln p where y = 1, ln(1 − p) where y = 0
        terms = np.log(np.where(one, p, 1 - p))
    else:
        terms = _xlogy(y, p) + _xlogy(1 - y, 1 - p)
    return -(np.add.reduce(terms, axis=None) / terms.size)  # np.mean's sum and division


def _bce_vjp(g: Array, p: Array, y: Array, out: Array, needs: tuple[bool, bool] = (True, True)
             ) -> tuple[Array | None, Array | None]:
    def dp() -> Array:
        one = _binary_labels(y)
        if one is not None:  # −1/p where y = 1, 1/(1 − p) where y = 0
            return np.where(one, -1.0 / p, 1.0 / (1 - p))
        # -(y/p - (1-y)/(1-p)) / n, each term dropped where its coefficient is 0.
        zero, one = y == 0, y == 1
        return -(np.where(zero, 0.0, y / np.where(zero, 1.0, p))
                 - np.where(one, 0.0, (1 - y) / np.where(one, 1.0, 1 - p)))

    return _per_operand(g, p, y, dp, lambda: -(np.log(p) - np.log1p(-p)), needs)


BCE = register(Op(
    "bce", _bce,
    ("∂BCE/∂p = −(y/p − (1−y)/(1−p))/n", "∂BCE/∂y = −(ln p − ln(1−p))/n"),
    "{out} is the binary cross-entropy of the probability {p} against the label {y}",
    vjp=_bce_vjp, symbol="bce({p}, {y})", letters=("p", "y"), role="loss",
    probability_input=True, accepts=BROADCAST, selective=True))


def _bce_logits(z: Array, y: Array) -> Array:
    # log(1 + e^z) - y·z, with log(1 + e^z) = logaddexp(0, z) so large |z| neither overflows nor
    # loses the answer.
    return np.mean(np.logaddexp(0.0, z) - y * z)


BCE_LOGITS = register(Op(
    "bce_logits", _bce_logits,
    ("∂BCE/∂z = (σ(z) − y)/n", "∂BCE/∂y = −z/n"),
    "{out} is the binary cross-entropy of the score {z} (a logit) against the label {y}",
    vjp=lambda g, z, y, out, needs=(True, True): _per_operand(
        g, z, y, lambda: _sigmoid(z) - y, lambda: -z, needs),
    symbol="bce_logits({z}, {y})", letters=("z", "y"), role="loss", accepts=BROADCAST,
    selective=True))


def _onehot(target: Array, logits: Array) -> Array:
    if target.shape == logits.shape:
        return target
    classes = target.astype(int)
    return np.eye(logits.shape[-1])[classes]


def _cross_entropy(z: Array, target: Array) -> Array:
    logp = z - np.max(z, axis=-1, keepdims=True)
    logp = logp - np.log(np.sum(np.exp(logp), axis=-1, keepdims=True))
    rows = logp.size // logp.shape[-1]
    return -np.sum(_onehot(target, z) * logp) / rows


def _cross_entropy_vjp(g: Array, z: Array, target: Array, out: Array):
    rows = z.size // z.shape[-1]
    dz = (_softmax(z, -1) - _onehot(target, z)) * g / rows
    return dz, None  # class labels (or a fixed one-hot target) get no gradient


CROSS_ENTROPY = register(Op(
    "cross_entropy", _cross_entropy,
    ("∂CE/∂z = (softmax(z) − onehot(y))/n", "labels get no gradient"),
    "{out} is the softmax cross-entropy of the scores {z} against the class {y}",
    vjp=_cross_entropy_vjp, symbol="cross_entropy({z}, {y})", letters=("z", "y"),
    role="loss", accepts="scores (…, classes) and, for each row, a class index (…) or a one-hot "
                         "row of the scores' shape"))


# The other families register into the same table (each module holds one family's entries).
from . import ops_elementwise, ops_nn, ops_reduce, ops_shape  # noqa: E402, F401
