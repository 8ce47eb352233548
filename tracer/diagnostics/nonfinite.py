"""Non-finite values and gradients: the first NaN or ±inf of the forward pass and of the backward
pass, with the op-specific reason (each op says why it can give one: ``Op.nonfinite``)."""

from __future__ import annotations

import numpy as np

from .. import explain
from ..ops import NonFinite
from ..record import Trace
from .findings import (
    SHOWN,
    Array,
    Finding,
    element,
    finite,
    index_text,
    listing,
    make_finding,
    op_name,
    positions,
)

# --- non-finite values and gradients ------------------------------------------------------------

_FIXES = {
    "log-of-zero": "ln(0) = −∞, and 0·(−∞) = NaN. If this is a loss on a probability, compute it "
                   "with tracer's bce_with_logits(score, label) on the score before the sigmoid, "
                   "or bce(p, label) or cross_entropy(scores, label), which take the log "
                   "without ever reaching ln(0); otherwise keep the argument positive, e.g. "
                   "(x + 1e-12).log().",
    "log-of-negative": "The log of a negative number is not a real number. Make sure the "
                       "argument is positive (a probability, a softplus, an exp) before the log.",
    "sqrt-of-negative": "The square root of a negative number is not a real number. Make sure "
                        "the argument cannot go below 0 (a variance plus an epsilon, a square, "
                        "an abs) before the sqrt.",
    "exp-overflow": "e^x overflows a {dtype} above x ≈ {exp_limit}. Subtract the maximum "
                    "before exp (as softmax does), or use a loss that takes raw scores "
                    "(cross_entropy, bce_with_logits).",
    "division-by-zero": "Guard the denominator (add a small epsilon) or find out why it is 0.",
    "overflow": "The numbers grew past {dtype}'s largest value (about {largest}): the weights or "
                "inputs are far too large. If the network has trained before this, training "
                "diverged: the learning rate is too large, so lower it. Otherwise scale the "
                "inputs and initialise smaller weights.",
    "mask": "A ±inf in the data is a mask or a mistake. As a mask, add it to the scores right "
            "before softmax (which turns −inf into a probability of exactly 0) and use it nowhere "
            "else; otherwise clean the data.",
    "diverged": "Training diverged: the learning rate is too large for these gradients, and the "
                "updates threw the parameters past any finite value. Lower the learning rate "
                "(try a tenth of it) or clip the gradients' norm, and start again from finite "
                "weights.",
    "data": "The data itself is not finite: clean it (drop or fill the missing values) before "
            "training.",
    "op": "Check what the op computes for these inputs.",
}

# Where each floating-point type overflows: e^x above x ≈ the first, any number above the second.
_LIMITS = {"float64": ("709.8", "1.8e308"), "float32": ("88.72", "3.4e38"),
           "bfloat16": ("88.72", "3.4e38"), "float16": ("11.09", "65504")}


def _limits(trace: Trace) -> dict[str, str]:
    """The numbers the texts of :data:`_FIXES` quote, for the type ``trace`` computed in."""
    dtype = trace.computed_in()
    exp_limit, largest = _LIMITS.get(dtype, _LIMITS["float64"])
    return {"dtype": dtype if dtype in _LIMITS else "float64", "exp_limit": exp_limit,
            "largest": largest}


def _filled(trace: Trace, text: str) -> str:
    """``text`` with the limits' names in braces (``{exp_limit}``) replaced, and nothing else
    touched (an op's note may come from a network file)."""
    for name, value in _limits(trace).items():
        text = text.replace(f"{{{name}}}", value)
    return text


def _fix(trace: Trace, key: str) -> str:
    return _filled(trace, _FIXES[key])


