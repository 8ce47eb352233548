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
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .arrays import constant, frozen
from .checkpoint import random_state_kept
from .custom import remember_origin
from .diagnostics.torchvjp import PyTorchVJP
from .ops import Op
from .optim import SGD, Adam, Momentum, Optimizer, UpdateRecord
from .record import (
    Trace,
    _input_grads,
    _names,
    make_backward_step,
    make_node,
    needs_grad,
    sent,
)
from .tensor import Tensor, as_tensor, quiet
from .torch_ops import TORCH_FEATURE_AXES, TORCH_ROLES, table_op

Array = np.ndarray

# Results of these calls are never ops of the graph (they read or re-wire a tensor).
_PASSTHROUGH = frozenset({
    "detach", "detach_", "register_hook", "retain_grad", "requires_grad_", "backward",
    "view_as", "data_ptr", "__repr__", "__format__", "__str__", "item", "tolist", "numpy",
    "size", "dim", "numel", "__len__", "__bool__", "__hash__", "cpu", "to", "float", "double",
})
# Calls that take a value out of autograd: what is computed from their result sends no gradient
# back (how the finding says each; torch.no_grad() is told apart by the grad mode).
_CUTS = {"detach": ".detach()", "detach_": ".detach_()", "item": ".item()",
         "tolist": ".tolist()", "numpy": ".numpy()"}
_NO_GRAD = "torch.no_grad()"
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


# function -> its name if its calls may be ops of the graph, else None (see _recorded_name)
_RECORDED_NAMES: dict[Any, str | None] = {}


def _recorded_name(func: Callable[..., Any]) -> str | None:
    """The name of ``func`` (see :func:`_name_of`) if its calls may be ops of the graph;
    ``None`` for one whose result never is (it reads or re-wires a tensor, or reads a property
    that is metadata). Remembered per function: the recorder asks for every torch call."""
    try:
        return _RECORDED_NAMES[func]
    except KeyError:
        pass
    except TypeError:  # (an unhashable callable: decided anew)
        return _decide_name(func)
    name = _RECORDED_NAMES[func] = _decide_name(func)
    return name


def _decide_name(func: Callable[..., Any]) -> str | None:
    name = _name_of(func)
    if name in _PASSTHROUGH or (getattr(func, "__name__", "") == "__get__"
                                and name not in _COMPUTED_PROPERTIES):
        return None
    return name


def _in_place(name: str, kwargs: Mapping[str, Any]) -> bool:
    plain = name.endswith("_") and not name.endswith("__")
    return plain or name in _IN_PLACE_OPERATORS or bool(kwargs.get("inplace"))


