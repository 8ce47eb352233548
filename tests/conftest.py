"""Shared helpers for the engine tests.

The reference for every gradient is independent of the engine: central finite differences
(written here, not ``tracer.gradcheck``) of a plain function of numpy arrays, and PyTorch
autograd in float64 where PyTorch is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

import tracer.ops

FD_EPS = 1e-6


def central_differences(f: Callable[..., float], arrays: Sequence[np.ndarray],
                        wrt: Sequence[int] | None = None, eps: float = FD_EPS) -> list:
    """∂f/∂arrays[k] by central differences, for each k in ``wrt`` (default: all).

    ``f`` takes the arrays as positional arguments and returns a number. Each probe perturbs a
    private copy, so the caller's arrays are never touched. Entries not in ``wrt`` are ``None``.
    """
    values = [np.array(a, dtype=np.float64) for a in arrays]
    wanted = range(len(values)) if wrt is None else wrt
    grads: list[np.ndarray | None] = [None] * len(values)
    for k in wanted:
        grad = np.zeros_like(values[k])
        for idx in np.ndindex(values[k].shape):
            probe = [v.copy() for v in values]
            probe[k][idx] += eps
            up = float(f(*probe))
            probe[k][idx] -= 2 * eps
            down = float(f(*probe))
            grad[idx] = (up - down) / (2 * eps)
        grads[k] = grad
    return grads


@pytest.fixture(scope="session")
def fd():
    """The finite-difference reference, :func:`central_differences`."""
    return central_differences


@pytest.fixture
def scratch_ops():
    """Register ops for one test only: yields ``register``; removes what it added afterwards."""
    added: list[str] = []

    def register(op: tracer.ops.Op) -> tracer.ops.Op:
        assert op.name not in tracer.ops.OPS, f"test op {op.name!r} would shadow a real op"
        added.append(op.name)
        return tracer.ops.register(op)

    yield register
    for name in added:
        tracer.ops.OPS.pop(name, None)
