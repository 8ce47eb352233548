"""Op table entries, layer family: 2-D convolution (with or without a bias), max and average
pooling, layer norm (with or without a weight and a bias), embedding lookup and the fully
connected layer (with or without a bias), in PyTorch's NCHW layout (``tracer.nn`` calls them
with torch's arguments).

Convolution and pooling loop over the kernel's positions, not over the windows: position (i, j)
of every window at once is one strided slice of the image, so a 3×3 kernel is nine numpy
operations on whole arrays however many windows there are (and a convolution is one matrix
product of the weights with those slices stacked: im2col).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .ops import Op, register
from .positions import position_list

Array = np.ndarray
Pair = tuple[int, int]


def _out_size(shape: tuple[int, ...], kernel: Pair, stride: Pair) -> Pair:
    return ((shape[2] - kernel[0]) // stride[0] + 1, (shape[3] - kernel[1]) // stride[1] + 1)


def _positions(shape: tuple[int, ...], kernel: Pair, stride: Pair
               ) -> Iterator[tuple[int, int, tuple[slice, slice, slice, slice]]]:
    """Each kernel position (i, j), with the slice of images of ``shape`` (N, C, H, W) that it
    covers across all windows: ``x[slices]`` has the output's shape (N, C, H_out, W_out)."""
    h_out, w_out = _out_size(shape, kernel, stride)
    everything = slice(None)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            yield i, j, (everything, everything,
                         slice(i, i + stride[0] * (h_out - 1) + 1, stride[0]),
                         slice(j, j + stride[1] * (w_out - 1) + 1, stride[1]))


def _check_images(x: Array, what: str = "the input") -> None:
    if x.ndim != 4:
        raise ValueError(f"{what} must be 4-D, a batch of images (N, C, H, W); it is "
                         f"{x.ndim}-D {x.shape}")


def _check_fits(x: Array, kernel: Pair, padding: Pair = (0, 0)) -> None:
    height, width = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    if height < kernel[0] or width < kernel[1]:
        raise ValueError(f"a {kernel[0]}×{kernel[1]} window does not fit in a {height}×{width} "
                         f"image")


def _pad(x: Array, padding: Pair) -> Array:
    if padding == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))


# --- convolution ------------------------------------------------------------------------------

def _columns(xp: Array, kernel: Pair, stride: Pair) -> Array:
    """im2col: for each image, the inputs each weight multiplies, (N, C·kh·kw, H_out·W_out)."""
    n, c = xp.shape[:2]
    h_out, w_out = _out_size(xp.shape, kernel, stride)
    cols = np.empty((n, c, *kernel, h_out, w_out))
    for i, j, where in _positions(xp.shape, kernel, stride):
        cols[:, :, i, j] = xp[where]
    return cols.reshape(n, c * kernel[0] * kernel[1], h_out * w_out)


# The columns of the last few image batches: a convolution's backward needs the columns its
# forward built, from the very same recorded array (read-only, so the same object means the
# same values). Keyed by the array's id and checked by identity; a few, for a few conv layers.
_RECENT: dict[tuple[int, Pair, Pair, Pair], tuple[Array, Array]] = {}
_RECENT_LIMIT = 4


def _columns_of(x: Array, kernel: Pair, stride: Pair, padding: Pair) -> Array:
    key = (id(x), kernel, stride, padding)
    recent = _RECENT.get(key)
    if recent is not None and recent[0] is x and not x.flags.writeable:
        return recent[1]
    cols = _columns(_pad(x, padding), kernel, stride)
    cols.setflags(write=False)
    if len(_RECENT) >= _RECENT_LIMIT:
        _RECENT.pop(next(iter(_RECENT)), None)
    _RECENT[key] = (x, cols)
    return cols


def _conv2d(x: Array, w: Array, stride: Pair = (1, 1), padding: Pair = (0, 0)) -> Array:
    _check_images(x)
    _check_images(w, "the weight (out_channels, in_channels, kh, kw)")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"the input has {x.shape[1]} channel(s) (axis 1) but the weight expects "
                         f"{w.shape[1]} (its axis 1)")
    _check_fits(x, w.shape[2:], padding)
    cols = _columns_of(x, w.shape[2:], stride, padding)
    h_out, w_out = _out_size(_padded_shape(x, padding), w.shape[2:], stride)
    out = np.empty((x.shape[0], w.shape[0], h_out, w_out))
    np.matmul(w.reshape(w.shape[0], -1), cols,
              out=out.reshape(x.shape[0], w.shape[0], h_out * w_out))
    return out


