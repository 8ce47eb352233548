"""Narration: each step of a cycle told in one or two plain-English sentences.

A narration is built from the op's own sentence template (:mod:`tracer.ops`) and the step's
recorded names and numbers, every number through :func:`tracer.explain.number`. The TUI's
narration bar, the ``gradstep trace`` handouts and the exports all call :func:`narrate`, so a
sentence is worded in one place.

>>> from tracer import Network, param
>>> x, y = param(3.0, name="x"), param(-2.0, name="y")
>>> cycle = Network(lambda: x * y).cycle()
>>> [title(cycle, m) for m in cycle.timeline][2:7]
['forward mul_1', 'backward mul_1', 'backward y', 'backward x', 'update x']
>>> print(narrate(cycle, cycle.timeline[2]))
mul_1 multiplies x by y: 3 · (-2) = -6. That is the loss, where the backward pass will start.
>>> print(narrate(cycle, cycle.timeline[6]))  # doctest: +NORMALIZE_WHITESPACE
The gradient of x is -2: a negative gradient means raising x would lower the loss.
So sgd (lr 0.1) moves it up by 0.2, from 3 to 3.2.

An op's sentence template reads "what it computes; how its gradient flows". A forward step uses
the part before the first ``;`` (the whole sentence when there is none), a backward step the
whole sentence followed by what each input receives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .edges import EdgeView
from .explain import describe, detail, grad_name, loss_value, no_gradient, number, short, signed
from .network import Cycle, Moment, Outcome
from .optim import UpdateRecord
from .record import BackwardStep, ForwardStep, InputGrad, Node, Trace
from .sizes import INLINE, SHORT

Array = np.ndarray


def narrate(source: Cycle | Trace, moment: Moment, *, prediction: str | None = None,
            prediction_after: str | None = None) -> str:
    """The step at ``moment`` in one or two plain-English sentences, with its names and numbers.

    Parameters
    ----------
    source
        The cycle the moment belongs to (a :class:`~tracer.network.Cycle`), or only its
        :class:`~tracer.record.Trace`. With a trace, updates are credited to "gradient descent"
        rather than to the named optimizer.
    moment
        One entry of ``Cycle.timeline``: a forward step, a backward step, a parameter update or
        the final outcome.
    prediction, prediction_after
        The network's own words for its prediction before and after the update
        (``Network.prediction_text``), such as ``"predicted $420k ...; it sold for $500k"``.
        They are quoted where the story needs them: the loss, the prediction's gradient, and
        the outcome.

    Returns
    -------
    str
        One or two sentences, ending with a full stop.

    Examples
    --------
    On Matt Mazur's network (``gradstep trace mazur``), the backward step of ``w5·out_h1``::

        ∂L/∂w5·out_h1 = 0.1385, so the loss wants w5·out_h1 lower. w5·out_h1 multiplies w5
        by out_h1; each input's slope is the other input: w5 gets 0.1385 × 0.5933 = 0.08217,
        its share of the blame, so it will be nudged down, and out_h1 gets 0.1385 × 0.4 =
        0.0554.
    """
    trace = source.trace if isinstance(source, Cycle) else source
    record = moment.record
    if isinstance(record, ForwardStep):
        return _forward(trace, trace.nodes[record.node], prediction)
    if isinstance(record, BackwardStep):
        return _backward(trace, record, prediction)
    if isinstance(record, UpdateRecord):
        optimizer = source.optimizer if isinstance(source, Cycle) else "gradient descent"
        return _update(record, optimizer)
    if isinstance(record, Outcome):
        return _outcome(record, prediction_after)
    raise TypeError(f"cannot narrate a {type(record).__name__}")


def narrate_timeline(cycle: Cycle, *, prediction: str | None = None,
                     prediction_after: str | None = None) -> list[str]:
    """:func:`narrate` for every moment of ``cycle.timeline``, in order."""
    return [narrate(cycle, m, prediction=prediction, prediction_after=prediction_after)
            for m in cycle.timeline]


def title(source: Cycle | Trace, moment: Moment) -> str:
    """A short label for a moment: ``forward xy``, ``backward x``, ``update w5``, ``outcome``."""
    trace = source.trace if isinstance(source, Cycle) else source
    record = moment.record
    if isinstance(record, ForwardStep | BackwardStep):
        return f"{moment.phase} {trace.nodes[record.node].name}"
    if isinstance(record, UpdateRecord):
        return f"update {record.name}"
    return "outcome"


# --- words for signs ------------------------------------------------------------------------


def _counts(a: Array) -> tuple[int, int, int]:
    """How many elements of ``a`` are positive, negative and zero (NaN counts as none)."""
    a = np.asarray(a)
    return int(np.sum(a > 0)), int(np.sum(a < 0)), int(np.sum(a == 0))


def _sign(a: Array) -> str:
    """``positive``, ``negative``, ``zero``, ``mixed`` (both signs) or ``nan``."""
    up, down, zero = _counts(a)
    if up + down + zero < np.asarray(a).size:
        return "nan"
    if up and down:
        return "mixed"
    return "positive" if up else ("negative" if down else "zero")


def _wants(name: str, g: Array, is_prediction: bool) -> str:
    """What the gradient ``g`` of ``name`` says: which way the loss wants it to move.

    A positive gradient means the loss rises with the value, so the loss wants it lower (a
    prediction is *too high*); a negative one the opposite.
    """
    sign = _sign(g)
    if sign == "nan":
        return f"the gradient of {name} is not a number, so it says nothing useful"
    if sign == "zero":
        return f"the loss does not change with {name} here"
    every = "" if np.asarray(g).size == 1 else "every element of "
    if is_prediction:
        if sign == "mixed":
            up, down, _ = _counts(g)
            return (f"of the prediction {name}, {_elements(up)} {'is' if up == 1 else 'are'} "
                    f"too high and {down} too low")
        return f"{every}the prediction {name} is too {'high' if sign == 'positive' else 'low'}"
    if sign == "mixed":
        return f"the loss wants some elements of {name} higher and some lower"
    return f"the loss wants {every}{name} {'lower' if sign == 'positive' else 'higher'}"


def _nudge(g: Array, passive: bool = False) -> str:
    """What gradient descent does to a parameter with gradient ``g``: nudges it down for a
    positive gradient, up for a negative one (element by element for mixed signs).

    ``gradient descent will nudge it up``, or with ``passive`` ``it will be nudged up``.
    """
    sign = _sign(g)
    if sign == "mixed":
        up, down, _ = _counts(g)
        moves = f"{_elements(down)} up and {up} down"
        return (f"{_elements(down)} of it will be nudged up and {up} down" if passive
                else f"gradient descent will nudge {moves}")
    if sign in ("positive", "negative"):
        way = "down" if sign == "positive" else "up"
        return f"it will be nudged {way}" if passive else f"gradient descent will nudge it {way}"
    if sign == "nan":
        return "its update will not be a number either" if passive else (
            "gradient descent cannot tell which way to move it")
    return "it will stay where it is" if passive else "gradient descent will leave it be"


def _why(name: str, g: Array) -> str:
    """Why a gradient's sign sets the direction: ``a positive gradient means ...``."""
    sign = _sign(g)
    scalar = np.asarray(g).size == 1
    if sign in ("positive", "negative"):
        effect = "raise" if sign == "positive" else "lower"
        if scalar:
            return f"a {sign} gradient means raising {name} would {effect} the loss"
        return (f"every element's gradient is {sign}, so raising any of them would {effect} "
                f"the loss")
    if sign == "mixed":
        return ("each element moves against the sign of its own gradient, since a positive "
                "gradient means raising that element would raise the loss")
    if sign == "nan":
        return f"a gradient that is not a number gives {name} no usable direction"
    return f"a zero gradient gives {name} no direction to move in"


