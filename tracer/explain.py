"""Words and numbers for people: every text the CLI prints and the TUI shows is made here.

Numbers are formatted one way everywhere (:func:`number`), arrays are shown in full when small
and summarised when not (:func:`array_lines`), and each backward step's chain rule is written
with its actual values (:func:`chain_rule`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

import numpy as np

from .edges import EdgeView
from .record import BackwardStep, InputGrad, Node, Trace
from .sizes import LOSS_DIGITS, SHORT, SMALL

Array = np.ndarray


def number(x: float, digits: int = 4) -> str:
    """A short, readable number: ``0.7414``, ``-0.019``, ``1.2e-05``, ``nan``, ``inf``."""
    x = float(x)
    if not np.isfinite(x):
        return "nan" if np.isnan(x) else ("inf" if x > 0 else "-inf")
    if x == 0:
        return "0"
    if 1e-4 <= abs(x) < 1e6:
        text = f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{digits}f}".rstrip("0").rstrip(".")
        return text if "e" not in text else f"{x:.{digits}g}"
    return f"{x:.{max(digits - 1, 1)}g}"


def signed(x: float, digits: int = 4) -> str:
    """A number as a term of a sum: negative ones in parentheses, ``(-0.019)``."""
    text = number(x, digits)
    return f"({text})" if text.startswith("-") else text


def short(a: Array, digits: int = 4) -> str:
    """One line: a scalar as a number, a small array as a list, a large one as a summary."""
    a = np.asarray(a)
    if a.size == 1:
        return number(a.item(), digits)
    if a.size <= SHORT:
        return "[" + ", ".join(number(v, digits) for v in a.ravel()) + "]"
    return f"{'×'.join(map(str, a.shape))} |·|={number(np.linalg.norm(a), 3)}"


def summary(a: Array) -> str:
    """Shape, min, max, mean and norm of an array, on one line."""
    a = np.asarray(a)
    with np.errstate(all="ignore"):
        return (f"shape {a.shape}  min {number(np.min(a))}  max {number(np.max(a))}  "
                f"mean {number(np.mean(a))}  norm {number(np.linalg.norm(a))}")


def array_lines(a: Array, digits: int = 4, full: bool = False) -> list[str]:
    """An array as aligned lines: in full when small (or ``full``), else a summary line.

    Scalars are one number; vectors one row; matrices one row per line with the columns aligned;
    higher dimensions as their 2-D slices, each under its index (``[0, 1, :, :]``, a 4-D kernel
    as its 3×3 matrices). Large arrays are summarised unless ``full``.
    """
    a = np.asarray(a)
    if a.ndim == 0 or (a.size == 1 and a.ndim <= 1):
        return [number(a.item(), digits)]
    if a.size > SMALL and not full:
        return [summary(a)]
    if a.ndim > 2:
        lines = [summary(a)]
        for index in np.ndindex(a.shape[:-2]):
            lines.append(f"[{', '.join(map(str, index))}, :, :]")
            lines += ["  " + row for row in array_lines(a[index], digits, full=True)]
        return lines
    rows = a.reshape(1, -1) if a.ndim == 1 else a
    cells = [[number(v, digits) for v in row] for row in rows]
    width = max(len(c) for row in cells for c in row)
    lines = ["  ".join(c.rjust(width) for c in row) for row in cells]
    return [f"[{line}]" for line in lines]


def grad_name(trace: Trace, node: int) -> str:
    return f"∂L/∂{trace.nodes[node].name}"


def local_name(trace: Trace, out: int, node: int) -> str:
    return f"∂{trace.nodes[out].name}/∂{trace.nodes[node].name}"


def formula(trace: Trace, step: BackwardStep, record: InputGrad) -> str:
    """The op's local-derivative formula for this input (``∂(a·b)/∂a = b``)."""
    op = trace.op(step.node)
    return op.formula(record.position) if op else ""


