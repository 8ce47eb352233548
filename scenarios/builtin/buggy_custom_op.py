"""A custom op with a wrong backward: LeCun's scaled tanh forgets the chain rule's inner factor.

The forward is f(x) = 1.7159·tanh(2x/3). Its derivative is 1.7159·(2/3)·(1 − tanh²(2x/3)), but the
hand-written ``local`` leaves out the 2/3 that comes from differentiating 2x/3, so every gradient
through the hidden layer is 1.5 times too large. Training still runs, which is why such bugs
survive; the gradient check finds it.
"""

import numpy as np

from scenarios.mlp import dense, named
from tracer import CustomOp, Tensor, mse, param

TITLE = "A custom op whose backward is wrong"
DESCRIPTION = (
    "The hidden layer uses a custom op, LeCun's scaled tanh 1.7159·tanh(2x/3), whose hand-written "
    "derivative forgets the inner factor 2/3 of the chain rule. Nothing crashes and the loss "
    "still falls, but every gradient through the op is 1.5 times too large, which is how such "
    "bugs survive. `gradstep check` compares the op's local derivative with finite differences "
    "at node h1 and shows both side by side; the fix is the missing factor in local()."
)
LR = 0.05


class ScaledTanh(CustomOp):
    """LeCun's scaled tanh, 1.7159·tanh(2x/3), with a bug in its derivative."""

    formulas = "∂(1.7159·tanh(2x/3))/∂x = 1.7159·(2/3)·(1 − tanh²(2x/3))"
    sentence = "{out} is LeCun's scaled tanh of {x}, 1.7159·tanh(2x/3)"

    def forward(x):
        return 1.7159 * np.tanh(2.0 * x / 3.0)

    def local(x, out):
        t = out / 1.7159
        return 1.7159 * (1.0 - t * t)  # the bug: the chain rule's inner factor 2/3 is missing


X = Tensor([[0.2, 0.9], [0.7, 0.1], [0.5, 0.5], [0.9, 0.8]], name="X")
y = Tensor([[0.6], [0.3], [0.5], [0.9]], name="y")
W1 = param([[0.4, -0.6, 0.8], [0.7, 0.3, -0.2]], name="W1")
b1 = param([0.1, -0.1, 0.05], name="b1")
W2 = param([[0.5], [-0.4], [0.3]], name="W2")
b2 = param([0.2], name="b2")


def forward():
    h1 = dense(X, W1, b1, 1, ScaledTanh.apply)
    yhat = named(dense(h1, W2, b2, 2), "yhat")
    return named(mse(yhat, y), "loss")


def story(trace):
    predictions = ", ".join(f"{p:.2f}" for p in trace.find("yhat").value.ravel())
    return f"predicts [{predictions}] for targets [0.6, 0.3, 0.5, 0.9]"
