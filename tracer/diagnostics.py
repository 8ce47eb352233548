"""What is wrong with a network's gradients, found on its recorded trace and said for a person.

:func:`diagnose` reads a :class:`~tracer.record.Trace` (and, for the whole-network gradient
check, the forward function) and returns :class:`Finding` records: plain immutable data with a
stable ``kind``, a severity, the node and the forward or backward step where the problem shows
(so a debugger can jump there), a one-paragraph message, and the numbers behind it.

Kinds and thresholds (:class:`Thresholds` holds the numbers; the README's debugging section
explains each):

=====================  ========  ===================================================================
kind                   severity  flagged when
=====================  ========  ===================================================================
``nonfinite-value``    error     the first node, in forward order, whose value has a NaN or ±inf
``nonfinite-gradient`` error     the first backward step that produces a NaN or ±inf gradient
``gradcheck-node``     error     an op's backward disagrees with finite differences of its forward
                                 (relative error > 1e-5), checked node by node
``gradcheck-param``    error     a parameter's gradient disagrees with finite differences of the
                                 whole loss (needs ``forward``; a warning when no node is at fault)
``vanishing-gradient`` warning   the gradient's size (root mean square) at the layer nearest the
                                 loss is ≥ 1000× its size at the farthest layer
``exploding-gradient`` warning   the farthest layer's gradient is ≥ 1000× the nearest layer's, or a
                                 parameter's gradient has a root mean square ≥ 1000
``dead-relu``          warning   a ReLU unit outputs 0 for every example in the batch
``saturated``          warning   a sigmoid or tanh unit's local derivative is < 0.001 for every
                                 example (not reported for a sigmoid that feeds ``bce``, whose
                                 gradient cancels the flat slope)
``unused-param``       warning   a declared parameter the loss does not depend on: ``forward()``
                                 never uses it, or it reaches the loss only as a label
``zero-gradient``      info      a parameter or input that does reach the loss but whose gradient
                                 is exactly 0 everywhere, with the node where it is blocked
=====================  ========  ===================================================================

Layers: an *activation* is a ``relu``, ``tanh`` or ``sigmoid`` node. An activation's depth is the
largest number of activations on a path from it to the loss; activations of equal depth form a
layer, numbered from 1 at the input side. This gives the usual layers of a vectorised MLP
(``h1``, ``h2``, …) and of a scalar network (Mazur's ``out_h1``/``out_h2``, then
``out_o1``/``out_o2``) alike. A parameter belongs to the layer of the first activation it feeds.

Conditional breakpoints for a debugger walking the records are :class:`Condition` objects from
:func:`break_on_nonfinite`, :func:`break_on_gradient_above`, :func:`break_on_gradcheck_failure`
and :func:`break_on_dead_unit`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from . import explain
from .arrays import frozen
from .custom import derivative_origin, origin
from .gradcheck import EPS, FLOOR, TOLERANCE, Check, check_node, check_params, relative_error
from .record import BackwardStep, ForwardStep, InputGrad, Trace
from .tensor import Tensor

if TYPE_CHECKING:
    from .network import Network

Array = np.ndarray

SEVERITIES = ("error", "warning", "info")
PHASES = ("forward", "backward")
SHOWN = 3  # elements, units or names quoted in a message before "and N more"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The numbers beyond which :func:`diagnose` reports a problem.

    Attributes
    ----------
    vanishing_ratio
        Gradient size nearest the loss ÷ size at the farthest layer, at or above which the
        gradient is *vanishing*.
    exploding_ratio
        Farthest ÷ nearest, at or above which it is *exploding*.
    exploding_gradient
        A parameter gradient's root mean square at or above which it is *exploding* whatever
        the layers do.
    saturated_slope
        A sigmoid or tanh unit whose local derivative is below this for every example is
        *saturated*.
    tolerance
        The largest relative error a gradient check accepts (as :mod:`tracer.gradcheck`).
    node_check_limit
        Structural ops whose differentiable inputs hold more elements than this are not checked
        node by node (each element costs two runs of the op). Elementwise ops are always checked.
    param_check_limit
        Elements probed per parameter by the whole-network check (each costs two forward passes).
    param_check_budget
        The whole-network check is skipped when (elements probed × 2 × nodes in the graph) would
        exceed this: a big graph of scalars with many parameters would take minutes. The
        per-node checks still run, and they are what pins a wrong backward down.
    """

    vanishing_ratio: float = 1e3
    exploding_ratio: float = 1e3
    exploding_gradient: float = 1e3
    saturated_slope: float = 1e-3
    tolerance: float = TOLERANCE
    node_check_limit: int = 2000
    param_check_limit: int = 50
    param_check_budget: int = 2_000_000


