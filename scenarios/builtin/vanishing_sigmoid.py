"""Vanishing gradients: ten sigmoid neurons in a row, each feeding the next.

Every layer multiplies the gradient on its way back by w·σ'(z), and a sigmoid's slope is at most
0.25, so after nine layers the first weights get about 1/500,000 of the last ones' gradient.
"""

from scenarios.mlp import chain_params, neuron_chain
from tracer import Tensor

TITLE = "Vanishing gradients in a deep sigmoid chain"
DESCRIPTION = (
    "Ten sigmoid neurons in a row, h_k = σ(w_k·h_(k-1) + b_k), all weights 1. Step backward and "
    "watch ∂L/∂h shrink about ×0.22 at every sigmoid (its slope is at most 0.25), until w1 gets "
    "a gradient over 500,000 times smaller than w10's and layer 1 stops learning. "
    "`gradstep check` flags the vanishing gradient at h1; the fix is ReLU or tanh layers, an "
    "initialisation suited to the depth, or fewer layers."
)
LR = 0.5
DEPTH = 10

x = Tensor(1.0, name="x")
target = Tensor(0.2, name="target")
weights, biases = chain_params(1.0, DEPTH)


def forward():
    return neuron_chain(x, target, weights, biases, "sigmoid")


def story(trace):
    first, last = trace.find("w1").grad.item(), trace.find(f"w{DEPTH}").grad.item()
    return (f"h{DEPTH} = {trace.find(f'h{DEPTH}').value.item():.3f} for a target of 0.2; "
            f"∂L/∂w{DEPTH} = {last:.3g} but ∂L/∂w1 = {first:.3g}")