def _axes(axes: Sequence[int]) -> str:
    where = "axis " + ", ".join(map(str, axes))
    return f"the batch ({where})" if 0 in axes else where


# --- forward ----------------------------------------------------------------------------------


def _what(trace: Trace, node: Node) -> str:
    """The op's sentence, up to its first ``;``: what the node computes."""
    return describe(trace, node).split(";")[0]


def _operand(a: Array) -> str:
    """A factor inside an equation: negative numbers in parentheses."""
    return signed(a.item()) if a.size == 1 else short(a)


def _value(a: Array) -> str:
    """A value inside a sentence: a number, a short list, or ``a 4×4 array (norm 0.377)``."""
    a = np.asarray(a)
    if a.size <= SHORT:
        return short(a)
    with np.errstate(all="ignore"):
        norm = number(np.linalg.norm(a), 3)
    if a.ndim == 1:
        return f"a vector of {a.size} numbers (norm {norm})"
    return f"a {'×'.join(map(str, a.shape))} array (norm {norm})"


def _elements(n: int) -> str:
    return f"{n} element{'s' if n != 1 else ''}"


def _forward(trace: Trace, node: Node, prediction: str | None) -> str:
    op = trace.op(node.id)
    if op is None:
        role = describe(trace, node).rsplit(": ", 1)[0]  # "w5 is a trainable parameter"
        text = f"{role}: {_value(node.value)}"
        if node.kind == "param":
            text += "; the update will change it"
        return text + "."
    inputs = [trace.nodes[i] for i in node.inputs]
    if all(x.value.size <= INLINE for x in inputs) and node.value.size <= INLINE:
        values = op.named([_operand(x.value) for x in inputs])
        what = _what(trace, node)
        sep = "; here " if ":" in what else ": "
        text = f"{what}{sep}{op.symbol.format(**values, **node.attrs)}"
        text += f" = {short(node.value)}."
    else:
        text = f"{_what(trace, node)}, giving {_value(node.value)}."
    if node.id == trace.root:
        text += " That is the loss, where the backward pass will start"
        text += f" ({prediction})." if prediction else "."
    return text


