"""Which PyTorch calls are ops of gradstep's op table, and how their arguments map onto it.

One row per torch function name: the op-table op it is, and how a call's arguments become that
op's inputs and attributes. A call whose arguments do not fit (``reduction="sum"``, a 3-D
matmul) maps to nothing, and the bridge records it as an op computed by PyTorch instead; the
bridge also checks that the op table's forward gives PyTorch's value before it trusts a row.
Adding an op the table learns is one line here.

This module does not import torch: it only looks at arguments (tensors by their ``ndim``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .ops import OPS, Op

# (inputs, attrs): inputs are the call's tensors (or numbers, which become constants).
Operands = tuple[list[Any], dict[str, Any]]
Rule = Callable[[tuple[Any, ...], dict[str, Any], Any], Operands | None]


def _binary(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    if len(args) != 2 or kwargs.get("alpha", 1) != 1 or kwargs.get("rounding_mode"):
        return None
    return [args[0], args[1]], {}


def _reflected(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    # Tensor.__radd__(self, other) computes other + self
    return None if len(args) != 2 or kwargs else ([args[1], args[0]], {})


def _unary(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    return None if len(args) != 1 or kwargs else ([args[0]], {})


def _power(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    if len(args) != 2 or kwargs or not isinstance(args[1], int | float):
        return None
    return [args[0]], {"p": float(args[1])}


def _matrices(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    if len(args) != 2 or kwargs or any(getattr(a, "ndim", 0) not in (1, 2) for a in args):
        return None
    return [args[0], args[1]], {}


def _transpose(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    x = args[0]
    if getattr(x, "ndim", 0) != 2 or kwargs or sorted(args[1:]) not in ([], [0, 1], [-1, 0]):
        return None
    return [x], {}


def _reshape(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    return [args[0]], {"shape": tuple(out.shape)}  # the result's shape, with -1 resolved


def _reduction(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    if len(args) > 2 or kwargs.get("keepdim") or kwargs.get("dtype") is not None:
        return None
    dim = args[1] if len(args) == 2 else kwargs.get("dim")
    if isinstance(dim, list | tuple):
        dim = tuple(dim) if dim else None
    return [args[0]], {"axis": dim}


def _softmax(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    if dim is None or kwargs.get("dtype") is not None:
        return None
    return [args[0]], {"axis": dim}


def _gelu(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    # the table's GELU is the exact one (x Φ(x)), not the tanh approximation
    extra = {k: v for k, v in kwargs.items() if k != "approximate"}
    if len(args) != 1 or extra or kwargs.get("approximate", "none") != "none":
        return None
    return [args[0]], {}


def _softplus(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    beta = args[1] if len(args) > 1 else kwargs.get("beta", 1)
    return [args[0]], {} if beta == 1 else None  # the forward guard covers the threshold


def _leaky_relu(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    slope = args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01)
    if len(args) > 2 or set(kwargs) - {"negative_slope"} or not isinstance(slope, int | float):
        return None
    return [args[0]], {"negative_slope": float(slope)}


def _loss(*allowed: str) -> Rule:
    """A loss with PyTorch's default mean reduction and none of its other options."""

    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
        extra = {k: v for k, v in kwargs.items() if k not in allowed}
        if len(args) != 2 or kwargs.get("reduction", "mean") != "mean" or any(
                v is not None for v in extra.values() if not isinstance(v, str)):
            return None
        return [args[0], args[1]], {}

    return rule


def _index(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    key = args[1]
    parts = key if isinstance(key, tuple) else (key,)
    if kwargs or any(not isinstance(k, int | slice) for k in parts):
        return None  # tensor and boolean indices are left to PyTorch
    return [args[0]], {"key": key}


# torch function name -> (op-table op name, rule). Methods, functions and operators share names
# (Tensor.relu, torch.relu, F.relu); the reflected operators swap their operands.
TABLE: dict[str, tuple[str, Rule]] = {
    "add": ("add", _binary), "__add__": ("add", _binary), "__radd__": ("add", _reflected),
    "sub": ("sub", _binary), "__sub__": ("sub", _binary), "__rsub__": ("sub", _reflected),
    "mul": ("mul", _binary), "__mul__": ("mul", _binary), "__rmul__": ("mul", _reflected),
    "div": ("div", _binary), "__truediv__": ("div", _binary),
    "__rtruediv__": ("div", _reflected), "__rdiv__": ("div", _reflected),
    "true_divide": ("div", _binary),
    "neg": ("neg", _unary), "__neg__": ("neg", _unary),
    "pow": ("pow", _power), "__pow__": ("pow", _power),
    "matmul": ("matmul", _matrices), "__matmul__": ("matmul", _matrices),
    "mm": ("matmul", _matrices), "mv": ("matmul", _matrices),
    "relu": ("relu", _unary), "tanh": ("tanh", _unary), "sigmoid": ("sigmoid", _unary),
    "exp": ("exp", _unary), "log": ("log", _unary),
    "t": ("transpose", _transpose), "T": ("transpose", _transpose),
    "transpose": ("transpose", _transpose),
    "reshape": ("reshape", _reshape), "view": ("reshape", _reshape),
    "flatten": ("reshape", _reshape),
    "sum": ("sum", _reduction), "mean": ("mean", _reduction),
    "softmax": ("softmax", _softmax), "log_softmax": ("log_softmax", _softmax),
    "gelu": ("gelu", _gelu), "silu": ("silu", _unary), "softplus": ("softplus", _softplus),
    "leaky_relu": ("leaky_relu", _leaky_relu),
    "mse_loss": ("mse", _loss()),
    "binary_cross_entropy": ("bce", _loss()),
    "binary_cross_entropy_with_logits": ("bce_logits", _loss()),
    "cross_entropy": ("cross_entropy", _loss()),
    "__getitem__": ("index", _index),
}

# What a call PyTorch computes on its own is for, where its name says (for the graph's layers).
TORCH_ROLES = {
    "linear": "linear", "bilinear": "linear", "addmm": "linear", "bmm": "linear",
    "einsum": "linear", "conv1d": "linear", "conv2d": "linear", "matmul": "linear",
    "max_pool2d": "shape", "avg_pool2d": "shape", "cat": "shape", "stack": "shape",
    "__getitem__": "shape", "reshape": "shape", "view": "shape", "flatten": "shape",
    "permute": "shape", "transpose": "shape", "unsqueeze": "shape", "squeeze": "shape",
    "embedding": "linear", "layer_norm": "elementwise", "masked_fill": "elementwise",
    "gelu": "activation", "silu": "activation", "leaky_relu": "activation",
    "softmax": "activation", "log_softmax": "activation",
    "nll_loss": "loss", "l1_loss": "loss", "smooth_l1_loss": "loss", "huber_loss": "loss",
    "sum": "reduction", "mean": "reduction",
}


def table_op(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any
             ) -> tuple[Op, list[Any], dict[str, Any]] | None:
    """The op-table op for the torch call ``name(*args, **kwargs) -> out`` with its inputs and
    attributes, or ``None`` when the call is not one (or the table has no such op)."""
    row = TABLE.get(name)
    if row is None or row[0] not in OPS:
        return None
    if kwargs.get("inplace") is False:  # F.relu(x, inplace=False), as nn.ReLU calls it
        kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
    operands = row[1](args, kwargs, out)
    if operands is None:
        return None
    return OPS[row[0]], operands[0], operands[1]
