"""Where a native network file computes each node: the user's line of every op, found on demand
by running ``forward()`` once more with line capture on (recording a frame for every op all the
time would slow every forward pass)."""

from __future__ import annotations

import os
from collections.abc import Callable

from .record import Trace, _topological
from .tensor import Tensor, capturing_lines


def lines_of(trace: Trace, forward: Callable[[], Tensor]) -> dict[int, str] | None:
    """Each op node of ``trace`` mapped to ``"net.py, line 14"``, by running ``forward()`` once
    under :func:`tracer.tensor.capturing_lines` and pairing its op results, in the order they
    ran, with the trace's op nodes (also in run order). Call it with the recorded parameter
    values in place and the network locked.

    ``None`` when the re-run does not build the same ops in the same order (a forward that is
    not deterministic) or fails: then no line is known, and that is all.
    """
    try:
        with capturing_lines() as captured:
            root = forward()
    except Exception:  # (a forward that fails now is not this helper's finding to make)
        return None
    if not isinstance(root, Tensor):
        return None
    ran = [t for t in _topological(root) if t._op is not None]
    ops = [nd.id for nd in trace.nodes if trace.op(nd.id) is not None]
    if len(ran) != len(ops) or any(t._op is not trace.op(k) for t, k in zip(ran, ops, strict=True)):
        return None
    lines = {}
    for t, k in zip(ran, ops, strict=True):
        where = captured.get(t._run)
        if where is not None:
            lines[k] = f"{os.path.basename(where[0])}, line {where[1]}"
    return lines