def _cause(trace: Trace, node: int) -> tuple[str, str]:
    """Why ``node``'s value is not finite though its inputs are: (cause key, sentence)."""
    nd = trace.nodes[node]
    if not nd.inputs:
        bad = positions(~np.isfinite(nd.value))
        where = listing([index_text(i) or "its value" for i in bad])
        if nd.kind == "param":
            return "diverged", (f"{nd.name} is a parameter, and it holds non-finite values at "
                                f"{where}")
        if not np.any(np.isnan(nd.value)):
            return "mask", f"{nd.name} is {nd.kind} data, and it holds ±inf at {where}"
        return "data", f"{nd.name} is {nd.kind} data, and it holds non-finite values at {where}"
    op = trace.op(node)
    inputs = [trace.nodes[i] for i in nd.inputs]
    bad = positions(~np.isfinite(nd.value))
    idx = bad[0] if bad else ()
    expression = explain.expression(trace, nd)
    if op is not None and op.elementwise:
        x = [element(i.value, idx, nd.shape) for i in inputs]
        at = index_text(idx)
        blame = _blame(trace, node, idx)
        if blame is not None:
            quoted = f"{inputs[blame.input].name}{at} = {explain.number(x[blame.input])}"
            return blame.cause, f"{expression}, and {quoted}{_filled(trace, blame.note)}"
        operands = ", ".join(f"{i.name}{at} = {explain.number(v)}"
                             for i, v in zip(inputs, x, strict=True))
        if np.isinf(nd.value[idx] if nd.value.ndim else nd.value):
            return "overflow", f"{expression} overflows for {operands}"
        return "op", f"{expression} ({op_name(trace, node)}) gives NaN for {operands}"
    operands = "; ".join(f"{i.name} {explain.summary(i.value)}" for i in inputs)
    kind = "overflow" if np.any(np.isinf(nd.value)) else "op"
    return kind, f"{expression} ({op_name(trace, node)}) gives it from finite inputs ({operands})"


def _blame(trace: Trace, node: int, idx: tuple[int, ...]) -> NonFinite | None:
    """What the op at ``node`` says about its inputs' elements at ``idx`` (``None`` if nothing)."""
    op, nd = trace.op(node), trace.nodes[node]
    if op is None or op.nonfinite is None:
        return None
    return op.nonfinite(*(element(trace.nodes[i].value, idx, nd.shape) for i in nd.inputs),
                        **nd.attrs)


def _first_bad_gradient(trace: Trace) -> int | None:
    """The node whose backward step first sends a NaN or ±inf gradient."""
    for step in trace.backward:
        if any(not finite(r.contribution) for r in step.inputs):
            return step.node
    return None


def harmful(trace: Trace) -> list[int]:
    """The nodes, in forward order, whose NaN or ±inf values reach the loss or a gradient: back
    from the loss (when it is not finite) and from the step that first sends a non-finite
    gradient, through inputs that are not finite either. A −inf that softmax, exp or a max
    turns into finite numbers (a causal mask) reaches neither, and is no problem."""
    bad = {nd.id for nd in trace.nodes if not finite(nd.value)}
    targets = [trace.root] if trace.root in bad else []
    first = _first_bad_gradient(trace)
    if first is not None:
        targets += [i for i in (first, *trace.nodes[first].inputs) if i in bad]
    seen, stack = set(targets), list(targets)
    while stack:
        for i in trace.nodes[stack.pop()].inputs:
            if i in bad and i not in seen:
                seen.add(i)
                stack.append(i)
    return sorted(seen)


def _into_params(trace: Trace) -> str:
    """``, and an update would write NaN into W1 and b1``, as far as it is true."""
    params = [p.name for p in trace.params if not finite(p.grad)]
    return f", and an update would write NaN into {listing(params)}" if params else ""


def _values_at(value: Array) -> str:
    """``nan at [1] and -inf at [2], [4]``: each kind of non-finite number with where it is."""
    if not value.ndim:
        return explain.number(value.item())
    parts = []
    for test in (np.isnan, np.isposinf, np.isneginf):
        where = positions(test(value))
        if where:
            parts.append(f"{explain.number(value[where[0]])} at "
                         f"{listing([index_text(i) for i in where])}")
    return " and ".join(parts)


def _origin(trace: Trace, reaching: list[int]) -> int:
    """Which of the harmful nodes to report: the first, unless it only holds ±inf from the data
    (a mask) and an op further on turns infinities into NaN (0·∞, ∞ − ∞): that op is where it
    goes wrong."""
    first = trace.nodes[reaching[0]]
    if first.inputs or np.any(np.isnan(first.value)):
        return first.id
    for k in reaching[1:]:
        nd = trace.nodes[k]
        if (nd.inputs and np.any(np.isnan(nd.value))
                and not any(np.any(np.isnan(trace.nodes[i].value)) for i in nd.inputs)):
            return k
    return first.id


def _consequence(trace: Trace) -> str:
    """What the non-finite values do, said only as far as it is true."""
    loss = explain.number(trace.loss)
    update = _into_params(trace).replace(", and", ";", 1)
    if not np.isfinite(trace.loss):
        return (f"Everything computed from it on the way to the loss is NaN or infinite too, the "
                f"loss included ({loss}){update}.")
    return (f"The loss is finite ({loss}), but gradients that flow back through it are not (see "
            f"the nonfinite-gradient finding){update}.")


