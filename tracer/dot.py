"""The recorded graph as Graphviz DOT, for slides and papers (``gradstep export --dot``).

Each node is labelled with its name, op, value and gradient (numbers by
:func:`tracer.explain.short`); parameters, inputs, constants and the loss are drawn in distinct
shapes and colours; edges run input -> output, as values flow forward, each labelled with the
gradient that flowed back along it. Render with ``dot -Tsvg graph.dot -o graph.svg``.
"""

from __future__ import annotations

import numpy as np

from .explain import short
from .record import Trace

# Graphviz attributes per node kind: parameters stand out (they are what training changes),
# the loss is where the backward pass starts, inputs and constants recede.
STYLES: dict[str, dict[str, str]] = {
    "param": {"shape": "box", "style": "filled,rounded,bold", "fillcolor": "#fde68a",
              "color": "#b45309"},
    "input": {"shape": "ellipse", "style": "filled", "fillcolor": "#dbeafe", "color": "#1d4ed8"},
    "constant": {"shape": "ellipse", "style": "filled,dashed", "fillcolor": "#f3f4f6",
                 "color": "#6b7280"},
    "op": {"shape": "box", "style": "filled", "fillcolor": "#ffffff", "color": "#374151"},
    "loss": {"shape": "doubleoctagon", "style": "filled,bold", "fillcolor": "#fecaca",
             "color": "#b91c1c"},
}


def quote(text: str) -> str:
    """``text`` as a DOT double-quoted string (``\\n`` inside it becomes a centred line break)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attrs: dict[str, str]) -> str:
    return ", ".join(f"{key}={quote(value)}" for key, value in attrs.items())


def node_id(node: int) -> str:
    """The DOT identifier of node ``node`` (``n0``, ``n1``, ...): names may repeat or contain
    anything, so they are labels, never identifiers."""
    return f"n{node}"


def to_dot(trace: Trace, title: str | None = None, digits: int = 4) -> str:
    """The graph of ``trace`` as a Graphviz ``digraph``.

    Parameters
    ----------
    trace
        A recorded forward and backward pass.
    title
        Shown above the graph; none when ``None``.
    digits
        Significant digits of the numbers in the labels.

    Returns
    -------
    str
        DOT source: one statement per node (``n3 [label="w5\\nparam\\nvalue 0.4\\ngrad 0.08217",
        ...]``) in forward order, then one per edge (``n3 -> n5 [label="← 0.08217"]``), the label
        being the gradient the edge carried back (summed where an op used the input twice).
    """
    lines = ["digraph gradstep {",
             '  graph [rankdir="LR", fontname="Helvetica", nodesep="0.3", ranksep="0.5"'
             + (f", label={quote(title)}, labelloc=\"t\"" if title else "") + "];",
             '  node [fontname="Helvetica", fontsize="11"];',
             '  edge [fontname="Helvetica", fontsize="9", color="#6b7280", fontcolor="#b45309"];']
    for node in trace.nodes:
        label = (f"{node.name}\n{node.op}\nvalue {short(node.value, digits)}\n"
                 f"grad {short(node.grad, digits)}")
        style = {"label": label, **STYLES.get(node.kind, STYLES["op"]),
                 "tooltip": f"{node.kind}, shape {node.shape}"}
        lines.append(f"  {node_id(node.id)} [{_attrs(style)}];")
    for source, target in trace.graph.edges:
        sent = ([] if trace.step_of(target) is None else
                [r.contribution for r in trace.backward_step(target).inputs if r.node == source])
        attrs = {"label": "← " + short(np.sum(sent, axis=0), digits)} if sent else {}
        lines.append(f"  {node_id(source)} -> {node_id(target)}"
                     + (f" [{_attrs(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"
