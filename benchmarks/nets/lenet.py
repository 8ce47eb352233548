"""LeNet-5's shape on a batch of 32 MNIST-sized images (random pixels and labels): two
convolution + ReLU + max-pool stages, flatten, a linear layer; SGD with momentum."""

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(16 * 4 * 4, 10))
images = torch.rand(32, 1, 28, 28)
labels = torch.randint(0, 10, (32,))
OPTIMIZER = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def forward():
    return F.cross_entropy(model(images), labels)
