"""Every op of the table: its forward value against a numpy reference written here, its gradient
against central finite differences of that reference and against PyTorch autograd (float64).

Non-scalar outputs are reduced with fixed, uneven weights (``Σ wᵢ·outᵢ``) so that every element
of the upstream gradient differs and a mixed-up element shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import tracer
from tracer import GraphError, Tensor, explain, param
from tracer.custom import is_custom

RNG = np.random.default_rng(20240611)

FD_RTOL, FD_ATOL = 1e-6, 1e-8
TORCH_RTOL, TORCH_ATOL = 1e-7, 1e-12


def uniform(*shape: int, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return RNG.uniform(lo, hi, size=shape)


def positive(*shape: int) -> np.ndarray:
    return uniform(*shape, lo=0.5, hi=2.0)


def away_from_zero(*shape: int) -> np.ndarray:
    """Values at least 0.2 from 0, so relu's kink is never within a finite-difference step."""
    magnitude = uniform(*shape, lo=0.2, hi=2.0)
    return magnitude * RNG.choice([-1.0, 1.0], size=shape)


def weights(shape: tuple[int, ...]) -> np.ndarray:
    """Fixed, uneven weights (both signs) that turn an output into a scalar."""
    size = int(np.prod(shape))
    return np.cos(np.arange(size) + 1.0).reshape(shape)


# --- independent numpy references -------------------------------------------------------------

def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_bce(p, y):
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def np_bce_logits(z, y):
    return np.mean(np.log1p(np.exp(z)) - y * z)


def np_cross_entropy(z, target):
    z2 = np.atleast_2d(z)
    log_p = z2 - np.log(np.sum(np.exp(z2), axis=-1, keepdims=True))
    if np.shape(target) == np.shape(z):
        onehot = np.atleast_2d(target)
    else:
        onehot = np.eye(z2.shape[-1])[np.atleast_1d(target).astype(int)]
    return -np.sum(onehot * log_p) / z2.shape[0]


def np_windows(x, kh, kw, stride):
    """Every window of images x (N, C, H, W), by plain loops: (N, C, Ho, Wo, kh, kw)."""
    n, c, h, w = x.shape
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.empty((n, c, ho, wo, kh, kw))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
    return out


def np_conv2d(x, w, b=None, stride=1, padding=0):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np_windows(x, w.shape[2], w.shape[3], stride)
    out = np.zeros((x.shape[0], w.shape[0], win.shape[2], win.shape[3]))
    for o in range(w.shape[0]):
        out[:, o] = np.sum(win * w[o][None, :, None, None], axis=(1, 4, 5))
    return out if b is None else out + b[None, :, None, None]


def np_layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def np_gelu(x):
    from math import erf
    return x * 0.5 * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def keep_mask(shape, p, seed):
    """The elements tracer.nn.dropout keeps: numpy's generator from the seed, as documented."""
    return np.random.default_rng(seed).random(shape) >= p


# --- the table --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One op application: the traced form, the numpy reference and the torch form."""

    id: str
    inputs: tuple[np.ndarray, ...]
    traced: Callable[..., Tensor]
    numpy: Callable[..., np.ndarray]
    torch: Callable[..., object]  # torch(module, *tensors)
    wrt: tuple[int, ...] | None = None  # differentiable inputs; None means all
    integer_inputs: tuple[int, ...] = field(default=())  # class indices (torch wants long)
    # False where the op has no derivative at the point (a tie of three, a value at a clip
    # bound): the value PyTorch picks there is checked against torch only.
    smooth: bool = True

    def differentiable(self) -> tuple[int, ...]:
        return tuple(range(len(self.inputs))) if self.wrt is None else self.wrt


def _ce_torch(t, z, y):
    return t.nn.functional.cross_entropy(z, y)