THRESHOLDS = Thresholds()


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem (or note) about a traced network.

    Attributes
    ----------
    kind
        A short stable id: ``nonfinite-value``, ``nonfinite-gradient``, ``gradcheck-node``,
        ``gradcheck-param``, ``vanishing-gradient``, ``exploding-gradient``, ``dead-relu``,
        ``saturated``, ``unused-param`` or ``zero-gradient``.
    severity
        ``"error"`` (the numbers are wrong), ``"warning"`` (training will suffer) or ``"info"``
        (worth knowing, not a problem).
    node
        The node the finding is about (its id in the trace), or ``None`` (a parameter that is
        not in the graph at all).
    name
        That node's (or parameter's) name.
    phase, step
        Where it shows: ``"forward"`` or ``"backward"`` and the index of the step record in that
        phase, or ``None``.
    summary
        One line, for a list or a badge's tooltip.
    message
        One paragraph for a person: what is wrong, the numbers, what to do.
    details
        The numbers behind it, as JSON-friendly values (numbers, strings, lists); read-only.
    """

    kind: str
    severity: str
    node: int | None
    name: str | None
    phase: str | None
    step: int | None
    summary: str
    message: str
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_problem(self) -> bool:
        """Errors and warnings are problems; notes (``info``) are not."""
        return self.severity != "info"


def _finding(kind: str, severity: str, trace: Trace | None, node: int | None, phase: str | None,
             summary: str, message: str, name: str | None = None, shows_at: int | None = None,
             **details: Any) -> Finding:
    """A :class:`Finding` about ``node``, whose step is that of ``shows_at`` (default ``node``)
    in ``phase``."""
    step = None
    at = node if shows_at is None else shows_at
    if trace is not None and at is not None and phase is not None:
        step = at if phase == "forward" else trace.backward_step(at).index
    if name is None and trace is not None and node is not None:
        name = trace.nodes[node].name
    source = trace.source(node) if trace is not None and node is not None else None
    if source is not None:
        message = f"{message} ({name} is computed at {source}.)"
        details = {**details, "source": source}
    return Finding(kind, severity, node, name, phase, step, summary, " ".join(message.split()),
                   MappingProxyType(details))


# --- small helpers: positions, values, names ----------------------------------------------------


def _sig(x: float, figures: int = 3) -> str:
    """``x`` rounded to ``figures`` significant figures, then written by explain.number
    (``706026.47`` -> ``706000``, ``1020.73`` -> ``1020``)."""
    return explain.number(float(f"{x:.{figures}g}"))


def _index(idx: tuple[int, ...]) -> str:
    return "" if not idx else "[" + ", ".join(map(str, idx)) + "]"


def _positions(mask: Array) -> list[tuple[int, ...]]:
    return [tuple(int(i) for i in idx) for idx in np.argwhere(mask)]


def _listing(items: Sequence[str], limit: int = SHOWN) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _at(a: Array, idx: tuple[int, ...], shape: tuple[int, ...]) -> float:
    """Element ``idx`` of ``a`` broadcast to ``shape``."""
    return float(np.broadcast_to(a, shape)[idx])


def _finite(a: Array) -> bool:
    return bool(np.all(np.isfinite(a)))


def _rms(arrays: Sequence[Array]) -> float:
    """The root mean square of all the elements, scaled first so that squares never overflow."""
    flat = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.zeros(0)
    top = float(np.max(np.abs(flat))) if flat.size else 0.0
    if top == 0.0 or not np.isfinite(top):
        return top
    return top * float(np.sqrt(np.mean((flat / top) ** 2)))


def _op_name(trace: Trace, node: int) -> str:
    op = trace.op(node)
    if op is None:
        return trace.nodes[node].kind
    where = origin(op)
    return f"{op.name}, a custom op defined at {where}" if where else op.name


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


# --- non-finite values and gradients ------------------------------------------------------------

_FIXES = {
    "log-of-zero": "ln(0) = −∞, and 0·(−∞) = NaN. If this is a loss on a probability, compute it "
                   "with tracer's bce_with_logits(score, label) on the score before the sigmoid, "
                   "or bce(p, label) or cross_entropy(scores, label), which take the log "
                   "without ever reaching ln(0); otherwise keep the argument positive, e.g. "
                   "(x + 1e-12).log().",
    "log-of-negative": "The log of a negative number is not a real number. Make sure the "
                       "argument is positive (a probability, a softplus, an exp) before the log.",
    "exp-overflow": "e^x overflows a float64 above x ≈ 709.8. Subtract the maximum before exp "
                    "(as softmax does), or use a loss that takes raw scores (cross_entropy, "
                    "bce_with_logits).",
    "division-by-zero": "Guard the denominator (add a small epsilon) or find out why it is 0.",
    "overflow": "The numbers grew past float64's largest value (about 1.8e308): the weights or "
                "inputs are far too large. Scale the inputs and initialise smaller weights.",
    "data": "The data itself is not finite: clean it (drop or fill the missing values) before "
            "training.",
    "op": "Check what the op computes for these inputs.",
}


def _cause(trace: Trace, node: int) -> tuple[str, str]:
    """Why ``node``'s value is not finite though its inputs are: (cause key, sentence)."""
    nd = trace.nodes[node]
    if not nd.inputs:
        bad = _positions(~np.isfinite(nd.value))
        where = _listing([_index(i) or "its value" for i in bad])
        return "data", f"{nd.name} is {nd.kind} data, and it holds non-finite values at {where}"
    op = trace.op(node)
    inputs = [trace.nodes[i] for i in nd.inputs]
    bad = _positions(~np.isfinite(nd.value))
    idx = bad[0] if bad else ()
    expression = explain.expression(trace, nd)
    if op is not None and op.elementwise:
        x = [_at(i.value, idx, nd.shape) for i in inputs]
        at = _index(idx)
        first = f"{inputs[0].name}{at} = {explain.number(x[0])}"
        if op.name == "log":
            key = "log-of-zero" if x[0] == 0 else "log-of-negative"
            return key, f"{expression}, and {first}"
        if op.name == "exp" and x[0] > 0:
            return "exp-overflow", f"{expression}, and {first}, past 709.8"
        if op.name == "div" and x[1] == 0:
            return "division-by-zero", f"{expression}, and {inputs[1].name}{at} = 0"
        if op.name == "pow":
            p = float(nd.attrs.get("p", np.nan))
            if x[0] == 0 and p < 0:
                return "division-by-zero", f"{expression}, and {first}: 0 to a negative power"
            if x[0] < 0 and p != int(p):
                return "log-of-negative", (f"{expression}, and {first}: a negative number to "
                                           f"a fractional power")
        operands = ", ".join(f"{i.name}{at} = {explain.number(v)}"
                             for i, v in zip(inputs, x, strict=True))
        if np.isinf(nd.value[idx] if nd.value.ndim else nd.value):
            return "overflow", f"{expression} overflows for {operands}"
        return "op", f"{expression} ({_op_name(trace, node)}) gives NaN for {operands}"
    operands = "; ".join(f"{i.name} {explain.summary(i.value)}" for i in inputs)
    kind = "overflow" if np.any(np.isinf(nd.value)) else "op"
    return kind, f"{expression} ({_op_name(trace, node)}) gives it from finite inputs ({operands})"


def _nonfinite_value(trace: Trace) -> Finding | None:
    for nd in trace.nodes:
        if _finite(nd.value):
            continue
        bad = _positions(~np.isfinite(nd.value))
        value = explain.number(nd.value[bad[0]] if bad and nd.value.ndim else nd.value.item())
        at = _listing([_index(i) for i in bad]) if nd.value.ndim else ""
        key, why = _cause(trace, nd.id)
        where = f" at {at}" if at else ""
        return _finding(
            "nonfinite-value", "error", trace, nd.id, "forward",
            f"{nd.name} is {value}{where}: {why}",
            f"{nd.name} is {value}{where}, the first value in the forward pass that is not a "
            f"finite number (forward step {nd.id + 1}): {why}. Everything computed "
            f"from it is NaN or infinite too, the loss included, and so are the gradients that "
            f"flow back through it; an update would write NaN into the weights. {_FIXES[key]}",
            cause=key, value=value, elements=[list(i) for i in bad[:SHOWN]],
            inputs={trace.nodes[i].name: explain.short(trace.nodes[i].value) for i in nd.inputs})
    return None


