"""Read-only arrays: how records share arrays safely instead of copying them.

The rule the engine keeps: an array whose ``writeable`` flag is off is never written again by
anyone, so any number of records and tensors may hold it. An array someone else may write into
is copied before a record keeps it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

Array = np.ndarray


def frozen(a: Any) -> Array:
    """``a`` as a float64 array made read-only in place: for arrays the engine made and nobody
    else holds (the engine never writes into an array after making it)."""
    a = np.asarray(a, dtype=np.float64)
    a.flags.writeable = False
    return a


def frozen_copy(a: Any) -> Array:
    """A read-only float64 copy of ``a``."""
    copy = np.array(a, dtype=np.float64)
    copy.flags.writeable = False
    return copy


def shared(a: Array) -> Array:
    """``a`` itself if it is read-only (so it can never change), else a read-only copy: what a
    record keeps of a leaf's value, which the user may change in place (``w.data -= ...``)."""
    return frozen_copy(a) if a.flags.writeable else a


@lru_cache(maxsize=512)
def constant(value: float, shape: tuple[int, ...]) -> Array:
    """A shared read-only array of ``value``: the zeros a gradient starts from, and the constant
    local derivatives of add, sub and neg. One number broadcast to ``shape`` (8 bytes, whatever
    the shape), safe to share because nothing can write into it."""
    return np.broadcast_to(np.float64(value), shape)
