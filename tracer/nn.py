"""``torch.nn.functional`` for gradstep: the same names, argument order and NCHW layout.

>>> import numpy as np
>>> from tracer import Tensor, param, nn
>>> x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4), name="image")
>>> w = param(np.ones((2, 1, 3, 3)), name="kernel")
>>> nn.max_pool2d(nn.relu(nn.conv2d(x, w, padding=1)), 2).shape
(1, 2, 2, 2)

Each function records one op of the table (:mod:`tracer.ops_nn`, :mod:`tracer.ops_elementwise`),
so the debugger steps through it and explains it like any other; a bias or a layer norm's
weight is a broadcast multiply or add, whose gradient is summed over the batch in its own step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional, ops, ops_elementwise, ops_nn, ops_reduce
from .tensor import Tensor, _graph_error, apply, as_tensor

IntPair = int | tuple[int, int]


def _pair(value: IntPair) -> tuple[int, int]:
    return (int(value), int(value)) if np.isscalar(value) else (int(value[0]), int(value[1]))


def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:
    """``input @ weight.T + bias``, with torch's weight layout (out_features, in_features)."""
    out = as_tensor(input) @ as_tensor(weight).T
    return out if bias is None else out + bias


def conv2d(input: Any, weight: Any, bias: Any = None, stride: IntPair = 1,
           padding: IntPair = 0) -> Tensor:
    """2-D cross-correlation of images ``input`` (N, C, H, W) with ``weight`` (O, C, kh, kw),
    plus ``bias`` (O,) per output channel; as ``torch.nn.functional.conv2d``."""
    out = apply(ops_nn.CONV2D, input, weight, stride=_pair(stride), padding=_pair(padding))
    if bias is None:
        return out
    return out + as_tensor(bias).reshape(-1, 1, 1)


def max_pool2d(input: Any, kernel_size: IntPair, stride: IntPair | None = None
               ) -> Tensor:
    """The largest value of each window (stride defaults to the window's size)."""
    kernel = _pair(kernel_size)
    return apply(ops_nn.MAX_POOL2D, input, kernel=kernel,
                 stride=kernel if stride is None else _pair(stride))


def avg_pool2d(input: Any, kernel_size: IntPair, stride: IntPair | None = None
               ) -> Tensor:
    """The mean of each window (stride defaults to the window's size)."""
    kernel = _pair(kernel_size)
    return apply(ops_nn.AVG_POOL2D, input, kernel=kernel,
                 stride=kernel if stride is None else _pair(stride))


def layer_norm(input: Any, normalized_shape: int | tuple[int, ...],
               weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last ``len(normalized_shape)`` axes, then scale by ``weight`` and
    shift by ``bias`` (each of ``normalized_shape``), as ``torch.nn.functional.layer_norm``."""
    shape = (normalized_shape,) if np.isscalar(normalized_shape) else tuple(normalized_shape)
    x = as_tensor(input)
    if tuple(x.shape[len(x.shape) - len(shape):]) != shape:
        raise _graph_error(ops_nn.LAYER_NORM, (x,), ValueError(
            f"normalized_shape {shape} is not the input's last axes {x.shape}"))
    out = apply(ops_nn.LAYER_NORM, x, dims=len(shape), eps=float(eps))
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def embedding(input: Any, weight: Any) -> Tensor:
    """The rows of ``weight`` (num_embeddings, dim) at the whole-number indices ``input``."""
    return apply(ops_nn.EMBEDDING, input, weight)


def dropout(input: Any, p: float = 0.5, training: bool = True, seed: int = 0
            ) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1−p).

    The elements dropped come from ``seed``, so a cycle re-run (after an update, or in a
    what-if) drops the same ones; pass a different seed per layer or per iteration to vary them.
    With ``training=False`` it returns ``input`` unchanged, as PyTorch does.
    """
    x = as_tensor(input)
    if not training or p == 0:
        return x
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability has to be in [0, 1), not {p}")
    keep = (np.random.default_rng(seed).random(x.shape) >= p).astype(np.float64)
    keep.setflags(write=False)
    return apply(ops_elementwise.DROPOUT, x, keep=keep, p=float(p))


def relu(input: Any) -> Tensor:
    return apply(ops.RELU, input)


def leaky_relu(input: Any, negative_slope: float = 0.01) -> Tensor:
    return apply(ops_elementwise.LEAKY_RELU, input, negative_slope=float(negative_slope))


def gelu(input: Any) -> Tensor:
    """GELU in its exact (erf) form, PyTorch's default: ``x·Φ(x)``."""
    return apply(ops_elementwise.GELU, input)


def silu(input: Any) -> Tensor:
    return apply(ops_elementwise.SILU, input)


def softplus(input: Any) -> Tensor:
    return apply(ops_elementwise.SOFTPLUS, input)


def sigmoid(input: Any) -> Tensor:
    return apply(ops.SIGMOID, input)


def tanh(input: Any) -> Tensor:
    return apply(ops.TANH, input)


def softmax(input: Any, dim: int = -1) -> Tensor:
    return apply(ops.SOFTMAX, input, axis=dim)


def log_softmax(input: Any, dim: int = -1) -> Tensor:
    return apply(ops_reduce.LOG_SOFTMAX, input, axis=dim)


# The losses under torch's names (each averages, as torch's default reduction="mean").
mse_loss = functional.mse
binary_cross_entropy = functional.bce
binary_cross_entropy_with_logits = functional.bce_with_logits
cross_entropy = functional.cross_entropy

__all__ = ["avg_pool2d", "binary_cross_entropy", "binary_cross_entropy_with_logits", "conv2d",
           "cross_entropy", "dropout", "embedding", "gelu", "layer_norm", "leaky_relu", "linear",
           "log_softmax", "max_pool2d", "mse_loss", "relu", "sigmoid", "silu", "softmax",
           "softplus", "tanh"]
