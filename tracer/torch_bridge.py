"""PyTorch network files: PyTorch's own forward and backward, recorded as gradstep's records.

A network file whose ``forward()`` returns a scalar ``torch.Tensor`` is recorded here, and only
here is torch imported (the loader imports this module when it meets such a file).

* The forward pass runs under a :class:`torch.overrides.TorchFunctionMode` that sees every
  torch call with its arguments and result. Each call whose result has a ``grad_fn`` becomes a
  node, named after the module it ran in (``model.0 · linear``) and remembering the line of the
  file that made it. ``torch.autograd.Function`` subclasses are recorded the same way (their
  ``apply`` is watched while the forward pass runs), as nodes named by their class.
* Each argument of a recorded call that requires a gradient is handed to it as its own alias
  (a view of the value) whose gradient PyTorch keeps (``retain_grad``): in the backward pass
  PyTorch fills the alias with exactly the gradient that call sent along that edge. A value's
  gradient is the sum of what its uses sent, so a value that fed several places shows each
  use's share and their sum, from PyTorch's own backward.
* The backward steps come in the order PyTorch's engine (run single-threaded) runs the
  autograd Nodes, worked out from the recorded graph (:func:`engine_order`, then
  :func:`firing_order`); a parameter's turn is its ``AccumulateGrad``'s, right after the last
  of its uses sent its share. A node that maps onto the op table keeps the upstream gradient
  its Node ran with (the sum of what its consumers sent), for
  :mod:`tracer.diagnostics.torchvjp` to compare the table's derivative with PyTorch's.
* A call that is an op of gradstep's op table (:mod:`tracer.torch_ops`) is recorded as that op,
  so it shows the table's formula, sentence and local derivative; any other call is an op
  computed by PyTorch, whose Jacobian (when small) and finite-difference checks run that call
  alone in float64.
* Parameters: each module-level ``nn.Module`` ``VAR`` gives ``VAR.<named_parameters path>``,
  each module-level leaf tensor with ``requires_grad`` its variable name. A module-level
  ``OPTIMIZER`` steps them (its state recorded per parameter); otherwise ``torch.optim.SGD``
  with ``LR``.

Values are stored as float64 arrays holding exactly the numbers the model computed (float32
converts exactly); gradient checks run the model in float64.
"""

from __future__ import annotations

import copy
import heapq
import inspect
import string
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import count
from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .arrays import constant, frozen
from .checkpoint import Checkpoint, random_state_kept
from .custom import remember_origin
from .diagnostics.torchvjp import PyTorchVJP
from .network import Cycle, Network, leaf_changes
from .ops import Op
from .optim import SGD, Adam, Momentum, Optimizer, UpdateRecord
from .record import BackwardStep, Node, Trace, _input_grads, _names, needs_grad, sent
from .tensor import Tensor, as_tensor, quiet
from .torch_fast import Iterations
from .torch_ops import TORCH_FEATURE_AXES, TORCH_ROLES, table_op

Array = np.ndarray

# Results of these calls are never ops of the graph (they read or re-wire a tensor).
_PASSTHROUGH = frozenset({
    "detach", "detach_", "register_hook", "retain_grad", "requires_grad_", "backward",
    "view_as", "data_ptr", "__repr__", "__format__", "__str__", "item", "tolist", "numpy",
    "size", "dim", "numel", "__len__", "__bool__", "__hash__", "cpu", "to", "float", "double",
})
# Property reads that compute a value (the other property reads are metadata: shape, grad_fn).
_COMPUTED_PROPERTIES = frozenset({"T", "mT", "H", "mH"})
# Calls that draw from torch's generator: each keeps the generator's state it started from, so
# that running it again alone (a gradient check, a Jacobian) draws the same numbers, the same
# dropout mask, and leaves the generator where it was.
_RANDOM = frozenset({
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "native_dropout", "rrelu", "gumbel_softmax", "fractional_max_pool2d",
    "fractional_max_pool3d", "bernoulli", "normal", "multinomial", "poisson"})
_IN_PLACE_OPERATORS = frozenset({
    "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__imatmul__",
    "__setitem__", "__ior__", "__iand__"})


