"""One training cycle, rendered for people and programs: JSON, plain text and Markdown.

:func:`run_report` runs a network's cycle (and optionally more training iterations) and keeps
what the renderings need; :func:`to_json` gives the ``gradstep trace --json`` object, and
:func:`to_text` / :func:`to_markdown` the readable handout. Both readable forms are built from
one list of :class:`Block` and use :mod:`tracer.explain` for every number and equation.

Non-finite numbers (NaN, ±infinity) cannot be JSON numbers; :func:`jsonable` writes them as the
strings ``"nan"``, ``"inf"`` and ``"-inf"`` (as :func:`tracer.explain.number` shows them), so
the output is always valid JSON.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import explain, narration
from . import handout_extras as extras
from .dot import to_dot
from .edges import EdgeView
from .jsonable import jsonable
from .network import Cycle, Network
from .record import BackwardStep, InputGrad, Trace
from .training import History, Stop, StopCondition, run

SCHEMA_VERSION = 1
TRAINING_ROWS = 20  # the readable forms show at most about this many iterations of --steps
UPDATE_DIGITS = 6  # the update table is where published numbers get checked


@dataclass(frozen=True)
class Report:
    """A recorded cycle and what surrounds it: the network's words, and optional training.

    Attributes
    ----------
    network
        The network, for its name, title, description, source and optimizer.
    cycle
        The first recorded cycle (forward, backward, update, loss after).
    prediction, prediction_after
        The network's words for its prediction before and after the update (``None`` when it
        has no ``prediction_text``).
    losses
        With ``steps``: the loss before each iteration, then after the last.
    final_prediction
        With ``steps``: the prediction after the last iteration.
    stop
        Where a stop condition fired, if one did (training then ended there).
    """

    network: Network
    cycle: Cycle
    prediction: str | None = None
    prediction_after: str | None = None
    losses: tuple[float, ...] | None = None
    final_prediction: str | None = None
    stop: Stop | None = None


def run_report(network: Network, steps: int | None = None,
               until: Sequence[StopCondition] = (),
               progress: Callable[[int, int, float], None] | None = None) -> Report:
    """Run one cycle of ``network`` and, with ``steps``, train until ``steps`` iterations are
    done or a condition of ``until`` fires (see :func:`tracer.training.run`).

    Parameters
    ----------
    network
        Updated in place (its parameters move).
    steps
        Total iterations to run, the recorded one included (at least 1); ``None`` for one cycle
        without a loss history.
    until, progress
        As :func:`tracer.training.run` takes them (with ``steps``).
    """
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    history = History(network)
    stop = None
    if steps is None:
        history.step(record=True)
    else:
        stop = run(history, steps, until, progress).stop
    cycle = history.cycle(history.first)
    words = network.prediction_text
    following = history.cycle(history.first + 1) if len(history) > 1 and words else None
    upcoming = network.upcoming() if words else None
    before = words(cycle.trace) if words else None
    after = words(following.trace if following else upcoming) if words else None
    losses = final = None
    if steps is not None:
        losses = (*history.losses, history.losses_after[-1])
        final = words(upcoming) if words else None
    return Report(network, cycle, before, after, losses, final, stop)


def stop_json(stop: Stop) -> dict[str, Any]:
    """Where a run stopped, for ``trace --json``'s ``stopped``."""
    moment = stop.cycle.timeline[stop.position]
    node = moment.node
    return {"condition": stop.condition.name, "iteration": stop.iteration,
            "phase": moment.phase, "step": moment.index,
            "node": node, "name": None if node is None else stop.cycle.trace.nodes[node].name,
            "message": stop.message}


# --- JSON ---------------------------------------------------------------------------------------


def _local(trace: Trace, step: BackwardStep, record: InputGrad) -> tuple[Any, str | None]:
    if not record.differentiable:
        return None, None
    if record.local is not None:
        return jsonable(record.local), "elementwise"
    jacobian = trace.jacobian(step, record.position)
    return (None, None) if jacobian is None else (jsonable(jacobian), "jacobian")


def _backward_json(trace: Trace, step: BackwardStep) -> dict[str, Any]:
    node = trace.nodes[step.node]
    inputs = []
    for record in step.inputs:
        local, kind = _local(trace, step, record)
        inputs.append({
            "node": record.node,
            "name": trace.nodes[record.node].name,
            "position": record.position,
            "local": local,
            "local_kind": kind,
            "contribution": jsonable(record.contribution),
            "reduced_axes": list(record.reduced_axes),
            "grad_before": jsonable(record.grad_before),
            "grad_after": jsonable(record.grad_after),
            "differentiable": record.differentiable,
            "formula": explain.formula(trace, step, record),
            "chain_rule": explain.chain_rule(trace, step, record),
        })
    return {
        "step": step.index,
        "node": step.node,
        "name": node.name,
        "op": node.op,
        "upstream": jsonable(step.upstream),
        "terms": [{"node": k, "contribution": jsonable(c)} for k, c in step.terms],
        "inputs": inputs,
    }