def _nonfinite_gradient(trace: Trace) -> Finding | None:
    for step in trace.backward:
        nd = trace.nodes[step.node]
        record = next((r for r in step.inputs if not _finite(r.contribution)), None)
        if record is None:
            continue
        x = trace.nodes[record.node]
        product = record.unreduced if record.reduced_axes else record.contribution
        bad = _positions(~np.isfinite(product))
        idx = bad[0] if bad and product.ndim else ()
        value = explain.number(np.asarray(product)[idx] if idx else np.ravel(product)[0])
        lhs = explain.grad_name(trace, record.node)
        upstream = _at(step.upstream, idx, nd.shape) if step.upstream.ndim else float(
            step.upstream.item())
        at = _index(idx)
        formula = explain.formula(trace, step, record)
        if record.local is not None:
            local = _at(record.local, idx, nd.shape)
            why = (f"upstream {explain.grad_name(trace, nd.id)}{at} = {explain.number(upstream)} "
                   f"times the local derivative {explain.local_name(trace, nd.id, x.id)}{at} = "
                   f"{explain.number(local)} ({formula})")
            key = "local" if not np.isfinite(local) else (
                "upstream" if not np.isfinite(upstream) else "overflow")
        else:
            why = (f"{_op_name(trace, nd.id)}'s backward, given upstream "
                   f"{explain.short(step.upstream)}, returns it")
            key = "upstream" if not _finite(step.upstream) else "op"
        inherited = [trace.nodes[i].name for i in (nd.id, *nd.inputs)
                     if not _finite(trace.nodes[i].value)]
        if inherited:
            origin_text = (f" It comes from the forward pass: {_listing(inherited)} "
                           f"{'is' if len(inherited) == 1 else 'are'} already not finite, see "
                           f"the nonfinite-value finding.")
            key = "forward"
        elif key == "local" and trace.op(nd.id) is not None and trace.op(nd.id).name == "log":
            origin_text = " " + _FIXES["log-of-zero"]
        elif key == "overflow":
            origin_text = " " + _FIXES["overflow"]
        else:
            origin_text = (" Check the local derivative of this op at these inputs: "
                           + ", ".join(f"{trace.nodes[i].name}{at} = "
                                       f"{explain.number(_at(trace.nodes[i].value, idx, nd.shape))}"
                                       for i in nd.inputs if trace.nodes[i].value.size) + ".")
        return _finding(
            "nonfinite-gradient", "error", trace, nd.id, "backward",
            f"{lhs} becomes {value} at {nd.name} ({nd.op})",
            f"{lhs} becomes {value}{(' at ' + at) if at else ''} at backward step "
            f"{step.index + 1}, where {nd.name} ({nd.op}) passes the gradient to {x.name}: "
            f"{why}. From here on every gradient it reaches is NaN or infinite, and so would "
            f"the weights be after an update.{origin_text}",
            cause=key, value=value, input=x.name, elements=[list(i) for i in bad[:SHOWN]])
    return None


# --- layers: vanishing and exploding gradients --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layer:
    """Activation nodes at one depth, numbered from 1 at the input side.

    ``size`` is the root mean square of their gradients ∂L/∂activation and ``norm`` their
    Euclidean norm; ``params`` are the parameters that feed this layer's activations first.
    """

    number: int
    nodes: tuple[int, ...]
    size: float
    norm: float
    params: tuple[int, ...]


def _reachable(trace: Trace) -> set[int]:
    """Nodes with a path to the loss through inputs that get a gradient (not only labels)."""
    reached = {trace.root}
    for step in trace.backward:
        if step.node in reached:
            reached.update(r.node for r in step.inputs if r.differentiable)
    return reached


def _depths(trace: Trace) -> dict[int, int]:
    """The largest number of activations strictly after each node on a path to the loss."""
    depth = {trace.root: 0}
    for step in trace.backward:  # reverse topological: a node's consumers come first
        if step.node not in depth:
            continue
        through = depth[step.node] + (trace.role(step.node) == "activation")
        for r in step.inputs:
            if r.differentiable:
                depth[r.node] = max(depth.get(r.node, 0), through)
    return depth


def layers(trace: Trace) -> tuple[Layer, ...]:
    """The network's activation layers, from the input side (layer 1) to the loss."""
    depth = _depths(trace)
    activations = [n for n in trace.nodes if trace.role(n.id) == "activation" and n.id in depth]
    if not activations:
        return ()
    deepest = max(depth[n.id] for n in activations)
    out = []
    for d in range(deepest, -1, -1):
        nodes = tuple(n.id for n in activations if depth[n.id] == d)
        if not nodes:
            continue
        params = tuple(p.id for p in trace.params if depth.get(p.id) == d + 1)
        grads = [trace.nodes[i].grad for i in nodes]
        size = _rms(grads)
        norm = size * float(np.sqrt(sum(g.size for g in grads)))
        out.append(Layer(deepest - d + 1, nodes, size, norm, params))
    return tuple(out)


