"""Exploding gradients: eight tanh neurons in a row whose weights are all 3.

Starting from a small input, each layer triples the signal on the way forward and (while tanh is
still in its straight middle) triples the gradient on the way back, so b1's gradient is about a
thousand times b8's and one update throws the first layers into tanh's flat tails.
"""

from scenarios.mlp import chain_params, neuron_chain
from tracer import Tensor

TITLE = "Exploding gradients from large weights"
DESCRIPTION = (
    "Eight tanh neurons in a row whose weights are all 3, three times a sensible scale. On the "
    "way back each layer multiplies the gradient by about 3, so ∂L/∂h1 is over a thousand times "
    "∂L/∂h8, b1's gradient is huge, and one update throws the early layers into tanh's flat "
    "tails: the loss jumps up instead of down. `gradstep check` flags the exploding gradient at "
    "h1; the fix is smaller initial weights (about 1/√fan_in), gradient clipping or a lower "
    "learning rate."
)
LR = 0.05
DEPTH = 8

x = Tensor(1e-5, name="x")
target = Tensor(0.3, name="target")
weights, biases = chain_params(3.0, DEPTH)


def forward():
    return neuron_chain(x, target, weights, biases, "tanh")


def story(trace):
    return (f"h{DEPTH} = {trace.find(f'h{DEPTH}').value.item():.3f} for a target of 0.3; "
            f"∂L/∂b{DEPTH} = {trace.find(f'b{DEPTH}').grad.item():.3g} but "
            f"∂L/∂b1 = {trace.find('b1').grad.item():.3g}")
