"""Findings and their text: the :class:`Finding` record, the :class:`Thresholds` behind them, the
small helpers every diagnosis uses to quote numbers and positions, and the report (headline,
verdict, text and JSON)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .. import explain
from ..custom import origin
from ..gradcheck import TOLERANCE
from ..jsonable import jsonable
from ..record import Trace

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
        The relative error a gradient check accepts on top of what rounding and the step size
        explain (see :class:`tracer.gradcheck.Differences`).
    locate_limit
        A node's input of at most this many elements whose directional check fails is checked
        again element by element, to quote the worst element (each costs four runs of the op).
    param_check_limit
        Elements of a parameter whose whole-loss check fails that are measured one by one, to
        quote the worst (each costs two forward passes).
    overshoot
        One update that multiplies a positive loss by at least this much overshoots.
    batch_weight
        A loss whose examples weigh, together, at least this fraction of the batch size (1 for
        a mean) sums over the batch.
    diagnose_at_open
        A debugger diagnoses a graph of up to this many nodes as soon as it opens; a bigger one
        when asked (the checks would hold the UI up).
    param_check_at_open
        Seconds the whole-loss check of the parameters may take to run at open (estimated from
        the time of one forward pass); a longer one is offered with its cost.
    """

    vanishing_ratio: float = 1e3
    exploding_ratio: float = 1e3
    exploding_gradient: float = 1e3
    saturated_slope: float = 1e-3
    tolerance: float = TOLERANCE
    locate_limit: int = 2000
    param_check_limit: int = 50
    overshoot: float = 2.0
    batch_weight: float = 0.5
    diagnose_at_open: int = 1500
    param_check_at_open: float = 1.0


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


def make_finding(kind: str, severity: str, trace: Trace | None, node: int | None, phase: str | None,
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
    return Finding(kind, severity, node, name, phase, step, summary, " ".join(message.split()),
                   MappingProxyType(details))


# --- small helpers: positions, values, names ----------------------------------------------------


def sig(x: float, figures: int = 3) -> str:
    """``x`` rounded to ``figures`` significant figures, then written by explain.number
    (``706026.47`` -> ``706000``, ``1020.73`` -> ``1020``)."""
    return explain.number(float(f"{x:.{figures}g}"))


def index_text(idx: tuple[int, ...]) -> str:
    return "" if not idx else "[" + ", ".join(map(str, idx)) + "]"


def positions(mask: Array) -> list[tuple[int, ...]]:
    return [tuple(int(i) for i in idx) for idx in np.argwhere(mask)]


def listing(items: Sequence[str], limit: int = SHOWN) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def element(a: Array, idx: tuple[int, ...], shape: tuple[int, ...]) -> float:
    """Element ``idx`` of ``a`` broadcast to ``shape``."""
    return float(np.broadcast_to(a, shape)[idx])


def finite(a: Array) -> bool:
    return bool(np.isfinite(a).all())  # the method: np.all's dispatch costs more on scalars


def root_mean_square(arrays: Sequence[Array]) -> float:
    """The root mean square of all the elements, scaled first so that squares never overflow."""
    if len(arrays) == 1 and arrays[0].size == 1:  # a scalar's is its size (networks of scalars)
        return abs(float(arrays[0].flat[0]))
    flat = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.zeros(0)
    top = float(np.max(np.abs(flat))) if flat.size else 0.0
    if top == 0.0 or not np.isfinite(top):
        return top
    return top * float(np.sqrt(np.mean((flat / top) ** 2)))


def op_name(trace: Trace, node: int) -> str:
    op = trace.op(node)
    if op is None:
        return trace.nodes[node].kind
    where = origin(op)
    return f"{op.name}, a custom op defined at {where}" if where else op.name


# --- text and JSON ------------------------------------------------------------------------------

_LABELS = {"error": "error", "warning": "warning", "info": "note"}


def headline(finding: Finding) -> str:
    """``error nonfinite-value at log_q (forward step 9)``: the finding's first line. Steps are
    numbered from 1 here, in ``to_json`` and in the debugger's step list (``Finding.step`` is the
    record's index, from 0)."""
    where = f" at {finding.name}" if finding.name else ""
    step = f" ({finding.phase} step {finding.step + 1})" if finding.step is not None else ""
    return f"{_LABELS[finding.severity]} {finding.kind}{where}{step}"


def verdict(findings: Sequence[Finding]) -> str:
    """``2 problems: 1 error, 1 warning (and 1 note).`` or ``No problems found.``; when an
    ``unchecked`` note says something was not checked, the verdict says so too."""
    gaps = "".join(f" Not checked: {f.summary.removeprefix('not checked: ')}."
                   for f in findings if f.kind == "unchecked")
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    notes = counts["info"]
    note_text = f"{notes} note{'s' if notes != 1 else ''}"
    total = counts["error"] + counts["warning"]
    if not total:
        found = "No problems found in what was checked." if gaps else "No problems found."
        return found + (f" ({note_text}.)" if notes else "") + gaps
    parts = [f"{counts[s]} {s}{'s' if counts[s] != 1 else ''}" for s in ("error", "warning")
             if counts[s]]
    tail = f" (and {note_text})" if notes else ""
    return f"{total} problem{'s' if total != 1 else ''}: {', '.join(parts)}{tail}.{gaps}"


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

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return jsonable(value)

    return [{"kind": f.kind, "severity": f.severity, "node": f.node, "name": f.name,
             "phase": f.phase, "step": None if f.step is None else f.step + 1,
             "summary": f.summary, "message": f.message,
             "details": plain(f.details)} for f in findings]
