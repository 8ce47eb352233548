"""A tiny CNN telling a 5×5 digit 4 from a 9: one 3×3 convolution, max-pool, a linear layer.

Two scanned digits (ink of uneven strength, so no two windows tie) go through two 3×3 kernels;
max-pool keeps each kernel's strongest response anywhere in the image ("is this stroke
somewhere?"), and a linear layer scores 4 against 9. Written as one writes it with
torch.nn.functional: NCHW images, ``nn.conv2d``, ``nn.max_pool2d``, ``nn.cross_entropy``.
"""

import numpy as np

from scenarios.digits import FOUR, NINE, ink
from tracer import Tensor, nn, param

TITLE = "CNN: a 3×3 convolution tells 4 from 9"
DESCRIPTION = (
    "Two 5×5 scanned digits, a 4 and a 9, go through two 3×3 kernels, a max-pool that keeps "
    "each kernel's strongest response anywhere in the image, and a linear layer scoring 4 "
    "against 9. Step back through the max-pool: only the window position that won gets "
    "gradient. Then the convolution: a kernel's gradient is the image correlated with the "
    "gradient arriving at its feature map, a sum over every position the kernel visited."
)
LR = 0.5

CLASSES = ("4", "9")


def scan(drawing, seed):
    """A drawing of ``#`` (ink) and ``.`` (paper) as a 5×5 image: ink 0.7-1, paper 0-0.1."""
    rng = np.random.default_rng(seed)
    return np.where(ink(drawing), rng.uniform(0.7, 1.0, (5, 5)), rng.uniform(0.0, 0.1, (5, 5)))


images = Tensor(np.stack([scan(FOUR, 4), scan(NINE, 9)])[:, None], name="images")  # (2, 1, 5, 5)
labels = Tensor([CLASSES.index("4"), CLASSES.index("9")], name="labels")
# Kernel 0 looks for a horizontal bar over a gap (the top of a 9's loop); kernel 1 for a
# vertical stroke. Both start faint and a little noisy.
kernels = param(0.3 * np.array([[[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.1, -0.1, 0.0]]],
                                [[[0.2, 0.0, 0.9], [-0.1, 0.0, 1.0], [0.0, 0.1, 0.8]]]]),
                name="kernels")
kernel_bias = param([0.0, 0.0], name="kernel_bias")
W = param([[0.2, 0.3], [0.3, 0.1]], name="W")
b = param([0.0, 0.0], name="b")


def forward():
    features = nn.conv2d(images, kernels, kernel_bias)
    features.name = "features"
    pooled = nn.max_pool2d(features, 3)  # one 3×3 window: the strongest response anywhere
    pooled.name = "pooled"
    scores = pooled.reshape(2, 2) @ W + b
    scores.name = "scores"
    loss = nn.cross_entropy(scores, labels)
    loss.name = "loss"
    return loss


def story(trace):
    scores = trace.find("scores").value
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return "; ".join(f'the {digit} looks like a {CLASSES[1]} to it at {p[1]:.0%}'
                     for digit, p in zip(CLASSES, probs, strict=True))
