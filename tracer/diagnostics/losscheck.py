"""The whole-loss gradient check: the parameters' gradients against finite differences of the
loss ``forward()`` computes, in a number of forward passes that does not grow with the graph.

All parameters are moved at once along a random direction u (each element scaled to its size),
and uᵀ·(their gradients) is compared with the central difference of the loss, at two step sizes,
under the error model of :class:`tracer.gradcheck.Differences` (the loss's rounding is bounded by
Σ |∂L/∂node|·|node| over the recorded nodes). A group that fails is split in two and each half
checked again, down to the parameters at fault. For each of those the first elements are
measured one by one (to quote the worst), and the node where the gradient goes wrong is found by
bisecting the path from the parameter to the loss, replaying the recorded ops from a node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..custom import origin
from ..gradcheck import EPS, SHRINKS, STEP, Differences, numeric_gradient, steps_for
from ..record import Trace
from ..tensor import Tensor
from .dependence import reachable
from .findings import Array, Thresholds
from .nodecheck import direction


@contextmanager
def recorded_values(trace: Trace) -> Iterator[None]:
    """Give every leaf tensor of ``trace`` its recorded value for the duration (then restore).

    After an optimizer step the parameters hold new values; gradient checks must probe the
    values the trace was recorded at.
    """
    saved = []
    for node in trace.nodes:
        tensor = trace.tensors[node.id]
        if tensor.op is None:
            saved.append((tensor, tensor._data))
            tensor.data = node.value  # read-only: shared, and copied if anyone asks for it
    try:
        yield
    finally:
        for tensor, data in saved:
            tensor._data = data


@dataclass(frozen=True, slots=True)
class Along:
    """A directional check: uᵀ·gradient (``analytic``) against the difference (``numeric``);
    ``excess`` above 1 fails, NaN when the loss was not finite a step away."""

    analytic: float
    numeric: float
    excess: float

    @property
    def ok(self) -> bool:
        return not self.excess > 1.0


def rounding_size(trace: Trace) -> float:
    """How big the loss's rounding can get, to first order: Σ |∂L/∂node|·|node|."""
    grads = np.concatenate([np.ravel(nd.grad) for nd in trace.nodes])
    values = np.concatenate([np.ravel(nd.value) for nd in trace.nodes])
    with np.errstate(all="ignore"):
        terms = np.abs(grads * values)
    return abs(trace.loss) + float(np.sum(terms[np.isfinite(terms)]))


def along(loss: Callable[[float], float], analytic: float, size: float, spread: float,
          tolerance: float, middle: float) -> Along:
    """Compare ``analytic`` with the central differences of ``loss(t)`` at t = ±STEP, ±STEP/2
    (smaller where those leave the loss's domain: it is not finite there)."""
    with np.errstate(all="ignore"):
        for shrink in SHRINKS:
            h = STEP * shrink
            up = (np.float64(loss(h)), np.float64(loss(h / 2)))
            down = (np.float64(loss(-h)), np.float64(loss(-h / 2)))
            diff = Differences((np.float64(h), np.float64(h / 2)), up, down,
                               (np.float64(size), np.float64(size)), np.float64(middle))
            excess = float(diff.excess(np.float64(analytic), tolerance, spread))
            if not np.isnan(excess):
                break
    return Along(analytic, float(diff.numeric), excess)


def _moved(trace: Trace, directions: dict[int, Array], analytic_of: Callable[[int], Array]
           ) -> tuple[float, float]:
    terms = [np.sum(u * analytic_of(k)) for k, u in directions.items()]
    squares = [np.sum((u * analytic_of(k)) ** 2) for k, u in directions.items()]
    return float(np.sum(terms)), float(np.sqrt(np.sum(squares)))


