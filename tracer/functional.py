"""Functions that are not methods: the losses. Each averages over its elements, as PyTorch's
default ``reduction="mean"`` does, and each is written to stay finite (see :mod:`tracer.ops`)."""

from __future__ import annotations

from typing import Any

from . import ops
from .tensor import Tensor, apply


def mse(prediction: Any, target: Any) -> Tensor:
    """Mean squared error, ``mean((prediction − target)²)``."""
    return apply(ops.MSE, prediction, target)


def bce(probability: Any, label: Any) -> Tensor:
    """Binary cross-entropy of probabilities in [0, 1] against labels in {0, 1} (or [0, 1]).

    A sure, right prediction (p = 1 for label 1) costs exactly 0, never ``0·log 0 = NaN``.
    """
    return apply(ops.BCE, probability, label)


def bce_with_logits(logit: Any, label: Any) -> Tensor:
    """Binary cross-entropy of raw scores (before the sigmoid); finite for any score."""
    return apply(ops.BCE_LOGITS, logit, label)


def cross_entropy(logits: Any, target: Any) -> Tensor:
    """Softmax cross-entropy of scores ``(batch, classes)`` or ``(classes,)`` against class
    indices (or one-hot rows); computed through log-softmax so no exponent overflows."""
    return apply(ops.CROSS_ENTROPY, logits, target)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """Softmax along ``axis``."""
    return apply(ops.SOFTMAX, x, axis=axis)


# The losses a TOML network file may name (its ``loss`` key), by op name: each takes the last
# layer's output as it is (a probability for bce, raw scores for cross_entropy).
LOSS_FUNCTIONS = {ops.MSE.name: mse, ops.BCE.name: bce, ops.CROSS_ENTROPY.name: cross_entropy}
