"""A CNN as PyTorch users write it: Conv2d with padding, BatchNorm2d, ReLU, MaxPool2d, Flatten,
Linear; SGD with momentum and weight decay. About half of the ReLU's outputs are 0, so many
max-pooling windows are ties of zeros, and with a batch of 8 a few pixels are 0 for every
image while every channel is alive."""

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
images = torch.randn(8, 1, 8, 8)
labels = torch.randint(0, 10, (8,))
OPTIMIZER = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)


def forward():
    return F.cross_entropy(model(images), labels)
