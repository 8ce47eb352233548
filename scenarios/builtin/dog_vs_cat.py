"""A dog the classifier calls a cat, and the update that argues it back.

Four features measured on the photo feed two evidence detectors (dog and cat, each a ReLU of a
weighted sum); their difference is the score for "dog". One step of gradient descent on the
binary cross-entropy raises the dog evidence and lowers the cat evidence.
"""

from scenarios.mlp import named
from tracer import Tensor, bce, param

TITLE = "Dog or cat? A confident mistake"
DESCRIPTION = (
    "A tiny image classifier turns four features of a photo (floppy ears, long snout, whiskers, "
    "pointy ears) into dog evidence and cat evidence, and calls this dog a cat, 70% sure. Binary "
    "cross-entropy sends a gradient back through both detectors: the update raises the dog "
    "evidence, lowers the cat evidence and flips the call."
)
LR = 0.3

FEATURES = ("floppy ears", "long snout", "whiskers", "pointy ears")
photo = Tensor([0.9, 0.7, 0.8, 0.3], name="photo_features")
w_dog = param([0.6, 0.5, -0.2, -0.3], name="w_dog")
w_cat = param([-0.1, 0.1, 1.2, 0.9], name="w_cat")
bias = param(-0.28, name="bias")
is_dog = Tensor(1.0, name="is_dog")  # the label: this photo is a dog


def evidence(weights, animal):
    """``relu(photo @ weights)``: how strongly the photo looks like ``animal``."""
    return named(named(photo @ weights, f"{animal}_sum").relu(), f"{animal}_evidence")


def forward():
    margin = named(evidence(w_dog, "dog") - evidence(w_cat, "cat"), "dog-cat")
    p_dog = named(named(margin + bias, "score").sigmoid(), "p_dog")
    return named(bce(p_dog, is_dog), "loss")


def story(trace):
    p = trace.find("p_dog").value.item()
    call = f'"dog", {p:.0%} sure' if p >= 0.5 else f'"cat", {1 - p:.0%} sure'
    dog, cat = (trace.find(f"{a}_evidence").value.item() for a in ("dog", "cat"))
    return f"called it {call}; it is a dog (dog evidence {dog:.2f}, cat evidence {cat:.2f})"