CASES = [
    # elementwise arithmetic, same shapes and broadcast
    Case("add", (uniform(2, 3), uniform(2, 3)), lambda a, b: a + b, np.add,
         lambda t, a, b: a + b),
    Case("add-bias-row", (uniform(4, 3), uniform(3)), lambda a, b: a + b, np.add,
         lambda t, a, b: a + b),
    Case("add-column-row", (uniform(3, 1), uniform(1, 4)), lambda a, b: a + b, np.add,
         lambda t, a, b: a + b),
    Case("add-scalar-matrix", (uniform(), uniform(2, 3)), lambda a, b: a + b, np.add,
         lambda t, a, b: a + b),
    Case("sub", (uniform(2, 3), uniform(2, 3)), lambda a, b: a - b, np.subtract,
         lambda t, a, b: a - b),
    Case("sub-broadcast", (uniform(2, 3), uniform(3)), lambda a, b: a - b, np.subtract,
         lambda t, a, b: a - b),
    Case("sub-matrix-scalar", (uniform(2, 3), uniform()), lambda a, b: a - b, np.subtract,
         lambda t, a, b: a - b),
    Case("mul", (uniform(2, 3), uniform(2, 3)), lambda a, b: a * b, np.multiply,
         lambda t, a, b: a * b),
    Case("mul-column-row", (uniform(3, 1), uniform(1, 4)), lambda a, b: a * b, np.multiply,
         lambda t, a, b: a * b),
    Case("mul-scalar-matrix", (uniform(), uniform(2, 3)), lambda a, b: a * b, np.multiply,
         lambda t, a, b: a * b),
    Case("mul-self", (uniform(2, 3),), lambda a: a * a, lambda a: a * a, lambda t, a: a * a),
    Case("div", (uniform(2, 3), positive(2, 3)), lambda a, b: a / b, np.divide,
         lambda t, a, b: a / b),
    Case("div-broadcast", (uniform(2, 3), -positive(3)), lambda a, b: a / b, np.divide,
         lambda t, a, b: a / b),
    Case("div-by-scalar", (uniform(2, 3), positive()), lambda a, b: a / b, np.divide,
         lambda t, a, b: a / b),
    Case("pow-2", (uniform(2, 3),), lambda a: a**2, lambda a: a * a, lambda t, a: a**2),
    Case("pow-3", (uniform(4),), lambda a: a**3, lambda a: a * a * a, lambda t, a: a**3),
    Case("pow-half", (positive(4),), lambda a: a**0.5, np.sqrt, lambda t, a: a**0.5),
    Case("pow-minus-1", (positive(4),), lambda a: a**-1, lambda a: 1.0 / a,
         lambda t, a: a**-1),
    Case("pow-0-at-zero", (np.array([0.0, 1.5, -2.0]),), lambda a: a**0, np.ones_like,
         lambda t, a: a**0),
    Case("pow-1-at-zero", (np.array([0.0, 1.5, -2.0]),), lambda a: a**1, lambda a: a,
         lambda t, a: a**1),
    Case("pow-1.5", (positive(2, 2),), lambda a: a**1.5, lambda a: a * np.sqrt(a),
         lambda t, a: a**1.5),
    Case("neg", (uniform(2, 3),), lambda a: -a, np.negative, lambda t, a: -a),
    # nonlinearities
    Case("relu", (away_from_zero(3, 4),), lambda a: a.relu(), lambda a: np.where(a > 0, a, 0.0),
         lambda t, a: a.relu()),
    Case("tanh", (uniform(3, 4),), lambda a: a.tanh(), np.tanh, lambda t, a: a.tanh()),
    Case("sigmoid", (uniform(3, 4, lo=-5, hi=5),), lambda a: a.sigmoid(), np_sigmoid,
         lambda t, a: a.sigmoid()),
    Case("exp", (uniform(3, 4),), lambda a: a.exp(), np.exp, lambda t, a: a.exp()),
    Case("log", (positive(3, 4),), lambda a: a.log(), np.log, lambda t, a: a.log()),
    # matmul, every combination of 1-D and 2-D
    Case("matmul-vec-vec", (uniform(3), uniform(3)), lambda a, b: a @ b, np.dot,
         lambda t, a, b: a @ b),
    Case("matmul-mat-vec", (uniform(2, 3), uniform(3)), lambda a, b: a @ b, np.dot,
         lambda t, a, b: a @ b),
    Case("matmul-vec-mat", (uniform(3), uniform(3, 4)), lambda a, b: a @ b, np.dot,
         lambda t, a, b: a @ b),
    Case("matmul-mat-mat", (uniform(2, 3), uniform(3, 4)), lambda a, b: a @ b, np.dot,
         lambda t, a, b: a @ b),
    # shape ops
    Case("transpose", (uniform(2, 3),), lambda a: a.T, np.transpose, lambda t, a: a.T),
    Case("reshape-matrix", (uniform(2, 3),), lambda a: a.reshape(3, 2),
         lambda a: np.reshape(a, (3, 2)), lambda t, a: a.reshape(3, 2)),
    Case("reshape-flat", (uniform(2, 3),), lambda a: a.reshape((6,)),
         lambda a: np.reshape(a, 6), lambda t, a: a.reshape(6)),
    Case("reshape-unflatten", (uniform(6),), lambda a: a.reshape(2, 3),
         lambda a: np.reshape(a, (2, 3)), lambda t, a: a.reshape(2, 3)),
    # indexing, including an element picked twice
    Case("index-element", (uniform(4),), lambda a: a[1], lambda a: a[1], lambda t, a: a[1]),
    Case("index-negative", (uniform(4),), lambda a: a[-1], lambda a: a[-1], lambda t, a: a[-1]),
    Case("index-slice", (uniform(5),), lambda a: a[1:4], lambda a: a[1:4], lambda t, a: a[1:4]),
    Case("index-repeated", (uniform(3),), lambda a: a[[0, 0, 1]], lambda a: a[[0, 0, 1]],
         lambda t, a: a[[0, 0, 1]]),
    Case("index-scalar-twice", (uniform(3),), lambda a: a[0] + a[0], lambda a: a[0] + a[0],
         lambda t, a: a[0] + a[0]),
    Case("index-row", (uniform(3, 4),), lambda a: a[1], lambda a: a[1], lambda t, a: a[1]),
    Case("index-column", (uniform(3, 4),), lambda a: a[:, 2], lambda a: a[:, 2],
         lambda t, a: a[:, 2]),
    Case("index-matrix-element", (uniform(3, 4),), lambda a: a[2, 1], lambda a: a[2, 1],
         lambda t, a: a[2, 1]),
    # reductions over every kind of axis
    *[Case(f"sum-axis-{axis}", (uniform(2, 3),), lambda a, axis=axis: a.sum(axis=axis),
           lambda a, axis=axis: np.add.reduce(a, axis=axis),
           lambda t, a, axis=axis: a.sum() if axis is None else a.sum(dim=axis))
      for axis in (None, 0, 1, -1, (0, 1))],
    Case("sum-3d-axes-0-2", (uniform(2, 3, 4),), lambda a: a.sum(axis=(0, 2)),
         lambda a: np.add.reduce(a, axis=(0, 2)), lambda t, a: a.sum(dim=(0, 2))),
    *[Case(f"mean-axis-{axis}", (uniform(2, 3),), lambda a, axis=axis: a.mean(axis=axis),
           lambda a, axis=axis: np.add.reduce(a, axis=axis) / (
               a.size if axis is None else np.prod(np.array(a.shape)[list(np.atleast_1d(axis))])),
           lambda t, a, axis=axis: a.mean() if axis is None else a.mean(dim=axis))
      for axis in (None, 0, 1, -1, (0, 1))],
    Case("mean-3d-axes-0-2", (uniform(2, 3, 4),), lambda a: a.mean(axis=(0, 2)),
         lambda a: np.add.reduce(a, axis=(0, 2)) / 8.0, lambda t, a: a.mean(dim=(0, 2))),
    # softmax
    Case("softmax-vector", (uniform(4),), lambda a: a.softmax(), np_softmax,
         lambda t, a: t.softmax(a, dim=-1)),
    Case("softmax-rows", (uniform(3, 4),), lambda a: tracer.softmax(a, axis=-1), np_softmax,
         lambda t, a: t.softmax(a, dim=-1)),
    Case("softmax-columns", (uniform(3, 4),), lambda a: a.softmax(axis=0),
         lambda a: np_softmax(a, axis=0), lambda t, a: t.softmax(a, dim=0)),
    # matmul, N-D: batched, with a shared weight, broadcast batch axes, 1-D against N-D
    Case("matmul-batch-shared-weight", (uniform(2, 4, 3), uniform(3, 5)), lambda a, b: a @ b,
         np.matmul, lambda t, a, b: a @ b),
    Case("matmul-batch-batch", (uniform(2, 3, 4), uniform(2, 4, 2)), lambda a, b: a @ b,
         np.matmul, lambda t, a, b: a @ b),
    Case("matmul-broadcast-batch-axes", (uniform(2, 1, 3, 4), uniform(3, 4, 2)),
         lambda a, b: a @ b, np.matmul, lambda t, a, b: a @ b),
    Case("matmul-vec-batch", (uniform(3), uniform(2, 3, 4)), lambda a, b: a @ b, np.matmul,
         lambda t, a, b: a @ b),
    Case("matmul-batch-vec", (uniform(2, 4, 3), uniform(3)), lambda a, b: a @ b, np.matmul,
         lambda t, a, b: a @ b),
    # shape methods with numpy's names
    Case("transpose-axes", (uniform(2, 3, 4),), lambda a: a.transpose(1, 2, 0),
         lambda a: np.transpose(a, (1, 2, 0)), lambda t, a: a.permute(1, 2, 0)),
    Case("transpose-reverse-3d", (uniform(2, 3, 4),), lambda a: a.transpose(),
         lambda a: np.transpose(a), lambda t, a: a.permute(2, 1, 0)),
    Case("swapaxes", (uniform(2, 3, 4),), lambda a: a.swapaxes(0, -1),
         lambda a: np.swapaxes(a, 0, 2), lambda t, a: a.transpose(0, 2)),
    Case("flatten", (uniform(2, 3),), lambda a: a.flatten(), np.ravel,
         lambda t, a: a.reshape(-1)),
    Case("squeeze", (uniform(2, 1, 3),), lambda a: a.squeeze(), np.squeeze,
         lambda t, a: a.squeeze()),
    Case("squeeze-axis", (uniform(1, 3, 1),), lambda a: a.squeeze(axis=0),
         lambda a: a[0], lambda t, a: a.squeeze(0)),
    Case("expand-dims", (uniform(2, 3),), lambda a: a.expand_dims(1),
         lambda a: a[:, None, :], lambda t, a: a.unsqueeze(1)),
    Case("reshape-minus-one", (uniform(2, 6),), lambda a: a.reshape(-1, 3),
         lambda a: np.reshape(a, (4, 3)), lambda t, a: a.reshape(-1, 3)),
    Case("stack", (uniform(2, 3), uniform(2, 3)), lambda a, b: np.stack([a, b], axis=1),
         lambda a, b: np.array([[a[i], b[i]] for i in range(2)]),
         lambda t, a, b: t.stack([a, b], dim=1)),
    Case("concatenate", (uniform(2, 3), uniform(1, 3), uniform(2, 3)),
         lambda a, b, c: np.concatenate([a, b, c]), lambda a, b, c: np.vstack([a, b, c]),
         lambda t, a, b, c: t.cat([a, b, c])),
    # reductions with keepdims, and max/min/var/std
    Case("sum-keepdims", (uniform(2, 3, 4),), lambda a: a.sum(axis=1, keepdims=True),
         lambda a: np.add.reduce(a, axis=1)[:, None, :], lambda t, a: a.sum(1, keepdim=True)),
    Case("mean-keepdims-all", (uniform(2, 3),), lambda a: a.mean(keepdims=True),
         lambda a: np.full((1, 1), np.add.reduce(a.ravel()) / 6),
         lambda t, a: a.mean().reshape(1, 1)),
    *[Case(f"{name}-axis-{axis}-keepdims-{keep}", (uniform(3, 4),),
           lambda a, name=name, axis=axis, keep=keep: getattr(a, name)(axis=axis, keepdims=keep),
           lambda a, f=f, axis=axis, keep=keep: f(a, axis=axis, keepdims=keep),
           lambda t, a, name=name, axis=axis, keep=keep: (
               getattr(a, "a" + name)() if axis is None else getattr(a, "a" + name)(axis, keep)))
      for name, f in (("max", np.maximum.reduce), ("min", np.minimum.reduce))
      for axis, keep in ((None, False), (0, False), (1, True), (-1, False))],
    Case("max-two-way-tie", (np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]),),
         lambda a: a.max(axis=1), lambda a: np.maximum.reduce(a, axis=1),
         lambda t, a: a.amax(1)),
    Case("max-three-way-tie", (np.array([4.0, 1.0, 4.0, 4.0]),), lambda a: a.max(),
         lambda a: np.maximum.reduce(a), lambda t, a: a.max(), smooth=False),
    Case("min-tie-keepdims", (np.array([[0.5, -1.0, -1.0]]),),
         lambda a: a.min(axis=-1, keepdims=True),
         lambda a: np.minimum.reduce(a, axis=-1)[:, None], lambda t, a: a.amin(-1, True)),
    *[Case(f"{name}-axis-{axis}-keepdims-{keep}", (uniform(3, 4),),
           lambda a, name=name, axis=axis, keep=keep: getattr(a, name)(axis=axis, keepdims=keep),
           lambda a, f=f, axis=axis, keep=keep: f(a, axis, keep),
           lambda t, a, name=name, axis=axis, keep=keep: (
               getattr(a, name)(correction=0) if axis is None
               else getattr(a, name)(axis, correction=0, keepdim=keep)))
      for name, f in (
          ("var", lambda a, ax, k: np.mean((a - np.mean(a, ax, keepdims=True)) ** 2, ax,
                                           keepdims=k)),
          ("std", lambda a, ax, k: np.sqrt(np.mean((a - np.mean(a, ax, keepdims=True)) ** 2,
                                                   ax, keepdims=k))))
      for axis, keep in ((None, False), (0, False), (1, True))],
    # PyTorch's default var and std divide by n − 1 (correction=1); the table's has the attribute
    *[Case(f"{name}-correction-1-axis-{axis}", (uniform(3, 4),),
           lambda a, op=op, axis=axis: tracer.tensor.apply(op, a, axis=axis, correction=1.0),
           lambda a, f=f, axis=axis: f(a, axis),
           lambda t, a, name=name, axis=axis: (
               getattr(a, name)() if axis is None else getattr(a, name)(axis)))
      for name, op, f in (
          ("var", tracer.ops_reduce.VAR,
           lambda a, ax: np.sum((a - np.mean(a, ax, keepdims=True)) ** 2, ax)
           / (a.size / np.mean(a, ax).size - 1)),
          ("std", tracer.ops_reduce.STD,
           lambda a, ax: np.sqrt(np.sum((a - np.mean(a, ax, keepdims=True)) ** 2, ax)
                                 / (a.size / np.mean(a, ax).size - 1))))
      for axis in (None, 1)],
    # elementwise: sqrt, abs, clip, maximum/minimum (ties split as torch does), comparisons
    Case("sqrt", (positive(3, 4),), lambda a: a.sqrt(), lambda a: a ** 0.5,
         lambda t, a: a.sqrt()),
    Case("abs", (away_from_zero(3, 4),), lambda a: abs(a), lambda a: np.where(a < 0, -a, a),
         lambda t, a: a.abs()),
    Case("abs-at-zero", (np.array([0.0, -1.5, 2.0]),), lambda a: a.abs(),
         lambda a: np.where(a < 0, -a, a), lambda t, a: a.abs()),
    Case("clip", (np.array([-2.0, -0.3, 0.2, 0.9, 1.7]),), lambda a: a.clip(-0.5, 1.0),
         lambda a: np.minimum(np.maximum(a, -0.5), 1.0), lambda t, a: a.clamp(-0.5, 1.0)),
    Case("clip-at-the-bounds", (np.array([-0.5, 0.0, 1.0]),), lambda a: a.clip(-0.5, 1.0),
         lambda a: np.minimum(np.maximum(a, -0.5), 1.0), lambda t, a: a.clamp(-0.5, 1.0),
         smooth=False),
    Case("clip-min-only", (uniform(4),), lambda a: a.clip(min=0.1), lambda a: np.maximum(a, 0.1),
         lambda t, a: a.clamp(min=0.1)),
    Case("maximum", (uniform(2, 3), uniform(2, 3)), lambda a, b: np.maximum(a, b),
         lambda a, b: np.where(a > b, a, b), lambda t, a, b: t.maximum(a, b)),
    Case("maximum-broadcast-tie", (np.array([[1.0, 2.0, 3.0]]), np.array([[2.0], [3.0]])),
         lambda a, b: np.maximum(a, b), lambda a, b: np.where(a > b, a, b),
         lambda t, a, b: t.maximum(a, b)),
    Case("minimum-with-ties", (np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 4.0])),
         lambda a, b: np.minimum(a, b), lambda a, b: np.where(a < b, a, b),
         lambda t, a, b: t.minimum(a, b)),
    *[Case(f"mask-{name}", (uniform(3, 4), uniform(4)),
           lambda a, b, f=f: f(a, b) * a, lambda a, b, f=f: f(a, b) * a,
           lambda t, a, b, f=f: f(a, b) * a, wrt=(0,))
      for name, f in (("lt", lambda a, b: a < b), ("le", lambda a, b: a <= b),
                      ("gt", lambda a, b: a > b), ("ge", lambda a, b: a >= b),
                      ("eq", lambda a, b: a == b), ("ne", lambda a, b: a != b))],
    Case("where", (uniform(3, 4), uniform(4)), lambda a, b: np.where(a > 0, a, b),
         lambda a, b: np.array([[x if x > 0 else y for x, y in zip(row, b, strict=True)]
                                for row in a]),
         lambda t, a, b: t.where(a > 0, a, b)),
    Case("where-minus-inf-mask", (uniform(3, 3),),
         lambda a: np.where(np.tril(np.ones((3, 3))) > 0, a, -np.inf).softmax(axis=-1),
         lambda a: np_softmax(a + np.triu(np.full((3, 3), -np.inf), 1)),
         lambda t, a: t.softmax(a.masked_fill(t.ones(3, 3).tril() == 0, float("-inf")), -1)),
    # activations and log-softmax
    Case("leaky-relu", (away_from_zero(3, 4),), lambda a: tracer.nn.leaky_relu(a, 0.2),
         lambda a: np.where(a > 0, a, 0.2 * a),
         lambda t, a: t.nn.functional.leaky_relu(a, 0.2)),
    Case("gelu", (uniform(3, 4, lo=-4, hi=4),), tracer.nn.gelu, np_gelu,
         lambda t, a: t.nn.functional.gelu(a)),
    Case("silu", (uniform(3, 4, lo=-6, hi=6),), tracer.nn.silu, lambda a: a * np_sigmoid(a),
         lambda t, a: t.nn.functional.silu(a)),
    Case("softplus", (uniform(3, 4, lo=-6, hi=6),), tracer.nn.softplus,
         lambda a: np.log1p(np.exp(a)), lambda t, a: t.nn.functional.softplus(a)),
    Case("log-softmax", (uniform(3, 4),), lambda a: a.log_softmax(axis=-1),
         lambda a: np.log(np_softmax(a)), lambda t, a: t.log_softmax(a, -1)),
    Case("log-softmax-axis-0", (uniform(3, 4),), lambda a: tracer.nn.log_softmax(a, dim=0),
         lambda a: np.log(np_softmax(a, axis=0)), lambda t, a: t.log_softmax(a, 0)),
    Case("dropout", (uniform(4, 5),), lambda a: tracer.nn.dropout(a, 0.3, seed=7),
         lambda a: a * keep_mask((4, 5), 0.3, 7) / 0.7,
         lambda t, a: a * t.tensor(keep_mask((4, 5), 0.3, 7)) / 0.7),
    # layers in torch.nn.functional's NCHW layout
    Case("conv2d", (uniform(2, 1, 5, 5), uniform(3, 1, 3, 3)), tracer.nn.conv2d, np_conv2d,
         lambda t, x, w: t.nn.functional.conv2d(x, w)),
    Case("conv2d-bias-stride-padding", (uniform(2, 2, 5, 6), uniform(3, 2, 3, 2), uniform(3)),
         lambda x, w, b: tracer.nn.conv2d(x, w, b, stride=2, padding=1),
         lambda x, w, b: np_conv2d(x, w, b, stride=2, padding=1),
         lambda t, x, w, b: t.nn.functional.conv2d(x, w, b, stride=2, padding=1)),
    Case("conv2d-bias-one-op", (uniform(2, 2, 5, 6), uniform(3, 2, 3, 2), uniform(3)),
         lambda x, w, b: tracer.tensor.apply(tracer.ops_nn.CONV2D_BIAS, x, w, b, stride=(2, 2),
                                             padding=(1, 1)),
         lambda x, w, b: np_conv2d(x, w, b, stride=2, padding=1),
         lambda t, x, w, b: t.nn.functional.conv2d(x, w, b, stride=2, padding=1)),
    Case("max-pool2d", (uniform(2, 3, 4, 6),), lambda x: tracer.nn.max_pool2d(x, 2),
         lambda x: np_windows(x, 2, 2, 2).max(axis=(4, 5)),
         lambda t, x: t.nn.functional.max_pool2d(x, 2)),
    Case("max-pool2d-overlapping", (uniform(1, 2, 5, 5),),
         lambda x: tracer.nn.max_pool2d(x, 3, stride=1),
         lambda x: np_windows(x, 3, 3, 1).max(axis=(4, 5)),
         lambda t, x: t.nn.functional.max_pool2d(x, 3, stride=1)),
    Case("max-pool2d-tie-goes-to-the-first", (np.array([[[[1.0, 1.0], [0.0, 1.0]]]]),),
         lambda x: tracer.nn.max_pool2d(x, 2), lambda x: np.array([[[[1.0]]]]),
         lambda t, x: t.nn.functional.max_pool2d(x, 2), smooth=False),
    Case("avg-pool2d", (uniform(2, 1, 4, 4),), lambda x: tracer.nn.avg_pool2d(x, 2),
         lambda x: np_windows(x, 2, 2, 2).mean(axis=(4, 5)),
         lambda t, x: t.nn.functional.avg_pool2d(x, 2)),
    Case("avg-pool2d-overlapping", (uniform(1, 1, 5, 5),),
         lambda x: tracer.nn.avg_pool2d(x, 3, stride=2),
         lambda x: np_windows(x, 3, 3, 2).mean(axis=(4, 5)),
         lambda t, x: t.nn.functional.avg_pool2d(x, 3, stride=2)),
    Case("linear", (uniform(2, 3, 4), uniform(5, 4), uniform(5)), tracer.nn.linear,
         lambda x, w, b: np.matmul(x, w.T) + b, lambda t, x, w, b: t.nn.functional.linear(x, w, b)),
    Case("linear-one-op", (uniform(2, 3, 4), uniform(5, 4), uniform(5)),
         lambda x, w, b: tracer.tensor.apply(tracer.ops_nn.LINEAR, x, w, b),
         lambda x, w, b: np.matmul(x, w.T) + b, lambda t, x, w, b: t.nn.functional.linear(x, w, b)),
    Case("linear-no-bias-one-op", (uniform(2, 3, 4), uniform(5, 4)),
         lambda x, w: tracer.tensor.apply(tracer.ops_nn.LINEAR_NO_BIAS, x, w),
         lambda x, w: np.einsum("...i,oi->...o", x, w),
         lambda t, x, w: t.nn.functional.linear(x, w)),
    Case("layer-norm", (uniform(2, 3, 4), uniform(4), uniform(4)),
         lambda x, w, b: tracer.nn.layer_norm(x, 4, w, b), np_layer_norm,
         lambda t, x, w, b: t.nn.functional.layer_norm(x, (4,), w, b)),
    Case("layer-norm-affine-one-op", (uniform(2, 3, 4), uniform(4), uniform(4)),
         lambda x, w, b: tracer.tensor.apply(tracer.ops_nn.LAYER_NORM_AFFINE, x, w, b, dims=1,
                                             eps=1e-5),
         np_layer_norm, lambda t, x, w, b: t.nn.functional.layer_norm(x, (4,), w, b)),
    Case("layer-norm-affine-two-axes", (uniform(2, 3, 4), uniform(3, 4), uniform(3, 4)),
         lambda x, w, b: tracer.tensor.apply(tracer.ops_nn.LAYER_NORM_AFFINE, x, w, b, dims=2,
                                             eps=1e-5),
         lambda x, w, b: (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(
             x.var(axis=(1, 2), keepdims=True) + 1e-5) * w + b,
         lambda t, x, w, b: t.nn.functional.layer_norm(x, (3, 4), w, b)),
    Case("layer-norm-two-axes", (uniform(2, 3, 4),),
         lambda x: tracer.nn.layer_norm(x, (3, 4)),
         lambda x: (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(
             x.var(axis=(1, 2), keepdims=True) + 1e-5),
         lambda t, x: t.nn.functional.layer_norm(x, (3, 4))),
    Case("embedding", (np.array([[0.0, 2.0, 2.0], [1.0, 0.0, 3.0]]), uniform(4, 3)),
         tracer.nn.embedding, lambda i, w: w[i.astype(int)],
         lambda t, i, w: t.nn.functional.embedding(i, w), wrt=(1,), integer_inputs=(0,)),
    # losses
    Case("mse-vector", (uniform(4), uniform(4)), tracer.mse, lambda p, y: np.mean((p - y) ** 2),
         lambda t, p, y: t.nn.functional.mse_loss(p, y)),
    Case("mse-matrix", (uniform(3, 2), uniform(3, 2)), tracer.mse,
         lambda p, y: np.mean((p - y) ** 2), lambda t, p, y: t.nn.functional.mse_loss(p, y)),
    Case("mse-scalar-target", (uniform(4), uniform()), tracer.mse,
         lambda p, y: np.mean((p - y) ** 2), lambda t, p, y: ((p - y) ** 2).mean()),
    Case("mse-one-prediction-many-targets", (uniform(1), uniform(3)), tracer.mse,
         lambda p, y: np.mean((p - y) ** 2), lambda t, p, y: ((p - y) ** 2).mean()),
    Case("bce-hard-labels", (uniform(5, lo=0.05, hi=0.95), np.array([1.0, 0, 0, 1, 1])),
         tracer.bce, np_bce, lambda t, p, y: t.nn.functional.binary_cross_entropy(p, y)),
    Case("bce-soft-labels", (uniform(2, 3, lo=0.05, hi=0.95), uniform(2, 3, lo=0.1, hi=0.9)),
         tracer.bce, np_bce, lambda t, p, y: t.nn.functional.binary_cross_entropy(p, y)),
    Case("bce-scalar-label", (uniform(3, lo=0.05, hi=0.95), np.array(1.0)), tracer.bce, np_bce,
         lambda t, p, y: -(y * p.log() + (1 - y) * (1 - p).log()).mean()),
    Case("bce-with-logits", (uniform(5, lo=-4, hi=4), np.array([1.0, 0, 1, 0, 1])),
         tracer.bce_with_logits, np_bce_logits,
         lambda t, z, y: t.nn.functional.binary_cross_entropy_with_logits(z, y)),
    Case("bce-with-logits-soft", (uniform(2, 2), uniform(2, 2, lo=0, hi=1)),
         tracer.bce_with_logits, np_bce_logits,
         lambda t, z, y: t.nn.functional.binary_cross_entropy_with_logits(z, y)),
    Case("bce-with-logits-scalar-label", (uniform(2, 2), np.array(0.25)),
         tracer.bce_with_logits, np_bce_logits,
         lambda t, z, y: (t.nn.functional.softplus(z) - y * z).mean()),
    Case("cross-entropy-index", (uniform(4), np.array(2.0)), tracer.cross_entropy,
         np_cross_entropy, _ce_torch, wrt=(0,), integer_inputs=(1,)),
    Case("cross-entropy-index-batch", (uniform(3, 4), np.array([2.0, 0.0, 3.0])),
         tracer.cross_entropy, np_cross_entropy, _ce_torch, wrt=(0,), integer_inputs=(1,)),
    Case("cross-entropy-onehot", (uniform(4), np.array([0.0, 1.0, 0.0, 0.0])),
         tracer.cross_entropy, np_cross_entropy, _ce_torch, wrt=(0,)),
    Case("cross-entropy-onehot-batch", (uniform(2, 3), np.array([[0.0, 0, 1], [1, 0, 0]])),
         tracer.cross_entropy, np_cross_entropy, _ce_torch, wrt=(0,)),
]

IDS = [c.id for c in CASES]


def engine(case: Case):
    """Run the case through the engine; return the raw output, the scalar and each grad."""
    leaves = [param(x, name=f"x{k}") if k in case.differentiable() else Tensor(x, name=f"x{k}")
              for k, x in enumerate(case.inputs)]
    out = case.traced(*leaves)
    loss = out if out.data.ndim == 0 else (out * weights(out.shape)).sum()
    loss.backward()
    return out, loss, [leaf.grad for leaf in leaves]


def reference_loss(case: Case) -> Callable[..., float]:
    def f(*arrays):
        out = np.asarray(case.numpy(*arrays), dtype=np.float64)
        return float(out if out.ndim == 0 else np.sum(out * weights(out.shape)))
    return f


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_value_matches_numpy_reference(case):
    out, _, _ = engine(case)
    expected = np.asarray(case.numpy(*case.inputs), dtype=np.float64)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", [c for c in CASES if c.smooth],
                         ids=[c.id for c in CASES if c.smooth])
