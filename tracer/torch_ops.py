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

# (inputs, attrs): inputs are the call's tensors (or numbers, which become constants). A rule
# whose arguments pick among the table's variants of a layer (conv2d with or without a bias)
# adds the op's name: (inputs, attrs, name).
Operands = tuple[list[Any], dict[str, Any]] | tuple[list[Any], dict[str, Any], str]
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


def _loss(**defaults: Any) -> Rule:
    """A loss with PyTorch's default mean reduction and its other options at their defaults:
    ``defaults``, besides those whose default is ``None`` (not given: a weight)."""
    defaults = {"reduction": "mean", **defaults}

    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
        # F.cross_entropy passes every option on (ignore_index=-100, label_smoothing=0.0)
        if len(args) != 2 or any(v is not None and (k not in defaults or v != defaults[k])
                                 for k, v in kwargs.items()):
            return None
        return [args[0], args[1]], {}

    return rule


def _index(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    key = args[1]
    parts = key if isinstance(key, tuple) else (key,)
    if kwargs or any(not isinstance(k, int | slice) for k in parts):
        return None  # tensor and boolean indices are left to PyTorch
    return [args[0]], {"key": key}


def _bound(args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...],
           **defaults: Any) -> dict[str, Any] | None:
    """The call's arguments by parameter name (``names``, in PyTorch's order), defaults filled
    in; ``None`` when the call has more or other arguments, or misses one."""
    if len(args) > len(names) or set(kwargs) - set(names):
        return None
    bound = {**defaults, **dict(zip(names, args, strict=False)), **kwargs}
    return bound if all(n in bound for n in names) else None


