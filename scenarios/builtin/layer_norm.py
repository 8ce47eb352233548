"""A layer norm between two linear layers, and why the mean's gradient cancels.

``layer_norm`` subtracts each row's mean and divides by its standard deviation. Adding the same
number to every feature of a row changes nothing after that, so the loss cannot care about a
row's mean: the gradient that reaches the layer's input sums to 0 across each row, whatever
arrives from above.
"""

import numpy as np

from tracer import Tensor, nn, param

TITLE = "LayerNorm: why the mean's gradient cancels"
DESCRIPTION = (
    "Three examples go through a linear layer, a layer norm (with its own scale and shift), a "
    "GELU and a second linear layer, trained with squared error. Step back through the "
    "layer_norm node: each row of the gradient it passes on sums to 0, because shifting a whole "
    "row by the same amount leaves the normalized row, and so the loss, unchanged. Its scale "
    "and shift get their gradients summed over the batch, like a bias."
)
LR = 0.1

X = Tensor([[0.5, -1.2, 0.3], [1.5, 0.4, -0.7], [-0.3, 0.8, 1.1]], name="X")
targets = Tensor([[1.0], [-0.5], [0.3]], name="targets")
rng = np.random.default_rng(11)
W1 = param(rng.normal(0, 0.6, (3, 4)), name="W1")
b1 = param([0.5, -0.2, 0.1, 0.3], name="b1")  # the layer norm will take the mean back out
gamma = param(np.ones(4), name="gamma")
beta = param(np.zeros(4), name="beta")
W2 = param(rng.normal(0, 0.6, (4, 1)), name="W2")
b2 = param([0.0], name="b2")


def forward():
    z = X @ W1 + b1
    z.name = "z"
    normed = nn.layer_norm(z, 4, gamma, beta)
    normed.name = "normed"
    h = nn.gelu(normed)
    h.name = "h"
    out = h @ W2 + b2
    out.name = "out"
    loss = nn.mse_loss(out, targets)
    loss.name = "loss"
    return loss


def story(trace):
    largest = np.max(np.abs(np.sum(trace.find("z").grad, axis=1)))
    out = ", ".join(f"{v:.2f}" for v in trace.find("out").value.ravel())
    return (f"predicts [{out}] for targets [1, -0.5, 0.3]; each row of ∂L/∂z sums to 0 "
            f"(to within {largest:.0e}, rounding)")
