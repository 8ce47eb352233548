"""loss = ln w, w = 2, SGD with lr 1: w goes 2 → 1.5 → 0.8333 → −0.3667, so iterations 1-3 have
finite losses (ln 2, ln 1.5, ln 0.8333) and iteration 3's update makes the loss NaN."""

import torch

w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
LR = 1.0


def forward():
    return torch.log(w)