class TorchFileError(ValueError):
    """A PyTorch network file gradstep cannot record, with the line at fault where known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def _name_of(func: Callable[..., Any]) -> str:
    """``linear``, ``__add__``, ``T`` (for the property ``Tensor.T``)."""
    name = getattr(func, "__name__", type(func).__name__)
    if name == "__get__":
        return getattr(getattr(func, "__self__", None), "__name__", name)
    return name


def _in_place(name: str, kwargs: Mapping[str, Any]) -> bool:
    plain = name.endswith("_") and not name.endswith("__")
    return plain or name in _IN_PLACE_OPERATORS or bool(kwargs.get("inplace"))


def _flatten(args: tuple[Any, ...], kwargs: dict[str, Any]
             ) -> tuple[list[Any], Callable[[list[Any]], tuple[tuple[Any, ...], dict[str, Any]]]]:
    """A call's arguments as one list (a list or tuple argument spread out, as torch.cat's
    tensors), and the function that puts a list like it back into ``(args, kwargs)``."""
    flat: list[Any] = []
    shape: list[tuple[type, int] | None] = []
    for a in (*args, *kwargs.values()):
        if type(a) is list or type(a) is tuple:
            shape.append((type(a), len(a)))
            flat.extend(a)
        else:
            shape.append(None)
            flat.append(a)
    keys, n = tuple(kwargs), len(args)

    def rebuild(items: list[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        out, k = [], 0
        for s in shape:
            if s is None:
                out.append(items[k])
                k += 1
            else:
                out.append(s[0](items[k:k + s[1]]))
                k += s[1]
        return tuple(out[:n]), dict(zip(keys, out[n:], strict=True))

    return flat, rebuild


@dataclass
class _Call:
    """One recorded torch call: what ran, on which arguments, with what result."""

    name: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    flat: list[Any]  # the arguments, flattened (see _flatten)
    rebuild: Callable[[list[Any]], tuple[tuple[Any, ...], dict[str, Any]]]
    places: list[int]  # where the tensors are in ``flat``
    tensors: list[torch.Tensor]  # the call's tensor arguments, in argument order
    aliases: list[torch.Tensor | None]  # what the call was given instead (None: no gradient)
    out: torch.Tensor
    module: str | None
    line: int | None
    custom: type | None  # the torch.autograd.Function subclass, for one of those
    # the autograd Node that made ``out`` (its sequence number: the results of a call that
    # gives several share it) and the tensors it sends gradients to (those given an alias)
    node: int
    sends_to: list[torch.Tensor]
    part: int | None = None  # which result, of a call that gives several
    random: torch.Tensor | None = None  # torch's generator before a call of _RANDOM or custom


class _Recorder(TorchFunctionMode):
    """Records the torch calls of one forward pass, and collects their gradients later."""

    def __init__(self, path: str, modules: Mapping[int, str]):
        super().__init__()
        self.path = path
        self.module_names = modules
        self.calls: list[_Call] = []
        self.stack: list[str] = []
        self.busy = False
        self.start: Any = None  # where the forward pass started (see TorchTrace.start)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _name_of(func)
        if (self.busy or name in _PASSTHROUGH or not torch.is_grad_enabled()
                or (getattr(func, "__name__", "") == "__get__" and name not in
                    _COMPUTED_PROPERTIES)):
            return func(*args, **kwargs)
        return self.run(func, name, args, kwargs, None)

    def run(self, func: Callable[..., Any], name: str, args: tuple[Any, ...],
            kwargs: dict[str, Any], custom: type | None) -> Any:
        flat, rebuild = _flatten(args, kwargs)
        places = [k for k, a in enumerate(flat) if isinstance(a, torch.Tensor)]
        if not any(flat[k].requires_grad for k in places):
            return func(*args, **kwargs)
        line = self.line()
        if _in_place(name, kwargs):
            raise TorchFileError(
                f"{name} changes a tensor in place, inside the part of forward() that "
                f"gradstep records; in-place ops overwrite values the backward pass needs and "
                f"break its hooks. Write it out of place (x = x + y rather than x += y, "
                f"relu(x) rather than relu_(x) or inplace=True)", line)
        self.busy = True
        try:
            items = list(flat)
            aliases: list[torch.Tensor | None] = []
            for k in places:
                t = flat[k]
                # Data PyTorch does not differentiate gets no alias: asking for its gradient
                # would double the backward pass of a CNN's first convolution. (The op table
                # gives it one where the call is a table op, as gradstep does natively.)
                alias = t.view_as(t) if t.requires_grad else None
                if alias is not None:
                    # PyTorch keeps in alias.grad what the call sends along this edge (a hook
                    # of its own, in C++: a Python hook per edge cost more than the rest of
                    # the backward pass of a small model)
                    alias.retain_grad()
                    items[k] = alias
                aliases.append(alias)
            new_args, new_kwargs = rebuild(items)
            random = torch.get_rng_state() if name in _RANDOM or custom else None
            out = func(*new_args, **new_kwargs)
            if name == "__iter__":  # iterating over a tensor: its rows, all at once
                out = tuple(out)
            outputs = out if isinstance(out, tuple | list) else (out,)
            if not any(isinstance(o, torch.Tensor) and o.grad_fn is not None for o in outputs):
                return out
            module = self.stack[-1] if self.stack else None
            tensors = [flat[k] for k in places]
            sends_to = [t for t, alias in zip(tensors, aliases, strict=True)
                        if alias is not None]
            if isinstance(out, torch.Tensor):
                self.calls.append(_Call(name, func, args, kwargs, flat, rebuild, places,
                                        tensors, aliases, out, module, line, custom,
                                        out.grad_fn._sequence_nr(), sends_to, random=random))
                return iter(out) if name == "__iter__" else out
            # Several results (chunk, split, unbind, max with dim): a node per result. What
            # each sent back is not told apart by PyTorch (they share one backward node), so
            # it is computed by PyTorch for that result alone, from its recorded gradient.
            for part, o in enumerate(outputs):
                if isinstance(o, torch.Tensor) and o.grad_fn is not None:
                    self.calls.append(_Call(name, func, args, kwargs, flat, rebuild, places,
                                            tensors, [None] * len(places), o, module, line,
                                            custom, o.grad_fn._sequence_nr(), sends_to, part,
                                            random))
            return iter(out) if name == "__iter__" else out
        finally:
            self.busy = False

    def line(self) -> int | None:
        """The innermost line of the network file on the stack."""
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.path:
                return frame.f_lineno
            frame = frame.f_back
        return None

    def entering(self, module: torch.nn.Module, *_: Any) -> None:
        name = self.module_names.get(id(module))
        self.stack.append(name if name is not None else (self.stack[-1] if self.stack else ""))

    def leaving(self, *_: Any) -> None:
        if self.stack:
            self.stack.pop()


@contextmanager
def _recording(recorder: _Recorder) -> Iterator[None]:
    """Run a forward pass under ``recorder``: torch calls, module nesting and the
    ``torch.autograd.Function`` applications it makes."""
    function = torch.autograd.Function
    original = function.__dict__["apply"]

    def apply(cls: type, *args: Any, **kwargs: Any) -> Any:
        run = partial(original.__func__, cls)
        if recorder.busy or not torch.is_grad_enabled():
            return run(*args, **kwargs)
        return recorder.run(run, cls.__name__, args, kwargs, cls)

    hooks = [torch.nn.modules.module.register_module_forward_pre_hook(recorder.entering),
             torch.nn.modules.module.register_module_forward_hook(recorder.leaving)]
    function.apply = classmethod(apply)
    try:
        with recorder:
            yield
    finally:
        function.apply = original
        for hook in hooks:
            hook.remove()


# --- ops PyTorch computes -------------------------------------------------------------------------


def _letters(k: int) -> tuple[str, ...]:
    return ("x",) if k == 1 else tuple(string.ascii_lowercase[i] if i < 26 else f"x{i}"
                                       for i in range(k))


def _where(cls: type) -> tuple[str, Callable[..., Any] | None]:
    """Where an autograd.Function is defined (the line of its forward), and its backward."""
    backward, forward = (getattr(f, "__func__", f) for f in (
        inspect.getattr_static(cls, name, None) for name in ("backward", "forward")))
    code = getattr(forward, "__code__", None)
    where = (f"{code.co_filename}, line {code.co_firstlineno}" if code is not None
             else cls.__qualname__)
    return where, backward


@contextmanager
def _random_from(state: torch.Tensor | None) -> Iterator[None]:
    """Run a recorded call again without moving torch's generator; from ``state``, the one it
    started from when recorded, if it drew random numbers (see ``_RANDOM``)."""
    kept = torch.get_rng_state()
    if state is not None:
        torch.set_rng_state(state)
    try:
        yield
    finally:
        torch.set_rng_state(kept)


def _torch_op(call: _Call, dtypes: Sequence[torch.dtype]) -> Op:
    """The call as an op computed by PyTorch: its forward and vector-Jacobian product re-run
    the call alone (floating-point inputs in float64), for Jacobians and gradient checks."""
    places = call.places
    others = [None if isinstance(a, torch.Tensor) else a for a in call.flat]
    func, rebuild, part, random = call.func, call.rebuild, call.part, call.random
    # A random call draws its numbers in the memory order of its inputs (a transposed input
    # gets its dropout mask laid out as the transpose): run again, it is given the same layout.
    strides = [t.stride() if random is not None else None for t in call.tensors]

    def run(*arrays: Array, grad: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        items = list(others)
        inputs = []
        for k, a, dtype, stride in zip(places, arrays, dtypes, strides, strict=True):
            t = torch.tensor(np.array(a))
            t = t.to(torch.float64) if dtype.is_floating_point else t.to(dtype)
            if stride is not None and t.stride() != stride:
                t = torch.empty_strided(t.shape, stride, dtype=t.dtype).copy_(t)
            if grad and dtype.is_floating_point:
                t.requires_grad_(True)
            items[k] = t
            inputs.append(t)
        args, kwargs = rebuild(items)
        with torch.enable_grad() if grad else torch.no_grad(), _random_from(random):
            out = func(*args, **kwargs)
        return (out if part is None else tuple(out)[part]), inputs

    def forward(*arrays: Array) -> Array:
        return run(*arrays)[0].detach().numpy().astype(np.float64)

    def vjp(g: Array, *arrays_and_out: Array) -> tuple[Array | None, ...]:
        out, inputs = run(*arrays_and_out[:-1], grad=True)
        wanted = [t for t in inputs if t.requires_grad]
        grads = iter(torch.autograd.grad(out, wanted, torch.tensor(np.array(g, dtype=np.float64)),
                                         allow_unused=True)) if wanted else iter(())
        result = []
        for t in inputs:
            if not t.requires_grad:
                result.append(None)
                continue
            gt = next(grads)
            result.append(np.zeros(t.shape) if gt is None else gt.numpy())
        return tuple(result)

    letters = _letters(len(places))
    how = f"{call.custom.__name__}.backward" if call.custom else (
        f"PyTorch's {type(call.out.grad_fn).__name__}")
    op = Op(call.name, forward, tuple(f"∂{call.name}/∂{x}: computed by {how}" for x in letters),
            "{out} is " + call.name + "(" + ", ".join("{" + x + "}" for x in letters)
            + "), computed by PyTorch, which also computes its derivative",
            vjp=vjp, symbol=call.name + "(" + ", ".join("{" + x + "}" for x in letters) + ")"
            + ("" if part is None else f"[{part}]"),
            letters=letters,
            role="custom" if call.custom else TORCH_ROLES.get(call.name, "arithmetic"),
            feature_axis=TORCH_FEATURE_AXES.get(call.name))
    if call.custom is not None:
        remember_origin(op, *_where(call.custom))
    return op


# --- from a recorded forward and backward pass to a Trace -------------------------------------


def _array(t: torch.Tensor) -> Array:
    a = t.numpy(force=True).astype(np.float64)  # (a copy: the tensor may change later)
    a.setflags(write=False)
    return a


def _agrees(op: Op, values: list[Array], attrs: dict[str, Any], out: Array) -> bool:
    """Whether the op table's forward gives PyTorch's result (so the row really fits)."""
    try:
        with quiet():
            mine = np.asarray(op.forward(*values, **attrs), dtype=np.float64)
    except (ValueError, TypeError, IndexError):
        return False
    if mine.shape != out.shape:
        return False
    with quiet():
        close = np.abs(mine - out) <= 1e-6 + 1e-5 * np.abs(out)
    return bool(np.all(close | (np.isnan(mine) & np.isnan(out)) | (mine == out)))


@dataclass
class _Plan:
    """One recorded call as a node: its op, its inputs (tensors or numbers), and for each input
    the position of the call's argument whose alias carries its gradient (``None``: none)."""

    call: _Call
    op: Op
    inputs: list[Any]
    attrs: dict[str, Any]
    edges: list[int | None]
    table: bool


