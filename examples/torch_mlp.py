"""A two-layer PyTorch MLP learning y = x₁ − 2·x₂ + 1 on eight points, trained with Adam.

Open it with `gradstep examples/torch_mlp.py`: gradstep records PyTorch's own forward and
backward pass, so every node (model.0 · linear, model.1 · relu, …) shows the numbers PyTorch
computed.
"""

import torch
import torch.nn.functional as F
from torch import nn

TITLE = "A PyTorch MLP (2-4-1, ReLU) with Adam"
DESCRIPTION = ("An nn.Sequential of two Linear layers and a ReLU, fitted to a straight plane with "
               "mean squared error; OPTIMIZER is torch.optim.Adam.")

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0],
                  [0.5, -0.5], [-1.0, 0.5], [2.0, 1.0], [-0.5, -1.0]])
y = X[:, :1] - 2 * X[:, 1:] + 1
OPTIMIZER = torch.optim.Adam(model.parameters(), lr=0.05)


def forward():
    return F.mse_loss(model(X), y)