def nonfinite_value(trace: Trace) -> Finding | None:
    """The first NaN or ±inf value that reaches the loss or a gradient (see :func:`harmful`):
    a ``nonfinite-value`` error, or ``diverged`` when it is a parameter's own value."""
    reaching = harmful(trace)
    if not reaching:
        return None
    nd = trace.nodes[_origin(trace, reaching)]
    bad = positions(~np.isfinite(nd.value))
    value = explain.number(nd.value[bad[0]] if bad and nd.value.ndim else nd.value.item())
    key, why = _cause(trace, nd.id)
    what = _values_at(nd.value)
    kind = "diverged" if key == "diverged" else "nonfinite-value"
    return make_finding(
        kind, "error", trace, nd.id, "forward",
        f"{nd.name} is {what}: {why}",
        f"{nd.name} is {what}, the first value in the forward pass that is not a "
        f"finite number and reaches the loss or a gradient (forward step {nd.id + 1}): {why}. "
        f"{_consequence(trace)} {_fix(trace, key)}",
        cause=key, value=value, elements=[list(i) for i in bad[:SHOWN]],
        inputs={trace.nodes[i].name: explain.short(trace.nodes[i].value) for i in nd.inputs})


def nonfinite_gradient(trace: Trace) -> Finding | None:
    for step in trace.backward:
        nd = trace.nodes[step.node]
        record = next((r for r in step.inputs if not finite(r.contribution)), None)
        if record is None:
            continue
        x = trace.nodes[record.node]
        product = record.unreduced if record.reduced_axes else record.contribution
        bad = positions(~np.isfinite(product))
        idx = bad[0] if bad and product.ndim else ()
        value = explain.number(np.asarray(product)[idx] if idx else np.ravel(product)[0])
        lhs = explain.grad_name(trace, record.node)
        upstream = element(step.upstream, idx, nd.shape) if step.upstream.ndim else float(
            step.upstream.item())
        at = index_text(idx)
        formula = explain.formula(trace, step, record)
        if record.local is not None:
            local = element(record.local, idx, nd.shape)
            why = (f"upstream {explain.grad_name(trace, nd.id)}{at} = {explain.number(upstream)} "
                   f"times the local derivative {explain.local_name(trace, nd.id, x.id)}{at} = "
                   f"{explain.number(local)} ({formula})")
            key = "local" if not np.isfinite(local) else (
                "upstream" if not np.isfinite(upstream) else "overflow")
        else:
            why = (f"{op_name(trace, nd.id)}'s backward, given upstream "
                   f"{explain.short(step.upstream)}, returns it")
            key = "upstream" if not finite(step.upstream) else "op"
        inherited = [trace.nodes[i].name for i in (nd.id, *nd.inputs)
                     if not finite(trace.nodes[i].value)]
        if inherited:
            origin_text = (f" It comes from the forward pass: {listing(inherited)} "
                           f"{'is' if len(inherited) == 1 else 'are'} already not finite, see "
                           f"the finding at {trace.nodes[_origin(trace, harmful(trace))].name}.")
            key = "forward"
        elif key == "local" and (blame := _blame(trace, nd.id, idx)) is not None:
            origin_text = " " + _fix(trace, blame.cause)
        elif key == "overflow":
            origin_text = " " + _fix(trace, "overflow")
        else:
            origin_text = (" Check the local derivative of this op at these inputs: "
                           + ", ".join(
                               f"{trace.nodes[i].name}{at} = "
                               f"{explain.number(element(trace.nodes[i].value, idx, nd.shape))}"
                               for i in nd.inputs if trace.nodes[i].value.size) + ".")
        return make_finding(
            "nonfinite-gradient", "error", trace, nd.id, "backward",
            f"{lhs} becomes {value} at {nd.name} ({nd.op})",
            f"{lhs} becomes {value}{(' at ' + at) if at else ''} at backward step "
            f"{step.index + 1}, where {nd.name} ({nd.op}) passes the gradient to {x.name}: "
            f"{why}. From here on every gradient it reaches is NaN or infinite"
            f"{_into_params(trace)}.{origin_text}",
            cause=key, value=value, input=x.name, elements=[list(i) for i in bad[:SHOWN]])
    return None


