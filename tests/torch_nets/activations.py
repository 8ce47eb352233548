"""A small MLP through the modern activations: GELU, SiLU, softplus, leaky ReLU, log-softmax."""

import torch
import torch.nn.functional as F

torch.manual_seed(5)
x = torch.randn(4, 3)
W1 = torch.randn(3, 5, requires_grad=True)
W2 = torch.randn(5, 5, requires_grad=True)
W3 = torch.randn(5, 3, requires_grad=True)
targets = torch.tensor([0, 2, 1, 2])
LR = 0.1


def forward():
    h = F.gelu(x @ W1) + F.silu(x @ W1)
    h = F.leaky_relu(F.softplus(h @ W2), negative_slope=0.2) - 1.0
    scores = F.log_softmax(h @ W3, dim=1)
    return -(scores[0, 0] + scores[1, 2] + scores[2, 1] + scores[3, 2]) / 4