def to_json(report: Report) -> dict[str, Any]:
    """The ``gradstep trace --json`` object (docs/trace-json.md lists its keys)."""
    network, cycle = report.network, report.cycle
    trace = cycle.trace
    optimizer = network.optimizer
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "scenario": network.name,
        "title": network.title,
        "description": network.description,
        "source": network.source,
        "optimizer": {"name": optimizer.name, "lr": optimizer.lr,
                      "description": cycle.optimizer, "formula": optimizer.formula},
        "iteration": cycle.iteration,
        "loss": jsonable(cycle.loss),
        "prediction": report.prediction,
        "nodes": [{
            "id": n.id, "name": n.name, "op": n.op, "kind": n.kind, "inputs": list(n.inputs),
            "shape": list(n.shape), "value": jsonable(n.value), "grad": jsonable(n.grad),
            "expression": explain.expression(trace, n),
        } for n in trace.nodes],
        "backward": [_backward_json(trace, step) for step in trace.backward],
        "params": {u.name: {
            "value": jsonable(u.before), "grad": jsonable(u.grad), "update": jsonable(u.change),
            "new": jsonable(u.after), "state": {k: jsonable(v) for k, v in u.state.items()},
        } for u in cycle.updates},
        "loss_after": jsonable(cycle.loss_after),
        "prediction_after": report.prediction_after,
    }
    if report.losses is not None:
        out["steps"] = len(report.losses) - 1
        out["losses"] = jsonable(list(report.losses))
        out["final_prediction"] = report.final_prediction
        out["stopped"] = None if report.stop is None else stop_json(report.stop)
    return out


def dumps(report: Report, indent: int | None = 2) -> str:
    """:func:`to_json` as a JSON string (always valid JSON: no NaN or Infinity literals)."""
    return json.dumps(to_json(report), indent=indent, ensure_ascii=False, allow_nan=False)