def test_gradient_matches_finite_differences(case, fd):
    _, _, grads = engine(case)
    numeric = fd(reference_loss(case), case.inputs, wrt=case.differentiable())
    for k in case.differentiable():
        assert grads[k].shape == case.inputs[k].shape, f"grad of input {k} has the wrong shape"
        np.testing.assert_allclose(grads[k], numeric[k], rtol=FD_RTOL, atol=FD_ATOL,
                                   err_msg=f"input {k}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_matches_torch_autograd(case):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: the autograd "
                                                "cross-check needs it")
    leaves = []
    for k, x in enumerate(case.inputs):
        if k in case.integer_inputs:
            leaves.append(torch.tensor(x, dtype=torch.long))
        else:
            leaves.append(torch.tensor(x, dtype=torch.float64,
                                       requires_grad=k in case.differentiable()))
    out = case.torch(torch, *leaves)
    loss = out if out.ndim == 0 else (out * torch.tensor(weights(tuple(out.shape)))).sum()
    loss.backward()

    ours, our_loss, grads = engine(case)
    np.testing.assert_allclose(ours.data, out.detach().numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)
    np.testing.assert_allclose(float(our_loss.data), loss.item(), rtol=TORCH_RTOL,
                               atol=TORCH_ATOL)
    for k in case.differentiable():
        np.testing.assert_allclose(grads[k], leaves[k].grad.numpy(), rtol=TORCH_RTOL,
                                   atol=TORCH_ATOL, err_msg=f"input {k}")


