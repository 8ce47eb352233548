"""How the network will train, beyond its gradients being right: a loss summed (not averaged) over
the batch, a parameter with one value per example, and an update that overshoots (a one-step
probe: the optimizer's step from the recorded values, then the loss again)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .. import explain
from ..record import Trace
from .findings import Finding, Thresholds, make_finding
from .losscheck import recorded_values

if TYPE_CHECKING:
    from ..network import Network


class Probe(NamedTuple):
    """One optimizer step taken from the recorded values: the loss after it, and the step."""

    loss_after: float
    optimizer: str
    lr: float


def one_step(network: Network, trace: Trace, state: Any = None) -> Callable[[], Probe]:
    """A probe of ``network``: its optimizer's step from ``trace``'s values and gradients (and
    the optimizer's ``state`` then, a :meth:`~tracer.optim.Optimizer.snapshot`, when the trace is
    an earlier cycle's), then the loss; the parameters, their gradients and the optimizer's
    state are put back."""

    def probe() -> Probe:
        tensors = [trace.tensors[p.id] for p in trace.params]
        grads = [t.grad for t in tensors]
        with network.lock, recorded_values(trace):
            snapshot = network.optimizer.snapshot()
            network.optimizer.restore(state)  # (None leaves it as it is)
            try:
                for t, p in zip(tensors, trace.params, strict=True):
                    t.grad = p.grad
                network.optimizer.step([(p.name, t) for p, t in zip(trace.params, tensors,
                                                                    strict=True)])
                after = network.loss()
            finally:
                network.optimizer.restore(snapshot)
                for t, g in zip(tensors, grads, strict=True):
                    t.grad = g
        return Probe(after, network.optimizer.describe(), network.optimizer.lr)

    return probe


def batch_size(trace: Trace) -> int | None:
    """The number of examples: the leading size of the first input with rows (2 or more
    dimensions), or ``None``."""
    for nd in trace.nodes:
        if nd.kind == "input" and nd.value.ndim >= 2 and nd.shape[0] > 1:
            return int(nd.shape[0])
    return None


def _reduces_rows(trace: Trace, node: int, batch: int) -> bool:
    nd = trace.nodes[node]
    x = trace.nodes[nd.inputs[0]]
    if trace.role(node) != "reduction" or x.value.ndim == 0 or x.shape[0] != batch:
        return False
    if nd.value.ndim and nd.shape[0] == batch:  # the examples are still rows: it reduces
        return False  # within each (max-pooling an image, a sum over features)
    axis = nd.attrs.get("axis")
    axes = axis if isinstance(axis, tuple) else (axis,)
    return axis is None or any(a % x.value.ndim == 0 for a in axes if a is not None)


def _learned(trace: Trace) -> set[int]:
    """The nodes whose value depends on a parameter."""
    found: set[int] = set()
    for nd in trace.nodes:
        if nd.kind == "param" or any(i in found for i in nd.inputs):
            found.add(nd.id)
    return found


def _scaled(trace: Trace, node: int, learned: set[int]) -> int | None:
    """The input that an elementwise ``node`` only scales by data (``terms / 32``,
    ``terms * weights``): its one input that depends on parameters, when the local derivative
    for it stays the same if it doubles; ``None`` otherwise."""
    nd = trace.nodes[node]
    op = trace.op(node)
    moving = [k for k, i in enumerate(nd.inputs) if i in learned]
    if op is None or not op.elementwise or len(moving) != 1:
        return None
    k = moving[0]
    values = [trace.nodes[i].value for i in nd.inputs]
    if values[k].shape != nd.shape:
        return None
    doubled = list(values)
    doubled[k] = 2 * values[k]
    try:
        with np.errstate(all="ignore"):
            here = op.local(*values, nd.value, **nd.attrs)[k]
            there = op.local(*doubled, op.forward(*doubled, **nd.attrs), **nd.attrs)[k]
    except Exception:  # a custom op's code, on values it never saw: then it is not a scaling
        return None
    return nd.inputs[k] if np.allclose(here, there, rtol=1e-12, atol=0.0) else None


def summed_over_batch(trace: Trace, limits: Thresholds) -> tuple[int, int, float] | None:
    """``(node, batch, weight)`` for a reduction over the examples whose terms weigh, together,
    ``weight`` = Σ|∂L/∂term| in the loss: the batch size for a sum, 1 for a mean. The terms are
    taken before any scaling by data (``(terms / 32).sum()`` is a mean, and so is a sum of
    terms times weights that add up to 1)."""
    batch = batch_size(trace)
    if batch is None:
        return None
    learned = _learned(trace)
    for nd in trace.nodes:
        if nd.inputs and _reduces_rows(trace, nd.id, batch):
            terms = nd.inputs[0]
            while (inner := _scaled(trace, terms, learned)) is not None:
                terms = inner
            weight = float(np.sum(np.abs(trace.nodes[terms].grad)))
            if np.isfinite(weight) and weight >= limits.batch_weight * batch:
                return nd.id, batch, weight
    return None


def _overshoots(trace: Trace, probe: Probe, limits: Thresholds) -> bool:
    before, after = trace.loss, probe.loss_after
    return not np.isfinite(after) or (before > 0 and after >= limits.overshoot * before)


def training_findings(trace: Trace, probe: Callable[[], Probe] | None,
                      limits: Thresholds) -> list[Finding]:
    """``summed-loss``, ``overshoot`` and ``per-example-param`` findings."""
    found = []
    step = probe() if probe is not None and np.isfinite(trace.loss) else None
    over = step is not None and _overshoots(trace, step, limits)
    result = (f" One update ({step.optimizer}) takes the loss from "
              f"{explain.number(trace.loss)} to {explain.number(step.loss_after)}."
              if step is not None else "")
    summed = summed_over_batch(trace, limits)
    if summed is not None:
        node, batch, weight = summed
        nd = trace.nodes[node]
        lr = f" ({explain.number(step.lr)}/{batch} = {explain.number(step.lr / batch)})" \
            if step is not None else ""
        found.append(make_finding(
            "summed-loss", "warning" if step is None or over else "info", trace, node,
            "forward", f"the loss adds up the {batch} examples' terms at {nd.name}",
            f"The loss adds up the terms of the {batch} examples at {nd.name} ({nd.op}) instead "
            f"of averaging them: together they weigh {explain.number(weight)} in the loss, "
            f"where a mean weighs 1. So the gradient grows with the batch, {batch} times the "
            f"mean's here, and so does every update.{result} Use the mean (mean() instead of "
            f"sum(), or divide by {batch}), or divide the learning rate by the batch{lr}.",
            batch=batch, weight=weight,
            loss_after=None if step is None else step.loss_after))
    elif over:
        found.append(make_finding(
            "overshoot", "warning", trace, trace.root, "forward",
            f"one update takes the loss from {explain.number(trace.loss)} to "
            f"{explain.number(step.loss_after)}",
            f"The update overshoots.{result} The step goes so far along the gradient that it "
            f"passes the valley and climbs the other side: the learning rate is too large. "
            f"Lower it (try {explain.number(step.lr / 10)}, a tenth), or clip the gradients' "
            f"norm.", loss_after=step.loss_after, lr=step.lr))
    found += _per_example_params(trace)
    return found


def _per_example_params(trace: Trace) -> list[Finding]:
    batch = batch_size(trace)
    if batch is None:
        return []
    found, seen = [], set()
    for nd in trace.nodes:
        op = trace.op(nd.id)
        if op is None or not op.elementwise or nd.value.ndim == 0 or nd.shape[0] != batch:
            continue
        inputs = [trace.nodes[i] for i in nd.inputs]
        rows = [x for x in inputs if x.kind != "param" and x.value.ndim == nd.value.ndim
                and x.shape[0] == batch]
        for p in inputs:
            if (p.kind == "param" and p.id not in seen and rows and p.value.ndim == nd.value.ndim
                    and p.shape[0] == batch):
                seen.add(p.id)
                shape = (1, *p.shape[1:])
                found.append(make_finding(
                    "per-example-param", "warning", trace, p.id, "forward",
                    f"{p.name} {p.shape} has one value per example of the batch of {batch}",
                    f"{p.name} has shape {p.shape}: its axis 0 lines up with the batch axis of "
                    f"{rows[0].name} {rows[0].shape} at {nd.name}, so each of the {batch} "
                    f"examples gets its own value of {p.name}, learned from that example alone. "
                    f"It memorises the batch rather than learning the task, and does not apply "
                    f"to a new example or a batch of another size. Give it one value per unit "
                    f"instead: shape {shape}, broadcast over the batch.",
                    shape=list(p.shape), batch=batch, at=nd.name))
    return found
