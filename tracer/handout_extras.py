"""What a printed handout shows beyond the records' own lines: an image input drawn as a grid,
a loss's gradient worked out with its numbers, where the network came from without this
machine's paths, and the graph as a picture when Graphviz is installed."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np

from . import explain
from .record import BackwardStep, Node, Trace

SHADES = ((0.75, "█"), (0.5, "▓"), (0.25, "▒"), (1e-9, "░"))  # ink from dark to light
DOT_TIMEOUT = 20  # seconds Graphviz may take to draw the graph


def image_lines(node: Node) -> list[str] | None:
    """An input that looks like a small grey-scale image (a square number of values from 0 to
    1, at least 4×4, at most 28×28) drawn as a grid, one cell per pixel; else ``None``."""
    if node.kind != "input" or node.value.ndim > 2:
        return None
    values = np.asarray(node.value, dtype=float)
    side = math.isqrt(values.size)
    square = values.ndim == 2 and values.shape[0] == values.shape[1]
    if not (square or (values.ndim == 1 and side * side == values.size)) or not 4 <= side <= 28:
        return None
    if values.min() < 0 or values.max() > 1:
        return None
    rows = values.reshape(side, side)
    return ["".join(next((c for level, c in SHADES if v >= level), "·") * 2 for v in row)
            for row in rows]


def loss_working(trace: Trace, step: BackwardStep) -> str | None:
    """The gradient of a loss at its prediction, worked out with the numbers: ``2·(4.2 − 5) =
    -1.6`` for a mean squared error, softmax minus one-hot for a cross-entropy."""
    op = trace.nodes[step.node].op
    if op not in ("mse", "cross_entropy") or not step.inputs:
        return None
    pred, target = (trace.nodes[r.node] for r in step.inputs[:2])
    grad = step.inputs[0].contribution
    name = explain.grad_name(trace, pred.id)
    if op == "mse":
        n = pred.value.size
        scale = "2" if n == 1 else f"2/{n}"
        return (f"{name} = {scale}·({pred.name} − {target.name}) = {scale}·"
                f"({explain.short(pred.value)} − {explain.short(target.value)}) = "
                f"{explain.short(grad)}")
    scores = np.atleast_2d(pred.value)
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = (shifted / shifted.sum(axis=-1, keepdims=True)).reshape(pred.value.shape)
    onehot = np.zeros_like(scores)
    onehot[np.arange(len(onehot)), np.asarray(target.value, dtype=int).reshape(-1)] = 1
    onehot = onehot.reshape(pred.value.shape)
    batch = "" if scores.shape[0] == 1 else f" (÷{scores.shape[0]}, the batch's mean)"
    return (f"{name} = softmax({pred.name}) − one-hot({target.name}) = "
            f"{explain.short(probs)} − {explain.short(onehot)} = {explain.short(grad)}{batch}")


def where_from(source: str | None, name: str) -> str | None:
    """Where the network came from, without this machine's directories: a built-in
    scenario's name, a file relative to the working directory, else its file name."""
    if not source:
        return None
    path = Path(source)
    builtin = Path(__file__).resolve().parent.parent / "scenarios" / "builtin"
    if path.resolve().parent == builtin:
        return f"the built-in scenario {name} (gradstep list shows them all)"
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def graph_picture(dot_source: str) -> str | None:
    """The graph drawn by Graphviz's ``dot`` as SVG text, or ``None`` when ``dot`` is not
    installed (or fails)."""
    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        done = subprocess.run([dot, "-Tsvg"], input=dot_source, capture_output=True, text=True,
                              timeout=DOT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and "<svg" in done.stdout else None


GET_GRAPHVIZ = ("For a picture of the graph install Graphviz (apt install graphviz, brew install "
                "graphviz or graphviz.org), then run gradstep trace {name} --format markdown "
                "again, or gradstep export {name} --dot g.dot && dot -Tsvg g.dot -o g.svg.")