def test_every_registered_op_is_exercised_by_the_table():
    seen = set()
    for case in CASES:
        stack = [engine(case)[0]]
        while stack:
            t = stack.pop()
            if t.op is not None:
                seen.add(t.op.name)
            stack.extend(t.inputs)
    engine_ops = {name for name, op in tracer.OPS.items() if not is_custom(op)}  # not a file's
    assert engine_ops - seen == set(), "ops without a test case"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_node_can_be_described_and_written_as_an_expression(case):
    leaves = [param(x, name=f"x{k}") for k, x in enumerate(case.inputs)]
    trace = tracer.trace((case.traced(*leaves) * 1.0).sum())
    for node in trace.nodes:
        assert node.name in explain.describe(trace, node)
        assert explain.expression(trace, node).startswith(f"{node.name} = ")
        op = trace.op(node.id)
        if op is not None:  # a formula per input; a variadic op's one formula serves them all
            assert len(op.formulas) == (1 if op.variadic else len(node.inputs))
            assert all(op.formula(k) for k in range(len(node.inputs)))


def test_cross_entropy_labels_get_no_gradient():
    z = param([[1.0, 2.0, 0.5], [0.1, -0.3, 0.2]], name="z")
    labels = Tensor([2.0, 0.0], name="labels")
    t = tracer.cross_entropy(z, labels).backward()
    (step,) = [s for s in t.backward if s.node == t.root]
    label_record = next(r for r in step.inputs if r.node == t.find("labels").id)
    assert not label_record.differentiable
    assert not np.any(labels.grad)


