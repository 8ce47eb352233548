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
``torch-vjp-mismatch`` error     a PyTorch model's op of the op table: what PyTorch's backward sent
                                 differs from the table's vector-Jacobian product beyond the
                                 rounding of its dtype (see :mod:`.torchvjp`)
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

The package's modules: :mod:`.findings` (the records, thresholds and report text),
:mod:`.nonfinite`, :mod:`.flow` (layers, vanishing and exploding gradients), :mod:`.units`
(dead and saturated units), :mod:`.dependence` (unused parameters, zero gradients),
:mod:`.checks` (gradient checks), :mod:`.torchvjp` (PyTorch's backward against the op
table's) and :mod:`.breakpoints`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checkpoint import random_state_kept
from ..record import Trace
from ..tensor import Tensor
from .breakpoints import (
    Condition,
    break_on_dead_unit,
    break_on_gradcheck_failure,
    break_on_gradient_above,
    break_on_nonfinite,
)
from .checks import all_node_checks, node_checks
from .dependence import dependence
from .findings import (
    PHASES,
    SEVERITIES,
    THRESHOLDS,
    Finding,
    Thresholds,
    finite,
    headline,
    to_json,
    to_text,
    verdict,
)
from .flow import Layer, gradient_flow, layers
from .losscheck import recorded_values
from .nodecheck import NodeCheck
from .nodefindings import check_lines, node_findings
from .nonfinite import nonfinite_gradient, nonfinite_value
from .paramcheck import param_check_cost, param_findings, unchecked
from .torchvjp import torch_vjp_findings
from .training import Probe, one_step, training_findings
from .units import dead_units, saturated_units, units

if TYPE_CHECKING:
    from ..network import Network

__all__ = [
    "KINDS", "PHASES", "SEVERITIES", "THRESHOLDS", "Condition", "Finding", "Layer", "NodeCheck",
    "Probe", "Thresholds", "break_on_dead_unit", "break_on_gradcheck_failure",
    "break_on_gradient_above", "break_on_nonfinite", "check_lines", "dead_units", "diagnose",
    "diagnose_network", "diagnose_trace", "headline", "layers", "node_checks", "one_step",
    "param_check_cost", "problems", "recorded_values", "saturated_units", "to_json", "to_text",
    "verdict",
]

# --- everything together ------------------------------------------------------------------------

# Every kind, in the order findings of one severity are listed.
KINDS = ("nonfinite-value", "diverged", "nonfinite-gradient", "gradcheck-node",
         "torch-vjp-mismatch", "gradcheck-param",
         "summed-loss", "overshoot", "exploding-gradient", "vanishing-gradient", "dead-relu",
         "saturated", "per-example-param", "unused-param", "zero-gradient", "unchecked")


def diagnose(trace: Trace, forward: Callable[[], Tensor] | None = None, *,
             params: Sequence[Tensor] = (), thresholds: Thresholds = THRESHOLDS,
             probe: Callable[[], Probe] | None = None,
             skipped: str | None = None, checked: Trace | None = None) -> list[Finding]:
    """Everything wrong with the gradients of ``trace``, most serious first.

    Parameters
    ----------
    trace
        A recorded forward and backward pass (it may be from before an optimizer step; the
        checks probe the recorded values and put the parameters back).
    forward
        The network's forward function, for the whole-loss gradient check of the parameters;
        without it only the per-node checks run (and an ``unchecked`` note says so). The check
        sets the parameters' ``.data`` to probe values while it runs (and puts them back), so
        do not run the network meanwhile.
    params
        The parameters the network declares (``Network.params``), so that one ``forward()``
        never uses is found; parameters in the graph are always considered.
    thresholds
        Where a measure becomes a finding (see :class:`Thresholds`).
    probe
        One optimizer step from the recorded values (:func:`one_step`), to see whether an
        update overshoots.
    skipped
        Why the whole-loss check was not asked for, when ``forward`` is ``None`` on purpose
        (said in the ``unchecked`` note).
    checked
        The trace the gradient checks (per node, per parameter, PyTorch's backward against
        the op table) run on, when it is not ``trace``: a float32 PyTorch model's float64 copy
        of the same forward pass (:meth:`tracer.network.Network.checks_trace`), since
        finite differences need float64. It must be the same graph (else ``trace`` is
        checked); the other findings are about ``trace``'s own numbers.

    Returns
    -------
    list of Finding
        Errors first, then warnings, then notes; in forward order within a kind.
        ``[f for f in findings if f.is_problem]`` is empty for a healthy network.
    """
    found: list[Finding] = []
    with np.errstate(all="ignore"):  # the numbers may be anything; the findings say so
        found += [f for f in (nonfinite_value(trace), nonfinite_gradient(trace)) if f]
        covered = bool(found)
        exact = checked if checked is not None and _same_graph(trace, checked) else trace
        checks = all_node_checks(exact, thresholds)
        culprits = node_findings(exact, checks)
        found += culprits
        found += torch_vjp_findings(exact)
        healthy = np.isfinite(trace.loss) and all(finite(n.grad) for n in trace.params)
        whole = None
        if forward is None:
            skipped = skipped or "no forward function to re-run"
        elif not healthy:
            skipped = "the loss or a parameter's gradient is not finite"
        else:
            param_found, whole = param_findings(exact, forward, thresholds, culprits)
            found += param_found
        found += training_findings(trace, probe, thresholds)
        found += gradient_flow(trace, thresholds)
        found += units(trace, thresholds)
        found += dependence(trace, params)
        note = unchecked(exact, checks, whole, skipped, covered)
        if note is not None:
            found.append(note)
    rank = {kind: k for k, kind in enumerate(KINDS)}
    severity = {s: k for k, s in enumerate(SEVERITIES)}
    return sorted(found, key=lambda f: (severity[f.severity], rank[f.kind],
                                        -1 if f.node is None else f.node))


def _same_graph(a: Trace, b: Trace) -> bool:
    """Whether two traces are the same graph: node for node the same op on the same inputs."""
    return len(a.nodes) == len(b.nodes) and all(
        x.op == y.op and x.inputs == y.inputs for x, y in zip(a.nodes, b.nodes, strict=True))


def diagnose_trace(network: Network, trace: Trace, *, whole: bool = True,
                   optimizer_state: Any = None, skipped: str | None = None,
                   thresholds: Thresholds = THRESHOLDS) -> list[Finding]:
    """:func:`diagnose` ``trace``, a trace of ``network`` (the one the next iteration starts
    from, or an earlier cycle's): on its own numbers, with the gradient checks on
    :meth:`~tracer.network.Network.checks_trace` (a float32 PyTorch model's float64 copy), and
    forward() re-run as that trace's forward pass ran (:meth:`~tracer.network.Network.
    replaying`: its dropout masks and mini-batch), without moving any random numbers.

    ``whole`` adds the whole-loss check of the parameters and the one-step probe, from the
    optimizer's memory ``optimizer_state`` (an earlier cycle's; ``None``: as it is now);
    without it, ``skipped`` says why (see :func:`diagnose`).
    """
    with network.lock, random_state_kept(), network.replaying(trace):
        return diagnose(trace, network.forward if whole else None, params=network.params,
                        thresholds=thresholds, skipped=skipped,
                        probe=one_step(network, trace, optimizer_state) if whole else None,
                        checked=network.checks_trace(trace))


def diagnose_network(network: Network, thresholds: Thresholds = THRESHOLDS) -> list[Finding]:
    """Trace ``network`` at its current parameters (no update) and diagnose it
    (:func:`diagnose_trace`)."""
    return diagnose_trace(network, network.trace(), thresholds=thresholds)


def problems(findings: Sequence[Finding]) -> list[Finding]:
    """The errors and warnings among ``findings``."""
    return [f for f in findings if f.is_problem]


