"""Layers and tensor functions that map onto gradstep's op table: a linear layer, a convolution
without bias, max and average pooling, layer norm without affine, an embedding, stack, cat,
where, max and min reductions, and the population variance and standard deviation."""

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(5)
conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
pool = nn.MaxPool2d(2)
norm = nn.LayerNorm(4, elementwise_affine=False)
embed = nn.Embedding(5, 4)
head = nn.Linear(4, 1)
images = torch.randn(2, 1, 4, 4)
tokens = torch.tensor([[0, 3], [4, 3]])
target = torch.randn(2, 1)
LR = 0.05


def forward():
    maps = pool(torch.tanh(conv(images)))               # (2, 2, 2, 2)
    smooth = F.avg_pool2d(conv(images), 2)              # (2, 2, 2, 2)
    both = torch.cat([maps, smooth], dim=1).flatten(1)  # (2, 16)
    words = embed(tokens)                               # (2, 2, 4)
    rows = torch.stack([words[:, 0], words[:, 1]], dim=1).sum(1)  # (2, 4)
    h = norm(rows + both[:, :4])
    h = torch.where(h > 0, h, 0.1 * h)
    spread = h.var(dim=1, keepdim=True, correction=0) + h.std(dim=1, keepdim=True,
                                                               unbiased=False)
    peak = both.amax(dim=1, keepdim=True) - both.amin(dim=1, keepdim=True)
    score = head(h) + spread + 0.1 * peak + 0.01 * both.max() - 0.01 * both.min()
    return F.mse_loss(score, target)