def _gradient_flow(trace: Trace, limits: Thresholds) -> list[Finding]:
    if not all(_finite(n.grad) for n in trace.nodes):
        return []
    found = []
    stack = layers(trace)
    names = {n.id: n.name for n in trace.nodes}
    per_param = {p.name: _rms([p.grad]) for p in trace.params}
    details = {"layers": [{"layer": ly.number, "nodes": [names[i] for i in ly.nodes],
                           "gradient_rms": ly.size, "gradient_norm": ly.norm,
                           "params": [names[i] for i in ly.params]} for ly in stack],
               "param_gradient_rms": per_param,
               "param_gradient_norm": {p.name: per_param[p.name] * float(np.sqrt(p.grad.size))
                                       for p in trace.params}}
    ratio_kind = None
    if len(stack) >= 2 and stack[0].size > 0 and stack[-1].size > 0:
        far, near = stack[0], stack[-1]
        ratio = near.size / far.size
        steps = near.number - far.number
        far_name, near_name = names[far.nodes[0]], names[near.nodes[0]]
        sizes = (f"∂L/∂{near_name} has a typical size (root mean square) of "
                 f"{_sig(near.size)} at layer {near.number}, nearest the loss, and "
                 f"∂L/∂{far_name} {_sig(far.size)} at layer 1")
        starved = [f"{names[i]} ({_sig(per_param[names[i]])})" for i in far.params]
        feeding = (f" The parameters feeding layer 1 get gradients of that size: "
                   f"{_listing(starved)}." if starved else "")
        common = dict(details, ratio=ratio, nearest_layer=near.number, farthest_layer=1)
        if ratio >= limits.vanishing_ratio:
            ratio_kind = "vanishing"
            factor = ratio ** (-1 / steps)
            ops = {trace.nodes[i].op for ly in stack for i in ly.nodes}
            slope = (" A sigmoid's slope is at most 0.25, so every sigmoid layer multiplies the "
                     "gradient by a small number." if "sigmoid" in ops else "")
            found.append(_finding(
                "vanishing-gradient", "warning", trace, far.nodes[0], "backward",
                f"the gradient shrinks ×{_sig(ratio, 2)} from layer {near.number} "
                f"to layer 1 ({far_name})",
                f"The gradient vanishes on its way back: {sizes}, {_sig(ratio, 2)} "
                f"times smaller (about ×{_sig(factor, 2)} per layer, beyond the "
                f"threshold of ×{explain.number(limits.vanishing_ratio)}).{slope}{feeding} "
                f"Updates barely move the early layers, so they stop learning. Fix: use ReLU "
                f"(or tanh) hidden layers instead of sigmoids, initialise the weights for the "
                f"depth (Xavier or He), or make the network shallower or add skip connections.",
                **common))
        elif 1 / ratio >= limits.exploding_ratio:
            ratio_kind = "exploding"
            factor = ratio ** (-1 / steps)
            found.append(_finding(
                "exploding-gradient", "warning", trace, far.nodes[0], "backward",
                f"the gradient grows ×{_sig(1 / ratio, 2)} from layer {near.number} "
                f"to layer 1 ({far_name})",
                f"The gradient explodes on its way back: {sizes}, {_sig(1 / ratio, 2)} "
                f"times larger (about ×{_sig(factor, 2)} per layer, beyond the "
                f"threshold of ×{explain.number(limits.exploding_ratio)}): each layer "
                f"multiplies it by its weights, and they are large.{feeding} One update of "
                f"that size throws the early weights far past any good value. Fix: initialise "
                f"smaller weights (about 1/√fan_in, Xavier or He), clip the gradient's norm, "
                f"or lower the learning rate.", **common))
    big = sorted((rms, name) for name, rms in per_param.items()
                 if rms >= limits.exploding_gradient)
    if big and ratio_kind != "exploding":
        rms, name = big[-1]
        node = trace.find(name).id
        listed = _listing([f"{n} ({_sig(r)})" for r, n in reversed(big)])
        found.append(_finding(
            "exploding-gradient", "warning", trace, node, "backward",
            f"∂L/∂{name} has a typical size of {_sig(rms)}",
            f"The gradients are huge: {listed} {'has' if len(big) == 1 else 'have'} a root "
            f"mean square of at least "
            f"{explain.number(limits.exploding_gradient)}, the threshold. An update of "
            f"learning rate × gradient moves these parameters by that much, far past any good "
            f"value, and the loss jumps. Fix: scale the inputs and targets to around 1, "
            f"initialise smaller weights, clip the gradient's norm, or lower the learning rate.",
            **details))
    return found


# --- dead and saturated units -------------------------------------------------------------------


def _stuck(mask: Array) -> list[tuple[int, ...]]:
    """Units where ``mask`` holds for the whole batch. With 2 or more dimensions axis 0 is the
    batch and each index of the other axes is a unit; otherwise the node is one unit."""
    if mask.ndim >= 2:
        return _positions(np.all(mask, axis=0))
    return [()] if mask.size and np.all(mask) else []


def _unit_columns(units: list[tuple[int, ...]]) -> list[tuple[Any, ...]]:
    """Index expressions selecting each unit over the whole batch."""
    return [() if u == () else (slice(None), *u) for u in units]


def _subject(units: list[tuple[int, ...]], name: str, shape: tuple[int, ...]) -> tuple[str, bool]:
    """The units as the subject of a sentence, and whether it is plural."""
    if units == [()]:
        return name, False
    total = int(np.prod(shape[1:]))
    label = "column" if len(shape) == 2 else "unit"
    which = _listing([", ".join(map(str, u)) for u in units])
    if len(units) == total:
        return f"all {total} units of {name}", total > 1
    if len(units) == 1:
        return f"{label} {which} of {name} (of {total})", False
    return f"{len(units)} of the {total} units of {name} ({label}s {which})", True


def dead_units(trace: Trace, node: int) -> list[tuple[int, ...]]:
    """The units of a node whose op can die (ReLU) that output 0 for every example (``[]`` for
    other nodes); ``[()]`` when the node is one unit and dead."""
    op = trace.op(node)
    return _stuck(trace.nodes[node].value == 0) if op is not None and op.can_die else []


def saturated_units(trace: Trace, node: int, slope: float = THRESHOLDS.saturated_slope
                    ) -> list[tuple[int, ...]]:
    """The units of a saturating activation's node (sigmoid, tanh: an op with a peak slope)
    whose recorded local derivative is below ``slope`` for every example (``[]`` for other
    nodes)."""
    op = trace.op(node)
    if op is None or op.peak_slope is None:
        return []
    (record,) = trace.backward_step(node).inputs
    return _stuck(np.asarray(record.local) < slope)


def _feeds_probability_loss_only(trace: Trace, node: int) -> bool:
    """Whether every consumer of ``node`` is a loss taking it as the probability (bce): then
    the loss's gradient 1/(p(1−p)) cancels the sigmoid's flat slope p(1−p)."""
    consumers = list(trace.graph.successors(node))
    return bool(consumers) and all(
        trace.op(k) is not None and trace.op(k).probability_input
        and trace.nodes[k].inputs[0] == node and trace.nodes[k].inputs.count(node) == 1
        for k in consumers)


def _dead_finding(trace: Trace, node: int, dead: list[tuple[int, ...]]) -> Finding:
    nd = trace.nodes[node]
    x = trace.nodes[nd.inputs[0]]
    examples = nd.shape[0] if nd.value.ndim >= 2 else 1
    subject, plural = _subject(dead, nd.name, nd.shape)
    highest = max(float(np.max(x.value[c])) for c in _unit_columns(dead))
    it, are = ("they", "are") if plural else ("it", "is")
    batch = f"all {examples} examples" if examples > 1 else "the one example"
    return _finding(
        "dead-relu", "warning", trace, node, "forward",
        f"{subject} {are} 0 for {batch}",
        f"Dead ReLU: {subject} {are} 0 for {batch} in the batch, because {x.name} stays ≤ 0 "
        f"there (at most {_sig(highest)}). ReLU's slope is 0 for inputs ≤ 0, so no gradient "
        f"flows back through {'them' if plural else 'it'}: the weights and biases feeding "
        f"{'them' if plural else 'it'} get a gradient of 0 from this batch, do not change, and "
        f"{it} stay{'' if plural else 's'} dead. Fix: lower the learning rate (one large step "
        f"often kills units), start the biases slightly positive and the weights with He "
        f"initialisation, or use a leaky ReLU.",
        units=[list(u) for u in dead], examples=examples, input_max=highest)