# --- the readable handout -----------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A piece of the handout: ``heading`` (with ``level``), ``paragraph``, ``lines`` (kept
    as they are, one per line), ``table`` (``header`` and ``rows``), ``steps`` (a numbered
    list whose ``rows`` are ``(label, sentence)`` pairs) or ``picture`` (the graph: ``lines``
    holds its DOT source, ``text`` the network's name)."""

    kind: str
    text: str = ""
    level: int = 2
    lines: tuple[str, ...] = ()
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def _forward_lines(trace: Trace) -> list[str]:
    lines = []
    for node in trace.nodes:
        text = explain.expression(trace, node)
        if trace.op(node.id) is not None:
            text += f" = {explain.short(node.value)}"
        lines.append(text if node.kind in ("op", "loss") else f"{text}  ({node.kind})")
    return lines


def _backward_lines(trace: Trace) -> list[str]:
    lines = [f"∂L/∂{trace.nodes[trace.root].name} = 1: the backward pass starts at the loss"]
    for step in trace.backward:
        working = extras.loss_working(trace, step)
        fork = explain.gradient_sum(trace, step)
        if fork:
            lines.append(f"{fork}  ← it fed {len(step.terms)} places, so the gradients add")
        for record in step.inputs:
            line = explain.chain_rule(trace, step, record)
            # Where the equation could not end with the result (too big to write inside it,
            # or summed over broadcast axes after it), give the result after it.
            edge = EdgeView(trace, step, record)
            ends_with_result = edge.inline and not record.reduced_axes
            lines.append(line if record.contribution.size == 1 or ends_with_result
                         else f"{line}  → {explain.short(record.contribution)}")
            if working and record is step.inputs[0]:  # the loss's gradient, worked out
                lines.append(f"  that is {working}")
    return lines


def _training_rows(losses: Sequence[float]) -> list[tuple[str, str]]:
    every = max(1, math.ceil((len(losses) - 1) / TRAINING_ROWS))
    shown = sorted({*range(0, len(losses), every), len(losses) - 1})
    return [(str(k), explain.loss_value(losses[k])) for k in shown]


def handout(report: Report) -> list[Block]:
    """The readable report as blocks: the network, the forward pass, each backward step as a
    line of the chain rule, the update table, and the loss before and after."""
    network, cycle = report.network, report.cycle
    trace = cycle.trace
    heading = network.name if network.title in ("", network.name) else (
        f"{network.name}: {network.title}")
    blocks = [Block("heading", heading, level=1)]
    if network.description:
        blocks.append(Block("paragraph", network.description))
    about = f"Optimizer: {cycle.optimizer}. Iteration {cycle.iteration}."
    source = extras.where_from(network.source, network.name)
    blocks.append(Block("paragraph", about + (f" Source: {source}." if source else "")))
    blocks.append(Block("picture", network.name, lines=(to_dot(trace, heading),)))
    blocks += [Block("heading", f"Forward pass ({len(trace.nodes)} nodes)"),
               Block("lines", lines=tuple(_forward_lines(trace)))]
    for node in trace.nodes:
        picture = extras.image_lines(node)
        if picture:
            side = len(picture)
            blocks += [Block("paragraph", f"{node.name} as a {side}×{side} picture (█ is 1, "
                                          "· is 0):"), Block("lines", lines=tuple(picture))]
    summary = f"Loss: {explain.loss_value(cycle.loss)}."
    if report.prediction:
        summary += f" Prediction: {report.prediction}."
    blocks.append(Block("paragraph", summary))
    blocks += [Block("heading", "Backward pass: the chain rule, step by step"),
               Block("lines", lines=tuple(_backward_lines(trace)))]
    blocks.append(Block("heading", f"Update: {cycle.optimizer}"))
    if network.optimizer.formula:
        blocks.append(Block("paragraph", network.optimizer.formula))
    blocks.append(Block("table", header=("param", "value", "gradient", "change", "new"), rows=tuple(
        (u.name, *(explain.short(a, UPDATE_DIGITS) for a in (u.before, u.grad, u.change,
                                                              u.after)))
        for u in cycle.updates)))
    blocks.append(Block("heading", "Loss before and after the update"))
    outcome = [line.text for line in explain.outcome_lines(cycle.loss, cycle.loss_after)[1:]]
    if report.prediction_after:
        outcome.append(f"prediction after: {report.prediction_after}")
    blocks.append(Block("lines", lines=tuple(outcome)))
    blocks.append(Block("heading", "Step by step, in words"))
    words = narration.narrate_timeline(cycle, prediction=report.prediction,
                                       prediction_after=report.prediction_after)
    blocks.append(Block("steps", rows=tuple(
        (narration.title(cycle, m), text) for m, text in zip(cycle.timeline, words, strict=True))))
    if report.losses is not None:
        blocks.append(Block("heading", f"Training: {len(report.losses) - 1} iterations"))
        blocks.append(Block("table", header=("iteration", "loss before it"),
                            rows=tuple(_training_rows(report.losses))))
        final = f"Final loss {explain.loss_value(report.losses[-1])}."
        if report.stop is not None:
            final = f"Training {report.stop.message}. " + final
        if report.final_prediction:
            final += f" Prediction: {report.final_prediction}."
        blocks.append(Block("paragraph", final))
    return blocks


def _table_text(block: Block) -> list[str]:
    cells = [block.header, *block.rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(block.header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return ["  " + line for line in lines]


def to_text(report: Report, width: int = 100) -> str:
    """The handout as plain text for a terminal or a file."""
    out: list[str] = []
    for block in handout(report):
        if block.kind == "heading":
            rule = "=" if block.level == 1 else "-"
            out += ["", block.text, rule * len(block.text)] if out and out[-1] else [
                block.text, rule * len(block.text)]
        elif block.kind == "paragraph":
            out += [*textwrap.wrap(block.text, width), ""]
        elif block.kind == "lines":
            out += [*("  " + line for line in block.lines), ""]
        elif block.kind == "steps":  # one line each: a sentence is found by its step number
            out += [*(f"  {k}. {label}: {text}" for k, (label, text) in
                      enumerate(block.rows, 1)), ""]
        elif block.kind == "picture":  # plain text holds no picture: say how to get one
            out += [*textwrap.wrap(extras.GET_GRAPHVIZ.format(name=block.text), width), ""]
        else:
            out += [*_table_text(block), ""]
    return "\n".join(out).strip("\n") + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _inline(text: str) -> str:
    """Text in running Markdown: characters that would start emphasis, code or HTML escaped."""
    for char in "\\*`<":
        text = text.replace(char, "\\" + char)
    return text


def to_markdown(report: Report) -> str:
    """The handout as Markdown: headings, equations in fenced blocks, tables."""
    out: list[str] = []
    for block in handout(report):
        if block.kind == "heading":
            out += [f"{'#' * block.level} {block.text}", ""]
        elif block.kind == "paragraph":
            out += [block.text, ""]
        elif block.kind == "lines":
            out += ["```text", *block.lines, "```", ""]
        elif block.kind == "steps":
            out += [*(f"{k}. **{_inline(label)}**: {_inline(text)}" for k, (label, text) in
                      enumerate(block.rows, 1)), ""]
        elif block.kind == "picture":
            svg = extras.graph_picture(block.lines[0])
            out += [svg[svg.index("<svg"):].strip() if svg else
                    _inline(extras.GET_GRAPHVIZ.format(name=block.text)), ""]
        else:
            out.append("| " + " | ".join(map(_cell, block.header)) + " |")
            out.append("|" + "|".join(" --- " for _ in block.header) + "|")
            out += ["| " + " | ".join(map(_cell, row)) + " |" for row in block.rows]
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
