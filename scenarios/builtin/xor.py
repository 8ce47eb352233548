"""XOR: the classic problem no single neuron can solve, learned by a 2-4-1 network.

One step barely moves the loss; run many (`gradstep trace xor --steps 300`, or keep pressing
`u` then `r` in the debugger) and watch the predictions separate.
"""

from scenarios.mlp import dense, named
from tracer import Tensor, bce, param

TITLE = "XOR: learning over many iterations"
DESCRIPTION = (
    "A 2-4-1 network (tanh hidden layer, sigmoid output, binary cross-entropy) learns XOR from "
    "its four examples, all in one batch. One update barely moves the loss, but a few hundred "
    "take it from 0.72 to near 0: step through one, then train with --steps and watch it fall."
)
LR = 1.0

X = Tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], name="X")
y = Tensor([[0.0], [1.0], [1.0], [0.0]], name="y")
# Small fixed starting weights (drawn once, uniform in ±1, rounded), so every run is the same.
W1 = param([[0.27, -0.46, -0.92, -0.97], [0.63, 0.83, 0.21, 0.46]], name="W1")
b1 = param([0.0, 0.0, 0.0, 0.0], name="b1")
W2 = param([[0.09], [0.87], [0.63], [-0.99]], name="W2")
b2 = param([0.0], name="b2")


def forward():
    h1 = dense(X, W1, b1, 1, "tanh")
    yhat = named(dense(h1, W2, b2, 2, "sigmoid"), "yhat")
    return named(bce(yhat, y), "loss")


def story(trace):
    predictions = ", ".join(f"{p:.2f}" for p in trace.find("yhat").value.ravel())
    return f"predicts [{predictions}] for the targets [0, 1, 1, 0]"