def _saturated_finding(trace: Trace, node: int, flat: list[tuple[int, ...]],
                       limits: Thresholds) -> Finding:
    nd = trace.nodes[node]
    step = trace.backward_step(node)
    (record,) = step.inputs
    x = trace.nodes[nd.inputs[0]]
    subject, plural = _subject(flat, nd.name, nd.shape)
    columns = _unit_columns(flat)
    steepest = max(float(np.max(record.local[c])) for c in columns)
    smallest = min(float(np.min(np.abs(x.value[c]))) for c in columns)
    peak = f"{trace.op(node).peak_slope:g}"
    output = (" For an output probability, compute the loss from the score with "
              "bce_with_logits." if nd.op == "sigmoid" else "")
    return _finding(
        "saturated", "warning", trace, node, "backward",
        f"{subject} {'are' if plural else 'is'} saturated: slope at most {_sig(steepest)}",
        f"Saturated {nd.op}: {subject} {'sit' if plural else 'sits'} in the flat tails for "
        f"every example, where the local derivative "
        f"{explain.formula(trace, step, record)} is at most {_sig(steepest)} (it peaks at "
        f"{peak} at 0; the threshold is {explain.number(limits.saturated_slope)}), because "
        f"|{x.name}| is at least {_sig(smallest)} there. Almost no gradient gets through, so "
        f"the weights before it barely learn. Fix: scale the inputs, initialise smaller "
        f"weights (Xavier), or use ReLU in hidden layers.{output}",
        units=[list(u) for u in flat], slope_max=steepest)


def _units(trace: Trace, limits: Thresholds) -> list[Finding]:
    found = []
    for nd in trace.nodes:
        dead = dead_units(trace, nd.id)
        if dead:
            found.append(_dead_finding(trace, nd.id, dead))
        flat = saturated_units(trace, nd.id, limits.saturated_slope)
        if flat and not _feeds_probability_loss_only(trace, nd.id):
            found.append(_saturated_finding(trace, nd.id, flat, limits))
    return found


# --- parameters the loss does not depend on, and zero gradients ---------------------------------


def _blockers(trace: Trace, node: int) -> list[tuple[int, InputGrad]]:
    """Where ``node``'s gradient stops: the consumer steps that receive a non-zero gradient but
    send 0 on towards ``node`` (following consumers whose own gradient is 0 towards the loss)."""
    found, seen, stack = [], {node}, [node]
    while stack:
        n = stack.pop()
        for k in sorted(set(trace.graph.successors(n))):
            step = trace.backward_step(k)
            if not np.any(step.upstream):
                if k not in seen:
                    seen.add(k)
                    stack.append(k)
                continue
            found += [(k, r) for r in step.inputs if r.node == n and r.differentiable]
    return found


def _blocked_because(trace: Trace, k: int, record: InputGrad) -> tuple[str, str]:
    """Why consumer ``k`` sends 0 to ``record``'s input, and what that means for learning."""
    nd = trace.nodes[k]
    x = trace.nodes[record.node]
    op = trace.op(k)
    name = op.name if op is not None else ""
    others = [trace.nodes[i] for p, i in enumerate(nd.inputs) if p != record.position]
    if name == "mul" and others and not np.any(others[0].value):
        other = others[0].name
        return (f"{explain.expression(trace, nd)}, and {other} = "
                f"{explain.short(others[0].value)}, so {explain.local_name(trace, k, x.id)} = "
                f"{other} = 0",
                f"it will get a gradient from examples where {other} is not 0")
    if name == "matmul" and others and not np.any(others[0].value):
        return (f"{explain.expression(trace, nd)}, and {others[0].name} is all zeros",
                f"it will get a gradient once {others[0].name} is not all zeros")
    if name == "relu":
        return (f"{nd.name} = relu({x.name}) and {x.name} ≤ 0 wherever a gradient arrives, so "
                f"ReLU passes none back (see the dead-relu finding)",
                f"it stays stuck for as long as {nd.name} is dead")
    if name in ("sigmoid", "tanh"):
        return (f"{nd.name} = {name}({x.name}) is so saturated that its slope rounds to 0",
                f"it stays stuck for as long as {nd.name} is saturated")
    if record.local is not None:
        return (f"the local derivative {explain.local_name(trace, k, x.id)} "
                f"({explain.formula(trace, trace.backward_step(k), record)}) is 0 wherever a "
                f"gradient arrives at {nd.name}",
                "it will get a gradient where that slope is not 0")
    return (f"{nd.name}'s backward ({_op_name(trace, k)}) sends it 0 for this upstream "
            f"gradient", "it will get a gradient when other values let one through")


def _dependence(trace: Trace, params: Sequence[Tensor]) -> list[Finding]:
    found = []
    in_graph = {id(trace.tensors[n.id]) for n in trace.params}
    for k, p in enumerate(params):
        if p.kind == "param" and id(p) not in in_graph:
            name = p.name or f"param_unused_{k + 1}"
            found.append(_finding(
                "unused-param", "warning", None, None, None,
                f"{name} is never used: the loss does not depend on it",
                f"The loss does not depend on {name}: forward() never uses it, so it is not in "
                f"the graph, its gradient is 0 by definition and no update will ever change it. "
                f"This is usually a forgotten term (a bias defined but never added, a layer "
                f"left out of forward()). Fix: use it in forward(), or delete it if it is not "
                f"meant to be there.", name=name, shape=list(p.shape), in_graph=False))
    reached = _reachable(trace)
    for nd in trace.nodes:
        if nd.kind == "param" and nd.id not in reached:
            consumers = _listing([trace.nodes[k].name for k in trace.graph.successors(nd.id)])
            found.append(_finding(
                "unused-param", "warning", trace, nd.id, "forward",
                f"{nd.name} reaches the loss only as a label",
                f"The loss does not depend on {nd.name} in a way that has a gradient: it "
                f"reaches the loss only through an input that gets none (a label of "
                f"{consumers}), so it always gets a gradient of 0 and no update changes it. "
                f"Fix: feed it into the computation, or make it a constant or an input instead "
                f"of a param.", shape=list(nd.shape), in_graph=True))
        elif (nd.kind in ("param", "input") and nd.id in reached and nd.grad.size
              and _finite(nd.grad) and not np.any(nd.grad)):
            blocks = _blockers(trace, nd.id)
            if not blocks:
                continue
            k, record = blocks[0]
            why, outlook = _blocked_because(trace, k, record)
            role = "parameter" if nd.kind == "param" else "input"
            effect = (f"this update leaves {nd.name} where it is; {outlook}"
                      if nd.kind == "param" else "nudging it would not change the loss")
            found.append(_finding(
                "zero-gradient", "info", trace, nd.id, "backward",
                f"∂L/∂{nd.name} is exactly 0: blocked at {trace.nodes[k].name}",
                f"∂L/∂{nd.name} is exactly 0, though the {role} {nd.name} does reach the loss "
                f"(so it is not unused): {why}. With these values no gradient gets through, so "
                f"{effect}.", shows_at=k, blocked_at=trace.nodes[k].name, in_graph=True))
    return found


