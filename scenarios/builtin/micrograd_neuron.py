"""The single tanh neuron from Andrej Karpathy's micrograd lecture ("The spelled-out intro to
neural networks and backpropagation"), with its numbers: o = tanh(x1·w1 + x2·w2 + b).

The bias 6.8813735870195432 makes n = 0.8814 and o = 0.7071 = 1/√2, so tanh's slope 1 − o² is
exactly 0.5. Known gradients: x1 −1.5, w1 1.0, x2 0.5, w2 0.0, b 0.5.
"""

from tracer import Tensor, param

TITLE = "Karpathy's micrograd neuron"
DESCRIPTION = (
    "One tanh neuron at the scalar level, o = tanh(x1·w1 + x2·w2 + b), with the numbers from "
    "Andrej Karpathy's micrograd lecture. The bias is chosen so that o = 1/√2 and tanh's local "
    "slope is exactly 0.5; watch a sum pass its gradient through unchanged and a product swap "
    "its inputs (w2 gets 0 because x2 is 0)."
)
LR = 0.1

x1 = Tensor(2.0, name="x1")
x2 = Tensor(0.0, name="x2")
w1 = param(-3.0, name="w1")
w2 = param(1.0, name="w2")
b = param(6.8813735870195432, name="b")


def forward():
    x1w1 = x1 * w1
    x1w1.name = "x1w1"
    x2w2 = x2 * w2
    x2w2.name = "x2w2"
    x1w1x2w2 = x1w1 + x2w2
    x1w1x2w2.name = "x1w1x2w2"
    n = x1w1x2w2 + b
    n.name = "n"
    o = n.tanh()
    o.name = "o"
    return o


def story(trace):
    return (f"the neuron outputs o = {trace.find('o').value.item():.4f}; gradient descent on o "
            f"itself pushes it down")
