"""What a node's box says at the current moment, fitted to the box's width.

Numbers are rounded to fit (``4.98e-4``, never a cut ``0.000497``) and names cut with ``…``.
In the update phase a parameter's box follows its update: ``0.4 → 0.3589`` on its own step, the
new value once updated; at the outcome every box shows the forward pass re-run after the update
(:attr:`tracer.network.Cycle.values_after`), the one the narration's new loss comes from.
No Textual import: testable as text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracer import explain
from tracer.timeline import STEP_PHASES

from .graph_canvas import cut
from .state import Debugger

Array = np.ndarray

UNKNOWN = "·"
ARROW = " → "  # value before → after an update, where there is room for the spaces


def _exponent(x: float, digits: int) -> str:
    mantissa, exponent = f"{x:.{max(digits - 1, 0)}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def fit_number(x: float, width: int) -> str:
    """``x`` with as many significant digits (4 at most) as ``width`` cells allow.

    At each precision the plain form is preferred, then the exponent form: in 7 cells
    0.0004977 is ``4.98e-4``. Only when even one digit does not fit is the text cut.
    """
    x = float(x)
    for digits in (4, 3, 2, 1):
        plain = explain.number(x, digits)
        if len(plain) <= width:
            return plain
        if np.isfinite(x) and x != 0:
            short = _exponent(x, digits)
            if len(short) <= width:
                return short
    return cut(explain.number(x, 1), width)


def fit_value(a: Array | float, width: int) -> str:
    """A scalar or array in ``width`` cells: a small array as a list, rounded to fit."""
    a = np.asarray(a)
    if a.size == 1:
        return fit_number(a.item(), width)
    if a.size <= 6:
        values = a.ravel()
        for digits in (4, 3, 2, 1):
            for sep in (", ", ","):
                text = "[" + sep.join(explain.number(v, digits) for v in values) + "]"
                if len(text) <= width:
                    return text
    return cut(explain.short(a, 3), width)


@dataclass(frozen=True, slots=True)
class BoxNumbers:
    """A box's numbers at a moment: ``None`` where not known yet; ``new`` is the value an
    update is changing it to, on that update's step."""

    status: str  # "pending", "current" or "done"
    value: Array | None
    grad: Array | None
    new: Array | None = None


def update_node(debugger: Debugger) -> int | None:
    """The parameter node the current update step changes (``None`` at other steps)."""
    record = debugger.moment.record
    return record.node if debugger.phase == "update" else None


def _update_of(debugger: Debugger, node: int) -> int | None:
    """The position of ``node``'s update in the cycle's updates, if it is a parameter."""
    return next((k for k, u in enumerate(debugger.cycle.updates) if u.node == node), None)


def box_numbers(debugger: Debugger, node: int) -> BoxNumbers:
    """What ``node``'s box shows at the debugger's moment."""
    nd = debugger.trace.nodes[node]
    moment = debugger.moment
    if moment.phase in STEP_PHASES:
        state = debugger.node_state(node)
        return BoxNumbers(state.status, nd.value if state.value_known else None,
                          nd.grad if state.grad_known else None)
    if moment.phase == "outcome":
        # The re-run's values; its gradients are the next backward pass's, not known yet.
        after = debugger.cycle.values_after
        return BoxNumbers("done", nd.value if after is None else after[node], None)
    k = _update_of(debugger, node) if nd.kind == "param" else None
    if k is None:
        return BoxNumbers("done", nd.value, nd.grad)
    update = debugger.cycle.updates[k]
    if k < moment.index:
        return BoxNumbers("done", update.after, nd.grad)
    if k == moment.index:
        return BoxNumbers("current", update.before, nd.grad, update.after)
    return BoxNumbers("pending", nd.value, nd.grad)


def value_text(numbers: BoxNumbers, width: int) -> str:
    """The value in ``width`` cells: ``0.4 → 0.3589`` on an update's step (``→ 0.3589`` when
    both do not fit in full), ``·`` while unknown."""
    if numbers.value is None:
        return UNKNOWN
    if numbers.new is None:
        return fit_value(numbers.value, width)
    old, new = explain.short(numbers.value), explain.short(numbers.new)
    for arrow in (ARROW, "→"):
        if len(old) + len(arrow) + len(new) <= width:
            return old + arrow + new
    return "→" + fit_value(numbers.new, width - 1)


SEPARATORS = "_·./-"  # where a long name is best split over two lines


def _split(name: str, width: int) -> int | None:
    """Where ``name`` splits into two lines of ``width`` cells at a separator (a product's
    ``·`` first: ``w5·`` / ``out_h1``, else before ``_ . / -``: ``weighted`` / ``_h1``),
    or ``None`` when no separator gives two lines that fit."""
    products = [k + 1 for k in range(1, min(len(name) - 1, width))
                if name[k] == "·" and len(name) - k - 1 <= width]
    if products:
        return products[0]
    splits = [k for k in range(1, min(len(name), width + 1))
              if name[k] in SEPARATORS and len(name) - k <= width
              and not name[k - 1 : k + 2].replace(".", "").isdigit()]  # not inside 0.5
    return splits[-1] if splits else None


def name_lines(name: str, width: int) -> list[str]:
    """``name`` on one line of ``width`` cells, or two split at a separator (see
    :func:`name_width` for the width that needs); in a box narrower than that, at the width,
    and what still does not fit is cut with ``…``."""
    if len(name) <= width:
        return [name]
    k = _split(name, width)
    if k is None:
        k = width
    return [name[:k], cut(name[k:], width)]


def name_width(name: str) -> int:
    """The narrowest box that shows ``name`` whole with no word cut: on one line, or on two
    split at a separator (``weighted_h1`` needs 8 cells: ``weighted`` / ``_h1``)."""
    return next((w for w in range(1, len(name))
                 if _split(name, w) is not None), len(name))


def grad_text(numbers: BoxNumbers, width: int) -> str:
    return UNKNOWN if numbers.grad is None else fit_value(numbers.grad, width)


def natural_width(debugger: Debugger, node: int) -> int:
    """Cells a compact box needs to show ``node``'s name and every number of the cycle at 4
    significant digits (value, gradient, updated value, value after the update)."""
    nd = debugger.trace.nodes[node]
    numbers = [explain.short(nd.value), "g" + explain.short(nd.grad)]
    k = _update_of(debugger, node) if nd.kind == "param" else None
    if k is not None:
        update = debugger.cycle.updates[k]
        new = "→" + explain.short(update.after)
        numbers.append(explain.short(update.before) + new if update.after.size == 1 else new)
    after = debugger.cycle.values_after
    if after is not None:
        numbers.append(explain.short(after[node]))
    return max(name_width(nd.name), *map(len, numbers))