class _Layout(NamedTuple):
    """Where a call's arguments go back once spread out as one list (see :func:`_flatten`):
    for each argument, ``None`` or the type and length of the list or tuple it was."""

    spread: tuple[tuple[type, int] | None, ...] | None  # None: no argument was spread
    keys: tuple[str, ...]  # the keyword arguments' names
    n: int  # how many positional arguments

    def rebuild(self, items: Sequence[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` for a list of arguments like the flattened one."""
        spread, keys, n = self
        if spread is None:
            if not keys:
                return tuple(items), {}
            out: Sequence[Any] = items
        else:
            out, k = [], 0
            for s in spread:
                if s is None:
                    out.append(items[k])
                    k += 1
                else:
                    out.append(s[0](items[k:k + s[1]]))
                    k += s[1]
        return tuple(out[:n]), dict(zip(keys, out[n:], strict=True))


# (keyword names, positional count) -> the layout of a call with nothing spread: most calls
_PLAIN_LAYOUTS: dict[tuple[tuple[str, ...], int], _Layout] = {}


def _flatten(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list[Any], _Layout]:
    """A call's arguments as one list (a list or tuple argument spread out, as torch.cat's
    tensors), and how to put a list like it back into ``(args, kwargs)``."""
    everything = (*args, *kwargs.values())
    keys = tuple(kwargs)
    for a in everything:
        if type(a) is list or type(a) is tuple:
            break
    else:  # (the usual call: nothing to spread)
        layout = _PLAIN_LAYOUTS.get((keys, len(args)))
        if layout is None:
            layout = _PLAIN_LAYOUTS[keys, len(args)] = _Layout(None, keys, len(args))
        return list(everything), layout
    flat: list[Any] = []
    spread: list[tuple[type, int] | None] = []
    for a in everything:
        if type(a) is list or type(a) is tuple:
            spread.append((type(a), len(a)))
            flat.extend(a)
        else:
            spread.append(None)
            flat.append(a)
    return flat, _Layout(tuple(spread), keys, len(args))


@dataclass(slots=True)
class _Call:
    """One recorded torch call: what ran, on which arguments, with what result."""

    name: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    flat: list[Any]  # the arguments, flattened (see _flatten)
    layout: _Layout
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

    def __init__(self, path: str, modules: Mapping[int, str],
                 names: Mapping[int, str] | None = None):
        super().__init__()
        self.path = path
        self.module_names = modules
        self.names = names or {}  # id(tensor) -> its variable name in the file
        # id(tensor) -> a name for a tensor made from a named one with no gradient involved
        # (``targets · view``), and those tensors, kept so that their ids stay theirs
        self.derived: dict[int, str] = {}
        self.kept: list[torch.Tensor] = []
        self.calls: list[_Call] = []
        self.stack: list[str] = []
        self.busy = False
        self.start: Any = None  # where the forward pass started (see TorchTrace.start)
        # where forward() took tensors that need a gradient out of autograd: (how, line, the
        # tensors' ids), for the finding about a parameter the loss then does not depend on
        self.cuts: list[tuple[str, int | None, tuple[int, ...]]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.busy:
            return func(*args, **kwargs)
        name = _recorded_name(func)
        if name is None or not torch.is_grad_enabled():
            cut = _CUTS.get(getattr(func, "__name__", "")) if name is None else None
            if cut is not None or not torch.is_grad_enabled():
                self.cut(cut or _NO_GRAD, args, kwargs)
            return func(*args, **kwargs)
        return self.run(func, name, args, kwargs, None)

    def cut(self, how: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Note a call that takes tensors needing a gradient out of autograd."""
        cut = tuple(id(t) for t in _flatten(args, kwargs)[0]
                    if isinstance(t, torch.Tensor) and t.requires_grad)
        if cut:
            self.cuts.append((how, self.line(), cut))

    def run(self, func: Callable[..., Any], name: str, args: tuple[Any, ...],
            kwargs: dict[str, Any], custom: type | None) -> Any:
        flat, layout = _flatten(args, kwargs)
        places, differentiable = [], False
        for k, a in enumerate(flat):
            if isinstance(a, torch.Tensor):
                places.append(k)
                differentiable = differentiable or a.requires_grad
        if not differentiable:
            out = func(*args, **kwargs)
            if isinstance(out, torch.Tensor) and (self.names or self.derived):
                self.name_derived(name, [flat[k] for k in places], out)
            return out
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
            tensors: list[torch.Tensor] = []
            aliases: list[torch.Tensor | None] = []
            sends_to: list[torch.Tensor] = []
            for k in places:
                t = flat[k]
                tensors.append(t)
                # Data PyTorch does not differentiate gets no alias: asking for its gradient
                # would double the backward pass of a CNN's first convolution. (The op table
                # gives it one where the call is a table op, as gradstep does natively.)
                if t.requires_grad:
                    alias = items[k] = t.view_as(t)
                    # PyTorch keeps in alias.grad what the call sends along this edge (a hook
                    # of its own, in C++: a Python hook per edge cost more than the rest of
                    # the backward pass of a small model)
                    alias.retain_grad()
                    aliases.append(alias)
                    sends_to.append(t)
                else:
                    aliases.append(None)
            new_args, new_kwargs = layout.rebuild(items)
            random = torch.get_rng_state() if name in _RANDOM or custom else None
            out = func(*new_args, **new_kwargs)
            module = self.stack[-1] if self.stack else None
            if type(out) is torch.Tensor or isinstance(out, torch.Tensor):
                if out.grad_fn is None:
                    return out
                self.calls.append(_Call(name, func, args, kwargs, flat, layout, places,
                                        tensors, aliases, out, module, line, custom,
                                        out.grad_fn._sequence_nr(), sends_to, random=random))
                return out
            if name == "__iter__":  # iterating over a tensor: its rows, all at once
                out = tuple(out)
            outputs = out if isinstance(out, tuple | list) else (out,)
            if not any(isinstance(o, torch.Tensor) and o.grad_fn is not None for o in outputs):
                return out
            # Several results (chunk, split, unbind, max with dim): a node per result. What
            # each sent back is not told apart by PyTorch (they share one backward node), so
            # it is computed by PyTorch for that result alone, from its recorded gradient.
            for part, o in enumerate(outputs):
                if isinstance(o, torch.Tensor) and o.grad_fn is not None:
                    self.calls.append(_Call(name, func, args, kwargs, flat, layout, places,
                                            tensors, [None] * len(places), o, module, line,
                                            custom, o.grad_fn._sequence_nr(), sends_to, part,
                                            random))
            return iter(out) if name == "__iter__" else out
        finally:
            self.busy = False

    def name_derived(self, name: str, tensors: Sequence[torch.Tensor],
                     out: torch.Tensor) -> None:
        """Name ``out``, made by ``name`` with no gradient involved, after the first of
        ``tensors`` with a name (``targets · view``), as ops are named after their module."""
        source = next((self.names.get(id(t)) or self.derived.get(id(t)) for t in tensors
                       if id(t) in self.names or id(t) in self.derived), None)
        if source is not None:
            self.derived[id(out)] = f"{source} · {name.strip('_')}"
            self.kept.append(out)

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
    func, rebuild, part, random = call.func, call.layout.rebuild, call.part, call.random
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


class _Values:
    """The values of a model's own tensors (its parameters and data) as read-only float64
    arrays, converted again only once a tensor has changed: in place (its version counter, as
    :mod:`tracer.torch_fast` tells a changed tensor) or given new data (its storage, kept
    alive here so that no other tensor's can take its address). Every trace reads them, and
    each update record the parameters' new values: a parameter changes once a step, data
    seldom."""

    def __init__(self) -> None:
        # id(tensor) -> (the tensor, its version, its storage's tensor, its value)
        self.kept: dict[int, tuple[torch.Tensor, int, torch.Tensor, Array]] = {}

    def __call__(self, t: torch.Tensor) -> Array:
        entry = self.kept.get(id(t))
        if (entry is not None and entry[0] is t and entry[1] == t._version
                and entry[2].data_ptr() == t.data_ptr()):
            return entry[3]
        value = _array(t)
        self.kept[id(t)] = (t, t._version, t.detach(), value)
        return value


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
class _Decision:
    """How the calls of one kind (see :func:`_op_key`) are recorded, decided at the first of
    them: the op, and where each of its inputs comes from."""

    op: Op
    table: bool  # an op of the table (else one computed by PyTorch)
    # each input: (the index of the call's flattened argument it is, None) or (None, a number);
    # None if an input is neither (the decision is then not reused)
    sources: tuple[tuple[int | None, Any], ...] | None
    attrs: dict[str, Any]
    # the inputs without PyTorch's gradient whose table gradient is None (labels, indices):
    # learnt at the first backward pass, so that later ones skip the table's arithmetic
    no_gradient: set[int] = field(default_factory=set)
    # the inputs of a structural op that were data (nothing trainable needs them) in a
    # backward pass: once it is known whether the table gives them a gradient, none is asked
    probed: set[int] = field(default_factory=set)


@dataclass
class _Plan:
    """One recorded call as a node: its op, its inputs (tensors or numbers), and for each input
    the position of the call's argument whose alias carries its gradient (``None``: none)."""

    call: _Call
    decision: _Decision
    inputs: list[Any]
    edges: list[int | None]


def _op_key(call: _Call) -> tuple[Any, ...] | None:
    """What makes two calls the same op, recorded the same way (the function, the line, the
    arguments other than tensors, the tensors' places, dtypes and shapes, the result's shape:
    everything the op table's rules read), or ``None`` if that cannot be told."""
    if call.random is not None:  # (its op keeps the random state of this call)
        return None
    others = tuple(None if isinstance(a, torch.Tensor) else a for a in call.flat)
    key = (call.func, call.name, call.part, call.line, call.custom, tuple(call.places), others,
           tuple((t.dtype, t.shape) for t in call.tensors), len(call.args), tuple(call.kwargs),
           call.out.shape)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _plan(call: _Call, ops: dict[Any, Any]) -> _Plan:
    """How ``call`` is recorded. ``ops`` remembers, from one cycle to the next (a model makes
    the same calls every cycle, see :func:`_op_key`), the decision made for each kind of call:
    it is made once, at the first call of its kind, and not checked again (the key holds all
    the decision depends on)."""
    key = _op_key(call)
    decision = ops.get(key) if key is not None else None
    if decision is not None:
        inputs = [value if k is None else call.flat[k] for k, value in decision.sources]
    else:
        decision, inputs = _decide(call)
        if key is not None and decision.sources is not None:
            ops[key] = decision
    return _Plan(call, decision, inputs, _edges(call, inputs))


def _decide(call: _Call) -> tuple[_Decision, list[Any]]:
    """The op of the table ``call`` is, if the table has one that gives PyTorch's result,
    else an op computed by PyTorch; and the call's inputs to it."""
    mapped = (table_op(call.name, call.args, call.kwargs, call.out) if call.part is None
              else None)
    if mapped is not None:
        op, inputs, attrs = mapped
        values = [_array(x) if isinstance(x, torch.Tensor) else as_tensor(x)._data
                  for x in inputs]
        if _agrees(op, values, attrs, _array(call.out)):
            return _Decision(op, True, _sources(call, inputs), attrs), inputs
    op = _torch_op(call, [t.dtype for t in call.tensors])
    return _Decision(op, False, tuple((k, None) for k in call.places), {}), list(call.tensors)


def _sources(call: _Call, inputs: Sequence[Any]) -> tuple[tuple[int | None, Any], ...] | None:
    """Where each input is among the call's flattened arguments (a tensor: matched by
    identity, each argument once), or the number it is; ``None`` if a tensor input is not an
    argument."""
    unused = list(call.places)
    found: list[tuple[int | None, Any]] = []
    for x in inputs:
        if not isinstance(x, torch.Tensor):
            found.append((None, x))
            continue
        match = next((k for k in unused if call.flat[k] is x), None)
        if match is None:
            return None
        unused.remove(match)
        found.append((match, None))
    return tuple(found)


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
    # (node, input position) of each edge that got no gradient because nothing trainable
    # needs it: PyTorch computes none for data, and neither does gradstep (see _records)
    not_needed: frozenset[tuple[int, int]] = frozenset()
    # where its forward pass started (torch_fast.Start: the random states and BatchNorm's
    # statistics), for checks that run it again (see torch_network.TorchNetwork.replaying)
    start: Any = field(default=None, repr=False, compare=False)
    # parameter name -> why the loss does not depend on it though forward() uses it
    cut_off: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    dtype: str = "float32"  # the loss's torch dtype, without "torch."

    def source(self, node: int) -> str | None:
        line = self.lines[node]
        return None if line is None else f"{self.path}, line {line}"

    def unused_because(self, param: str) -> str | None:
        return self.cut_off.get(param)

    def computed_in(self) -> str:
        return self.dtype

    def unneeded(self, node: int, position: int) -> bool:
        return (node, position) in self.not_needed

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
                forward_line: int | None, ops: dict[Any, Any] | None = None,
                values: Callable[[torch.Tensor], Array] = _array) -> TorchTrace:
    """The records of one recorded forward pass, and of the backward pass run from ``loss``.

    ``params`` maps each parameter (by ``id``) to its gradstep leaf (the recorder knows the
    file's other module-level tensors' names); ``ops`` caches how each kind of call is
    recorded from one cycle to the next (see :func:`_plan`); ``values`` gives the parameters'
    and the file's tensors' values (see :class:`_Values`).
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
                shell._data = values(x)
            else:
                name = recorder.names.get(id(x))
                shell = _shell(values(x) if name else _array(x), name or recorder.derived.get(
                    id(x)) or (f"{x.item():g}" if x.numel() == 1 else None),
                    "input" if name else "constant")
            node_of[id(x)] = add(shell, ("leaf", id(x)))
        return node_of[id(x)]

    runs = count()
    for k in sorted(plans):
        plan = plans[k]
        ids = tuple(node_of[id(x)] if isinstance(x, torch.Tensor) and id(x) in producer
                    else leaf(x) for x in plan.inputs)
        shell = _shell(_array(plan.call.out), None, "op")
        shell._op, shell._attrs = plan.decision.op, plan.decision.attrs
        shell._inputs = tuple(order[i] for i in ids)
        shell._args = [order[i]._data for i in ids]
        shell._run = next(runs)
        if plan.call.module:
            shell.name = f"{plan.call.module} · {plan.call.name.strip('_')}"
        node_of[id(plan.call.out)] = add(shell, k, ids, plan.call.line)
        plan_of[node_of[id(plan.call.out)]] = plan
    unused = {i: shell.name for i, shell in params.items() if i not in node_of}
    return _records(recorder, order, inputs, plan_of, lines, keys,
                    engine_order(recorder.calls, producer[id(loss)]),
                    _cut_off(recorder, unused) if unused else {},
                    str(loss.dtype).removeprefix("torch."))


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
             ran: list[Any], cut_off: Mapping[str, str], dtype: str) -> TorchTrace:
    """Backward steps in the order PyTorch's engine ran the autograd Nodes (``ran``, see
    :func:`engine_order` and :func:`firing_order`), each input's gradient the one PyTorch
    sent; a node no parameter is upstream of gets no step (as in
    :func:`tracer.record.trace`). ``cut_off`` and ``dtype`` are :class:`TorchTrace`'s."""
    n = len(order)
    needs = needs_grad(order, inputs)
    grads: list[Array | None] = [None] * n
    terms: list[list[tuple[int, Array]]] = [[] for _ in range(n)]
    backward = []
    sent_by_pytorch: dict[int, tuple[Array, tuple[int, ...], Any, str | None]] = {}
    reached = {n - 1}  # the nodes PyTorch sent a gradient to (its Node's upstream is defined)
    not_needed: set[tuple[int, int]] = set()  # see TorchTrace.not_needed
    with quiet():
        for i in firing_order(inputs, keys, ran):
            t = order[i]
            plan = plan_of.get(i)
            # what the value's uses sent back, added up (the loss starts from 1)
            g = grads[i] = (constant(1.0, t.shape) if i == n - 1 else grads[i]
                            if grads[i] is not None else constant(0.0, t.shape))
            if plan is None:  # a leaf
                if needs[i]:
                    backward.append(make_backward_step(index=len(backward), node=i, upstream=g,
                                                       terms=tuple(terms[i]), inputs=()))
                continue
            # The op table's local derivatives and products, for the formulas, and its
            # gradients to inputs PyTorch sends none; and the gradients to the results of a
            # call with several, which PyTorch does not keep apart (an op computed by
            # PyTorch, for that result alone). A table op with no local derivative to show
            # whose every input has PyTorch's gradient needs none of it (a pooling layer's
            # would cost more than recording it). Such an op does not compute the gradient of
            # an input nothing trainable needs either, as PyTorch does not (a convolution's of
            # its images would double its backward pass), nor where the table's gradient is
            # known to be None (a loss's labels).
            structural = t._op.local is None
            data = [structural and e is None and not needs[j]
                    for e, j in zip(plan.edges, inputs[i], strict=True)]
            known = plan.decision.no_gradient
            missing = tuple(e is None and pos not in known and not (
                data[pos] and pos in plan.decision.probed)
                for pos, e in enumerate(plan.edges))
            wanted = plan.call.part is not None or (plan.decision.table and (
                not structural or any(missing)))
            if wanted:
                ours = _input_grads(t, t._args, t._data, g, missing)
                for pos, (asked, mine) in enumerate(zip(missing, ours, strict=True)):
                    if asked and mine[0] is None:
                        known.add(pos)
                plan.decision.probed.update(pos for pos, d in enumerate(data) if d)
                ours = [(None, None, None, ()) if d else mine
                        for d, mine in zip(data, ours, strict=True)]
            else:
                ours = [(None, None, None, ())] * len(plan.inputs)
            records = []
            for pos, (j, edge, mine) in enumerate(zip(inputs[i], plan.edges, ours,
                                                       strict=True)):
                c, local, unreduced, axes = mine
                if edge is not None:  # what PyTorch sent along this edge
                    got = plan.call.aliases[edge].grad
                    if got is not None:
                        reached.add(j)
                    c = _array(got) if got is not None else constant(0.0, order[j].shape)
                elif c is None and not needs[j] and pos not in plan.decision.no_gradient:
                    not_needed.add((i, pos))
                records.append(sent(grads, terms, i, j, pos, c, local, unreduced, axes,
                                    order[j].shape, needs_grad=needs[j]))
            if plan.decision.table and i in reached:
                # the upstream gradient PyTorch's Node ran with: the sum of what its
                # consumers sent, which ``g`` is
                sent_by_pytorch[i] = (g, tuple(
                    pos for pos, edge in enumerate(plan.edges) if edge is not None),
                    plan.call.out.dtype, plan.call.module)
            if needs[i]:
                backward.append(make_backward_step(index=len(backward), node=i, upstream=g,
                                                   terms=tuple(terms[i]),
                                                   inputs=tuple(records)))
    names = _names(order)
    nodes = tuple(make_node(id=i, name=names[i],
                            op=t._op.name if t._op is not None else t.kind,
                            kind="loss" if i == n - 1 else t.kind, inputs=inputs[i],
                            value=t._data, grad=grads[i], attrs=dict(t._attrs))
                  for i, t in enumerate(order))
    node_of = {key: i for i, key in enumerate(keys) if key is not None}
    return TorchTrace(nodes, tuple(backward), tuple(order), n - 1, tuple(lines), recorder.path,
                      sent_by_pytorch, tuple(node_of[key] for key in ran if key in node_of),
                      frozenset(not_needed), recorder.start, cut_off, dtype)


def _at(path: str, line: int | None, joint: str = " (") -> str:
    """Where a line of the network file is, after a word: " (at net.py, line 12)"."""
    if line is None:
        return ""
    return f"{joint}at {path}, line {line}" + (")" if joint == " (" else "")


def _cut_off(recorder: _Recorder, unused: Mapping[int, str]) -> dict[str, str]:
    """Why the loss does not depend on each parameter of ``unused`` (id -> name) that forward()
    did use: where it was used, and where what it computed left autograd."""
    made_from: dict[int, set[int]] = {}  # id(result) -> the unused parameters it comes from
    first_use: dict[int, _Call] = {}
    for call in recorder.calls:
        sources: set[int] = set()
        for t in call.tensors:
            if id(t) in unused:
                sources.add(id(t))
                first_use.setdefault(id(t), call)
            sources |= made_from.get(id(t), set())
        if sources:
            made_from[id(call.out)] = sources
    cuts: dict[int, tuple[str, int | None]] = {}
    for how, line, ids in recorder.cuts:
        for i in ids:
            for p in {i} if i in unused else made_from.get(i, ()):
                cuts.setdefault(p, (how, line))
    reasons = {}
    frozen = ("if it is frozen on purpose, leave it out of the OPTIMIZER or set "
              "requires_grad=False")
    for p, name in unused.items():
        call, cut = first_use.get(p), cuts.get(p)
        gone = "its gradient is 0 and no update changes it"
        if cut is not None and cut[0] == _NO_GRAD:
            reasons[name] = (f"forward() uses it under torch.no_grad(){_at(recorder.path, cut[1])}"
                             f", so nothing it computes reaches the loss: {gone}. Fix: compute "
                             f"it outside torch.no_grad() if {name} is meant to learn; {frozen}")
            continue
        used = "forward() uses it" + (
            f" ({call.module + ' · ' if call.module else ''}{call.name}"
            f"{_at(recorder.path, call.line, ', ')})" if call is not None else "")
        if cut is not None:
            reasons[name] = (f"{used}, but {cut[0]}{_at(recorder.path, cut[1])} takes what it "
                             f"computes out of autograd, so nothing of it reaches the loss: "
                             f"{gone}. Fix: remove the {cut[0]} if {name} is meant to learn; "
                             f"{frozen}")
        elif call is not None:
            reasons[name] = (f"{used}, but nothing computed from it reaches the loss (its "
                             f"result is not used, or only its numbers are, through .data or "
                             f"torch.tensor(…), which carry no gradient): {gone}. Fix: compute "
                             f"the loss from the result itself")
    return reasons


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

    def step_torch(self, params: Sequence[tuple[str, torch.Tensor, Array]],
                   values: Callable[[torch.Tensor], Array] = _array
                   ) -> tuple[UpdateRecord, ...]:
        """One ``step()`` of the torch optimizer, as one record per ``(name, parameter, its
        value now)``; ``values`` reads a parameter's new value (see :class:`_Values`)."""
        self.iteration += 1
        self.torch.step()
        records = []
        for name, p, before in params:
            after = values(p)
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
    buffer_names: dict[int, str] = field(default_factory=dict)  # id -> "model.1.running_mean"
    ops: dict[Any, Any] = field(default_factory=dict)  # how each kind of call is recorded
    values: _Values = field(default_factory=_Values)  # its own tensors' values

    def __post_init__(self) -> None:
        self.shells = {name: _shell(self.values(p), name, "param")
                       for name, p in self.params.items()}

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
        recorder = _Recorder(self.path, self.modules,
                             {id(t): name for name, t in self.inputs.items()})
        # the buffers are named as data made during the pass is: read afresh (BatchNorm's
        # statistics change in every forward pass), not through the values kept per version
        recorder.derived.update(self.buffer_names)
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
        with self._errors():
            return build_trace(recorder, loss, by_id, self.forward_line, self.ops, self.values)

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
            self.shells[name]._data = self.values(self.params[name])


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
        flat, layout = _flatten(args, kwargs or {})
        args, kwargs = layout.rebuild([a.to(torch.float64) if isinstance(a, torch.Tensor)
                                and a.is_floating_point() else a for a in flat])
        return func(*args, **kwargs)
