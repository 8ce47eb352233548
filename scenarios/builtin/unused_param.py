"""An unused parameter: the output bias b2 is defined but forward() never adds it.

The network still trains, but it can only fit targets whose mean its hidden layer can reach;
b2 gets no gradient because the loss does not depend on it at all.
"""

from scenarios.mlp import dense, named
from tracer import Tensor, mse, param

TITLE = "An unused parameter: a bias that is never added"
DESCRIPTION = (
    "A 2-3-1 tanh regression whose output bias b2 is defined but never added in forward(), a "
    "one-line slip that raises no error. The loss does not depend on b2, so it is not in the "
    "graph, gets no gradient and never moves, while the targets sit around 3 and the output "
    "layer has to reach them without it. `gradstep check` reports b2 as unused; the fix is "
    "`yhat = h1 @ W2 + b2`."
)
LR = 0.02

X = Tensor([[0.1, 0.5], [0.4, 0.2], [0.8, 0.9], [0.3, 0.7], [0.9, 0.1]], name="X")
y = Tensor([[2.8], [3.0], [3.5], [3.1], [3.2]], name="y")
W1 = param([[0.5, -0.4, 0.3], [0.2, 0.6, -0.5]], name="W1")
b1 = param([0.0, 0.1, -0.1], name="b1")
W2 = param([[1.2], [0.8], [-0.6]], name="W2")
b2 = param([0.0], name="b2")


def forward():
    h1 = dense(X, W1, b1, 1, "tanh")
    yhat = named(h1 @ W2, "yhat")  # the bug: + b2 is missing
    return named(mse(yhat, y), "loss")


def story(trace):
    predictions = ", ".join(f"{p:.2f}" for p in trace.find("yhat").value.ravel())
    return f"predicts [{predictions}] for targets around 3; b2 stays {b2.data.item():g}"