def _padded_shape(x: Array, padding: Pair) -> tuple[int, ...]:
    return (*x.shape[:2], x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])


def _conv2d_vjp(g: Array, x: Array, w: Array, out: Array, stride: Pair = (1, 1),
                padding: Pair = (0, 0), needs: tuple[bool, bool] = (True, True)
                ) -> tuple[Array | None, Array | None]:
    g2 = g.reshape(g.shape[0], g.shape[1], -1)
    dx = dw = None
    if needs[1]:
        # The kernel's gradient: the correlation of the input with the upstream gradient.
        cols = _columns_of(x, w.shape[2:], stride, padding)
        dw = np.matmul(g2, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    if needs[0]:
        # Each window sends upstream × weight back to the inputs it saw.
        per_position = np.matmul(w.reshape(w.shape[0], -1).T, g2).reshape(
            x.shape[0], x.shape[1], *w.shape[2:], *g.shape[2:])
        dxp = _scatter(per_position, _padded_shape(x, padding), stride)
        dx = dxp[:, :, padding[0]:padding[0] + x.shape[2], padding[1]:padding[1] + x.shape[3]]
    return dx, dw


def _scatter(per_position: Array, shape: tuple[int, ...], stride: Pair) -> Array:
    """The images' gradient from what each kernel position sends back, ``per_position`` of
    shape (N, C, kh, kw, H_out, W_out): windows overlap where the stride is smaller than the
    kernel, and an input in several windows adds up what each sends."""
    dx = np.zeros(shape)
    for i, j, where in _positions(shape, per_position.shape[2:4], stride):
        dx[where] += per_position[:, :, i, j]
    return dx


def _conv2d_detail(x: Array, w: Array, out: Array, stride: Pair = (1, 1),
                   padding: Pair = (0, 0)) -> str:
    n, _, h_out, w_out = out.shape
    return (f"the {w.shape[2]}×{w.shape[3]} kernel slid over {h_out}×{w_out} positions of "
            f"{n} image{'s' if n != 1 else ''}; each weight's gradient adds up input × upstream "
            f"gradient over all {n * h_out * w_out} windows (the correlation of {{x}} with "
            f"∂L/∂out), and each input gets back the weights × the gradients of the windows it "
            f"was in")


CONV2D = register(Op(
    "conv2d", _conv2d,
    ("∂L/∂x = full convolution of ∂L/∂out with the kernel (each window sends ∂L/∂out·W back)",
     "∂L/∂W[o,c,i,j] = Σₙₕᵥ x[n,c,h+i,v+j]·∂L/∂out[n,o,h,v] (input correlated with ∂L/∂out)"),
    "{out} slides the kernel {w} over the images in {x}: each output is the weighted sum of one "
    "window; the kernel's gradient is the input correlated with the upstream gradient",
    vjp=_conv2d_vjp, symbol="conv2d({x}, {w})", letters=("x", "w"), role="linear",
    detail=_conv2d_detail, selective=True, feature_axis=1,
    accepts="images x (N, C, H, W) and a weight (out_channels, C, kh, kw) with the same C, "
            "the kernel no larger than the padded image"))


def _conv2d_bias(x: Array, w: Array, b: Array, stride: Pair = (1, 1),
                 padding: Pair = (0, 0)) -> Array:
    if b.shape != (w.shape[0],):
        raise ValueError(f"the bias must have one number per output channel, ({w.shape[0]},); "
                         f"it is {b.shape}")
    return _conv2d(x, w, stride, padding) + b.reshape(1, -1, 1, 1)


def _conv2d_bias_vjp(g: Array, x: Array, w: Array, b: Array, out: Array,
                     stride: Pair = (1, 1), padding: Pair = (0, 0),
                     needs: tuple[bool, bool, bool] = (True, True, True)
                     ) -> tuple[Array | None, Array | None, Array | None]:
    dx, dw = _conv2d_vjp(g, x, w, out, stride, padding, needs[:2])
    # each channel's bias is added at every position of every image
    return dx, dw, g.sum(axis=(0, 2, 3)) if needs[2] else None


# PyTorch's nn.Conv2d (a bias by default) as one op; tracer.nn.conv2d shows the bias as its own
# add instead.
CONV2D_BIAS = register(Op(
    "conv2d_bias", _conv2d_bias,
    (*CONV2D.formulas, "∂L/∂b[o] = Σₙₕᵥ ∂L/∂out[n,o,h,v] (the channel's gradient, summed)"),
    "{out} slides the kernel {w} over the images in {x} and adds each channel's bias {b}: each "
    "output is the weighted sum of one window plus its bias; the kernel's gradient is the input "
    "correlated with the upstream gradient, the bias's the upstream gradient summed per channel",
    vjp=_conv2d_bias_vjp, symbol="conv2d({x}, {w}) + {b}", letters=("x", "w", "b"),
    role="linear", detail=lambda x, w, b, out, **attrs: _conv2d_detail(x, w, out, **attrs),
    selective=True, feature_axis=1, accepts=CONV2D.accepts + ", and a bias (out_channels,)"))


# --- pooling ----------------------------------------------------------------------------------

def _max_pool2d(x: Array, kernel: Pair, stride: Pair) -> Array:
    _check_images(x)
    _check_fits(x, kernel)
    out = None
    for _, _, where in _positions(x.shape, kernel, stride):
        out = x[where].copy() if out is None else np.maximum(out, x[where], out=out)
    return out


def _max_pool2d_vjp(g: Array, x: Array, out: Array, kernel: Pair, stride: Pair
                    ) -> tuple[Array]:
    # Each window's gradient goes to its largest input; where several tie, to the first in
    # row-major order, the one PyTorch picks: once a position has taken a window's gradient,
    # nothing remains for the later ones.
    dx = np.zeros(x.shape)
    overlapping = stride[0] < kernel[0] or stride[1] < kernel[1]
    finite = bool(np.isfinite(g).all())  # then a product with the mask is exact, and faster
    remaining = g
    for _, _, where in _positions(x.shape, kernel, stride):
        hit = x[where] == out
        sent = remaining * hit if finite else np.where(hit, remaining, 0.0)
        if overlapping:  # an input in several windows adds up what each sends
            dx[where] += sent
        else:
            dx[where] = sent
        remaining = remaining - sent if finite else np.where(hit, 0.0, remaining)
    return (dx,)


def _max_pool2d_detail(x: Array, out: Array, kernel: Pair, stride: Pair) -> str:
    got = _max_pool2d_vjp(np.ones(out.shape), x, out, kernel, stride)[0] > 0
    # (row, column) for one image of one channel, else (image, channel, row, column)
    where = position_list(got[0, 0]) if x.shape[:2] == (1, 1) else position_list(got, limit=8)
    return (f"each {kernel[0]}×{kernel[1]} window sends its gradient to its largest input (the "
            f"first one where tied, as PyTorch does); the winners are at {where} of {{x}}, and "
            f"every other input gets 0")


MAX_POOL2D = register(Op(
    "max_pool2d", _max_pool2d,
    ("∂max-pool/∂x = 1 at each window's largest input, 0 elsewhere",),
    "{out} keeps the largest value of each window of {x}; only the winning inputs get gradient",
    vjp=_max_pool2d_vjp, symbol="max_pool2d({x})", letters=("x",), role="reduction",
    detail=_max_pool2d_detail, picks=True,
    accepts="images (N, C, H, W) at least as large as the window"))


def _avg_pool2d(x: Array, kernel: Pair, stride: Pair) -> Array:
    _check_images(x)
    _check_fits(x, kernel)
    return sum(x[where] for _, _, where in _positions(x.shape, kernel, stride)) / (
        kernel[0] * kernel[1])


def _avg_pool2d_vjp(g: Array, x: Array, out: Array, kernel: Pair, stride: Pair
                    ) -> tuple[Array]:
    share = g / (kernel[0] * kernel[1])
    dx = np.zeros(x.shape)
    for _, _, where in _positions(x.shape, kernel, stride):
        dx[where] += share
    return (dx,)


AVG_POOL2D = register(Op(
    "avg_pool2d", _avg_pool2d,
    ("∂avg-pool/∂x = 1/(kh·kw) for each input of the window",),
    "{out} averages each window of {x}; every input of a window gets an equal share of its "
    "gradient", vjp=_avg_pool2d_vjp, symbol="avg_pool2d({x})", letters=("x",),
    role="reduction", accepts="images (N, C, H, W) at least as large as the window"))


# --- layer norm -------------------------------------------------------------------------------

def _norm_axes(x: Array, dims: int) -> tuple[int, ...]:
    return tuple(range(x.ndim - dims, x.ndim))


def _layer_norm(x: Array, dims: int, eps: float) -> Array:
    axes = _norm_axes(x, dims)
    centred = x - np.mean(x, axis=axes, keepdims=True)
    return centred / np.sqrt(np.mean(centred * centred, axis=axes, keepdims=True) + eps)


def _layer_norm_vjp(g: Array, x: Array, out: Array, dims: int, eps: float) -> tuple[Array]:
    axes = _norm_axes(x, dims)
    scale = np.sqrt(np.var(x, axis=axes, keepdims=True) + eps)
    # Shifting a whole row leaves the output unchanged, so the gradient loses its mean; scaling
    # it does too, so it loses its component along the output (x̂).
    return ((g - np.mean(g, axis=axes, keepdims=True)
             - out * np.mean(g * out, axis=axes, keepdims=True)) / scale,)


LAYER_NORM = register(Op(
    "layer_norm", _layer_norm,
    ("∂L/∂x = (g − mean(g) − x̂·mean(g·x̂)) / √(var + ε)",),
    "{out} normalizes {x} over its last axes (subtract the mean, divide by the standard "
    "deviation); adding the same amount to a whole row changes nothing, so the row's gradients "
    "lose their mean and sum to 0",
    vjp=_layer_norm_vjp, symbol="layer_norm({x})", letters=("x",), role="normalization",
    accepts="an input whose last axes have the normalized shape"))


def _check_affine(x: Array, w: Array, b: Array, dims: int) -> None:
    if w.shape != x.shape[x.ndim - dims:] or b.shape != w.shape:
        raise ValueError(f"the weight and the bias must have the normalized shape "
                         f"{x.shape[x.ndim - dims:]}; they are {w.shape} and {b.shape}")


def _layer_norm_affine(x: Array, w: Array, b: Array, dims: int, eps: float) -> Array:
    _check_affine(x, w, b, dims)
    return _layer_norm(x, dims, eps) * w + b


def _layer_norm_affine_vjp(g: Array, x: Array, w: Array, b: Array, out: Array, dims: int,
                           eps: float) -> tuple[Array, Array, Array]:
    normalized = _layer_norm(x, dims, eps)
    batch = tuple(range(x.ndim - dims))  # every row shares the weight and the bias
    dx = _layer_norm_vjp(g * w, x, normalized, dims, eps)[0]
    return dx, np.sum(g * normalized, axis=batch), np.sum(g, axis=batch)


# PyTorch's nn.LayerNorm (a weight and a bias by default) as one op; tracer.nn.layer_norm shows
# them as a mul and an add.
LAYER_NORM_AFFINE = register(Op(
    "layer_norm_affine", _layer_norm_affine,
    ("∂L/∂x = (g·γ − mean(g·γ) − x̂·mean(g·γ·x̂)) / √(var + ε)",
     "∂L/∂γ = Σ over the rows of ∂L/∂out · x̂",
     "∂L/∂β = Σ over the rows of ∂L/∂out"),
    "{out} normalizes {x} over its last axes (x̂: subtract the mean, divide by the standard "
    "deviation), then scales by {w} and shifts by {b}; adding the same amount to a whole row of "
    "{x} changes nothing, so the row's gradients sum to 0",
    vjp=_layer_norm_affine_vjp, symbol="layer_norm({x}) · {w} + {b}", letters=("x", "w", "b"),
    role="normalization",
    accepts="an input whose last axes have the normalized shape, and a weight and a bias of "
            "that shape"))


# --- embedding --------------------------------------------------------------------------------

def _rows(indices: Array, weight: Array) -> Array:
    rows = indices.astype(np.intp)
    if not np.array_equal(rows, indices):
        raise ValueError("indices must be whole numbers")
    if weight.ndim != 2:
        raise ValueError(f"the weight must be 2-D (rows, features); it is {weight.ndim}-D")
    if rows.size and (rows.min() < 0 or rows.max() >= weight.shape[0]):
        raise ValueError(f"an index is outside 0 … {weight.shape[0] - 1}, the weight's rows")
    return rows


def _embedding_vjp(g: Array, indices: Array, weight: Array, out: Array) -> tuple[None, Array]:
    dw = np.zeros_like(weight)
    np.add.at(dw, _rows(indices, weight), g)  # a row looked up twice gets both gradients
    return None, dw


EMBEDDING = register(Op(
    "embedding", lambda indices, weight: weight[_rows(indices, weight)],
    ("indices pick rows: they get no gradient",
     "∂L/∂W[r] = Σ of ∂L/∂out over the places that looked up row r"),
    "{out} looks up the rows of {w} at the indices {i}; each row used gets the gradient of "
    "every place that used it", vjp=_embedding_vjp, symbol="{w}[{i}]", letters=("i", "w"),
    role="shape", accepts="whole-number indices (any shape) into the rows of a 2-D weight",
    no_gradient="they are indices, which rows to pick, not values"))


# --- fully connected layer --------------------------------------------------------------------

def _check_linear(x: Array, w: Array, b: Array | None = None) -> None:
    if (w.ndim != 2 or (b is not None and b.shape != (w.shape[0],)) or x.ndim < 1
            or x.shape[-1] != w.shape[1]):
        raise ValueError(f"the weight must be (out_features, in_features), the bias "
                         f"(out_features,) and the input's last axis in_features; got "
                         f"{x.shape}, {w.shape}"
                         + ("" if b is None else f" and {b.shape}"))


def _linear(x: Array, w: Array, b: Array) -> Array:
    _check_linear(x, w, b)
    return x @ w.T + b


def _linear_no_bias(x: Array, w: Array) -> Array:
    _check_linear(x, w)
    return x @ w.T


def _linear_no_bias_vjp(g: Array, x: Array, w: Array, out: Array) -> tuple[Array, Array]:
    # every axis but the last is the batch: the weight's gradient adds up over all of it
    return g @ w, g.reshape(-1, w.shape[0]).T @ x.reshape(-1, w.shape[1])


def _linear_vjp(g: Array, x: Array, w: Array, b: Array, out: Array
                ) -> tuple[Array, Array, Array]:
    return (*_linear_no_bias_vjp(g, x, w, out), g.reshape(-1, w.shape[0]).sum(axis=0))


# PyTorch's nn.Linear as one op (F.linear maps onto it). gradstep's own tracer.nn.linear shows
# the same layer as its three steps (transpose, matmul, the bias's add).
LINEAR = register(Op(
    "linear", _linear,
    ("∂L/∂x = ∂L/∂out · W",
     "∂L/∂W = (∂L/∂out)ᵀ · x, summed over the batch",
     "∂L/∂b = ∂L/∂out, summed over the batch"),
    "{out} is the fully connected layer {x} · {w}ᵀ + {b}: each output is a weighted sum of the "
    "inputs plus its bias; a weight's gradient is its input times the output's gradient and a "
    "bias's is the output's gradient, each summed over the batch",
    vjp=_linear_vjp, symbol="{x} · {w}ᵀ + {b}", letters=("x", "w", "b"), role="linear",
    feature_axis=-1,
    accepts="an input (…, in_features), a weight (out_features, in_features) and a bias "
            "(out_features,)"))

# nn.Linear(bias=False) as one op.
LINEAR_NO_BIAS = register(Op(
    "linear_no_bias", _linear_no_bias, LINEAR.formulas[:2],
    "{out} is the fully connected layer {x} · {w}ᵀ, without a bias: each output is a weighted "
    "sum of the inputs; a weight's gradient is its input times the output's gradient, summed "
    "over the batch",
    vjp=_linear_no_bias_vjp, symbol="{x} · {w}ᵀ", letters=("x", "w"), role="linear",
    feature_axis=-1,
    accepts="an input (…, in_features) and a weight (out_features, in_features)"))
