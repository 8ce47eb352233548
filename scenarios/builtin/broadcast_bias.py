"""Broadcasting a bias over a batch, and why its gradient is a sum over the batch.

``scores = X @ W + b`` adds the same two biases to each of five rows: numpy broadcasts ``b`` from
shape (2,) to (5, 2). Each row then sends its own gradient back to ``b``, and those five
gradients are added up: ∂L/∂b is the column sum of ∂L/∂scores.
"""

import numpy as np

from tracer import Tensor, mse, param

TITLE = "Broadcast bias: a gradient summed over the batch"
DESCRIPTION = (
    "A linear layer on a batch of five examples: scores = X @ W + b, where numpy broadcasts the "
    "bias b of shape (2,) across the five rows. Step to the add node in the backward pass: "
    "every row sends b its own gradient, and the engine sums them over axis 0 back to shape "
    "(2,), so ∂L/∂b is the column sum of ∂L/∂scores. Nothing is wrong here; the bug to avoid "
    "when writing a backward by hand is returning one row, or the mean, instead of that sum."
)
LR = 0.1

X = Tensor([[1.0, 0.5, -0.5], [0.2, -1.0, 0.8], [-0.7, 0.3, 0.6], [0.9, 0.9, -0.2],
            [0.0, -0.4, 1.1]], name="X")
targets = Tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.2], [0.1, 0.9]], name="targets")
W = param([[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]], name="W")
b = param([0.2, -0.1], name="b")


def forward():
    xw = X @ W
    xw.name = "XW"
    scores = xw + b
    scores.name = "scores"
    loss = mse(scores, targets)
    loss.name = "loss"
    return loss


def story(trace):
    rows = trace.find("scores").grad
    total = ", ".join(f"{v:.3f}" for v in np.sum(rows, axis=0))
    return f"∂L/∂b = [{total}], the sum of ∂L/∂scores over the {rows.shape[0]} rows"