# --- gradient checks ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeCheck:
    """One input of one op node checked against finite differences.

    ``local`` is true when the local derivative ∂out/∂input itself was compared (elementwise
    ops); otherwise the gradient the backward step sent to the input (upstream × derivative)
    was, as :func:`tracer.gradcheck.check_node` does.
    """

    node: int
    input: int
    check: Check
    local: bool

    @property
    def ok(self) -> bool:
        return self.check.ok


def _local_check(trace: Trace, step: BackwardStep, record: InputGrad, tolerance: float,
                 eps: float = EPS) -> Check:
    """The recorded local derivative against differences of the op's forward, perturbing the
    whole input at once (each output element of an elementwise op depends on one input element).

    Where the op has a kink (ReLU at 0) the one-sided differences disagree; a local derivative
    that lies between them is accepted there.
    """
    nd = trace.nodes[step.node]
    op = trace.op(step.node)
    values = [trace.nodes[i].value for i in nd.inputs]

    def run(delta: float) -> Array:
        probe = list(values)
        probe[record.position] = values[record.position] + delta
        return np.broadcast_to(op.forward(*probe, **nd.attrs), nd.shape)

    with np.errstate(all="ignore"):
        up, mid, down = run(eps), run(0.0), run(-eps)
        central = (up - down) / (2 * eps)
        ahead, behind = (up - mid) / eps, (mid - down) / eps
        analytic = np.broadcast_to(np.asarray(record.local, dtype=float), nd.shape)
        usable = np.isfinite(central) & np.isfinite(analytic)
        scale = np.maximum(np.maximum(np.abs(analytic), np.abs(central)), FLOOR)
        error = np.abs(analytic - central) / scale
        slack = tolerance * scale
        between = ((analytic >= np.minimum(ahead, behind) - slack)
                   & (analytic <= np.maximum(ahead, behind) + slack))
        error = np.where(usable & ~between, error, 0.0)
    name = explain.local_name(trace, step.node, record.node)
    return Check(name, step.node, frozen(analytic), frozen(np.where(usable, central, np.nan)),
                 float(np.max(error)) if error.size else 0.0, tolerance)


def node_checks(trace: Trace, node: int, tolerance: float = TOLERANCE,
                limit: int | None = THRESHOLDS.node_check_limit) -> list[NodeCheck]:
    """Check one op node's backward against finite differences of its forward.

    Elementwise ops compare the local derivative itself (cheap at any size); other ops compare
    the gradient sent to each input, through :func:`tracer.gradcheck.check_node`, unless their
    inputs hold more than ``limit`` elements. Nodes with non-finite values or upstream gradient
    are not checked (the non-finite findings cover them). Probes use the recorded values.
    """
    nd = trace.nodes[node]
    op = trace.op(node)
    step = trace.backward_step(node)
    if op is None or not _finite(step.upstream) or not all(
            _finite(trace.nodes[i].value) for i in (node, *nd.inputs)):
        return []
    records = [r for r in step.inputs if r.differentiable]
    if op.elementwise:
        return [NodeCheck(node, r.node, _local_check(trace, step, r, tolerance), True)
                for r in records]
    size = sum(trace.nodes[r.node].value.size for r in records)
    if limit is not None and size > limit:
        return []
    checks = check_node(trace, node, tolerance=tolerance)  # on the recorded values alone
    out = []
    for r, c in zip(records, checks, strict=True):
        usable = np.isfinite(c.numeric) & np.isfinite(c.analytic)
        if not np.all(usable):  # the probe left the op's domain (a probability past 1)
            c = Check(c.name, c.node, c.analytic, c.numeric,
                      relative_error(c.analytic[usable], c.numeric[usable]), c.tolerance)
        out.append(NodeCheck(node, r.node, c, False))
    return out


def _side_by_side(analytic: Array, numeric: Array) -> tuple[str, str]:
    bad = np.isfinite(numeric) & ~np.isclose(analytic, numeric, rtol=1e-3, atol=1e-8)
    if analytic.size > 6 and np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return (f"{explain.number(analytic[idx])} at {_index(idx)}",
                f"{explain.number(numeric[idx])}")
    return explain.short(analytic), explain.short(numeric)


def _pattern(analytic: Array, numeric: Array) -> str:
    """What a wrong derivative looks like next to the right one: a flipped sign or a constant
    factor (the two classic slips), or '' when it is neither."""
    a, n = np.ravel(analytic), np.ravel(numeric)
    use = np.isfinite(a) & np.isfinite(n) & (np.abs(n) > FLOOR)
    if not np.any(use):
        return ""
    ratios = a[use] / n[use]
    factor = float(np.median(ratios))
    if not np.allclose(ratios, factor, rtol=1e-3) or np.isclose(factor, 1.0, rtol=1e-3):
        return ""
    if np.isclose(factor, -1.0, rtol=1e-3):
        return " It is exactly the negative of the right value everywhere: a flipped sign."
    return (f" It is {_sig(factor)} times the right value everywhere: a "
            f"{'wrong sign and a ' if factor < 0 else ''}constant factor is missing or extra.")