# --- reflected operators ---------------------------------------------------------------------

REFLECTED = [
    ("1 + t", lambda t: 1 + t, lambda x: 1 + x, "add"),
    ("2 * t", lambda t: 2 * t, lambda x: 2 * x, "mul"),
    ("10.0 / t", lambda t: 10.0 / t, lambda x: 10.0 / x, "div"),
    ("1 - t", lambda t: 1 - t, lambda x: 1 - x, "sub"),
    ("ndarray + t", lambda t: np.array([1.0, -2.0, 3.0]) + t,
     lambda x: np.array([1.0, -2.0, 3.0]) + x, "add"),
    ("ndarray * t", lambda t: np.array([1.0, -2.0, 3.0]) * t,
     lambda x: np.array([1.0, -2.0, 3.0]) * x, "mul"),
    ("ndarray - t", lambda t: np.array([1.0, -2.0, 3.0]) - t,
     lambda x: np.array([1.0, -2.0, 3.0]) - x, "sub"),
    ("ndarray @ t", lambda t: np.array([[1.0, 0.5, 2.0]]) @ t,
     lambda x: np.array([[1.0, 0.5, 2.0]]) @ x, "matmul"),
]


@pytest.mark.parametrize(("expression", "traced", "reference", "op"), REFLECTED,
                         ids=[r[0] for r in REFLECTED])