def chain_rule(trace: Trace, step: BackwardStep, record: InputGrad, digits: int = 4) -> str:
    """One line of the chain rule, with its numbers where they fit on the line.

    ``∂L/∂net = ∂L/∂out × ∂out/∂net = 0.7414 × 0.1868 = 0.1385`` for scalars; bigger arrays are
    written by name (their values are shown beside), and a broadcast input says which axes its
    gradient was summed over.
    """
    lhs = grad_name(trace, record.node)
    up, loc = grad_name(trace, step.node), local_name(trace, step.node, record.node)
    edge = EdgeView(trace, step, record)
    if edge.kind == "label":
        return no_gradient(trace, step, record)
    times = " × " if edge.scalar else " ⊙ "
    if edge.kind == "structural":  # a vector-Jacobian product
        text = f"{lhs} = {up} · {loc}"
        if edge.inline:
            text += f" = {short(record.contribution, digits)}"
    else:
        text = f"{lhs} = {up}{times}{loc}"
        if edge.inline:
            text += (f" = {short(step.upstream, digits)}{times}{short(record.local, digits)}"
                     f" = {short(edge.product, digits)}")
    if record.reduced_axes:
        axes = ", ".join(map(str, record.reduced_axes))
        text += (f", summed over axis {axes} back to shape {trace.nodes[record.node].shape}"
                 f" (the input was broadcast)")
    return text


def gradient_sum(trace: Trace, step: BackwardStep, digits: int = 4) -> str | None:
    """Where a value fed several places, its gradient as the sum of their contributions:
    ``∂L/∂x = 0.036 = 0.055 + (-0.019)``. ``None`` when it fed only one place."""
    if len(step.terms) < 2:
        return None
    terms = " + ".join(signed(c.item(), digits) if c.size == 1 else short(c, digits)
                       for _, c in step.terms)
    via = ", ".join(trace.nodes[k].name for k, _ in step.terms)
    return f"{grad_name(trace, step.node)} = {short(step.upstream, digits)} = {terms}  (from {via})"


def describe(trace: Trace, node: Node) -> str:
    """The op's plain-English sentence, with the node's names filled in."""
    op = trace.op(node.id)
    if op is None:
        role = {"param": "a trainable parameter", "input": "an input",
                "constant": "a constant"}[node.kind]
        return f"{node.name} is {role}: {short(node.value)}"
    return op.sentence.format(out=node.name, **_named(trace, node), **node.attrs)


def expression(trace: Trace, node: Node) -> str:
    """How the node was computed, in its inputs' names: ``mul_1 = w1 · i1``."""
    op = trace.op(node.id)
    if op is None:
        return f"{node.name} = {short(node.value)}"
    return f"{node.name} = {op.symbol.format(**_named(trace, node), **node.attrs)}"


def _named(trace: Trace, node: Node) -> dict[str, str]:
    return trace.op(node.id).named([trace.nodes[i].name for i in node.inputs])


def detail(trace: Trace, node: Node) -> str | None:
    """What the op's formula cannot say about this use of it (which element won a max, how a
    batched matmul shares a weight), with the node's names filled in; ``None`` if nothing."""
    op = trace.op(node.id)
    if op is None or op.detail is None:
        return None
    text = op.detail(*(trace.nodes[i].value for i in node.inputs), node.value, **node.attrs)
    return text.format(out=node.name, **_named(trace, node)) if text else None


def no_gradient(trace: Trace, step: BackwardStep, record: InputGrad) -> str:
    """Why an input gets no gradient: in the op's words (a label, a mask, indices), or that
    nothing trainable needs it, where the trace computed none for that reason (a PyTorch
    model's data: see :meth:`tracer.record.Trace.unneeded`)."""
    name = trace.nodes[record.node].name
    if trace.unneeded(step.node, record.position):
        return f"{name} gets no gradient: nothing trainable needs it"
    op = trace.op(step.node)
    reason = op.no_gradient if op is not None else "it is a label, not a value"
    return f"{name} gets no gradient ({reason})"