def _op_key(call: _Call) -> tuple[Any, ...] | None:
    """What makes two calls the same op computed by PyTorch (the function, the line, the
    arguments other than tensors, the tensors' dtypes), or ``None`` if that cannot be told."""
    if call.random is not None:  # (its op keeps the random state of this call)
        return None
    others = tuple(None if isinstance(a, torch.Tensor) else a for a in call.flat)
    key = (call.func, call.name, call.part, call.line, call.custom, tuple(call.places), others,
           tuple((t.dtype, t.shape) for t in call.tensors), len(call.args), tuple(call.kwargs))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _plan(call: _Call, ops: dict[Any, Any]) -> _Plan:
    """How ``call`` is recorded. ``ops`` remembers, from one cycle to the next (a model makes
    the same calls every cycle, see :func:`_op_key`), the ops computed by PyTorch made so far
    and whether a call's op-table row was found to give PyTorch's result."""
    key = _op_key(call)
    mapped = (table_op(call.name, call.args, call.kwargs, call.out) if call.part is None
              else None)
    if mapped is not None:
        op, inputs, attrs = mapped
        fits = ops.get(("fits", key, tuple(call.out.shape))) if key is not None else None
        if fits is None:
            values = [_array(x) if isinstance(x, torch.Tensor) else as_tensor(x)._data
                      for x in inputs]
            fits = _agrees(op, values, attrs, _array(call.out))
            if key is not None:
                ops["fits", key, tuple(call.out.shape)] = fits
        if fits:
            return _Plan(call, op, inputs, attrs, _edges(call, inputs), True)
    op = ops.get(key) if key is not None else None
    if op is None:
        op = _torch_op(call, [t.dtype for t in call.tensors])
        if key is not None:
            ops[key] = op
    return _Plan(call, op, list(call.tensors), {}, _edges(call, call.tensors), False)