def test_reflected_operator_gives_tensor_with_right_value_and_gradient(
        expression, traced, reference, op, fd):
    x = np.array([0.7, -1.3, 2.1])
    t = param(x, name="t")
    out = traced(t)
    assert isinstance(out, Tensor), f"{expression} gave {type(out).__name__}, not a Tensor"
    assert out.op.name == op
    np.testing.assert_allclose(out.data, reference(x), rtol=1e-15)
    w = weights(out.shape)
    (out * w).sum().backward()
    (numeric,) = fd(lambda v: np.sum(reference(v) * w), [x])
    np.testing.assert_allclose(t.grad, numeric, rtol=FD_RTOL, atol=FD_ATOL)


def test_reflected_subtraction_keeps_the_operand_order():
    t = param(2.0, name="t")
    out = 1 - t
    assert [x.name for x in out.inputs] == ["1", "t"]
    out.backward()
    assert t.grad == -1.0


def test_power_rejects_a_tensor_exponent():
    with pytest.raises(TypeError, match="number exponent"):
        param(2.0) ** Tensor(3.0)


# --- numerical stability ---------------------------------------------------------------------

def test_sigmoid_is_finite_far_into_both_tails():
    x = param([1000.0, -1000.0, 745.0, -745.0], name="x")
    y = x.sigmoid()
    y.sum().backward()
    assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad))
    np.testing.assert_array_equal(y.data[[0, 2]], [1.0, 1.0])
    assert 0.0 <= y.data[1] < 1e-300 and y.data[3] < 1e-300
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0, y.data[3] * (1 - y.data[3])])


