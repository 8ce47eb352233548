"""One backward edge as the debugger shows it: what ∂out/∂input looks like, and the product.

Where an input's gradient comes from is shown three ways (the inspector's lines, the narration's
sentence, the handout's chain rule); :class:`EdgeView` is the one answer they all read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .record import BackwardStep, InputGrad, Trace
from .sizes import INLINE

Array = np.ndarray


# What a value with no parameter upstream is, by its kind (the wording only: whether a node needs
# a gradient is InputGrad.needs_grad / Trace.step_of, never the kind).
_WHAT = {"input": "data", "constant": "a constant"}


def no_gradient_needed(trace: Trace, node: int) -> str:
    """``true_price is data: it needs no gradient, so no step of its own``."""
    nd = trace.nodes[node]
    what = _WHAT.get(nd.kind, "computed only from data and constants")
    return f"{nd.name} is {what}: it needs no gradient, so no step of its own"


@dataclass(frozen=True)
class EdgeView:
    """The backward edge from ``step``'s node to its input ``record.node``.

    ``kind`` is ``"label"`` (the input gets no gradient), ``"elementwise"`` (the op has a local
    factor: ``contribution = upstream ⊙ local``) or ``"structural"`` (a vector-Jacobian product;
    :attr:`jacobian` is the explicit matrix where it is small enough).
    """

    trace: Trace
    step: BackwardStep
    record: InputGrad

    @property
    def kind(self) -> str:
        if not self.record.differentiable:
            return "label"
        return "structural" if self.record.local is None else "elementwise"

    @property
    def note(self) -> str | None:
        """The one sentence for an input no parameter is upstream of (``record.needs_grad``
        false: data, targets, constants and what is computed only from them), else ``None``."""
        if self.record.needs_grad:
            return None
        return no_gradient_needed(self.trace, self.record.node)

    @property
    def upstream(self) -> Array:
        return self.step.upstream

    @property
    def local(self) -> Array | None:
        """The elementwise local factor ∂out/∂input (``None`` for a structural op)."""
        return self.record.local

    @property
    def product(self) -> Array:
        """upstream × local as computed, before any sum over broadcast axes."""
        record = self.record
        return record.unreduced if record.reduced_axes else record.contribution

    @property
    def contribution(self) -> Array:
        """What the input receives: the product summed back to the input's shape."""
        return self.record.contribution

    @cached_property
    def jacobian(self) -> Array | None:
        """∂out/∂input as a matrix (output elements × input elements) for a structural op,
        ``None`` otherwise or when too big (:data:`tracer.sizes.JACOBIAN_LIMIT`)."""
        if self.kind != "structural":
            return None
        return self.trace.jacobian(self.step, self.record.position)

    @property
    def factor(self) -> Array | None:
        """∂out/∂input to write as ``upstream × factor``: the elementwise factor, or for a
        scalar output the Jacobian's single row in the input's shape; ``None`` where neither
        fits."""
        if self.local is not None:
            return self.local
        if self.upstream.size == 1 and self.jacobian is not None:
            return self.jacobian.reshape(self.trace.nodes[self.record.node].shape)
        return None

    @property
    def scalar(self) -> bool:
        """Upstream and local factor are single numbers: the product is a plain ``×``."""
        return self.upstream.size == 1 and (self.local is None or self.local.size == 1)

    @property
    def inline(self) -> bool:
        """Whether the chain rule's numbers fit inside its one-line equation."""
        if self.local is None:
            return fits_inline(self.upstream, self.contribution)
        return fits_inline(self.upstream, self.local, self.product)


def fits_inline(*arrays: Array) -> bool:
    """Whether arrays are small enough to write inside a one-line equation (at most
    :data:`tracer.sizes.INLINE` elements, at most one axis)."""
    return all(a.size <= INLINE and a.ndim <= 1 for a in arrays)

