"""``Tensor``: a float64 numpy array that remembers the op that made it.

Each operator here only names its op; the maths lives in :mod:`tracer.ops`.
"""

from __future__ import annotations

import itertools
import os
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from . import ops, ops_elementwise, ops_reduce
from .arrays import FLOAT64, frozen_copy, shared
from .ops import Op

KINDS = ("input", "param", "constant", "op")
DATA_LOCK = threading.Lock()  # see Tensor.data


class GraphError(ValueError):
    """An op could not run on its operands, said in the user's terms: ``problem`` names it
    (``"shape mismatch"``), ``advice`` says what to do, ``filename``/``lineno`` where."""

    def __init__(self, message: str, filename: str | None = None, lineno: int | None = None,
                 problem: str = "shape mismatch",
                 advice: str = "Check the shapes of the operands (print their .shape) and fix "
                               "that line."):
        super().__init__(message)
        self.filename = filename
        self.lineno = lineno
        self.problem = problem
        self.advice = advice


class Tensor:
    """A value in the computation graph.

    Parameters
    ----------
    data
        Anything ``numpy.asarray`` takes; stored as float64.
    name
        Shown by the debugger. Unnamed results get automatic names (``mul_3``) when traced.
    kind
        ``"input"`` (the default), ``"constant"`` or ``"param"`` (prefer :func:`param`).

    Attributes
    ----------
    data, grad : numpy.ndarray
        The value and, after :meth:`backward`, ∂loss/∂value (same shape). ``grad`` is ``None``
        before any backward pass. A leaf's ``data`` is yours to change in place
        (``w.data -= lr * w.grad``) before a forward pass; :meth:`backward` refuses a value
        changed after an op used it. An op's result and ``grad`` are read-only records.
    """

    __slots__ = ("_args", "_attrs", "_data", "_inputs", "_op", "_run", "grad", "kind", "name")

    def __init__(self, data: Any, name: str | None = None, kind: str = "input"):
        if kind not in KINDS[:3]:
            raise ValueError(f"kind must be one of {KINDS[:3]}, not {kind!r}")
        if isinstance(data, Tensor):
            data = data._data
        self._data = frozen_copy(data)
        self.grad: np.ndarray | None = None
        self.name = name
        self.kind = kind
        self._op: Op | None = None
        self._inputs: tuple[Tensor, ...] = ()
        self._attrs: dict[str, Any] = {}

    # --- plumbing -----------------------------------------------------------------------------

    # Copy on access: the tensor's array is kept read-only while nobody outside the engine holds
    # it, so traces and optimizer records can share it instead of copying it every cycle. The
    # first time a leaf's ``data`` is asked for, the tensor takes a private writable copy (which
    # traces then copy, since whoever holds it may write into it). Swapping the array happens
    # under DATA_LOCK, as does an optimizer's read-and-replace (a worker thread may train while
    # the UI thread reads a value).

    @property
    def data(self) -> np.ndarray:
        with DATA_LOCK:
            data = self._data
            if self._op is None and not data.flags.writeable:
                data = self._data = data.copy()
        return data

    @data.setter
    def data(self, value: Any) -> None:
        # A leaf keeps what it is given (a trace copies it unless nothing can write into it);
        # an op's result is a record, so it keeps a read-only copy.
        self._data = (np.asarray(value, dtype=np.float64) if self._op is None
                      else frozen_copy(value))

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def op(self) -> Op | None:
        """The op that produced this tensor, ``None`` for a leaf."""
        return self._op

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        return self._inputs

    @property
    def attrs(self) -> dict[str, Any]:
        return self._attrs

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"Tensor({label}{np.array2string(self._data, precision=4)})"

    def backward(self) -> Any:
        """Fill ``.grad`` on every tensor of the graph below this scalar; return the trace.

        Calling it twice gives the same gradients: each call recomputes them from scratch.
        """
        from .record import trace

        return trace(self)

    # --- arithmetic ---------------------------------------------------------------------------

    def __add__(self, other: Any) -> Tensor:
        return apply(ops.ADD, self, other)

    def __radd__(self, other: Any) -> Tensor:
        return apply(ops.ADD, other, self)

    def __sub__(self, other: Any) -> Tensor:
        return apply(ops.SUB, self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return apply(ops.SUB, other, self)

    def __mul__(self, other: Any) -> Tensor:
        return apply(ops.MUL, self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return apply(ops.MUL, other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return apply(ops.DIV, self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return apply(ops.DIV, other, self)

    def __pow__(self, p: float) -> Tensor:
        if isinstance(p, Tensor) or not np.isscalar(p):
            raise TypeError("** takes a number exponent (Tensor ** 2), not a tensor")
        return apply(ops.POW, self, p=float(p))

    def __neg__(self) -> Tensor:
        return apply(ops.NEG, self)

    def __matmul__(self, other: Any) -> Tensor:
        return apply(ops.MATMUL, self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return apply(ops.MATMUL, other, self)

    def __getitem__(self, key: Any) -> Tensor:
        if isinstance(key, Tensor):
            key = key._data.astype(int)
        return apply(ops.INDEX, self, key=key)

    # --- shape --------------------------------------------------------------------------------

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[Tensor]:
        """The slices along the first axis (``q, k, v = qkv``), each an indexing op."""
        return (self[i] for i in range(len(self)))

    @property
    def T(self) -> Tensor:
        return apply(ops.TRANSPOSE, self)

    def transpose(self, *axes: Any) -> Tensor:
        """The axes in the order given (``t.transpose(0, 2, 1)`` or a tuple); none: reversed."""
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], tuple | list)):
            axes = axes[0] or ()
        if not axes:
            return apply(ops.TRANSPOSE, self)
        return apply(ops.TRANSPOSE, self, axes=tuple(int(a) for a in axes))

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        order = list(range(self.ndim))
        try:
            order[axis1], order[axis2] = order[axis2], order[axis1]
        except IndexError:
            raise _graph_error(ops.TRANSPOSE, (self,), ValueError(
                f"swapaxes({axis1}, {axis2}) names an axis a {self.ndim}-D array does not "
                f"have")) from None
        return apply(ops.TRANSPOSE, self, axes=tuple(order))

    def reshape(self, *shape: Any) -> Tensor:
        """numpy's reshape; one axis may be −1 (whatever is left)."""
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return apply(ops.RESHAPE, self, shape=tuple(shape))

    def flatten(self) -> Tensor:
        return self.reshape(-1)

    def squeeze(self, axis: int | tuple[int, ...] | None = None) -> Tensor:
        """Drop axes of length 1 (all of them, or those named)."""
        return self.reshape(self._reshaped(np.squeeze, axis))

    def expand_dims(self, axis: int | tuple[int, ...]) -> Tensor:
        """Insert axes of length 1 at ``axis``."""
        return self.reshape(self._reshaped(np.expand_dims, axis))

    def _reshaped(self, function: Any, axis: Any) -> tuple[int, ...]:
        """The shape ``function`` (np.squeeze, np.expand_dims) gives this tensor's shape."""
        try:
            return function(np.broadcast_to(0.0, self.shape), _axes(axis)).shape
        except (ValueError, TypeError) as exc:
            raise _graph_error(ops.RESHAPE, (self,), exc) from None

    # --- reductions (numpy's axis and keepdims) -------------------------------------------------

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return apply(ops.SUM, self, axis=_axes(axis), keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return apply(ops.MEAN, self, axis=_axes(axis), keepdims=keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """The largest element (along ``axis``); the gradient goes to it, shared where tied."""
        return apply(ops_reduce.MAX, self, axis=_axes(axis), keepdims=keepdims)

    def min(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """The smallest element (along ``axis``); the gradient goes to it, shared where tied."""
        return apply(ops_reduce.MIN, self, axis=_axes(axis), keepdims=keepdims)

    def var(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """The variance, numpy's default ddof=0 (divides by n)."""
        return apply(ops_reduce.VAR, self, axis=_axes(axis), keepdims=keepdims)

    def std(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """The standard deviation, numpy's default ddof=0 (divides by n)."""
        return apply(ops_reduce.STD, self, axis=_axes(axis), keepdims=keepdims)

    # --- comparisons: masks, constants to the backward pass -------------------------------------

    def __lt__(self, other: Any) -> Tensor:
        return apply(ops_elementwise.COMPARE, self, other, relation="<")

    def __le__(self, other: Any) -> Tensor:
        return apply(ops_elementwise.COMPARE, self, other, relation="<=")

    def __gt__(self, other: Any) -> Tensor:
        return apply(ops_elementwise.COMPARE, self, other, relation=">")

    def __ge__(self, other: Any) -> Tensor:
        return apply(ops_elementwise.COMPARE, self, other, relation=">=")

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return apply(ops_elementwise.COMPARE, self, other, relation="==")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return apply(ops_elementwise.COMPARE, self, other, relation="!=")

    __hash__ = object.__hash__  # (defining == would drop it): a tensor hashes by identity

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous: "
                             f"use (t > 0).data.any() or .all()")
        return bool(self._data)

    # --- functions ----------------------------------------------------------------------------

    def relu(self) -> Tensor:
        return apply(ops.RELU, self)

    def tanh(self) -> Tensor:
        return apply(ops.TANH, self)

    def sigmoid(self) -> Tensor:
        return apply(ops.SIGMOID, self)

    def exp(self) -> Tensor:
        return apply(ops.EXP, self)

    def log(self) -> Tensor:
        return apply(ops.LOG, self)

    def sqrt(self) -> Tensor:
        return apply(ops_elementwise.SQRT, self)

    def abs(self) -> Tensor:
        return apply(ops_elementwise.ABS, self)

    __abs__ = abs

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Limit to [min, max] (either may be None); no gradient where a value was cut off."""
        return apply(ops_elementwise.CLIP, self, a_min=_bound(min), a_max=_bound(max))

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        return apply(ops_elementwise.LEAKY_RELU, self, negative_slope=float(negative_slope))

    def gelu(self) -> Tensor:
        return apply(ops_elementwise.GELU, self)

    def silu(self) -> Tensor:
        return apply(ops_elementwise.SILU, self)

    def softplus(self) -> Tensor:
        return apply(ops_elementwise.SOFTPLUS, self)

    def softmax(self, axis: int = -1) -> Tensor:
        return apply(ops.SOFTMAX, self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return apply(ops_reduce.LOG_SOFTMAX, self, axis=axis)

    # --- numpy functions on tensors -------------------------------------------------------------
    # (ndarray + Tensor comes here too: numpy hands an operator with a Tensor operand to
    # __array_ufunc__, which records the same op as Tensor.__radd__ would.)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return numpy_api.call_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return numpy_api.call_function(func, args, kwargs)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise numpy_api.untraced(
            "numpy.asarray (or numpy.array)", "turning a Tensor into a plain array takes it "
            "out of the graph, so no gradient would flow back through it. Use t.data for a "
            "value you mean as a constant, np.stack for a list of Tensors")


def _axes(axis: Any) -> Any:
    """numpy's ``axis`` argument with a list made a tuple (records keep hashable settings)."""
    return tuple(int(a) for a in axis) if isinstance(axis, list | tuple) else axis


def _bound(value: Any) -> float | None:
    return None if value is None else float(value)


def param(data: Any, name: str | None = None) -> Tensor:
    """A trainable leaf: the optimizer updates it, nothing else is updated."""
    return Tensor(data, name=name, kind="param")


def as_tensor(x: Any) -> Tensor:
    """``x`` itself if it is a Tensor, else a constant named after its value."""
    if isinstance(x, Tensor):
        return x
    t = Tensor(x, kind="constant")
    t.name = f"{t._data.item():g}" if t._data.ndim == 0 else "const"
    return t


_HERE = os.path.dirname(os.path.abspath(__file__))
_NUMPY = os.path.dirname(os.path.abspath(np.__file__)) + os.sep


def _user_frame() -> traceback.FrameSummary | None:
    """The innermost stack frame outside this package: the line of the user's code."""
    for frame in reversed(traceback.extract_stack()):
        path = os.path.abspath(frame.filename)
        if not path.startswith((_HERE + os.sep, _NUMPY)):  # (numpy's own Python calling us)
            return frame
    return None


def _describe(t: Tensor) -> str:
    return f"{t.name or 'an unnamed ' + (t._op.name if t._op else 'tensor')} {t.shape}"


# Each op result's place in the order ops ran (``Tensor._run``): traces list nodes in that order.
_runs = itertools.count()

# Inside ``quiet()`` numpy's floating-point warnings are already off, so ops skip their own
# ``np.errstate`` (a microsecond or so per op, a tenth of a small op's whole cost).
_QUIET: ContextVar[bool] = ContextVar("gradstep_quiet", default=False)


# Inside ``op_budget(n)``: the ``_run`` number past which an op refuses to run, so that a forward
# pass building a graph far too big to step through stops as soon as it crosses the limit.
# Inside ``capturing_lines()`` the number is -1 and the third field a dict: every op result then
# takes the budget's branch and records its user line there, so the hot path reads nothing more.
_STOP_AT: ContextVar[tuple[float, int, dict[int, tuple[str, int]] | None]] = ContextVar(
    "gradstep_stop_at", default=(float("inf"), 0, None))


@contextmanager
def op_budget(limit: int) -> Iterator[None]:
    """Run a block (a forward pass) that may create at most ``limit`` op results.

    The op past the limit raises :class:`GraphError` (``problem="too many nodes"``) at the
    user's line, before the graph grows any further.
    """
    token = _STOP_AT.set((next(_runs) + limit, limit, None))  # (gaps in the count are fine)
    try:
        yield
    finally:
        _STOP_AT.reset(token)


@contextmanager
def capturing_lines() -> Iterator[dict[int, tuple[str, int]]]:
    """Run a block recording, for each op result it creates, the user's line that made it.

    Yields a dict from each result's ``_run`` number to ``(filename, line)``. Off by default:
    finding a frame costs microseconds per op. (No op budget applies inside the block.)
    """
    lines: dict[int, tuple[str, int]] = {}
    token = _STOP_AT.set((-1.0, 0, lines))
    try:
        yield lines
    finally:
        _STOP_AT.reset(token)


def too_many_nodes(limit: int) -> GraphError:
    """The error for a graph of more than ``limit`` nodes, at the user's line."""
    where = _user_frame()
    error = GraphError(
        f"the graph has more than {limit:,} nodes, too many to step through one by one",
        problem="too many nodes",
        advice="Make it smaller: fewer examples in the batch, fewer or narrower layers, or "
               "matrix operations instead of Python loops over scalars (one `X @ W` is a "
               "single node).")
    if where is not None:
        error.filename, error.lineno = where.filename, where.lineno
    return error


class quiet:  # (lower case: a context manager used as a function, ``with quiet():``)
    """Run a block of tensor ops (a forward pass, a whole cycle) with numpy's floating-point
    warnings off: NaN and inf are diagnosed on the trace, not printed into the terminal.

    Every op is quiet on its own anyway; a block is simply faster than op by op, and a block
    inside another one costs next to nothing (the outer block's setting holds). (A class, not
    a generator: a training iteration enters several.)
    """

    __slots__ = ("errstate", "token")

    def __enter__(self) -> None:
        if _QUIET.get():
            self.token = None
            return
        self.token = _QUIET.set(True)
        self.errstate = np.errstate(all="ignore")
        self.errstate.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            try:
                self.errstate.__exit__(*exc)
            finally:
                _QUIET.reset(self.token)


def apply(op: Op, *operands: Any, **attrs: Any) -> Tensor:
    """Run ``op`` forward on ``operands`` and return the result, linked to its inputs."""
    inputs = operands
    for x in operands:
        if not isinstance(x, Tensor):  # a number or an array: it becomes a constant
            inputs = tuple([x if isinstance(x, Tensor) else as_tensor(x) for x in operands])
            break
    # A leaf's array may be one its owner still changes in place (after asking for .data): an
    # op computes from a read-only snapshot of it, which the trace records and checks.
    # (shared() itself only where the array or one it is a view of might be writable)
    arrays = [t._data if t._op is not None or (t._data.base is None
              and not t._data.flags.writeable) else shared(t._data) for t in inputs]
    try:
        if _QUIET.get():
            data = op.forward(*arrays, **attrs)
        else:
            with np.errstate(all="ignore"):
                data = op.forward(*arrays, **attrs)
    except (ValueError, IndexError, TypeError) as exc:
        raise _graph_error(op, inputs, exc) from None
    if type(data) is not np.ndarray or data.dtype is not FLOAT64:
        data = np.asarray(data, dtype=np.float64)
    # A view (transpose, reshape, slice) or an input itself (read-only, as every input array
    # is) would alias another array: the result gets its own.
    if data.base is not None or not data.flags.writeable:
        data = data.copy()
    # An op's result is read-only from birth: the trace records it as is, with no copy, and
    # nothing (the engine included) ever writes into it.
    data.setflags(write=False)
    out = Tensor.__new__(Tensor)
    out._data = data
    out.grad = None
    out.name = None
    out.kind = "op"
    out._op = op
    out._inputs = inputs
    out._attrs = attrs
    out._args = arrays  # what it computed from: the trace records these, and checks them
    out._run = next(_runs)
    stop_at, limit, lines = _STOP_AT.get()
    if out._run >= stop_at:
        if lines is None:
            raise too_many_nodes(limit)
        where = _user_frame()
        if where is not None and where.lineno is not None:
            lines[out._run] = (where.filename, where.lineno)
    return out


def _graph_error(op: Op, inputs: tuple[Tensor, ...], exc: Exception) -> GraphError:
    """Why ``op`` could not run on ``inputs``, pointing at the line of the user's code."""
    if isinstance(exc, ValueError) and "read-only" in str(exc):  # (only a custom op can)
        error = GraphError(
            f"{op.name}'s forward wrote into one of its inputs ({exc})",
            problem="an op changed its input",
            advice="Its inputs are values the trace records: make forward return a new "
                   "array instead of writing into x.")
    else:
        shapes = " and ".join(_describe(t) for t in inputs)
        rule = f"; {op.name} takes {op.accepts}" if op.accepts else ""
        error = GraphError(f"{op.name} cannot combine {shapes}: {exc}{rule}")
    return at_user_line(error)


def at_user_line(error: GraphError) -> GraphError:
    """``error`` pointing at the line of the user's code that led to it (message and fields)."""
    where = _user_frame()
    if where is not None:
        error.args = (f"{error} (at {where.filename}, line {where.lineno}: {where.line})",)
        error.filename, error.lineno = where.filename, where.lineno
    return error


# numpy's dispatch lands in Tensor's __array_ufunc__/__array_function__, which hand it to this
# module (imported last: it builds on everything above).
from . import numpy_api  # noqa: E402