@pytest.mark.parametrize(("p", "label"), [(1.0, 1.0), (0.0, 0.0)])
def test_bce_of_a_sure_right_answer_is_zero_with_finite_gradient(p, label):
    prob = param([p], name="p")
    loss = tracer.bce(prob, Tensor([label], name="y"))
    loss.backward()
    assert loss.data == 0.0
    # d/dp of −log p at p = 1 is −1; of −log(1 − p) at p = 0 it is +1.
    np.testing.assert_array_equal(prob.grad, [-1.0 if label == 1.0 else 1.0])


def test_bce_with_logits_is_finite_for_huge_scores_and_has_exact_values():
    z = param([1000.0, -1000.0, 1000.0, -1000.0], name="z")
    y = Tensor([1.0, 0.0, 0.0, 1.0], name="y")
    loss = tracer.bce_with_logits(z, y)
    loss.backward()
    # right answers cost log(1 + e^-1000) = 0 in float64; wrong ones cost 1000 each.
    assert float(loss.data) == pytest.approx(2000.0 / 4, rel=1e-15)
    np.testing.assert_allclose(z.grad, np.array([0.0, 0.0, 1.0, -1.0]) / 4, atol=1e-300)


def test_bce_with_logits_for_huge_scores_equals_torch():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: the autograd "
                                                "cross-check needs it")
    z_values, y_values = [1000.0, -1000.0, 1000.0, -1000.0, 3.0], [1.0, 0.0, 0.0, 1.0, 0.3]
    z = param(z_values)
    loss = tracer.bce_with_logits(z, Tensor(y_values))
    loss.backward()
    tz = torch.tensor(z_values, dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        tz, torch.tensor(y_values, dtype=torch.float64))
    expected.backward()
    np.testing.assert_allclose(float(loss.data), expected.item(), rtol=TORCH_RTOL)
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)