def _edges(call: _Call, inputs: Sequence[Any]) -> list[int | None]:
    """Which tensor argument of ``call`` each input is (matched by identity, each argument
    once, so ``x * x`` has two edges), if that argument was given an alias."""
    unused = list(range(len(call.tensors)))
    found: list[int | None] = []
    for x in inputs:
        match = next((k for k in unused if call.tensors[k] is x), None)
        if match is not None:
            unused.remove(match)
        found.append(match if match is not None and call.aliases[match] is not None else None)
    return found


@dataclass(frozen=True)
class TorchTrace(Trace):
    """A :class:`~tracer.record.Trace` recorded from PyTorch; ``lines`` holds each node's line in
    the network file (``None`` for leaves and where unknown)."""

    lines: tuple[int | None, ...] = ()
    path: str = ""
    # node recorded as an op of the table -> (the upstream gradient PyTorch's Node ran with:
    # the sum of what its consumers sent, the input positions whose gradient PyTorch sent,
    # the result's torch dtype, the module it ran in); see pytorch_vjps
    sent_by_pytorch: Mapping[int, tuple[Array, tuple[int, ...], Any, str | None]] = field(
        default_factory=dict, repr=False, compare=False)
    # the nodes whose autograd Node ran (op results, parameters), in the order PyTorch's
    # engine ran them: the backward steps' order (see firing_order)
    engine_order: tuple[int, ...] = ()
    # where its forward pass started (torch_fast.Start: the random states and BatchNorm's
    # statistics), for checks that run it again (see TorchNetwork.replaying)
    start: Any = field(default=None, repr=False, compare=False)

    def source(self, node: int) -> str | None:
        line = self.lines[node]
        return None if line is None else f"{self.path}, line {line}"

    def pytorch_vjps(self) -> tuple[PyTorchVJP, ...]:
        """For each node recorded as an op of the table (whose autograd Node ran): the
        upstream gradient PyTorch gave it, the inputs PyTorch sent a gradient to (what it
        sent is each edge's recorded contribution) and the machine epsilon of the dtype
        PyTorch computed in, for :mod:`tracer.diagnostics.torchvjp` to compare with the
        table's own vector-Jacobian product."""
        return tuple(PyTorchVJP(node, upstream, positions, torch.finfo(dtype).eps,
                                module)
                     for node, (upstream, positions, dtype, module) in sorted(
                         self.sent_by_pytorch.items()))


def _shell(value: Array, name: str | None, kind: str) -> Tensor:
    """A leaf of gradstep's graph standing for a torch tensor."""
    shell = Tensor.__new__(Tensor)
    shell._data, shell.name, shell.kind = value, name, kind
    shell.grad, shell._op, shell._inputs, shell._attrs = None, None, (), {}
    return shell


def build_trace(recorder: _Recorder, loss: torch.Tensor, params: Mapping[int, Tensor],
                names: Mapping[int, str], forward_line: int | None,
                ops: dict[Any, Any] | None = None) -> TorchTrace:
    """The records of one recorded forward pass, and of the backward pass run from ``loss``.

    ``params`` maps each parameter (by ``id``) to its gradstep leaf, ``names`` the file's
    other module-level tensors to their variable names; ``ops`` caches the ops computed by
    PyTorch from one cycle to the next.
    """
    ops = {} if ops is None else ops
    producer = {id(c.out): k for k, c in enumerate(recorder.calls)}
    if id(loss) not in producer:
        raise TorchFileError("forward() returned a tensor that no recorded operation made "
                             "from the parameters", forward_line)
    plans: dict[int, _Plan] = {}
    stack = [producer[id(loss)]]
    while stack:  # the calls the loss depends on
        k = stack.pop()
        if k in plans:
            continue
        plans[k] = _plan(recorder.calls[k], ops)
        for x in plans[k].inputs:
            if isinstance(x, torch.Tensor) and id(x) in producer:
                stack.append(producer[id(x)])
            elif isinstance(x, torch.Tensor) and x.grad_fn is not None:
                raise TorchFileError(
                    f"{plans[k].call.name} uses a value made by something gradstep cannot "
                    f"see ({type(x.grad_fn).__name__}); make it with torch operations inside "
                    f"forward()", plans[k].call.line)

    order: list[Tensor] = []
    inputs: list[tuple[int, ...]] = []
    lines: list[int | None] = []
    keys: list[Any] = []  # each node's key in engine_order's list (None: a number)
    plan_of: dict[int, _Plan] = {}
    node_of: dict[int, int] = {}  # id(torch tensor) -> node

    def add(shell: Tensor, key: Any, ids: tuple[int, ...] = (), line: int | None = None) -> int:
        order.append(shell)
        inputs.append(ids)
        lines.append(line)
        keys.append(key)
        return len(order) - 1

    def leaf(x: Any) -> int:
        if not isinstance(x, torch.Tensor):
            return add(as_tensor(x), None)  # a number: a constant of its own, as natively
        if id(x) not in node_of:
            shell = params.get(id(x))
            if shell is not None:
                shell._data = _array(x)
            else:
                name = names.get(id(x))
                shell = _shell(_array(x), name or (f"{x.item():g}" if x.numel() == 1 else None),
                               "input" if name else "constant")
            node_of[id(x)] = add(shell, ("leaf", id(x)))
        return node_of[id(x)]

    runs = count()
    for k in sorted(plans):
        plan = plans[k]
        ids = tuple(node_of[id(x)] if isinstance(x, torch.Tensor) and id(x) in producer
                    else leaf(x) for x in plan.inputs)
        shell = _shell(_array(plan.call.out), None, "op")
        shell._op, shell._attrs = plan.op, plan.attrs
        shell._inputs = tuple(order[i] for i in ids)
        shell._args = [order[i]._data for i in ids]
        shell._run = next(runs)
        if plan.call.module:
            shell.name = f"{plan.call.module} · {plan.call.name.strip('_')}"
        node_of[id(plan.call.out)] = add(shell, k, ids, plan.call.line)
        plan_of[node_of[id(plan.call.out)]] = plan
    return _records(recorder, order, inputs, plan_of, lines, keys,
                    engine_order(recorder.calls, producer[id(loss)]))


