"""Matt Mazur's 2-2-2 sigmoid network written in PyTorch, line for line like the built-in
`mazur` scenario: gradstep records it from PyTorch and its records agree with the native ones
number for number (total error 0.298371109, after one update 0.291027924, as published).
"""

import torch

TITLE = "Matt Mazur's worked example, in PyTorch"
LR = 0.5


def scalar(value, requires_grad=False):
    return torch.tensor(value, dtype=torch.float64, requires_grad=requires_grad)


i1, i2 = scalar(0.05), scalar(0.10)
w1, w2, w3, w4 = (scalar(v, requires_grad=True) for v in (0.15, 0.20, 0.25, 0.30))
w5, w6, w7, w8 = (scalar(v, requires_grad=True) for v in (0.40, 0.45, 0.50, 0.55))
b1, b2 = scalar(0.35), scalar(0.60)
target_o1, target_o2 = scalar(0.01), scalar(0.99)


def neuron(first, second, bias):
    return torch.sigmoid(first + second + bias)


def half_squared_error(target, out):
    return 0.5 * (target - out) ** 2


def forward():
    out_h1 = neuron(w1 * i1, w2 * i2, b1)
    out_h2 = neuron(w3 * i1, w4 * i2, b1)
    out_o1 = neuron(w5 * out_h1, w6 * out_h2, b2)
    out_o2 = neuron(w7 * out_h1, w8 * out_h2, b2)
    return half_squared_error(target_o1, out_o1) + half_squared_error(target_o2, out_o2)
