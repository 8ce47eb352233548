"""The op table: every operation's forward, derivative, formula and explanation, side by side.

Adding an op touches only this module. An op is either

* *elementwise*: it gives ``local(*inputs, out)``, the derivative of each output element with
  respect to the matching element of each input (broadcast to the output's shape). The engine
  multiplies it by the upstream gradient and, where numpy broadcast an input, sums the product
  back to that input's shape; or
* *structural* (matmul, reductions, indexing, softmax, losses): it gives ``vjp(g, *inputs, out)``,
  the vector-Jacobian product for each input directly. Its explicit local derivative, where small
  enough to show, is the Jacobian the engine assembles from that same ``vjp``.

Formulas use ``a``/``b`` (or ``x``) for the inputs. Sentences are templates over ``{out}`` and the
input letters (``{a}``, ``{b}`` / ``{x}``); symbols may also use the op's attributes (``{p:g}``).
:mod:`tracer.explain` fills them in with names and numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

Array = np.ndarray


class NonFinite(NamedTuple):
    """Why an op gives NaN or ±inf for finite inputs: ``cause``, a key diagnostics keys its
    advice by (``log-of-zero``, ``log-of-negative``, ``exp-overflow``, ``division-by-zero``);
    the ``input`` whose value to quote; and a ``note`` said after it."""

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
    probability_output: bool = False
    nonfinite: Callable[..., NonFinite | None] | None = None
    scaled_by_other: bool = False

    @property
    def elementwise(self) -> bool:
        return self.local is not None

    @property
    def arity(self) -> int:
        return len(self.formulas)


# arithmetic: + − · / and powers; activation: a layer's nonlinearity; elementwise: another
# function applied per element; linear: a weighted sum (matmul); shape: moves elements without
# computing; reduction: sums or averages elements; loss: compares a prediction with a target;
# custom: defined by a network file.
ROLES = ("arithmetic", "activation", "elementwise", "linear", "shape", "reduction", "loss",
         "custom")

OPS: dict[str, Op] = {}


def register(op: Op) -> Op:
    """Add ``op`` to the table (custom ops use this too) and return it."""
    if (op.local is None) == (op.vjp is None):
        raise ValueError(f"op {op.name!r} needs exactly one of local= or vjp=")
    if op.role not in ROLES:
        raise ValueError(f"op {op.name!r} has role {op.role!r}, not one of {ROLES}")
    OPS[op.name] = op
    return op


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

ADD = register(Op(
    "add", lambda a, b: a + b,
    ("∂(a+b)/∂a = 1", "∂(a+b)/∂b = 1"),
    "{out} adds {a} and {b}; a sum passes its gradient to both inputs unchanged",
    local=lambda a, b, out: (1.0, 1.0), symbol="{a} + {b}"))

SUB = register(Op(
    "sub", lambda a, b: a - b,
    ("∂(a−b)/∂a = 1", "∂(a−b)/∂b = −1"),
    "{out} subtracts {b} from {a}; {a} gets the gradient as is, {b} gets it with its sign flipped",
    local=lambda a, b, out: (1.0, -1.0), symbol="{a} − {b}"))

MUL = register(Op(
    "mul", lambda a, b: a * b,
    ("∂(a·b)/∂a = b", "∂(a·b)/∂b = a"),
    "{out} multiplies {a} by {b}; each input's slope is the other input",
    local=lambda a, b, out: (b, a), symbol="{a} · {b}", scaled_by_other=True))

DIV = register(Op(
    "div", lambda a, b: a / b,
    ("∂(a/b)/∂a = 1/b", "∂(a/b)/∂b = −a/b²"),
    "{out} divides {a} by {b}",
    local=lambda a, b, out: (1.0 / b, -out / b), symbol="{a} / {b}",
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
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


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
             nonfinite=lambda x: NonFinite("exp-overflow", note=", past 709.8") if x > 0 else None)

LOG = _unary("log", np.log, lambda x, out: (1.0 / x,), "∂ln(x)/∂x = 1/x",
             "{out} is the natural log of {x}; small inputs get steep slopes", "ln({x})",
             role="elementwise",
             nonfinite=lambda x: (None if x > 0 else
                                  NonFinite("log-of-zero" if x == 0 else "log-of-negative")))

# --- structural ops ---------------------------------------------------------------------------


def _matmul_vjp(g: Array, a: Array, b: Array, out: Array) -> tuple[Array, Array]:
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g.reshape(a2.shape[0], b2.shape[1])
    return (g2 @ b2.T).reshape(a.shape), (a2.T @ g2).reshape(b.shape)


def _matmul(a: Array, b: Array) -> Array:
    if a.ndim not in (1, 2) or b.ndim not in (1, 2):
        raise ValueError("matmul takes vectors and matrices (1-D or 2-D)")
    return a @ b


MATMUL = register(Op(
    "matmul", _matmul,
    ("∂(A@B)/∂A: ∂L/∂A = ∂L/∂out @ Bᵀ", "∂(A@B)/∂B: ∂L/∂B = Aᵀ @ ∂L/∂out"),
    "{out} is the matrix product of {a} and {b}: each output is a weighted sum of inputs",
    vjp=_matmul_vjp, symbol="{a} @ {b}", role="linear", scaled_by_other=True))

TRANSPOSE = register(Op(
    "transpose", lambda x: x.T, ("∂(xᵀ)/∂x: the gradient is transposed back",),
    "{out} is {x} transposed", vjp=lambda g, x, out: (g.T,), symbol="{x}ᵀ", letters=("x",),
    role="shape"))

RESHAPE = register(Op(
    "reshape", lambda x, shape: x.reshape(shape),
    ("∂reshape(x)/∂x: the gradient is reshaped back",),
    "{out} is {x} with its elements rearranged into a new shape",
    vjp=lambda g, x, out, shape: (g.reshape(x.shape),), symbol="reshape({x})", letters=("x",),
    role="shape"))


def _index_vjp(g: Array, x: Array, out: Array, key: Any) -> tuple[Array]:
    gx = np.zeros_like(x)
    np.add.at(gx, key, g)  # add.at, not +=, so an element picked twice gets both gradients
    return (gx,)


INDEX = register(Op(
    "index", lambda x, key: x[key],
    ("∂x[i]/∂x = 1 at i, 0 elsewhere (an element picked twice adds up)",),
    "{out} picks elements out of {x}; only the picked elements get gradient",
    vjp=_index_vjp, symbol="{x}[{key}]", letters=("x",), role="shape"))


def _expand_reduced(g: Array, x: Array, axis: Any) -> Array:
    """A reduction's gradient ``g`` spread back over the axes that were summed away (a new
    array, so each record owns its own)."""
    if axis is None:
        return np.full(x.shape, g)
    return np.array(np.broadcast_to(np.expand_dims(g, axis), x.shape))


def _mean_count(x: Array, axis: Any) -> int:
    if axis is None:
        return x.size
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([x.shape[a] for a in axes]))


SUM = register(Op(
    "sum", lambda x, axis: x.sum(axis=axis), ("∂Σx/∂xᵢ = 1",),
    "{out} adds up the elements of {x}; every element gets the same gradient",
    vjp=lambda g, x, out, axis: (_expand_reduced(g, x, axis),),
    symbol="Σ{x}", letters=("x",), role="reduction"))

MEAN = register(Op(
    "mean", lambda x, axis: x.mean(axis=axis), ("∂mean(x)/∂xᵢ = 1/n",),
    "{out} averages the elements of {x}; each element gets 1/n of the gradient",
    vjp=lambda g, x, out, axis: (_expand_reduced(g / _mean_count(x, axis), x, axis),),
    symbol="mean({x})", letters=("x",), role="reduction"))


def _softmax(x: Array, axis: int) -> Array:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))  # shift so exp never overflows
    return e / np.sum(e, axis=axis, keepdims=True)


def _softmax_vjp(g: Array, x: Array, out: Array, axis: int) -> tuple[Array]:
    return (out * (g - np.sum(g * out, axis=axis, keepdims=True)),)


SOFTMAX = register(Op(
    "softmax", _softmax, ("∂sᵢ/∂xⱼ = sᵢ·(δᵢⱼ − sⱼ)",),
    "{out} turns the scores {x} into probabilities that sum to 1",
    vjp=_softmax_vjp, symbol="softmax({x})", letters=("x",), role="activation"))

# --- losses (each averages over its elements, as PyTorch's default reduction does) -------------

def sum_to_shape(g: Array, shape: tuple[int, ...]) -> tuple[Array, tuple[int, ...]]:
    """Sum ``g`` over the axes numpy broadcast, back to an operand's ``shape``; also say which.

    This is where a bias's gradient is summed over the batch.
    """
    if g.shape == shape:
        return g, ()
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes).reshape(shape), axes


def _per_operand(g: Array, da: Array, db: Array, a: Array, b: Array) -> tuple[Array, Array]:
    """A mean loss's gradients ``g·da/n`` and ``g·db/n`` (n: elements after broadcasting), each
    summed back to its operand's shape."""
    shape = np.broadcast(a, b).shape
    n = int(np.prod(shape))
    return (sum_to_shape(np.broadcast_to(g * da / n, shape), a.shape)[0],
            sum_to_shape(np.broadcast_to(g * db / n, shape), b.shape)[0])