def engine_order(calls: Sequence[_Call], root: int) -> list[Any]:
    """The autograd Nodes of the recorded calls in the order PyTorch's engine runs them in a
    single-threaded backward pass from call ``root``'s result, worked out from the graph rather
    than watched with hooks (a Python hook per Node cost a CNN's cycle more than working it
    out).

    The CPU engine runs, among the Nodes whose upstream gradient is complete, the one with the
    highest sequence number (the latest made), and an ``AccumulateGrad`` (sequence number
    UINT64_MAX) as soon as it is ready (``CompareNodeTaskTime`` in
    torch/csrc/autograd/engine.cpp). A call's own Nodes (its result's, the ones inside a
    composite op, the aliases of its arguments) were made after every Node it consumes and
    before any later call's, so once the call's Node runs they all run next: the aliases last
    made first, each leaf's ``AccumulateGrad`` right after its last alias.

    Returns
    -------
    list
        A call's index (the results of a call that gives several, which share one Node, one
        after another) or ``("leaf", id(tensor))`` for a leaf's ``AccumulateGrad``.
    """
    producer = {id(c.out): k for k, c in enumerate(calls)}
    results: dict[int, list[int]] = {}  # a Node's sequence number -> the calls it made
    for k, c in enumerate(calls):
        results.setdefault(c.node, []).append(k)

    def key(t: torch.Tensor) -> Any:
        k = producer.get(id(t))
        return calls[k].node if k is not None else ("leaf", id(t)) if t.is_leaf else None

    waiting: dict[Any, int] = {}  # a Node -> the edges into it still to run
    stack = [calls[root].node]
    while stack:
        for t in calls[results[stack.pop()][0]].sends_to:
            to = key(t)
            if to not in waiting and type(to) is int:
                stack.append(to)
            waiting[to] = waiting.get(to, 0) + 1
    ran: list[Any] = []
    ready = [-calls[root].node]
    while ready:
        node = -heapq.heappop(ready)
        ran.extend(results[node])
        for t in reversed(calls[results[node][0]].sends_to):  # the last alias made runs first
            to = key(t)
            waiting[to] -= 1
            if waiting[to] == 0:
                if type(to) is int:
                    heapq.heappush(ready, -to)
                elif to is not None:
                    ran.append(to)
    return ran


def firing_order(inputs: Sequence[tuple[int, ...]], keys: Sequence[Any],
                 fired: Iterable[Any]) -> list[int]:
    """The order of the backward steps: every node after all of its consumers, and the nodes
    whose autograd Node ran (their key in ``fired``, which lists the keys in the order the
    Nodes ran) in that order; the others (data, constants: nothing runs for them) each as
    late as it can be, in reverse forward order.

    Parameters
    ----------
    inputs
        Each node's inputs (node ids; the last node is the root).
    keys
        Each node's key in ``fired`` (``None`` for one that cannot be there).
    fired
        The keys of the autograd Nodes in the order PyTorch's engine ran them.

    Returns
    -------
    list of int
        Every node once. Where the engine's order is itself a valid order of the graph (it
        is: a Node runs once its upstream gradient is complete), the nodes that ran come in
        exactly that order.
    """
    when = {key: k for k, key in enumerate(fired)}
    n = len(inputs)
    late = len(when) + n  # the ones that did not run: after those that did, latest first
    rank = [when.get(key, late - i) for i, key in enumerate(keys)]
    waiting = [0] * n  # consumers not yet stepped (x * x counts x twice)
    for ids in inputs:
        for j in ids:
            waiting[j] += 1
    ready = [(rank[n - 1], n - 1)]
    steps: list[int] = []
    while ready:
        i = heapq.heappop(ready)[1]
        steps.append(i)
        for j in inputs[i]:
            waiting[j] -= 1
            if not waiting[j]:
                heapq.heappush(ready, (rank[j], j))
    return steps


