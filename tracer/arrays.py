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
FLOAT64 = np.dtype(np.float64)  # numpy's one native float64 dtype: an identity test suffices


def frozen(a: Any) -> Array:
    """``a`` as a read-only float64 array, made so in place together with every array it is a
    view of: for arrays the engine made and nobody else holds (the engine never writes into an
    array after making it)."""
    if a.__class__ is not np.ndarray or a.dtype is not FLOAT64:
        a = np.asarray(a, dtype=np.float64)
    a.setflags(write=False)  # (half the cost of assigning flags.writeable)
    b = a.base
    while isinstance(b, np.ndarray):
        b.setflags(write=False)
        b = b.base
    return a


def float64(a: Any) -> Array:
    """``a`` itself if it is a float64 array, else converted to one (what :func:`frozen`
    makes of it, before making it read-only)."""
    if a.__class__ is not np.ndarray or a.dtype is not FLOAT64:
        return np.asarray(a, dtype=np.float64)
    return a


def frozen_copy(a: Any) -> Array:
    """A read-only float64 copy of ``a``."""
    copy = np.array(a, dtype=np.float64)
    copy.setflags(write=False)
    return copy


def shared(a: Array) -> Array:
    """``a`` itself if nothing can write into it (neither it nor any array it is a view of is
    writable), else a read-only copy: what a record keeps of an array from outside the engine,
    such as a leaf's value, which the user may change in place (``w.data -= ...``)."""
    b = a
    while isinstance(b, np.ndarray):
        if b.flags.writeable:
            return frozen_copy(a)
        b = b.base
    return a


@lru_cache(maxsize=512)
def constant(value: float, shape: tuple[int, ...]) -> Array:
    """A shared read-only array of ``value``: the zeros a gradient starts from, and the constant
    local derivatives of add, sub and neg. One number broadcast to ``shape`` (8 bytes, whatever
    the shape), shared by every trace; it lives in an immutable ``bytes`` buffer, so numpy
    refuses to make it writable again."""
    one = np.frombuffer(np.float64(value).tobytes(), dtype=np.float64).reshape(())
    return np.broadcast_to(one, shape)