def failing_params(trace: Trace, forward: Callable[[], Tensor], limits: Thresholds
                   ) -> tuple[Along | None, list[tuple[int, Along]]]:
    """The check of all parameters together (``None`` when there are none), and the parameters
    whose own check fails, found by splitting failing groups in two. Call with the recorded
    values in place (:func:`recorded_values`)."""
    params = [p.id for p in trace.params if p.value.size]
    if not params:
        return None, []
    size = rounding_size(trace)
    middle = trace.loss  # what forward() gives at the recorded values, if it is their function
    failing: list[tuple[int, Along]] = []

    rng = np.random.default_rng(0)  # one generator: a network of scalars has thousands
    every = {k: rng.standard_normal(trace.nodes[k].shape) * steps_for(trace.nodes[k].value)
             / STEP for k in params}

    def check(group: Sequence[int]) -> Along:
        directions = {k: every[k] for k in group}

        def loss(t: float) -> float:
            for k, u in directions.items():
                trace.tensors[k].data = trace.nodes[k].value + t * u
            try:
                return float(forward().data.item())
            finally:
                for k in directions:
                    trace.tensors[k].data = trace.nodes[k].value

        analytic, spread = _moved(trace, directions, lambda k: trace.nodes[k].grad)
        return along(loss, analytic, size, spread, limits.tolerance, middle)

    def split(group: Sequence[int], result: Along) -> None:
        if result.ok:
            return
        if len(group) == 1:
            failing.append((group[0], result))
            return
        half = len(group) // 2
        for part in (group[:half], group[half:]):
            split(part, check(part))

    whole = check(params)
    split(params, whole)
    return whole, failing


def element_differences(trace: Trace, forward: Callable[[], Tensor], node: int,
                        limit: int) -> Array:
    """Finite differences of the loss for the first ``limit`` elements of parameter ``node``
    (NaN beyond), at its recorded value."""
    tensor = trace.tensors[node]
    original = tensor._data
    data = tensor.data = trace.nodes[node].value.copy()
    try:
        with np.errstate(all="ignore"):
            return numeric_gradient(lambda: float(forward().data.item()), data, EPS, limit)
    finally:
        tensor._data = original


# --- where on the path the gradient goes wrong ------------------------------------------------


def _replay(trace: Trace, start: int, value: Array) -> float:
    """The loss the recorded ops compute when node ``start`` holds ``value`` instead."""
    values = {start: value}
    for nd in trace.nodes[start + 1:]:
        if any(i in values for i in nd.inputs):
            op = trace.op(nd.id)
            values[nd.id] = op.forward(*(values.get(i, trace.nodes[i].value)
                                         for i in nd.inputs), **nd.attrs)
    return float(np.asarray(values.get(trace.root, trace.nodes[trace.root].value)).item())


def replay_check(trace: Trace, node: int, limits: Thresholds, size: float) -> Along:
    """∂L/∂node as recorded against differences of the recorded ops replayed from ``node``."""
    nd = trace.nodes[node]
    u = direction(nd.value, node)
    analytic, spread = _moved(trace, {node: u}, lambda k: trace.nodes[k].grad)
    with np.errstate(all="ignore"):
        return along(lambda t: _replay(trace, node, nd.value + t * u), analytic, size, spread,
                     limits.tolerance, trace.loss)


def locate(trace: Trace, param: int, limits: Thresholds) -> tuple[int, int] | None:
    """Where the gradient of ``param`` goes wrong in the recorded graph: ``(node, consumer)``,
    the node whose recorded gradient disagrees with replaying the ops from it while the
    gradient of the consumer it feeds on the path to the loss agrees (the consumer's backward
    sent it the wrong value); ``None`` when the recorded ops agree with the recorded gradient
    at ``param`` itself (then ``forward()`` is what differs from the recording)."""
    size = rounding_size(trace)
    if replay_check(trace, param, limits, size).ok:
        return None
    reached = reachable(trace)
    chain = [param]
    while chain[-1] != trace.root:
        chain.append(min(k for k in trace.graph.successors(chain[-1]) if k in reached))
    low, high = 0, len(chain) - 1  # wrong at low, right at high (the loss's own gradient is 1)
    while high - low > 1:
        mid = (low + high) // 2
        if replay_check(trace, chain[mid], limits, size).ok:
            high = mid
        else:
            low = mid
    return chain[low], chain[high]


def place(trace: Trace, node: int, line: str | None = None) -> str:
    """``bad (custom_op, a custom op defined at net.py, line 12)``, ``mul_3 (mul, at net.py,
    line 14)`` given the ``line`` that computes it, or ``mul_3 (mul)``."""
    nd = trace.nodes[node]
    op = trace.op(node)
    where = origin(op) if op is not None else None
    if where:
        return f"{nd.name} ({nd.op}, defined at {where})"
    return f"{nd.name} ({nd.op}{', at ' + line if line else ''})"
