"""A hand-written loss that takes ln(1 − p) where p rounds to exactly 1."""

import torch

w = torch.tensor([2.0, 1.0], requires_grad=True)
x = torch.tensor([1.0, 2.0])


def forward():
    p = torch.sigmoid(w @ x * 100)
    return -torch.log(1 - p)
