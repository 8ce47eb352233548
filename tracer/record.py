"""Recording a computation: the graph, the forward steps and the backward steps, as plain data.

:func:`trace` is the one backward engine: ``Tensor.backward()`` calls it too. Every array in a
record is a read-only view, so stepping back and forth shows exactly what was computed and
nothing is recomputed.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from operator import attrgetter
from types import MappingProxyType
from typing import Any, NamedTuple

import networkx as nx
import numpy as np

from .arrays import FLOAT64, constant, float64, frozen, shared
from .ops import Op, sum_to_shape, vjp_for
from .printable import printable
from .sizes import JACOBIAN_LIMIT
from .tensor import GraphError, Tensor, quiet

Array = np.ndarray


# Records are NamedTuples: immutable like frozen dataclasses, and several times cheaper to make,
# which matters because a trace makes one per node and one per edge.


class Node(NamedTuple):
    """One value of the computation, in forward order (``id`` is its position)."""

    id: int
    name: str
    op: str  # the op's name, or the kind for a leaf ("input", "param", "constant")
    kind: str  # "input", "param", "constant", "op" or "loss" (the root)
    inputs: tuple[int, ...]
    value: Array
    grad: Array
    attrs: Mapping[str, Any]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def is_leaf(self) -> bool:
        return not self.inputs and self.kind != "op"


class ForwardStep(NamedTuple):
    """Node ``node`` computed ``value`` from the values of ``inputs``."""

    index: int
    node: int
    inputs: tuple[int, ...]
    value: Array


class InputGrad(NamedTuple):
    """What one backward step sends to one of its inputs.

    ``contribution`` = upstream × local derivative, summed back to the input's shape. Where numpy
    broadcast the input, ``unreduced`` is the product before that sum and ``reduced_axes`` the
    axes summed over (this is where a bias's gradient is summed over the batch).
    ``local`` is the elementwise factor ∂out/∂input for elementwise ops, else ``None`` (see
    :meth:`Trace.jacobian`). ``differentiable`` is false for inputs such as class labels.
    ``needs_grad`` is false for an input no trainable parameter is upstream of (data, targets,
    constants and values computed only from them): its gradient is still computed and recorded
    here, but it gets no backward step of its own (PyTorch's ``requires_grad`` rule).
    """

    node: int
    position: int
    local: Array | None
    contribution: Array
    unreduced: Array | None
    reduced_axes: tuple[int, ...]
    grad_before: Array
    grad_after: Array
    differentiable: bool = True
    needs_grad: bool = True


class BackwardStep(NamedTuple):
    """One node's turn in the backward pass.

    ``upstream`` is ∂L/∂node; ``terms`` lists what each consumer contributed to it, in the order
    they were added, so a value that fed several places shows its gradient as a sum.
    """

    index: int
    node: int
    upstream: Array
    terms: tuple[tuple[int, Array], ...]
    inputs: tuple[InputGrad, ...]


@dataclass(frozen=True)
class Trace:
    """The whole record of one forward and backward pass from a scalar ``root``."""

    nodes: tuple[Node, ...]
    backward: tuple[BackwardStep, ...]
    tensors: tuple[Tensor, ...]
    root: int

    @cached_property
    def forward(self) -> tuple[ForwardStep, ...]:
        """One step per node in forward order: node ``k`` computed its value from its inputs'
        (the nodes' own values; these records only put them in step form)."""
        return tuple([ForwardStep(k, k, nd.inputs, nd.value) for k, nd in enumerate(self.nodes)])

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The graph as a ``networkx.DiGraph`` (nodes in forward order, edges input -> output;
        node attributes name, op, kind, shape, value, grad), built on first use."""
        graph = nx.DiGraph()
        for node in self.nodes:
            graph.add_node(node.id, name=node.name, op=node.op, kind=node.kind, shape=node.shape,
                           value=node.value, grad=node.grad)
            graph.add_edges_from((j, node.id) for j in node.inputs)
        return graph

    @property
    def loss(self) -> float:
        return float(self.nodes[self.root].value.item())  # the root may be shaped (1,)

    @property
    def params(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.kind == "param")

    def find(self, name: str) -> Node:
        """The node called ``name`` (``KeyError`` if there is none)."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def op(self, node: int) -> Op | None:
        return self.tensors[node].op

    def source(self, node: int) -> str | None:
        """Where the network file computes ``node`` (``"net.py, line 14"``), where the trace
        knows it (a PyTorch network's does; see :mod:`tracer.torch_bridge`)."""
        return None

    def unneeded(self, node: int, position: int) -> bool:
        """Whether the trace computed no gradient for input ``position`` of ``node`` because
        nothing trainable needs it (a PyTorch model's data into a convolution, say)."""
        return False

    def computed_in(self) -> str:
        """The floating-point type the values were computed in (``"float64"``; a PyTorch
        model's own, often ``"float32"``), for what overflows where."""
        return "float64"

    def unused_because(self, param: str) -> str | None:
        """Why the loss does not depend on the parameter ``param`` though forward() uses it
        (a PyTorch network's trace knows: ``.detach()`` or ``torch.no_grad()`` at a line)."""
        return None

    def pytorch_vjps(self) -> tuple[Any, ...]:
        """What PyTorch's backward gave and sent at each node recorded as an op of the table,
        for :mod:`tracer.diagnostics.torchvjp` (a PyTorch network's trace has them; see
        :mod:`tracer.torch_bridge`); a native trace has none."""
        return ()

    def role(self, node: int) -> str | None:
        """The role of ``node``'s op in the op table (``None`` for a leaf)."""
        op = self.tensors[node].op
        return None if op is None else op.role

    @cached_property
    def _steps(self) -> dict[str, tuple[int | None, ...]]:
        """Each phase's step index of every node (``None`` where a node has no step there)."""
        steps: dict[str, tuple[int | None, ...]] = {}
        for phase, records in (("forward", self.forward), ("backward", self.backward)):
            of: list[int | None] = [None] * len(self.nodes)
            for step in records:
                of[step.node] = step.index
            steps[phase] = tuple(of)
        return steps

    def step_of(self, node: int, phase: str = "backward") -> int | None:
        """The index of ``node``'s step in ``phase`` (``"forward"`` or ``"backward"``), or
        ``None`` if it has no step there.

        The backward pass visits the nodes in reverse topological order; which node each step
        is for is read from the steps themselves, never worked out from the node ids.
        """
        return self._steps[phase][node]

    def node_of(self, step: int, phase: str = "backward") -> int:
        """The node of step ``step`` of ``phase`` (``"forward"`` or ``"backward"``)."""
        return (self.forward if phase == "forward" else self.backward)[step].node

    def backward_step(self, node: int) -> BackwardStep:
        """``node``'s step in the backward pass (``LookupError`` if it has none: check
        :meth:`step_of` first for a node no parameter is upstream of)."""
        step = self._steps["backward"][node]
        if step is None:
            raise LookupError(f"{self.nodes[node].name} needs no gradient: it has no backward "
                              f"step")
        return self.backward[step]

    @cached_property
    def _uses(self) -> Counter[int]:
        return Counter(i for nd in self.nodes for i in nd.inputs)

    def uses(self, node: int) -> int:
        """How many times ``node`` is an input of another node (its gradient is the sum of that
        many terms), whether or not it has a backward step."""
        return self._uses[node]

    def jacobian(self, step: BackwardStep, position: int) -> Array | None:
        """∂out/∂input as a matrix (output elements × input elements), or ``None`` if too big.

        Built from the op's own vector-Jacobian product applied to each unit vector, so it is
        exactly the derivative the backward step used.
        """
        node = self.nodes[step.node]
        x = self.nodes[node.inputs[position]]
        too_big = node.value.size * x.value.size > JACOBIAN_LIMIT
        if too_big or not step.inputs[position].differentiable:
            return None
        values = [self.nodes[i].value for i in node.inputs]
        rows = []
        with np.errstate(all="ignore"):
            for k in range(node.value.size):
                unit = np.zeros(node.value.size)
                unit[k] = 1.0
                grads = _input_grads(self.tensors[step.node], values, node.value,
                                     unit.reshape(node.value.shape))
                rows.append(np.ravel(grads[position][0]))
        return frozen(np.array(rows))


_run_order = attrgetter("_run")


def _walk(root: Tensor, check: bool = True
          ) -> tuple[list[Tensor], list[Array], list[tuple[int, ...]]]:
    """Every tensor ``root`` depends on, each one's recorded value and its inputs' positions.

    The order is the one the forward pass computed them in: the ops in the order they ran (the
    order of the user's code), each leaf just before the first op that uses it. An op always
    runs after its inputs exist, so this is a topological order. A value is the read-only
    array the ops that used it computed from (``Tensor._args``), so the record shows what the
    ops saw; the root's is its own result. With ``check``, a value that changed between the
    ops that used it and now (which would make every gradient through it wrong) raises
    :class:`GraphError`, naming it. (One walk for all three: a trace asks for them every
    cycle.)
    """
    ops: list[Tensor] = []
    seen = {root}  # (tensors hash by identity: see tracer.fastpath.gradients)
    stack = [root]
    while stack:
        t = stack.pop()
        if t._op is not None:
            ops.append(t)
        for x in t._inputs:
            if x not in seen:
                seen.add(x)
                stack.append(x)
    if not ops:
        return [root], [shared(root._data)], [()]  # a leaf traced on its own
    ops.sort(key=_run_order)
    order: list[Tensor] = []
    values: list[Any] = []
    inputs: list[tuple[int, ...]] = []
    index: dict[Tensor, int] = {}
    for t in ops:
        ids = []
        for x, used in zip(t._inputs, t._args, strict=True):
            j = index.get(x)
            if j is None:  # a leaf, first used here (an op's result is placed before its uses)
                j = index[x] = len(order)
                order.append(x)
                values.append(used)
                inputs.append(())
            elif values[j] is None:
                values[j] = used
            elif values[j] is not used and check and not _same(values[j], used):
                raise _changed(x, "between two of its uses in the forward pass")
            ids.append(j)
        index[t] = len(order)
        order.append(t)
        values.append(None)  # (the array its first use computed from, or its own: the root)
        inputs.append(tuple(ids))
    values[-1] = root._data
    if check:
        for t, value in zip(order, values, strict=True):
            if t._data is not value and not _same(t._data, value):
                raise _changed(t, "after the forward pass used it")
    return order, values, inputs


def _topological(root: Tensor) -> list[Tensor]:
    """Every tensor ``root`` depends on, in the order :func:`trace` records them (see
    :func:`_walk`)."""
    return _walk(root, check=False)[0]


def forward_values(root: Tensor) -> tuple[Array, ...]:
    """The value of every tensor ``root`` depends on, in the order :func:`trace` records the
    nodes, without recording anything (the re-run after an update shows these): the arrays
    its ops computed from, so a leaf changed since (by the next update) still shows the value
    the forward pass used."""
    return tuple(_walk(root, check=False)[1])


def check_recorded(root: Tensor) -> None:
    """Raise :class:`GraphError` if a value below ``root`` changed after an op used it.

    The check :func:`trace` makes, without the backward pass: for a forward pass that is run
    but not traced (a network's first run, which only measures it).
    """
    _walk(root)


def _same(a: Array, b: Array) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def _changed(t: Tensor, when: str) -> GraphError:
    what = t.name or ("an unnamed " + (t._op.name if t._op is not None else t.kind))
    return GraphError(
        f"{what} changed {when}, so the gradients of the ops that used its old value would be "
        f"recorded as if they were its own", problem="a value changed under the trace",
        advice="Change values before the forward pass (or run it again after changing them), "
               "then call backward()")


def _names(order: list[Tensor]) -> list[str]:
    """User names where given, ``mul_3``-style names otherwise; repeats get ``#2``, ``#3``."""
    per_op: dict[str, int] = {}
    seen: dict[str, int] = {}
    names = []
    for t in order:
        base = t.name
        if base and not base.isprintable():  # a name from a file: no escape codes on screen
            base = printable(base, one_line=True)
        if not base:
            stem = t._op.name if t._op is not None else t.kind
            k = per_op[stem] = per_op.get(stem, 0) + 1
            base = f"{stem}_{k}"
        k = seen[base] = seen.get(base, 0) + 1
        # many constants are simply "2"
        names.append(f"{base}#{k}" if k > 1 and t.kind != "constant" else base)
    return names


def upstream_times(g: Array, local: Array | float) -> Array:
    """An elementwise op's upstream gradient ``g`` times its local factor ``local``, in the
    output's shape (``g``'s): the product before any sum back to an input's shape. The one
    place this product is computed, for recorded and record-free backward passes alike."""
    if isinstance(local, float):  # add, sub and neg's ±1 need no product
        return g if local == 1.0 else -g if local == -1.0 else g * local
    full = g * local
    return full if full.shape == g.shape else np.broadcast_to(full, g.shape)  # a broadcast local


def _contributions(t: Tensor, values: list[Array], out: Array, g: Array,
                   needs: tuple[bool, ...] | None = None
                   ) -> list[tuple[Array | None, Array | float | None, Array | None,
                                   tuple[int, ...]]]:
    """What ``t``'s backward step sends each of its inputs, as the op table computes it:
    (contribution, local, unreduced, reduced axes) per input, nothing made read-only yet and
    ``local`` as the op gave it (a number, or an array that may be of a broadcast shape):
    :func:`_input_grads` makes them records, :func:`trace` does so when its records are asked
    for. The one place an op's derivatives become its inputs' contributions."""
    op = t._op
    if op.local is None:
        parts = []
        # A vjp may give an input's gradient in the shape the op broadcast it to (a weight
        # shared by a batch of matrix products): it is summed back here, as for elementwise ops.
        for x, c in zip(values, op.vjp(g, *values, out, **t._attrs) if needs is None
                        else vjp_for(op, g, values, out, t._attrs, needs), strict=True):
            if c is None:
                parts.append((None, None, None, ()))
                continue
            if c.__class__ is not np.ndarray or c.dtype is not FLOAT64:
                c = float64(c)  # (what frozen() makes of a custom op's gradient, a scalar)
            if c.shape == x.shape:
                parts.append((c, None, None, ()))
            else:
                contribution, axes = sum_to_shape(c, x.shape)
                parts.append((float64(contribution), None, float64(c), axes))
        return parts
    parts = []
    for x, local in zip(values, op.local(*values, out, **t._attrs), strict=True):
        full = upstream_times(g, local)
        if full.__class__ is not np.ndarray:  # (0-d operands and sums give numpy scalars)
            full = np.asarray(full)
        if full.shape == x.shape:
            parts.append((full, local, None, ()))
        else:
            contribution, axes = sum_to_shape(full, x.shape)
            parts.append((float64(contribution), local, full, axes))
    return parts


def _as_record(part: tuple[Array | None, Array | float | None, Array | None, tuple[int, ...]],
               shape: tuple[int, ...]
               ) -> tuple[Array | None, Array | None, Array | None, tuple[int, ...]]:
    """One of :func:`_contributions`' parts with its arrays read-only and its local
    derivative an array in the output's ``shape``."""
    c, local, unreduced, axes = part
    if local is not None:
        local = (constant(local, shape) if isinstance(local, float)
                 else frozen(local) if local.shape == shape
                 else np.broadcast_to(local, shape))  # (read-only already)
    if c is not None and (c.base is not None or c.flags.writeable):  # (often g itself)
        c = frozen(c)
    return c, local, None if unreduced is None else frozen(unreduced), axes


def _input_grads(t: Tensor, values: list[Array], out: Array, g: Array,
                 needs: tuple[bool, ...] | None = None
                 ) -> list[tuple[Array | None, Array | None, Array | None, tuple[int, ...]]]:
    """For each input of ``t`` (whose recorded values are ``values``, its own ``out``):
    (contribution, local, unreduced, reduced axes) given the upstream gradient ``g``, as
    read-only arrays; the contribution is ``None`` for an input with no gradient (labels), and
    may be for one ``needs`` marks ``False`` (a :attr:`~tracer.ops.Op.selective` op skips it).

    Call it under :func:`tracer.tensor.quiet`: NaN and inf are diagnosed, not warned about.
    """
    shape = out.shape
    return [_as_record(part, shape) for part in _contributions(t, values, out, g, needs)]


# Records are made through these keyword helpers, which build the tuple with tuple.__new__: a
# NamedTuple's own __new__ is a slower Python function (it checks and reorders its arguments),
# and a trace makes a few records per node.
_new = tuple.__new__
_NO_ATTRS: Mapping[str, Any] = MappingProxyType({})  # shared by the nodes of ops without any


def needs_grad(order: list[Tensor], inputs: list[tuple[int, ...]]) -> list[bool]:
    """Whether each node gets a backward step: a trainable parameter is among its
    ancestors-or-self (its gradient matters to some parameter), or it is the root."""
    needs = [False] * len(order)
    for i, t in enumerate(order):
        if t.kind == "param":
            needs[i] = True
            continue
        for j in inputs[i]:  # (a loop, not any() over a generator: a third of the cost)
            if needs[j]:
                needs[i] = True
                break
    needs[-1] = True
    return needs


def _records(record: type[tuple], /, **columns: Any) -> list[Any]:
    """Records of the NamedTuple type ``record``, one per row of ``columns`` (named by its
    fields, in their order): a trace's nodes in one go, without a function call per record."""
    if tuple(columns) != record._fields:
        raise TypeError(f"{record.__name__} has the fields {record._fields}, not "
                        f"{tuple(columns)}")
    return list(map(_new, repeat(record), zip(*columns.values(), strict=True)))


def make_node(*, id: int, name: str, op: str, kind: str, inputs: tuple[int, ...], value: Array,
              grad: Array, attrs: Mapping[str, Any]) -> Node:
    """A :class:`Node` record from its named fields."""
    return _new(Node, (id, name, op, kind, inputs, value, grad, attrs))


def make_input_grad(*, node: int, position: int, local: Array | None, contribution: Array,
                    unreduced: Array | None, reduced_axes: tuple[int, ...], grad_before: Array,
                    grad_after: Array, differentiable: bool = True,
                    needs_grad: bool = True) -> InputGrad:
    """An :class:`InputGrad` record from its named fields."""
    return _new(InputGrad, (node, position, local, contribution, unreduced, reduced_axes,
                            grad_before, grad_after, differentiable, needs_grad))


def make_backward_step(*, index: int, node: int, upstream: Array,
                       terms: tuple[tuple[int, Array], ...], inputs: tuple[InputGrad, ...]
                       ) -> BackwardStep:
    """A :class:`BackwardStep` record from its named fields."""
    return _new(BackwardStep, (index, node, upstream, terms, inputs))


def sent(grads: list[Array | None], terms: list[list[tuple[int, Array]]], node: int, j: int,
         position: int, c: Array | None, local: Array | None, unreduced: Array | None,
         axes: tuple[int, ...], shape: tuple[int, ...], needs_grad: bool = True) -> InputGrad:
    """Add what ``node``'s backward step sent to its input ``j`` (``c``; ``None`` for an input
    with no gradient, of ``shape``) to ``j``'s gradient and its list of terms; return the edge's
    record (``needs_grad``: whether ``j`` has a backward step of its own)."""
    differentiable = c is not None
    if c is None:
        c = constant(0.0, shape)
    before = grads[j]
    if before is None:
        before, after = constant(0.0, c.shape), c
    else:
        after = frozen(before + c)
    grads[j] = after
    terms[j].append((node, c))
    # (InputGrad's fields in order, built directly: this runs once per edge of every trace)
    return _new(InputGrad, (j, position, local, c, unreduced, axes, before, after,
                            differentiable, needs_grad))


class paused_gc:  # (lower case: used as the context managers quiet() and op_budget() are)
    """Keep the cyclic garbage collector from running inside the block (``with paused_gc():``).

    Building records allocates many small objects and no reference cycles; every 700
    allocations CPython would otherwise walk all the objects alive, which for a big graph's
    records is a large share of the cycle's time (``python -m benchmarks.training``).
    :func:`trace` runs in it. (A class, not a generator: it is entered once per trace.)
    """

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was_enabled:
            gc.enable()


def trace(root: Tensor) -> Trace:
    """Record the graph below ``root`` and run the backward pass from it, step by step.

    Parameters
    ----------
    root
        A scalar tensor (one element), usually the loss.

    Returns
    -------
    Trace
        Nodes in forward order, forward steps, backward steps in reverse topological order (one
        for the root and for each node with a trainable parameter among its ancestors-or-self:
        data, targets, constants and what is computed only from them get none), and the
        ``networkx.DiGraph``. As a side effect every tensor's ``.grad`` is set (replaced, never
        accumulated, so tracing twice gives the same gradients); it is the record's read-only
        array: assign a new array rather than writing into it.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"trace() needs a Tensor, got {type(root).__name__}")
    if root._data.size != 1:
        raise ValueError(f"backward needs a scalar (one number) to start from; got shape "
                         f"{root.shape}. Reduce it first, e.g. with .sum() or .mean().")
    with paused_gc():  # (the kept lists are many small objects, none in a cycle)
        order, values, inputs = _walk(root)
        n = len(order)
        grads: list[Array | None] = [None] * n
        grads[n - 1] = constant(1.0, root.shape)
        needs = needs_grad(order, inputs)
        # What each backward step computed, in order: (node, upstream, its contributions as
        # _contributions gives them, each input's gradient before and after adding its own).
        # The records are built from it when asked for (_KeptTrace).
        steps: list[tuple[int, Array, list[Any], list[Array | None], list[Array]]] = []
        with quiet():
            for i in range(n - 1, -1, -1):
                t = order[i]
                g = grads[i]
                if g is None:  # only reachable through non-differentiable inputs (labels)
                    g = grads[i] = constant(0.0, values[i].shape)
                if t._op is None:  # a leaf: its gradient is all there is to record
                    if needs[i]:
                        steps.append((i, g, [], [], []))
                    continue
                parts = _contributions(t, t._args, values[i], g)
                # A node no parameter is upstream of gets no step; its inputs' gradients are
                # still computed so that every tensor's .grad is filled (∂L/∂X of the data).
                step = needs[i]
                befores: list[Array | None] = []
                afters: list[Array] = []
                for j, part in zip(inputs[i], parts, strict=True):
                    c = part[0]
                    if c is None:  # an input with no gradient (labels): a zero on its edge
                        if not step:
                            continue
                        c = constant(0.0, values[j].shape)
                    before = grads[j]
                    # (float64(): a sum of 0-d arrays is a numpy scalar, not an array)
                    after = grads[j] = c if before is None else float64(before + c)
                    if step:
                        befores.append(before)
                        afters.append(after)
                if step:
                    steps.append((i, g, parts, befores, afters))
        for t, grad in zip(order, grads, strict=True):
            # (frozen() only where needed: most are read-only already, and it is a call each)
            t.grad = grad if grad.base is None and not grad.flags.writeable else frozen(grad)
        return _KeptTrace(kept=(order, values, inputs, grads, needs, steps))


class _KeptTrace(Trace):
    """The :class:`Trace` :func:`trace` returns: it keeps the arrays and a compact log of
    each backward step as the pass computed them, and builds the node and step records (the
    same records, bit for bit) the first time :attr:`nodes` or :attr:`backward` is read. A
    cycle nobody looks at (a training loop's, a gradient check's) never builds them."""

    def __init__(self, *fields: Any, kept: tuple[Any, ...] | None = None, **named: Any):
        if kept is None:  # made from its fields (dataclasses.replace): a Trace like any other
            super().__init__(*fields, **named)
            return
        # kept: (order, values, inputs, grads, needs, steps), as trace() computed them
        object.__setattr__(self, "tensors", tuple(kept[0]))  # (a frozen dataclass's way)
        object.__setattr__(self, "root", len(kept[0]) - 1)
        object.__setattr__(self, "_kept", kept[1:])

    @cached_property
    def nodes(self) -> tuple[Node, ...]:  # type: ignore[override]
        """Every node in forward order."""
        with paused_gc():
            return tuple(self._node_records(range(len(self.tensors))))

    @property
    def params(self) -> tuple[Node, ...]:
        if "nodes" in self.__dict__:
            return super().params
        # (a cycle's optimizer asks for these first: their records alone, not every node's)
        return tuple(self._node_records(
            [i for i, t in enumerate(self.tensors) if t.kind == "param"]))

    @cached_property
    def _node_names(self) -> list[str]:
        return _names(list(self.tensors))

    def _node_records(self, ids: Iterable[int]) -> list[Node]:
        """The :class:`Node` records of the nodes ``ids``."""
        order, names, last = self.tensors, self._node_names, len(self.tensors) - 1
        values, inputs, grads, _, _ = self._kept
        # (Node's fields in order, built directly: see sent())
        return [_new(Node, (i, names[i], t.kind if t._op is None else t._op.name,
                            "loss" if i == last and t._op is not None else t.kind, inputs[i],
                            values[i], grads[i], dict(t._attrs) if t._attrs else _NO_ATTRS))
                for i in ids for t in (order[i],)]

    @cached_property
    def backward(self) -> tuple[BackwardStep, ...]:  # type: ignore[override]
        """One step per node with a backward step, in the order the pass ran them."""
        with paused_gc():
            records = self._build_backward()
        # the log is in the records now: let it go (the nodes' columns stay until built)
        object.__setattr__(self, "_kept", (*self._kept[:4], ()))
        return records

    def _build_backward(self) -> tuple[BackwardStep, ...]:
        values, inputs, _, needs, steps = self._kept
        terms: list[list[tuple[int, Array]]] = [[] for _ in values]
        records = []
        for index, (i, g, parts, befores, afters) in enumerate(steps):
            shape = values[i].shape
            edges = []
            for pos, (j, part, before, after) in enumerate(
                    zip(inputs[i], parts, befores, afters, strict=True)):
                c, local, unreduced, axes = _as_record(part, shape)
                differentiable = c is not None
                if c is None:
                    c = constant(0.0, values[j].shape)
                terms[j].append((i, c))
                # (frozen() only where it may be needed: a gradient before is often the
                # contribution of the edge before, an after the contribution itself)
                if before is None:
                    before = constant(0.0, c.shape)
                elif before.base is not None or before.flags.writeable:
                    before = frozen(before)
                if after is not c and (after.base is not None or after.flags.writeable):
                    after = frozen(after)
                edges.append(_new(InputGrad, (j, pos, local, c, unreduced, axes, before, after,
                                              differentiable, needs[j])))
            # (every contribution to node i came from a step before its own)
            records.append(_new(BackwardStep, (index, i, g, tuple(terms[i]), tuple(edges))))
        return tuple(records)