def _pair(value: Any) -> tuple[int, int] | None:
    """PyTorch's ``int or (int, int)`` (a kernel size, a stride) as a pair, else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


def _dims(dim: Any) -> Any:
    """A reduction's ``dim`` as numpy's ``axis`` (``()``, ``[]`` or ``None``: every axis)."""
    if isinstance(dim, list | tuple):
        return tuple(dim) if dim else None
    return dim


def _conv2d(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    # the table's convolutions have no dilation, no groups, and numbers as padding
    a = _bound(args, kwargs, ("input", "weight", "bias", "stride", "padding", "dilation",
                              "groups"), bias=None, stride=1, padding=0, dilation=1, groups=1)
    if (a is None or _pair(a["dilation"]) != (1, 1) or a["groups"] != 1
            or _pair(a["stride"]) is None or _pair(a["padding"]) is None):
        return None
    attrs = {"stride": _pair(a["stride"]), "padding": _pair(a["padding"])}
    if a["bias"] is None:
        return [a["input"], a["weight"]], attrs
    return [a["input"], a["weight"], a["bias"]], attrs, "conv2d_bias"


def _pool(*extra: str, **defaults: Any) -> Rule:
    """max_pool2d or avg_pool2d with no padding, rounding down: the table's windows."""

    def rule(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
        a = _bound(args, kwargs, ("input", "kernel_size", "stride", "padding", *extra),
                   stride=None, padding=0, **defaults)
        if a is None or _pair(a["padding"]) != (0, 0) or any(
                a[k] != v for k, v in defaults.items()):
            return None
        kernel = _pair(a["kernel_size"])
        stride = kernel if a["stride"] in (None, [], ()) else _pair(a["stride"])
        if kernel is None or stride is None:
            return None
        return [a["input"]], {"kernel": kernel, "stride": stride}

    return rule


def _linear(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    a = _bound(args, kwargs, ("input", "weight", "bias"), bias=None)
    if a is None:
        return None
    if a["bias"] is None:
        return [a["input"], a["weight"]], {}, "linear_no_bias"
    return [a["input"], a["weight"], a["bias"]], {}


def _layer_norm(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    # the table has layer norm with neither or both of a weight and a bias
    a = _bound(args, kwargs, ("input", "normalized_shape", "weight", "bias", "eps"),
               weight=None, bias=None, eps=1e-5)
    if a is None or (a["weight"] is None) != (a["bias"] is None):
        return None
    shape = a["normalized_shape"]
    attrs = {"dims": len(shape) if isinstance(shape, list | tuple) else 1,
             "eps": float(a["eps"])}
    if a["weight"] is None:
        return [a["input"]], attrs
    return [a["input"], a["weight"], a["bias"]], attrs, "layer_norm_affine"


def _embedding(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    a = _bound(args, kwargs, ("input", "weight", "padding_idx", "max_norm", "norm_type",
                              "scale_grad_by_freq", "sparse"), padding_idx=None,
               max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False)
    if (a is None or a["padding_idx"] is not None or a["max_norm"] is not None
            or a["scale_grad_by_freq"] or a["sparse"]
            or getattr(a["input"], "is_floating_point", lambda: True)()):
        return None  # (torch.embedding(weight, indices) has them the other way round)
    return [a["input"], a["weight"]], {}


def _joined(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    a = _bound(args, kwargs, ("tensors", "dim"), dim=0)
    if a is None or not isinstance(a["tensors"], list | tuple) or not isinstance(a["dim"], int):
        return None
    return list(a["tensors"]), {"axis": a["dim"]}


def _where(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    if len(args) != 3 or kwargs:
        return None
    if str(getattr(args[0], "dtype", "")) == "torch.bool":  # torch.where(condition, x, y)
        return [args[0], args[1], args[2]], {}
    return [args[1], args[0], args[2]], {}  # x.where(condition, y)


def _extreme(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    # max(x), amax(x, dim, keepdim); max(x, dim) gives values and indices (a node each,
    # computed by PyTorch)
    a = _bound(args, kwargs, ("input", "dim", "keepdim"), dim=(), keepdim=False)
    if (a is None or not isinstance(a["keepdim"], bool)
            or not isinstance(a["dim"], int | list | tuple)):
        return None  # (max(x, y) is the elementwise maximum)
    return [a["input"]], {"axis": _dims(a["dim"]), "keepdims": a["keepdim"]}


def _spread(args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Operands | None:
    # the table's var and std divide by N - correction: PyTorch's default is 1, unbiased=False
    # is 0
    if len(args) > 2 or set(kwargs) - {"dim", "correction", "unbiased", "keepdim"}:
        return None
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    correction = kwargs.get("correction")
    if correction is None:
        correction = 0 if kwargs.get("unbiased", True) is False else 1
    keepdim = kwargs.get("keepdim", False)
    if (isinstance(dim, bool) or isinstance(correction, bool)
            or not isinstance(correction, int | float) or not isinstance(keepdim, bool)):
        return None  # (var(x, False) is var(x, unbiased=False): left to PyTorch)
    return [args[0]], {"axis": _dims(dim), "keepdims": keepdim, "correction": float(correction)}


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
    "cross_entropy": ("cross_entropy", _loss(ignore_index=-100, label_smoothing=0.0)),
    "__getitem__": ("index", _index),
    "linear": ("linear", _linear),
    "conv2d": ("conv2d", _conv2d),
    "max_pool2d": ("max_pool2d", _pool("dilation", "ceil_mode", "return_indices", dilation=1,
                                       ceil_mode=False, return_indices=False)),
    "avg_pool2d": ("avg_pool2d", _pool("ceil_mode", "count_include_pad", "divisor_override",
                                       ceil_mode=False, count_include_pad=True,
                                       divisor_override=None)),
    "layer_norm": ("layer_norm", _layer_norm),
    "embedding": ("embedding", _embedding),
    "stack": ("stack", _joined),
    "cat": ("concatenate", _joined), "concat": ("concatenate", _joined),
    "concatenate": ("concatenate", _joined),
    "where": ("where", _where),
    "max": ("max", _extreme), "amax": ("max", _extreme),
    "min": ("min", _extreme), "amin": ("min", _extreme),
    "var": ("var", _spread), "std": ("std", _spread),
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

# The axis of a call's result whose index is one unit (see Op.feature_axis), for calls that
# PyTorch computes (convolutions the op table does not have: conv1d, groups, dilation).
TORCH_FEATURE_AXES = {
    "conv1d": 1, "conv2d": 1, "conv3d": 1, "conv_transpose1d": 1, "conv_transpose2d": 1,
    "conv_transpose3d": 1, "linear": -1, "bilinear": -1, "addmm": -1, "matmul": -1, "bmm": -1,
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
    op = OPS.get(operands[2] if len(operands) == 3 else row[0])
    return None if op is None else (op, operands[0], operands[1])
