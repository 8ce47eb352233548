"""Layers as PyTorch makes them by default, each one op of gradstep's op table: a convolution
with a bias (and stride and padding), a layer norm with its weight and bias, a linear layer
without a bias, the sample variance and standard deviation (N − 1), and nn.CrossEntropyLoss,
which passes all its options on (ignore_index=-100, label_smoothing=0.0)."""

import torch
from torch import nn

torch.manual_seed(7)
conv = nn.Conv2d(1, 2, 3, stride=2, padding=1)
norm = nn.LayerNorm(4)
project = nn.Linear(8, 4, bias=False)
head = nn.Linear(4, 3)
images = torch.randn(2, 1, 4, 4)
labels = torch.tensor([2, 0])
criterion = nn.CrossEntropyLoss()
LR = 0.05


def forward():
    maps = torch.tanh(conv(images)).flatten(1)              # (2, 8)
    h = norm(project(maps))                                 # (2, 4)
    spread = h.var(dim=1, keepdim=True) + h.std(dim=1, keepdim=True)
    return criterion(head(h) + spread, labels) + 0.1 * maps.var(dim=1).mean()
