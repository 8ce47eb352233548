"""Networks written the way users write them, for the tests of ``gradstep check``: numpy-style
attention with a causal mask, MLPs with a mean or a summed loss, a bias with one value per
example, a wide custom op, and a long scalar chain. Each returns a :class:`tracer.Network`."""

from __future__ import annotations

import numpy as np

from tracer import CustomOp, Network, Tensor, mse, param, softmax
from tracer.optim import SGD


def attention(mask_value: float = -np.inf, tokens: int = 6, width: int = 4,
              seed: int = 0) -> Network:
    """One causal self-attention head on a (tokens, width) sequence, with an MSE loss: scores
    q·kᵀ/√d plus a mask of ``mask_value`` above the diagonal (a constant array), then softmax."""
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((tokens, width)), name="x")
    wq, wk, wv = (param(rng.standard_normal((width, width)) * 0.5, name=n)
                  for n in ("Wq", "Wk", "Wv"))
    target = Tensor(rng.standard_normal((tokens, width)), name="target")
    mask = Tensor(np.triu(np.full((tokens, tokens), mask_value), k=1), name="mask")

    def forward():
        q, k, v = x @ wq, x @ wk, x @ wv
        scores = (q @ k.T) * (1 / np.sqrt(width)) + mask
        scores.name = "scores"
        weights = softmax(scores, axis=-1)
        weights.name = "weights"
        return mse(weights @ v, target)

    return Network(forward, name="attention", params=[wq, wk, wv])


def mlp(batch: int = 32, summed: bool = False, lr: float = 0.1, bias_rows: int = 1,
        seed: int = 0) -> Network:
    """A 3-8-1 tanh MLP on a batch of ``batch`` examples, squared error averaged over the batch
    (or ``summed``), and an output bias of shape (``bias_rows``, 1)."""
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((batch, 3)), name="x")
    y = Tensor(rng.standard_normal((batch, 1)), name="y")
    w1 = param(rng.standard_normal((3, 8)) * 0.5, name="W1")
    b1 = param(np.zeros((1, 8)), name="b1")
    w2 = param(rng.standard_normal((8, 1)) * 0.5, name="W2")
    b2 = param(np.zeros((bias_rows, 1)), name="b2")

    def forward():
        hidden = (x @ w1 + b1).tanh()
        hidden.name = "hidden"
        errors = (hidden @ w2 + b2 - y) ** 2
        errors.name = "errors"
        return errors.sum() if summed else errors.mean()

    return Network(forward, name="mlp", optimizer=SGD(lr), params=[w1, b1, w2, b2])


def diverged() -> Network:
    """The summed-loss MLP trained with too large a learning rate until its weights are NaN."""
    network = mlp(summed=True, lr=0.5)
    while all(np.all(np.isfinite(p.data)) for p in network.params):
        network.cycle()
    return network


def row_norm(right: bool) -> type[CustomOp]:
    """x / ‖row‖ as a structural custom op; unless ``right``, its backward forgets the norm's own
    dependence on x (it misses −x̂(x̂·g)/‖x‖)."""

    class RowNorm(CustomOp):
        formulas = ("∂(x/‖x‖)/∂x = (I − x̂x̂ᵀ)/‖x‖",)
        sentence = "{out} scales each row of {x} to length 1"

        def forward(x):
            return x / np.linalg.norm(x, axis=-1, keepdims=True)

        def backward(g, x, out):
            norm = np.linalg.norm(x, axis=-1, keepdims=True)
            missing = out * np.sum(g * out, axis=-1, keepdims=True) if right else 0.0
            return ((g - missing) / norm,)

    return RowNorm


def wide_custom_op(right: bool = False, rows: int = 64, width: int = 40) -> Network:
    """A (64, 40) = 2,560-element input through :func:`row_norm`'s op."""
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((rows, width)), name="x")
    w = param(rng.standard_normal((width, width)) * 0.3, name="W")
    target = Tensor(rng.standard_normal((rows, width)), name="target")
    op = row_norm(right)

    def forward():
        unit = op.apply(x @ w)
        unit.name = "unit"
        return mse(unit, target)

    return Network(forward, name="wide", params=[w])
