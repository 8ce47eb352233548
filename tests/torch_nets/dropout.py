"""An MLP with BatchNorm and dropout, on random mini-batches drawn each forward pass: numpy's
generator picks the rows, torch's adds noise and drops units; Adam."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
np.random.seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3),
                      nn.Linear(8, 3))
data = torch.randn(32, 4)
labels = torch.randint(0, 3, (32,))
OPTIMIZER = torch.optim.Adam(model.parameters(), lr=0.05)


def forward():
    pick = torch.from_numpy(np.random.choice(32, size=8, replace=False))
    noise = 0.01 * torch.randn(8, 4)
    return F.cross_entropy(model(data[pick] + noise), labels[pick])