def _records(recorder: _Recorder, order: list[Tensor], inputs: list[tuple[int, ...]],
             plan_of: dict[int, _Plan], lines: list[int | None], keys: list[Any],
             ran: list[Any]) -> TorchTrace:
    """Backward steps in the order PyTorch's engine ran the autograd Nodes (``ran``, see
    :func:`engine_order` and :func:`firing_order`), each input's gradient the one PyTorch
    sent; a node no parameter is upstream of gets no step (as in
    :func:`tracer.record.trace`)."""
    n = len(order)
    needs = needs_grad(order, inputs)
    grads: list[Array | None] = [None] * n
    terms: list[list[tuple[int, Array]]] = [[] for _ in range(n)]
    backward = []
    sent_by_pytorch: dict[int, tuple[Array, tuple[int, ...], Any, str | None]] = {}
    reached = {n - 1}  # the nodes PyTorch sent a gradient to (its Node's upstream is defined)
    with quiet():
        for i in firing_order(inputs, keys, ran):
            t = order[i]
            plan = plan_of.get(i)
            # what the value's uses sent back, added up (the loss starts from 1)
            g = grads[i] = (constant(1.0, t.shape) if i == n - 1 else grads[i]
                            if grads[i] is not None else constant(0.0, t.shape))
            if plan is None:  # a leaf
                if needs[i]:
                    backward.append(BackwardStep(len(backward), i, g, tuple(terms[i]), ()))
                continue
            # The op table's local derivatives and products, for the formulas, and its
            # gradients to inputs PyTorch sends none (data); and the gradients to the results
            # of a call with several, which PyTorch does not keep apart (an op computed by
            # PyTorch, for that result alone). A table op with no local derivative to show
            # whose every input has PyTorch's gradient needs none of it (a pooling layer's
            # would cost more than recording it), and a selective one only the gradients
            # PyTorch does not send (a convolution's of its images, not of its kernel).
            wanted = plan.call.part is not None or (plan.table and (
                t._op.local is not None or None in plan.edges))
            ours = (_input_grads(t, t._args, t._data, g, tuple(e is None for e in plan.edges))
                    if wanted else [(None, None, None, ())] * len(plan.inputs))
            records = []
            for pos, (j, edge, mine) in enumerate(zip(inputs[i], plan.edges, ours,
                                                       strict=True)):
                c, local, unreduced, axes = mine
                if edge is not None:  # what PyTorch sent along this edge
                    got = plan.call.aliases[edge].grad
                    if got is not None:
                        reached.add(j)
                    c = _array(got) if got is not None else constant(0.0, order[j].shape)
                records.append(sent(grads, terms, i, j, pos, c, local, unreduced, axes,
                                    order[j].shape, needs_grad=needs[j]))
            if plan.table and i in reached:
                # the upstream gradient PyTorch's Node ran with: the sum of what its
                # consumers sent, which ``g`` is
                sent_by_pytorch[i] = (g, tuple(
                    pos for pos, edge in enumerate(plan.edges) if edge is not None),
                    plan.call.out.dtype, plan.call.module)
            if needs[i]:
                backward.append(BackwardStep(len(backward), i, g, tuple(terms[i]),
                                             tuple(records)))
    names = _names(order)
    nodes = tuple(Node(i, names[i], t._op.name if t._op is not None else t.kind,
                       "loss" if i == n - 1 else t.kind, inputs[i], t._data, grads[i],
                       dict(t._attrs)) for i, t in enumerate(order))
    node_of = {key: i for i, key in enumerate(keys) if key is not None}
    return TorchTrace(nodes, tuple(backward), tuple(order), n - 1, tuple(lines), recorder.path,
                      sent_by_pytorch, tuple(node_of[key] for key in ran if key in node_of),
                      recorder.start)


# --- the optimizer ------------------------------------------------------------------------------

# gradstep's formula for the torch optimizers that compute the same update.
_FORMULAS: dict[str, str] = {"SGD": SGD.formula, "Adam": Adam.formula}


class TorchOptimizer(Optimizer):
    """A ``torch.optim.Optimizer`` seen as gradstep's: its steps become update records (the
    parameter before and after, its gradient, and the optimizer's state for it after)."""

    def __init__(self, optimizer: torch.optim.Optimizer, params: Mapping[str, torch.Tensor]):
        self.torch = optimizer
        self.params = params  # the file's parameters by name
        self.name = type(optimizer).__name__.lower()
        momentum = optimizer.defaults.get("momentum", 0)
        self.formula = (Momentum.formula if self.name == "sgd" and momentum else
                        _FORMULAS.get(type(optimizer).__name__, ""))
        self.iteration = 0

    @property
    def lr(self) -> float:
        return float(self.torch.param_groups[0]["lr"])

    def set_lr(self, lr: float) -> None:
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"the learning rate must be a positive number, not {lr!r}")
        for group in self.torch.param_groups:
            group["lr"] = float(lr)

    def describe(self) -> str:
        extra = {k: v for k, v in self.torch.defaults.items()
                 if k in ("momentum", "betas", "weight_decay") and v}
        said = "".join(f", {k} {v:g}" if isinstance(v, int | float) else
                       f", {k} {', '.join(f'{b:g}' for b in v)}" for k, v in extra.items())
        return f"torch.optim.{type(self.torch).__name__} (lr {self.lr:g}{said})"

    def snapshot(self) -> Any:
        """The optimizer's state dict with its own copy of each state tensor (the optimizer
        updates those in place). It is built here as ``state_dict()`` builds it (parameters
        numbered in the order of the groups), in a third of the time: it is taken every
        cycle."""
        index: dict[int, int] = {}
        groups = []
        for group in self.torch.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        kept = {index[id(p)]: {name: v.clone() if isinstance(v, torch.Tensor) else v
                               for name, v in entry.items()}
                for p, entry in self.torch.state.items()}
        return self.iteration, {"state": kept, "param_groups": groups}

    def restore(self, snapshot: Any) -> None:
        """Put back the optimizer's memory (as gradstep's optimizers do, not its learning
        rate, which a what-if may have just changed)."""
        if snapshot is not None:
            self.iteration, state = snapshot
            lrs = [group["lr"] for group in self.torch.param_groups]
            self.torch.load_state_dict(copy.deepcopy(state))
            for group, lr in zip(self.torch.param_groups, lrs, strict=True):
                group["lr"] = lr

    def step(self, params: Iterable[tuple[str, Tensor]]) -> tuple[UpdateRecord, ...]:
        """gradstep's :meth:`~tracer.optim.Optimizer.step` on parameters' leaves (with their
        ``.grad`` set), as the diagnostics' one-step probe asks: the torch optimizer steps from
        the leaves' values and gradients, the leaves take the new values, and the torch
        parameters are put back as they were."""
        pairs = [(name, leaf, self.params[name]) for name, leaf in params]
        kept = [(p, p.data, p.grad) for _, _, p in pairs]
        try:
            for _, leaf, p in pairs:
                p.data = torch.tensor(np.array(leaf._data), dtype=p.dtype)
                p.grad = (None if leaf.grad is None else
                          torch.tensor(np.array(leaf.grad), dtype=p.dtype))
            records = self.step_torch([(name, p, leaf._data) for name, leaf, p in pairs])
        finally:
            for p, data, grad in kept:
                p.grad = None
                p.data, p.grad = data, grad
        for (_, leaf, _), record in zip(pairs, records, strict=True):
            leaf._data = record.after
        return records

    def step_torch(self, params: Sequence[tuple[str, torch.Tensor, Array]]
                   ) -> tuple[UpdateRecord, ...]:
        """One ``step()`` of the torch optimizer, as one record per ``(name, parameter, its
        value now)``."""
        self.iteration += 1
        self.torch.step()
        records = []
        for name, p, before in params:
            after = _array(p)
            grad = constant(0.0, before.shape) if p.grad is None else _array(p.grad)
            # (copies: the optimizer updates its state tensors in place, and a float64
            # tensor's numpy() shares their memory)
            state = {k: _array(v) if isinstance(v, torch.Tensor) else frozen(np.float64(v))
                     for k, v in self.torch.state.get(p, {}).items()}
            records.append(UpdateRecord(name, before, grad, frozen(after - before), after,
                                        state))
        return tuple(records)