# --- backward ---------------------------------------------------------------------------------


def _predictions(trace: Trace) -> set[int]:
    """Nodes that a loss op compares with a target: the network's predictions."""
    return {n.inputs[0] for n in trace.nodes if trace.role(n.id) == "loss" and n.inputs}


def _record_into(trace: Trace, consumer: int, node: int) -> list[InputGrad]:
    return [r for r in trace.backward_step(consumer).inputs if r.node == node]


def _label_only(trace: Trace, step: BackwardStep) -> bool:
    """Whether every use of the node was as a label (an input with no gradient)."""
    return bool(step.terms) and all(not r.differentiable for k, _ in step.terms
                                    for r in _record_into(trace, k, step.node))


def _arrival(trace: Trace, step: BackwardStep, prediction: str | None) -> str:
    """The first sentence: the node's gradient, where it came from, and what it means."""
    node = trace.nodes[step.node]
    g = step.upstream
    predicted = _predictions(trace)
    is_prediction = node.id in predicted
    story = f" ({prediction})" if prediction and (
        is_prediction or (node.id == trace.root and not predicted)) else ""
    if node.id == trace.root:
        return (f"The backward pass starts at the loss, {node.name} = {number(trace.loss)}"
                f"{story}: ∂L/∂{node.name} = 1")
    name = grad_name(trace, node.id)
    if _label_only(trace, step):
        k, _ = step.terms[0]  # (every use gives none: the first one says why)
        return no_gradient(trace, trace.backward_step(k), _record_into(trace, k, node.id)[0])
    broadcast = [(k, r) for k, _ in step.terms for r in _record_into(trace, k, node.id)
                 if r.reduced_axes]
    if len(step.terms) > 1:
        uses = Counter(trace.nodes[k].name for k, _ in step.terms)
        via = ", ".join(consumer + {1: "", 2: " twice"}.get(n, f" {n} times")
                        for consumer, n in uses.items())
        text = (f"{node.name} fed {len(step.terms)} places ({via}), so its gradient is the sum "
                f"of what each use sent back: {name} = ")
        if g.size <= INLINE:
            text += " + ".join(_operand(c) for _, c in step.terms) + " = "
        text += _value(g)
    elif broadcast:
        k, r = broadcast[0]
        text = (f"{node.name} was broadcast over {_axes(r.reduced_axes)} in "
                f"{trace.nodes[k].name}, so its gradient is summed over it: {name} = {_value(g)}")
    else:
        text = f"{name} = {_value(g)}"
    return f"{text}, so {_wants(node.name, g, is_prediction)}{story}"