def _mse_vjp(g: Array, p: Array, t: Array, out: Array) -> tuple[Array, Array]:
    return _per_operand(g, 2 * (p - t), -2 * (p - t), p, t)


MSE = register(Op(
    "mse", lambda p, t: np.mean((p - t) ** 2),
    ("∂mean((p−t)²)/∂p = 2(p−t)/n", "∂mean((p−t)²)/∂t = −2(p−t)/n"),
    "{out} is the mean squared error between the prediction {p} and the target {t}",
    vjp=_mse_vjp, symbol="mse({p}, {t})", letters=("p", "t"), role="loss"))


def _xlogy(x: Array, y: Array) -> Array:
    """x·log(y), taken as 0 where x == 0 even when y == 0 (so a sure, right answer costs 0)."""
    safe = np.where(x == 0, 1.0, y)
    return np.where(x == 0, 0.0, x * np.log(safe))


def _bce(p: Array, y: Array) -> Array:
    return -np.mean(_xlogy(y, p) + _xlogy(1 - y, 1 - p))


def _bce_vjp(g: Array, p: Array, y: Array, out: Array) -> tuple[Array, Array]:
    # -(y/p - (1-y)/(1-p)) / n, each term dropped where its coefficient is 0.
    dp = -(np.where(y == 0, 0.0, y / np.where(y == 0, 1.0, p))
           - np.where(y == 1, 0.0, (1 - y) / np.where(y == 1, 1.0, 1 - p)))
    dy = -(np.log(p) - np.log1p(-p))
    return _per_operand(g, dp, dy, p, y)


BCE = register(Op(
    "bce", _bce,
    ("∂BCE/∂p = −(y/p − (1−y)/(1−p))/n", "∂BCE/∂y = −(ln p − ln(1−p))/n"),
    "{out} is the binary cross-entropy of the probability {p} against the label {y}",
    vjp=_bce_vjp, symbol="bce({p}, {y})", letters=("p", "y"), role="loss",
    probability_input=True))


def _bce_logits(z: Array, y: Array) -> Array:
    # log(1 + e^z) - y·z, with log(1 + e^z) = logaddexp(0, z) so large |z| neither overflows nor
    # loses the answer.
    return np.mean(np.logaddexp(0.0, z) - y * z)


BCE_LOGITS = register(Op(
    "bce_logits", _bce_logits,
    ("∂BCE/∂z = (σ(z) − y)/n", "∂BCE/∂y = −z/n"),
    "{out} is the binary cross-entropy of the score {z} (a logit) against the label {y}",
    vjp=lambda g, z, y, out: _per_operand(g, _sigmoid(z) - y, -z, z, y),
    symbol="bce_logits({z}, {y})", letters=("z", "y"), role="loss"))


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
    role="loss"))