# --- the network --------------------------------------------------------------------------------


@dataclass
class TorchModel:
    """What a PyTorch network file defines: its forward function and its named tensors."""

    forward: Callable[[], Any]
    path: str
    params: dict[str, torch.Tensor]  # parameter name -> tensor
    inputs: dict[str, torch.Tensor]  # other module-level tensors, by variable name
    modules: dict[int, str]  # id(module) -> its path ("model.0")
    forward_line: int | None = None
    buffers: list[torch.Tensor] = field(default_factory=list)  # the modules' (BatchNorm's)
    # how a problem recording the file is raised (the loader's error, naming the file)
    error: Callable[[str, int | None], Exception] = TorchFileError
    shells: dict[str, Tensor] = field(default_factory=dict)
    ops: dict[Any, Any] = field(default_factory=dict)  # see _plan

    def __post_init__(self) -> None:
        self.shells = {name: _shell(_array(p), name, "param") for name, p in self.params.items()}

    def record_float64(self) -> TorchTrace:
        """The trace of forward() and PyTorch's backward pass run on the model's float64 copy
        (for gradient checks; see :meth:`float64`), drawing nothing from torch's generator
        that training would see."""
        with _random_kept(), self.float64():
            recorder, loss = self.forward_recorded()
            return self.trace_of(recorder, loss)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Raise a problem recording the file as the loader's error (naming the file)."""
        try:
            yield
        except TorchFileError as exc:
            if self.error is TorchFileError:
                raise
            raise self.error(str(exc), exc.line) from None

    def forward_recorded(self) -> tuple[_Recorder, torch.Tensor]:
        """Run forward() under the recorder; return it and the loss."""
        recorder = _Recorder(self.path, self.modules)
        with self._errors(), _recording(recorder):
            loss = self.forward()
        self._check_loss(loss)
        return recorder, loss

    def forward_plain(self) -> torch.Tensor:
        """Run forward() as PyTorch alone does (no recorder); return the loss."""
        loss = self.forward()
        self._check_loss(loss)
        return loss

    def backward(self, loss: torch.Tensor) -> None:
        """PyTorch's backward pass from ``loss``, single-threaded (the engine's own order):
        the parameters' ``.grad`` hold their gradients."""
        for p in self.params.values():
            p.grad = None
        try:
            with torch.autograd.set_multithreading_enabled(False):
                loss.backward()
        except RuntimeError as exc:
            raise self.error(f"PyTorch's backward pass failed: {exc}. The usual cause is "
                             f"an in-place change (x += …, x[i] = …) to a value an op had "
                             f"already used: write it out of place", self.forward_line) from None

    def trace_of(self, recorder: _Recorder, loss: torch.Tensor) -> TorchTrace:
        """The trace of a forward pass ``recorder`` recorded, after running its backward pass
        (see :meth:`backward`)."""
        self.backward(loss)
        by_id = {id(p): self.shells[name] for name, p in self.params.items()}
        names = {id(t): name for name, t in self.inputs.items()}
        with self._errors():
            return build_trace(recorder, loss, by_id, names, self.forward_line, self.ops)

    def _check_loss(self, loss: Any) -> None:
        if not isinstance(loss, torch.Tensor):
            raise self.error(f"forward() returned {type(loss).__name__}, not a torch.Tensor",
                                 self.forward_line)
        if loss.numel() != 1:
            raise self.error(f"forward() returned a tensor of shape {tuple(loss.shape)}, not "
                                 f"a scalar. Backpropagation starts from one number: reduce it "
                                 f"with .sum() or .mean()", self.forward_line)
        if loss.grad_fn is None:
            raise self.error("the loss forward() returned reaches no trainable parameter "
                                 "(it has no grad_fn). Give the model's tensors "
                                 "requires_grad=True (nn.Module parameters have it), and do "
                                 "not compute the loss under torch.no_grad()", self.forward_line)

    def loss(self) -> float:
        """The loss at the values the parameters' leaves hold (the parameters' own, except
        while a check or a probe moves the leaves)."""
        kept = [(p, p.data) for p in self.params.values()]
        try:
            with torch.no_grad(), _random_kept():
                for name, p in self.params.items():
                    p.data = torch.from_numpy(np.array(self.shells[name]._data)).to(p.dtype)
                loss = self.forward()
        finally:
            for p, data in kept:
                p.data = data
        self._check_loss_value(loss)
        return float(loss.item())

    def _check_loss_value(self, loss: Any) -> None:
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            self._check_loss(loss)

    def probe(self) -> Tensor:
        """The loss at the parameter values gradstep's leaves hold, computed in float64 (the
        finite-difference checks set those leaves)."""
        with self.float64(), torch.no_grad(), _random_kept():
            for name, p in self.params.items():
                p.data = torch.tensor(np.array(self.shells[name]._data, dtype=np.float64))
            loss = self.forward()
        self._check_loss_value(loss)
        return Tensor(float(loss.item()), kind="constant")

    @contextmanager
    def float64(self) -> Iterator[None]:
        """Run the model as a float64 copy for the duration: its tensors (parameters, buffers,
        inputs) hold float64 copies of their values, new tensors default to float64 and every
        floating-point argument is made float64. Everything is put back afterwards."""
        tensors = [*self.params.values(), *self.inputs.values(), *self.buffers]
        saved = [(t, t.data) for t in tensors if t.is_floating_point()]
        default = torch.get_default_dtype()
        try:
            for t, data in saved:
                t.data = data.double()
            torch.set_default_dtype(torch.float64)
            with _Float64():
                yield
        finally:
            torch.set_default_dtype(default)
            for t, data in saved:
                t.grad = None  # a float64 gradient, from the copy
                t.data = data

    def sync(self, names: Iterable[str] | None = None) -> None:
        """Give the parameters' leaves (those named, or all) the parameters' current values."""
        for name in self.params if names is None else names:
            self.shells[name]._data = _array(self.params[name])