def _node_findings(trace: Trace, limits: Thresholds) -> list[Finding]:
    found = []
    for nd in trace.nodes:
        for nc in node_checks(trace, nd.id, limits.tolerance, limits.node_check_limit):
            if nc.ok:
                continue
            c, x = nc.check, trace.nodes[nc.input]
            analytic, numeric = _side_by_side(np.asarray(c.analytic), np.asarray(c.numeric))
            what = (f"its local derivative {c.name}" if nc.local
                    else f"the gradient it sends to {x.name}, {explain.grad_name(trace, x.id)},")
            op = trace.op(nd.id)
            where = origin(op)
            formula = explain.formula(trace, trace.backward_step(nd.id),
                                      _record(trace, nd.id, nc))
            role = "local" if nc.local else "backward"
            fix = (f"Fix its {role}() (at {derivative_origin(op) or where}) so that it matches "
                   f"its formula, {formula}." if where else
                   f"Fix the derivative of the op {nd.op} ({formula}).")
            found.append(_finding(
                "gradcheck-node", "error", trace, nd.id, "backward",
                f"{nd.name} ({nd.op}): backward {analytic}, finite differences {numeric}",
                f"The backward pass is wrong at {nd.name} ({_op_name(trace, nd.id)}): {what} is "
                f"{analytic} in the backward pass but {numeric} by finite differences of the "
                f"op's forward, a relative error of {_sig(c.error)} (the tolerance is "
                f"{explain.number(c.tolerance)}).{_pattern(c.analytic, c.numeric)} Every "
                f"gradient computed from it, the parameters' included, is wrong too, so "
                f"training follows the wrong direction. {fix}",
                input=x.name, compared="local derivative" if nc.local else "gradient",
                analytic=np.asarray(c.analytic).tolist(), numeric=np.asarray(c.numeric).tolist(),
                error=c.error, tolerance=c.tolerance, custom=where is not None))
    return found


def _record(trace: Trace, node: int, nc: NodeCheck) -> InputGrad:
    return next(r for r in trace.backward_step(node).inputs if r.node == nc.input)


def _kink(forward: Callable[[], Tensor], trace: Trace, check: Check, eps: float = EPS) -> bool:
    """Whether every element failing ``check`` has its backward value between the one-sided
    differences of the loss: the loss has a kink (a ReLU input at exactly 0) or bends sharply
    there (ln near 0), and central differences are what is off, not the backward.

    Call with the trace's recorded values in place (:func:`recorded_values`).
    """
    tensor = trace.tensors[check.node]
    value = trace.nodes[check.node].value
    analytic, numeric = np.asarray(check.analytic), np.asarray(check.numeric)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), FLOOR)
    failing = np.isfinite(numeric) & (np.abs(analytic - numeric) / scale > check.tolerance)
    kept = tensor._data

    def loss(delta: float, idx: tuple[int, ...]) -> float:
        probe = value.copy()
        probe[idx] += delta
        tensor.data = probe
        return float(forward().data.item())

    try:
        with np.errstate(all="ignore"):
            for idx in map(tuple, np.argwhere(failing)):
                up, mid, down = loss(eps, idx), loss(0.0, idx), loss(-eps, idx)
                low, high = sorted(((up - mid) / eps, (mid - down) / eps))
                slack = check.tolerance * scale[idx]
                if not low - slack <= analytic[idx] <= high + slack:
                    return False
    finally:
        tensor._data = kept
    return True


def _param_findings(trace: Trace, forward: Callable[[], Tensor], limits: Thresholds,
                    culprits: Sequence[Finding]) -> list[Finding]:
    found = []
    with recorded_values(trace):
        checks = check_params(forward, trace, tolerance=limits.tolerance,
                              limit=limits.param_check_limit)
        failed = [c for c in checks if not c.ok and (culprits or not _kink(forward, trace, c))]
    for c in failed:
        probed = np.isfinite(c.numeric)
        analytic, numeric = _side_by_side(np.where(probed, c.analytic, np.nan),
                                          np.asarray(c.numeric))
        if culprits:
            cause = ("The per-node check pins it on "
                     + _listing([f.name or "" for f in culprits]) + ", where the backward is "
                     "wrong.")
            severity = "error"
        else:
            cause = ("Every node's own check passes, so the wrong gradient comes from how the "
                     "graph is put together rather than from one op: check for an op applied "
                     "to data changed in place, or a forward() that depends on state besides "
                     "the parameters.")
            severity = "warning"
        found.append(_finding(
            "gradcheck-param", severity, trace, c.node, "backward",
            f"∂L/∂{c.name}: backward {analytic}, finite differences of the loss {numeric}",
            f"The gradient of {c.name} from the backward pass, {analytic}, disagrees with "
            f"finite differences of the whole loss, {numeric}: a relative error of "
            f"{_sig(c.error)} (the tolerance is {explain.number(c.tolerance)}). {cause}",
            analytic=np.asarray(c.analytic).tolist(), numeric=np.asarray(c.numeric).tolist(),
            error=c.error, tolerance=c.tolerance))
    return found


# --- everything together ------------------------------------------------------------------------

# Every kind, in the order findings of one severity are listed.
KINDS = ("nonfinite-value", "nonfinite-gradient", "gradcheck-node", "gradcheck-param",
         "exploding-gradient", "vanishing-gradient", "dead-relu", "saturated", "unused-param",
         "zero-gradient")


def diagnose(trace: Trace, forward: Callable[[], Tensor] | None = None, *,
             params: Sequence[Tensor] = (), thresholds: Thresholds = THRESHOLDS) -> list[Finding]:
    """Everything wrong with the gradients of ``trace``, most serious first.

    Parameters
    ----------
    trace
        A recorded forward and backward pass (it may be from before an optimizer step; the
        checks probe the recorded values and put the parameters back).
    forward
        The network's forward function, for the whole-network gradient check per parameter;
        without it only the per-node checks run. The check sets the parameters' ``.data`` to
        probe values while it runs (and puts them back), so do not run the network meanwhile.
    params
        The parameters the network declares (``Network.params``), so that one ``forward()``
        never uses is found; parameters in the graph are always considered.
    thresholds
        Where a measure becomes a finding (see :class:`Thresholds`).

    Returns
    -------
    list of Finding
        Errors first, then warnings, then notes; in forward order within a kind.
        ``[f for f in findings if f.is_problem]`` is empty for a healthy network.
    """
    found: list[Finding] = []
    with np.errstate(all="ignore"):  # the numbers may be anything; the findings say so
        for finding in (_nonfinite_value(trace), _nonfinite_gradient(trace)):
            if finding is not None:
                found.append(finding)
        culprits = _node_findings(trace, thresholds)
        found += culprits
        healthy = all(_finite(n.value) and _finite(n.grad) for n in trace.nodes)
        probes = sum(2 * min(p.value.size, thresholds.param_check_limit) for p in trace.params)
        affordable = probes * len(trace.nodes) <= thresholds.param_check_budget
        if forward is not None and healthy and affordable:
            found += _param_findings(trace, forward, thresholds, culprits)
        found += _gradient_flow(trace, thresholds)
        found += _units(trace, thresholds)
        found += _dependence(trace, params)
    rank = {kind: k for k, kind in enumerate(KINDS)}
    severity = {s: k for k, s in enumerate(SEVERITIES)}
    return sorted(found, key=lambda f: (severity[f.severity], rank[f.kind],
                                        -1 if f.node is None else f.node))