def _sends(trace: Trace, step: BackwardStep, record: InputGrad) -> str:
    """What one input receives: ``w5 gets 0.1385 × 0.5933 = 0.08217``, plus its role."""
    x = trace.nodes[record.node]
    if not record.differentiable:
        return no_gradient(trace, step, record)
    edge = EdgeView(trace, step, record)
    g, c, local, product = edge.upstream, edge.contribution, edge.factor, edge.product
    inline = local is not None and max(g.size, local.size, product.size) <= INLINE
    if inline:
        times = " × " if g.size == 1 or local.size == 1 else " ⊙ "
        text = f"{x.name} gets {_operand(g)}{times}{_operand(local)} = {short(product)}"
        if local.size == 1 and len(step.inputs) == 1 and record.local is not None:
            text = f"its slope here is {_operand(local)}, so {text}"
    else:
        text = f"{x.name} gets {_value(c)}"
    if record.reduced_axes:  # inline, the product was shown before the sum: give the sum too
        total = f" to {_value(c)}" if inline else ""
        text += (f", summed over {_axes(record.reduced_axes)}{total} because {x.name} was "
                 f"broadcast")
    uses = len(trace.backward_step(x.id).terms)
    if x.kind == "param":
        text += (f", one of its {uses} shares of the blame" if uses > 1
                 else f", its share of the blame, so {_nudge(c, passive=True)}")
    elif record.position == 0 and trace.role(step.node) == "loss":
        text += f", so {_wants(x.name, c, True)}"
    return text


def _join(parts: list[str]) -> str:
    """``a and b``; ``a, and b`` when a part has commas of its own; ``a; b; and c``."""
    if len(parts) <= 2:
        return ", and ".join(parts) if any("," in p for p in parts) else " and ".join(parts)
    return "; ".join(parts[:-1]) + "; and " + parts[-1]


def _backward(trace: Trace, step: BackwardStep, prediction: str | None) -> str:
    node = trace.nodes[step.node]
    first = _arrival(trace, step, prediction)
    if trace.op(node.id) is None:
        if node.kind == "param":
            second = (f"{node.name} is a trainable parameter, so {_nudge(step.upstream)}: "
                      f"{_why(node.name, step.upstream)}")
        elif node.kind == "constant":
            second = f"{node.name} is a constant, so nothing uses its gradient"
        elif _label_only(trace, step):
            second = f"{node.name} is an input, so nothing trains it"
        else:
            second = (f"{node.name} is an input, so nothing trains it; its gradient says how "
                      f"the loss would move if the data changed")
        return f"{first}. {second}."
    sentence = describe(trace, node)
    sep = "; " if ":" in sentence else ": "
    text = f"{first}. {sentence}{sep}{_join([_sends(trace, step, r) for r in step.inputs])}."
    said = detail(trace, node)
    return f"{text} {said[0].upper()}{said[1:]}." if said else text


# --- the update and its outcome ---------------------------------------------------------------


def _update(record: UpdateRecord, optimizer: str) -> str:
    name, g, change = record.name, record.grad, record.change
    moved = _sign(change)
    if moved == "nan" or not np.all(np.isfinite(record.after)):
        return (f"The gradient of {name} is {_value(g)}, and {optimizer} turns {name} into "
                f"{_value(record.after)}: the numbers have broken down (NaN or infinity), "
                f"often a sign that the learning rate is too large.")
    if moved == "zero":
        return (f"The gradient of {name} is {_value(g)}: {_why(name, g)}, so {optimizer} leaves "
                f"it at {_value(record.before)}.")
    size = _value(np.abs(change))
    if moved == "mixed":
        up, down, _ = _counts(change)
        what = f"{_elements(up)} up and {down} down"
    else:
        what = ("it " if change.size == 1 else "every element ") + (
            "up" if moved == "positive" else "down")
    step = (f"{optimizer} moves {what} by {size}, from {_value(record.before)} to "
            f"{_value(record.after)}")
    if _sign(g) == "zero":
        why = f"The gradient of {name} is 0 now, but the optimizer remembers earlier gradients"
    else:
        why = f"The gradient of {name} is {_value(g)}: {_why(name, g)}"
        if np.any((np.sign(change) == np.sign(g)) & (g != 0)):
            why += ", though the optimizer's memory of earlier gradients outweighs it"
    return f"{why}. So {step}."


def _outcome(record: Outcome, prediction_after: str | None) -> str:
    before, after, change = record.loss_before, record.loss_after, record.change
    text = (f"After the update the forward pass ran again: the loss went from "
            f"{loss_value(before)} to {loss_value(after)}")
    if not np.isfinite(change):
        text += ": the numbers have broken down (NaN or infinity)."
    elif change < 0:
        text += f", down by {number(-change, 3)}, so the step helped."
    elif change > 0:
        text += (f", up by {number(change, 3)}: the step overshot, and a smaller learning rate "
                 f"would help.")
    else:
        text += ", unchanged."
    if prediction_after:
        text += f" Now: {prediction_after}."
    return text
