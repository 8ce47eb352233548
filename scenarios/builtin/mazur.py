"""Matt Mazur's "A Step by Step Backpropagation Example" (2015), with its published numbers.

Two inputs, two sigmoid hidden neurons, two sigmoid outputs; every weight is its own scalar node,
so each line of the post is one step here. Biases are constants, as in the post (it does not
update them). Published: total error 0.298371109; after one update w5 = 0.35891648,
w1 = 0.149780716, and the total error is 0.291027924.
"""

from tracer import Tensor, param

TITLE = "Matt Mazur's worked example"
DESCRIPTION = (
    "The 2-2-2 sigmoid network from Matt Mazur's step-by-step backpropagation post, with its "
    "published weights, so every number can be checked against the post. Each weight is its own "
    "scalar node: follow dE/dw5 = 0.0822 through out_o1 and net_o1, then see w1's gradient "
    "gather contributions from both outputs."
)
LR = 0.5

i1 = Tensor(0.05, name="i1")
i2 = Tensor(0.10, name="i2")
w1, w2, w3, w4 = (param(v, name=f"w{k}") for k, v in enumerate((0.15, 0.20, 0.25, 0.30), 1))
w5, w6, w7, w8 = (param(v, name=f"w{k}") for k, v in enumerate((0.40, 0.45, 0.50, 0.55), 5))
b1 = Tensor(0.35, name="b1", kind="constant")
b2 = Tensor(0.60, name="b2", kind="constant")
target_o1 = Tensor(0.01, name="target_o1")
target_o2 = Tensor(0.99, name="target_o2")


def weighted(w, x):
    """``w · x``, named so (``w5·out_h1``)."""
    product = w * x
    product.name = f"{w.name}·{x.name}"
    return product


def neuron(name, first, second, bias):
    """``out = σ(net)``, ``net = first + second + bias``; named as in the post."""
    weighted_sum = first + second
    weighted_sum.name = f"weighted_{name}"
    net = weighted_sum + bias
    net.name = f"net_{name}"
    out = net.sigmoid()
    out.name = f"out_{name}"
    return out


def half_squared_error(name, target, out):
    diff = target - out
    diff.name = f"diff_{name}"
    squared = diff ** 2
    squared.name = f"{diff.name}²"
    error = 0.5 * squared
    error.name = f"E_{name}"
    return error


def forward():
    out_h1 = neuron("h1", weighted(w1, i1), weighted(w2, i2), b1)
    out_h2 = neuron("h2", weighted(w3, i1), weighted(w4, i2), b1)
    out_o1 = neuron("o1", weighted(w5, out_h1), weighted(w6, out_h2), b2)
    out_o2 = neuron("o2", weighted(w7, out_h1), weighted(w8, out_h2), b2)
    total = half_squared_error("o1", target_o1, out_o1) + half_squared_error("o2", target_o2,
                                                                               out_o2)
    total.name = "E_total"
    return total


def story(trace):
    o1, o2 = (trace.find(f"out_o{k}").value.item() for k in (1, 2))
    return f"outputs {o1:.4f} and {o2:.4f}; the targets are 0.01 and 0.99"
