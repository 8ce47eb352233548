"""A 5×5 handwritten 9 that a one-layer classifier calls a 4, 70% sure.

Every pixel of the 4 template is also lit in this 9, and the 4 detector weighs its pixels more
heavily than the 9 detector does, so the 4 wins. Softmax cross-entropy pushes the scores apart.
"""

import numpy as np

from scenarios.digits import FOUR, NINE, ink
from tracer import Tensor, cross_entropy, param

TITLE = "Digit 4 or 9? Softmax cross-entropy"
DESCRIPTION = (
    "A 5×5 pixel image of a 9, and a one-layer network that scores it as a 4 or a 9 and calls it "
    "a 4, 70% sure (every pixel of its 4 template is lit in this 9). Softmax cross-entropy's "
    "gradient on the scores is simply probabilities minus the one-hot label; follow it into the "
    "weights, where it is that times each pixel."
)
LR = 0.05

CLASSES = ("4", "9")


def grid(drawing):
    """A drawing of ``#`` (ink) and ``.`` (paper), as 25 pixel values (1 and 0)."""
    return ink(drawing).astype(float).ravel()


pixels = Tensor(grid(NINE), name="pixels")
# One column of weights per class: the 4 detector favours its pixels and dislikes the others;
# the 9 detector is weaker.
W = param(np.stack([0.25 * grid(FOUR) - 0.05 * (1 - grid(FOUR)), 0.1 * grid(NINE)], axis=1),
          name="W")
b = param([0.25, 0.0], name="b")
label = Tensor(CLASSES.index("9"), name="label")  # the true class: index 1, "9"


def forward():
    weighted = pixels @ W
    weighted.name = "weighted"
    scores = weighted + b
    scores.name = "scores"
    loss = cross_entropy(scores, label)
    loss.name = "loss"
    return loss


def story(trace):
    scores = trace.find("scores").value
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    guess = int(np.argmax(probs))
    return f'called it a "{CLASSES[guess]}", {probs[guess]:.0%} sure; it is a 9'
