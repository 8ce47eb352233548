"""Words and numbers for people: every text the CLI prints and the TUI shows is made here.

Numbers are formatted one way everywhere (:func:`number`), arrays are shown in full when small
and summarised when not (:func:`array_lines`), and each backward step's chain rule is written
with its actual values (:func:`chain_rule`).
"""

from __future__ import annotations

import numpy as np

from .record import BackwardStep, InputGrad, Node, Trace

Array = np.ndarray

SMALL = 16  # arrays with at most this many elements are shown in full


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
    if a.size <= 6:
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

    Scalars are one number; vectors one row; matrices one row per line with the columns aligned.
    Higher dimensions and large arrays are summarised unless ``full``.
    """
    a = np.asarray(a)
    if a.ndim == 0 or (a.size == 1 and a.ndim <= 1):
        return [number(a.item(), digits)]
    if (a.size > SMALL and not full) or a.ndim > 2:
        return [summary(a)]
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
    return op.formulas[record.position] if op else ""


def chain_rule(trace: Trace, step: BackwardStep, record: InputGrad, digits: int = 4) -> str:
    """One line of the chain rule with its numbers.

    ``∂L/∂net = ∂L/∂out × ∂out/∂net = 0.7414 × 0.1868 = 0.1385`` for scalars; arrays are named
    with their short form, and a broadcast input says which axes its gradient was summed over.
    """
    lhs = grad_name(trace, record.node)
    up, loc = grad_name(trace, step.node), local_name(trace, step.node, record.node)
    if not record.differentiable:
        return f"{trace.nodes[record.node].name} gets no gradient (it is a label, not a value)"
    if record.local is None:  # structural op: a vector-Jacobian product
        text = f"{lhs} = vjp({up}) = {short(record.contribution, digits)}"
    else:
        product = " × " if step.upstream.size == 1 and record.local.size == 1 else " ⊙ "
        product_value = record.unreduced if record.reduced_axes else record.contribution
        text = (f"{lhs} = {up} × {loc} = {short(step.upstream, digits)}{product}"
                f"{short(record.local, digits)} = {short(product_value, digits)}")
    if record.reduced_axes:
        text += (f", summed over axis {', '.join(map(str, record.reduced_axes))} back to shape "
                 f"{trace.nodes[record.node].shape} = {short(record.contribution, digits)}")
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
    names = {letter: trace.nodes[i].name for letter, i in zip(op.letters, node.inputs, strict=True)}
    return op.sentence.format(out=node.name, **names)


def expression(trace: Trace, node: Node) -> str:
    """How the node was computed, in its inputs' names: ``mul_1 = w1 · i1``."""
    op = trace.op(node.id)
    if op is None:
        return f"{node.name} = {short(node.value)}"
    names = {letter: trace.nodes[i].name for letter, i in zip(op.letters, node.inputs, strict=True)}
    return f"{node.name} = {op.symbol.format(**names, **node.attrs)}"
