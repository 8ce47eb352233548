"""An RNN unrolled by hand over five steps, on bare tensors: Whh is used at every step."""

import torch

torch.manual_seed(1)
Wxh = (0.5 * torch.randn(2, 3)).requires_grad_()
Whh = (0.5 * torch.randn(3, 3)).requires_grad_()
bh = torch.zeros(3, requires_grad=True)
Why = (0.5 * torch.randn(3, 1)).requires_grad_()
X = torch.randn(5, 1, 2)
target = torch.tensor([[0.5]])
LR = 0.1


def forward():
    h = torch.zeros(1, 3)
    for t in range(5):
        h = torch.tanh(X[t] @ Wxh + h @ Whh + bh)
    return ((h @ Why - target) ** 2).mean()