def diagnose_network(network: Network, thresholds: Thresholds = THRESHOLDS) -> list[Finding]:
    """Trace ``network`` at its current parameters (no update) and :func:`diagnose` it."""
    return diagnose(network.trace_for_checks(), network.forward, params=network.params,
                    thresholds=thresholds)


def problems(findings: Sequence[Finding]) -> list[Finding]:
    """The errors and warnings among ``findings``."""
    return [f for f in findings if f.is_problem]


# --- conditional breakpoints --------------------------------------------------------------------

Record = ForwardStep | BackwardStep


@dataclass(frozen=True)
class Condition:
    """A conditional breakpoint: ``condition(trace, record)`` says whether to stop at a step.

    ``record`` is a forward or backward step record of ``trace``; anything else (an update
    record, the outcome) never stops. ``name`` is stable, ``label`` is for a menu.
    """

    name: str
    label: str
    test: Callable[[Trace, Record], bool]

    def __call__(self, trace: Trace, record: Any) -> bool:
        return isinstance(record, ForwardStep | BackwardStep) and bool(self.test(trace, record))


def _nonfinite_step(trace: Trace, record: Record) -> bool:
    if isinstance(record, ForwardStep):
        return not _finite(record.value)
    return not _finite(record.upstream) or any(not _finite(r.contribution)
                                               for r in record.inputs)


def break_on_nonfinite() -> Condition:
    """Stop at a forward step whose value, or a backward step whose gradient, is NaN or ±inf:
    continuing forward from the start, the first stop is the first non-finite value."""
    return Condition("nonfinite", "a value or gradient that is NaN or infinite", _nonfinite_step)


def break_on_gradient_above(threshold: float) -> Condition:
    """Stop at a backward step whose gradient ∂L/∂node has an element with |·| > ``threshold``
    (NaN and ±inf count as above)."""
    if not threshold >= 0:
        raise ValueError(f"the threshold is a size, 0 or more, not {threshold!r}")

    def test(trace: Trace, record: Record) -> bool:
        if not isinstance(record, BackwardStep):
            return False
        g = np.abs(record.upstream)
        return bool(np.any(~np.isfinite(g) | (g > threshold)))

    return Condition("gradient-above", f"|gradient| above {explain.number(threshold)}", test)


def break_on_gradcheck_failure(tolerance: float = TOLERANCE,
                               limit: int | None = THRESHOLDS.node_check_limit) -> Condition:
    """Stop at a backward step whose op fails the per-node gradient check (see
    :func:`node_checks`); each node is checked once per trace."""
    memo: dict[str, Any] = {"trace": None, "results": {}}

    def test(trace: Trace, record: Record) -> bool:
        if not isinstance(record, BackwardStep):
            return False
        if memo["trace"] is not trace:
            memo["trace"], memo["results"] = trace, {}
        results = memo["results"]
        if record.node not in results:
            results[record.node] = any(not c.ok for c in node_checks(trace, record.node,
                                                                     tolerance, limit))
        return results[record.node]

    return Condition("gradcheck", "a node whose backward fails the gradient check", test)


def break_on_dead_unit(saturated: bool = False,
                       slope: float = THRESHOLDS.saturated_slope) -> Condition:
    """Stop at the forward and backward steps of a ReLU with a dead unit (0 for every example);
    with ``saturated``, also of a sigmoid or tanh with a saturated unit."""

    def test(trace: Trace, record: Record) -> bool:
        return bool(dead_units(trace, record.node)
                    or (saturated and saturated_units(trace, record.node, slope)))

    label = "a dead ReLU" + (" or saturated sigmoid/tanh unit" if saturated else " unit")
    return Condition("dead-unit", label, test)


# --- text and JSON ------------------------------------------------------------------------------

_LABELS = {"error": "error", "warning": "warning", "info": "note"}


def headline(finding: Finding) -> str:
    """``error nonfinite-value at log_q (forward step 9)``: the finding's first line. Steps are
    numbered from 1, as the debugger shows them (``Finding.step`` is the record's index)."""
    where = f" at {finding.name}" if finding.name else ""
    step = f" ({finding.phase} step {finding.step + 1})" if finding.step is not None else ""
    return f"{_LABELS[finding.severity]} {finding.kind}{where}{step}"


def verdict(findings: Sequence[Finding]) -> str:
    """``2 problems: 1 error, 1 warning (and 1 note).`` or ``No problems found.``"""
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    notes = counts["info"]
    note_text = f"{notes} note{'s' if notes != 1 else ''}"
    total = counts["error"] + counts["warning"]
    if not total:
        return "No problems found." + (f" ({note_text}.)" if notes else "")
    parts = [f"{counts[s]} {s}{'s' if counts[s] != 1 else ''}" for s in ("error", "warning")
             if counts[s]]
    tail = f" (and {note_text})" if notes else ""
    return f"{total} problem{'s' if total != 1 else ''}: {', '.join(parts)}{tail}."


def to_text(findings: Sequence[Finding], title: str = "", width: int = 100) -> str:
    """The findings as a readable report: a headline and a wrapped paragraph each, then the
    verdict."""
    lines = [title, "=" * len(title), ""] if title else []
    for finding in findings:
        lines.append(headline(finding))
        lines += textwrap.wrap(finding.message, width, initial_indent="  ",
                               subsequent_indent="  ")
        lines.append("")
    lines.append(verdict(findings))
    return "\n".join(lines) + "\n"


def to_json(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """The findings as JSON values (the ``gradstep check --json`` list)."""
    from .report import jsonable  # report renders cycles; imported here to keep this module light

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return jsonable(value)

    return [{"kind": f.kind, "severity": f.severity, "node": f.node, "name": f.name,
             "phase": f.phase, "step": f.step, "summary": f.summary, "message": f.message,
             "details": plain(f.details)} for f in findings]
