"""A small PyTorch CNN: a 3×3 convolution, ReLU, 2×2 max-pooling, flatten and a linear layer
classifying 6×6 images of a vertical, a horizontal and a diagonal stroke; SGD with momentum.

`gradstep examples/torch_cnn.py` steps through PyTorch's own backward pass: the max-pool sends
each window's gradient to the one pixel that won it, and the convolution's kernel gathers
gradient from every position it slid over.
"""

import torch
import torch.nn.functional as F
from torch import nn

TITLE = "A PyTorch CNN (conv, max-pool, flatten, linear) with momentum"


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=3)
        self.head = nn.Linear(2 * 2 * 2, 3)
        nn.init.constant_(self.conv.bias, 0.3)  # start every unit alive

    def forward(self, images):
        h = F.max_pool2d(F.relu(self.conv(images)), 2)
        return self.head(torch.flatten(h, 1))


torch.manual_seed(0)
model = TinyCNN()
images = torch.zeros(3, 1, 6, 6)
images[0, 0, :, 2] = 1.0  # vertical
images[1, 0, 3, :] = 1.0  # horizontal
images[2, 0] = torch.eye(6)  # diagonal
images += 0.1 * torch.rand(images.shape)  # noise, so that no pooling window has a tie
labels = torch.tensor([0, 1, 2])
OPTIMIZER = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def forward():
    return F.cross_entropy(model(images), labels)