@contextmanager
def _random_kept() -> Iterator[None]:
    """Run an extra forward pass (a check's, the loader's) without moving torch's, numpy's or
    Python's generator: the iterations run later, and their replays, draw the same numbers."""
    state = torch.get_rng_state()
    try:
        with random_state_kept():
            yield
    finally:
        torch.set_rng_state(state)


class _Float64(TorchFunctionMode):
    """Every floating-point tensor argument in float64 (for finite differences)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        flat, rebuild = _flatten(args, kwargs or {})
        args, kwargs = rebuild([a.to(torch.float64) if isinstance(a, torch.Tensor)
                                and a.is_floating_point() else a for a in flat])
        return func(*args, **kwargs)


@dataclass
class TorchNetwork(Network):
    """A :class:`~tracer.network.Network` whose cycle is recorded from PyTorch; its iterations
    run through :class:`tracer.torch_fast.Iterations` (plain PyTorch steps when not recorded,
    one forward pass each)."""

    model: TorchModel | None = None
    runs: Iterations | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.runs = Iterations(self.model, self.optimizer)

    def root(self) -> Tensor:
        return self.model.probe()

    def loss(self) -> float:
        return self.model.loss()

    def trace(self) -> Trace:
        """The trace of the forward pass the next iteration starts from (and its backward)."""
        with self.lock:
            return self.runs.traced(self.runs.current(record=True))

    @contextmanager
    def replaying(self, trace: Trace) -> Iterator[None]:
        """Checks of a cycle's trace run forward() again from where that cycle's forward pass
        started: its dropout masks and random mini-batch, not the next ones. Afterwards the
        random states and BatchNorm's statistics are what they were."""
        start = getattr(trace, "start", None)
        if start is None:
            yield
            return
        here = self.runs.start_here()
        self.runs.go_to(start)
        try:
            yield
        finally:
            self.runs.go_to(here)

    def trace_for_checks(self) -> Trace:
        """The trace of the model's float64 copy: finite differences need float64, and so does
        the gradient they are compared with."""
        with self.lock:
            return self.model.record_float64()

    def _cycle(self) -> Cycle:
        done = self.runs.current(record=True)
        recorded = self.runs.traced(done)
        start = done.start
        del done  # (its graph goes before the next one is built: see Iterations.fast_step)
        in_graph = {n.name for n in recorded.params}
        shells = self.model.shells  # (the trace gave those in it the values it recorded)
        self.model.sync(set(self.model.params) - in_graph)  # (fast steps leave them behind)
        params = sorted(((name, p, shells[name]._data) for name, p in self.model.params.items()),
                        key=lambda item: item[0] not in in_graph)
        state = self.optimizer.snapshot()
        nodes = {n.name: n.id for n in recorded.params}
        updates = tuple(u._replace(node=nodes.get(u.name))
                        for u in self.optimizer.step_torch(params))
        self.iteration += 1
        try:
            after = self.runs.advance(record=True)
        except BaseException:  # the iteration did not happen (as tracer.Network's)
            with torch.no_grad():
                for _, p, before in params:
                    p.copy_(torch.from_numpy(np.array(before)))
            self.optimizer.restore(state)
            self.iteration -= 1
            self.runs.go_to(start)
            raise
        for update in updates:
            shells[update.name]._data = update.after
        return Cycle(self.iteration, recorded, updates, after, self.optimizer.describe(), state)

    # --- training histories (see tracer.checkpoint and tracer.torch_fast) -----------------

    def fast_step(self) -> tuple[float, float]:
        """One iteration as a plain PyTorch training step; the loss before and after it."""
        with self.lock:
            losses = self.runs.fast_step()
            self.iteration += 1
            return losses

    def upcoming(self) -> Trace:
        return self.trace()

    def expect_checkpoint(self) -> None:
        """(Every forward pass keeps where it started: for torch's generator that is cheap.)"""

    def checkpoint(self) -> Checkpoint:
        """The parameters' values, the optimizer's memory and the random states (see
        :mod:`tracer.torch_fast`)."""
        with self.lock:
            return self.runs.checkpoint(self.iteration)

    def restore(self, checkpoint: Checkpoint) -> None:
        with self.lock:
            self.runs.restore(checkpoint.state)
            self.iteration = checkpoint.iteration

    @contextmanager
    def detour(self) -> Iterator[None]:
        with self.lock, self.runs.kept(self.iteration) as here:
            try:
                yield
            finally:
                self.iteration = here.iteration

    def rewind(self, cycle: Cycle, changes: Mapping[int, np.ndarray] | None = None) -> None:
        """Put the parameters and the optimizer back to where ``cycle`` started, with the
        leaves of node ids in ``changes`` given new values."""
        tensors = {**self.model.inputs, **self.model.params}
        with self.lock:
            with torch.no_grad():
                for node in cycle.trace.params:
                    self.model.params[node.name].copy_(torch.tensor(node.value))
                for k, new in (changes or {}).items():
                    tensors[cycle.trace.nodes[k].name].copy_(torch.tensor(new))
            self.model.sync()
            self.optimizer.restore(cycle.optimizer_state)
            self.runs.forget()
            self.iteration = cycle.iteration - 1

    def what_if(self, cycle: Cycle, values: Mapping[str, Any] | None = None,
                lr: float | None = None) -> Cycle:
        """Re-run ``cycle`` from where it started with some parameters or inputs (by name) or
        the learning rate changed (see :meth:`tracer.network.Network.what_if`)."""
        tensors = {**self.model.inputs, **self.model.params}
        changes = leaf_changes(cycle.trace, values, tensors.__contains__)
        if lr is not None:
            self.optimizer.set_lr(lr)
        with self.lock:
            self.rewind(cycle, changes)
            return self._cycle()
