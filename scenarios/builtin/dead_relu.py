"""Dead ReLUs: two of four hidden units output 0 for every example, so they never learn.

A 2-4-1 ReLU network predicting a score from two features. Units 1 and 3 (counting from 0) have
biases so negative, after an earlier learning-rate accident, that their input is below 0 for the
whole batch: ReLU's slope there is 0, and so is every gradient into them.
"""

from scenarios.mlp import dense, named
from tracer import Tensor, mse, param

TITLE = "Dead ReLUs: hidden units that never learn"
DESCRIPTION = (
    "A 2-4-1 ReLU network on six examples in one batch, where hidden units 1 and 3 output 0 for "
    "every example: their biases are so negative (as a too-large update leaves them) that their "
    "input never gets above 0. Step to relu h1 in the backward pass and see ∂L/∂z1 = 0 in those "
    "columns, so W1's columns 1 and 3 and b1[1], b1[3] get no gradient and stay dead. "
    "`gradstep check` flags the dead units at h1; the fix is a smaller learning rate, biases "
    "that start slightly positive, He initialisation or a leaky ReLU."
)
LR = 0.05

X = Tensor([[0.5, 1.0], [1.0, 0.2], [1.5, 1.5], [0.2, 0.8], [2.0, 0.5], [1.0, 1.0]], name="X")
y = Tensor([[1.2], [0.9], [2.4], [0.8], [1.9], [1.6]], name="y")
W1 = param([[0.6, -0.3, 0.4, 0.5], [0.5, 0.2, -0.2, 0.3]], name="W1")
b1 = param([0.1, -2.5, 0.2, -3.0], name="b1")
W2 = param([[0.7], [0.4], [0.5], [0.6]], name="W2")
b2 = param([0.1], name="b2")


def forward():
    h1 = dense(X, W1, b1, 1, "relu")
    yhat = named(dense(h1, W2, b2, 2), "yhat")
    return named(mse(yhat, y), "loss")


def story(trace):
    h1 = trace.find("h1").value
    dead = [str(k) for k in range(h1.shape[1]) if not h1[:, k].any()]
    return (f"hidden units {' and '.join(dead)} output 0 for all {h1.shape[0]} examples; "
            f"predictions {', '.join(f'{p:.2f}' for p in trace.find('yhat').value.ravel())}")