@pytest.mark.parametrize("target", [0, 1])
def test_cross_entropy_with_logits_1000_apart_is_finite_and_exact(target):
    z = param([1000.0, 0.0], name="z")
    loss = tracer.cross_entropy(z, Tensor(float(target)))
    loss.backward()
    # log-softmax of [1000, 0] is [0, −1000] to float64 precision.
    assert float(loss.data) == pytest.approx([0.0, 1000.0][target], abs=1e-12)
    np.testing.assert_allclose(z.grad, np.array([1.0, 0.0]) - np.eye(2)[target], atol=1e-300)


def test_cross_entropy_with_logits_1000_apart_equals_torch():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: the autograd "
                                                "cross-check needs it")
    values = [[1000.0, 0.0, -5.0], [0.0, 1000.0, 999.0]]
    labels = [1, 2]
    z = param(values)
    loss = tracer.cross_entropy(z, Tensor(labels))
    loss.backward()
    tz = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(tz, torch.tensor(labels))
    expected.backward()
    assert np.isfinite(float(loss.data))
    np.testing.assert_allclose(float(loss.data), expected.item(), rtol=TORCH_RTOL)
    np.testing.assert_allclose(z.grad, tz.grad.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL)


def test_softmax_of_values_1000_apart_is_finite():
    x = param([1000.0, 0.0], name="x")
    s = x.softmax()
    (s * Tensor([1.0, 2.0])).sum().backward()
    np.testing.assert_allclose(s.data, [1.0, 0.0], atol=1e-300)
    assert np.all(np.isfinite(x.grad))
    # ∂(s₀ + 2s₁)/∂x = s ⊙ (w − s·w) with s = [1, e^-1000]: zero to float64 precision.
    np.testing.assert_allclose(x.grad, [0.0, 0.0], atol=1e-300)


# --- shape errors ----------------------------------------------------------------------------

def test_matmul_shape_mismatch_names_op_operands_shapes_and_caller_line():
    a = param(np.ones((2, 3)), name="A")
    b = param(np.ones((2, 3)), name="B")
    with pytest.raises(GraphError) as info:
        a @ b
    caller = info.tb  # the first frame is this test: Python's own record of the failing line
    message = str(info.value)
    assert "matmul" in message
    assert "A" in message and "B" in message
    assert message.count("(2, 3)") >= 2
    assert caller.tb_frame.f_code.co_filename.endswith("test_ops.py")
    assert "test_ops.py" in message and f"line {caller.tb_lineno}" in message
    assert info.value.filename == caller.tb_frame.f_code.co_filename
    assert info.value.lineno == caller.tb_lineno
    assert isinstance(info.value, ValueError)


def test_broadcast_mismatch_in_add_is_a_graph_error_naming_add():
    with pytest.raises(GraphError, match=r"add .*x \(2, 3\).*y \(4,\)"):
        param(np.ones((2, 3)), name="x") + param(np.ones(4), name="y")


def test_every_op_in_the_table_has_a_role_a_formula_per_input_and_a_sentence():
    for name, op in tracer.OPS.items():
        if is_custom(op):
            continue
        assert op.role in tracer.ops.ROLES, name
        assert len(op.formulas) == len(op.letters), name
        assert all(f.strip() for f in op.formulas), name
        assert "{out}" in op.sentence, name
        if op.peak_slope is not None or op.can_die:
            assert op.role == "activation", name
        if op.probability_input:
            assert op.role == "loss", name


def test_lists_of_activations_and_losses_elsewhere_come_from_the_table():
    from scenarios import tomlfile
    from tracer.ops import with_role

    activations, losses = with_role("activation"), with_role("loss")
    assert {"relu", "tanh", "sigmoid", "softmax"} <= activations
    assert set(tomlfile.ACTIVATIONS) - {"identity"} <= activations
    assert set(tomlfile.LOSSES) <= losses
    assert "matmul" not in activations | losses


# --- the layer ops' fast paths stay exact -------------------------------------------------------

def test_max_pool_routes_an_infinite_gradient_only_to_the_winner():
    from tracer.ops_nn import MAX_POOL2D

    x = np.array([[[[1.0, 1.0, 0.0, 2.0], [0.0, 1.0, 3.0, 2.0]]]])
    out = MAX_POOL2D.forward(x, kernel=(2, 2), stride=(2, 2))
    (dx,) = MAX_POOL2D.vjp(np.array([[[[np.inf, -2.0]]]]), x, out, kernel=(2, 2), stride=(2, 2))
    # first of the tied 1s takes the inf; every loser gets exactly 0, not inf·0 = nan
    np.testing.assert_array_equal(dx, [[[[np.inf, 0.0, 0.0, 0.0], [0.0, 0.0, -2.0, 0.0]]]])


def test_conv2d_recomputes_for_an_array_changed_in_place():
    from tracer.ops_nn import CONV2D

    x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))
    before = CONV2D.forward(x, w)
    x[0, 0, 0, 0] = 5.0  # a writable array (a finite-difference probe) may change between calls
    after = CONV2D.forward(x, w)
    np.testing.assert_array_equal(before, [[[[4.0, 4.0], [4.0, 4.0]]]])
    np.testing.assert_array_equal(after, [[[[8.0, 4.0], [4.0, 4.0]]]])