# --- whole steps, as lines with a role (the TUI styles them, the CLI prints them) ---------------


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an explanation. ``role`` says what it is: ``heading``, ``sentence``,
    ``formula``, ``equation`` (a chain-rule or sum line with numbers), ``label`` or ``value``."""

    text: str
    role: str = "value"


def _array_block(label: str, a: Array, full: bool) -> list[Line]:
    rows = array_lines(a, full=full)
    if len(rows) == 1:
        return [Line(f"{label} {rows[0]}", "value")]
    return [Line(label, "label"), *(Line("  " + r, "value") for r in rows)]


def forward_lines(trace: Trace, node: int, full: bool = False) -> list[Line]:
    """What a forward step computed: the expression, the sentence, the inputs and the value."""
    nd = trace.nodes[node]
    lines = [Line(f"{nd.name}  ({nd.op}, shape {nd.shape})", "heading"),
             Line(expression(trace, nd), "formula"), Line(describe(trace, nd), "sentence")]
    for i in dict.fromkeys(nd.inputs):
        lines += _array_block(f"{trace.nodes[i].name} =", trace.nodes[i].value, full)
    lines += _array_block(f"{nd.name} =", nd.value, full)
    return lines


def backward_lines(trace: Trace, step: BackwardStep, full: bool = False) -> list[Line]:
    """A backward step: the upstream gradient (as a sum where the value fed several places),
    then for each input its formula, the chain rule with numbers, and any broadcast sum."""
    nd = trace.nodes[step.node]
    lines = [Line(f"{nd.name}  ({nd.op}, shape {nd.shape})", "heading"),
             Line(describe(trace, nd), "sentence")]
    said = detail(trace, nd)
    if said:
        lines.append(Line(said, "note"))
    lines += _array_block(f"upstream {grad_name(trace, step.node)} =", step.upstream, full)
    total = gradient_sum(trace, step)
    if total:
        lines.append(Line(total, "equation"))
    elif not step.terms and step.node == trace.root:
        lines.append(Line("∂L/∂L = 1: the backward pass starts at the loss", "note"))
    for record in step.inputs:
        lines.append(Line(f"→ {trace.nodes[record.node].name}:  {formula(trace, step, record)}",
                          "formula"))
        lines.append(Line("  " + chain_rule(trace, step, record), "equation"))
        local = local_name(trace, step.node, record.node)
        edge = EdgeView(trace, step, record)
        if edge.note:
            lines.append(Line(f"  {edge.note}", "note"))
        if edge.kind == "elementwise" and record.local.size > 1:
            if np.all(record.local == record.local.flat[0]):
                lines.append(Line(f"  local {local} = {number(record.local.flat[0])} everywhere",
                                  "value"))
            else:
                lines += _array_block(f"  local {local} =", record.local, full)
        elif edge.kind == "structural":
            jac = edge.jacobian
            if jac is not None and jac.size > 1 and (full or jac.size <= SMALL):
                lines += _array_block(f"  Jacobian {local} =", jac, full)
        if record.reduced_axes:
            lines += _array_block("  before the sum =", record.unreduced, full)
        if record.contribution.size > 1:
            lines += _array_block("  contribution =", record.contribution, full)
        if trace.uses(record.node) > 1 or record.grad_before.any():
            lines.append(Line(f"  {grad_name(trace, record.node)} so far: "
                              f"{short(record.grad_before)} → {short(record.grad_after)}", "note"))
    return lines


def update_lines(record: Any, optimizer_formula: str, full: bool = False) -> list[Line]:
    """An optimizer step on one parameter: before, gradient, change and after."""
    lines = [Line(f"update {record.name}", "heading"), Line(optimizer_formula, "formula")]
    lines += _array_block("value   =", record.before, full)
    lines += _array_block("grad    =", record.grad, full)
    lines += _array_block("change  =", record.change, full)
    lines += _array_block("new     =", record.after, full)
    for key, value in record.state.items():
        lines += _array_block(f"{key} =", value, full)
    return lines


def loss_value(value: float) -> str:
    """A loss value, with :data:`tracer.sizes.LOSS_DIGITS` significant digits."""
    return number(value, LOSS_DIGITS)


def loss_change(before: float, after: float | None = None) -> str:
    """How a loss change is written everywhere: ``loss 0.298371 → 0.291028``; ``loss
    0.298371`` while the loss after is not known (``after`` is ``None``)."""
    text = f"loss {loss_value(before)}"
    return text if after is None else f"{text} → {loss_value(after)}"


def loss_trail(values: list[float], digits: int = 4) -> str:
    """A run of losses across iterations, compactly: ``0.2984 → 0.291 → 0.2838``."""
    return " → ".join(number(v, digits) for v in values)


def outcome_lines(loss_before: float, loss_after: float) -> list[Line]:
    """The loss before the update and after it, from a re-run forward pass."""
    change = loss_after - loss_before
    verdict = "lower" if change < 0 else ("higher: the step overshot" if change > 0
                                          else "unchanged")
    return [Line("after the update", "heading"),
            Line(f"{loss_change(loss_before, loss_after)}  "
                 f"({'+' if change > 0 else ''}{number(change, 3)}, {verdict})", "equation")]


# --- quiz -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Question:
    """A backward step asked as a question: ``lines`` to show, and the ``answer`` (a number) when
    it can be typed in, ``None`` when the gradient is an array."""

    lines: list[Line]
    answer: float | None


def quiz_question(trace: Trace, step: BackwardStep) -> Question | None:
    """The chain rule of ``step`` with its known numbers and a ``?`` where the product goes.

    Asks about the step's first differentiable input; ``None`` for a leaf (nothing to compute).
    """
    record = next((r for r in step.inputs if r.differentiable), None)
    if record is None:
        return None
    nd = trace.nodes[step.node]
    lhs = grad_name(trace, record.node)
    up, loc = grad_name(trace, step.node), local_name(trace, step.node, record.node)
    lines = [Line(f"{nd.name}  ({nd.op}): what is {lhs}?", "heading"),
             Line(describe(trace, nd), "sentence"),
             Line(formula(trace, step, record), "formula")]
    scalar = record.contribution.size == 1 and step.upstream.size == 1
    if scalar and record.local is not None:
        lines.append(Line(f"{lhs} = {up} × {loc} = {short(step.upstream)} × "
                          f"{short(record.local)} = ?", "equation"))
    elif scalar:
        lines.append(Line(f"{lhs} = {up} · {loc} with {up} = {short(step.upstream)}: ?",
                          "equation"))
    else:
        lines.append(Line(f"{lhs} = ?  (an array of shape {record.contribution.shape})",
                          "equation"))
    lines.append(Line("type a to answer, n to reveal", "note"))
    return Question(lines, float(record.contribution.item()) if scalar else None)


def grade(guess: str, answer: float) -> tuple[bool, str]:
    """Whether a typed ``guess`` matches ``answer`` to the precision shown (1% or 0.001), and a
    sentence saying so."""
    try:
        value = float(guess.replace("−", "-").strip())
    except ValueError:
        return False, f"{guess!r} is not a number; the answer is {number(answer)}"
    right = abs(value - answer) <= max(1e-3, 0.01 * abs(answer))
    verdict = "right" if right else "not quite"
    return right, f"{number(value)}: {verdict}, the answer is {number(answer)}"


# --- what-ifs: values as text a person can edit, and back ------------------------------------


def literal(a: Array) -> str:
    """An array as Python literal text at full precision: ``0.15``, ``[[0.1, 0.2]]``."""
    a = np.asarray(a)
    return repr(a.item()) if a.ndim == 0 else repr(a.tolist())


def parse_assignment(text: str) -> tuple[str, float | list]:
    """``"w1 = 0.5"`` or ``"b = [0.1, -0.2]"`` -> ``(name, value)``; ``ValueError`` otherwise.

    Only number literals and lists of them are read (``ast.literal_eval``): nothing is executed.
    """
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"write NAME = VALUE (e.g. w1 = 0.5 or lr = 0.1), not {text!r}")
    try:
        parsed = ast.literal_eval(value.strip().replace("−", "-"))
        array = np.array(parsed, dtype=np.float64)
    except (ValueError, SyntaxError, TypeError):
        raise ValueError(f"{value.strip()!r} is not a number or a list of numbers") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, not {value.strip()}")
    return name, array.item() if array.ndim == 0 else array.tolist()
