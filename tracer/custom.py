"""Custom ops: a network file defines its own operation, with its own forward and backward.

In the spirit of ``torch.autograd.Function``: subclass :class:`CustomOp`, give it a ``forward``
and either an elementwise ``local`` derivative or a ``backward`` (a vector-Jacobian product), the
formula the debugger's inspector shows and a sentence, and call it with ``.apply``::

    import numpy as np
    from tracer import CustomOp

    class SmoothRelu(CustomOp):       # ln(1 + eˣ) (built in as tracer.nn.softplus)
        formulas = ("∂smooth_relu(x)/∂x = σ(x)",)
        sentence = "{out} is a smooth ReLU of {x}: ln(1 + eˣ)"

        def forward(x):
            return np.logaddexp(0.0, x)

        def local(x, out):
            return 1.0 / (1.0 + np.exp(-x))

    h = SmoothRelu.apply(z)      # a Tensor, traced and stepped like a built-in op

The class builds a :class:`tracer.ops.Op` and registers it in the same op table as the built-in
ops, so the graph, the backward records, the inspector, the Jacobian view and the gradient checks
treat it exactly like one. Loading a network file again (the debugger re-runs the file on every
load) defines the class again; the new definition replaces the old one under the same name. A
custom op may not take a built-in op's name.

``apply`` runs the backward once on the forward's values as soon as the op is used, so that a
``local`` or ``backward`` returning the wrong number of arrays or the wrong shapes is reported at
the line that uses the op (and the line of the function), not halfway through the backward pass.
Whether its numbers are *right* is what :func:`tracer.gradcheck.check_node` and
:func:`tracer.diagnostics.diagnose` check, against finite differences of ``forward``.
"""

from __future__ import annotations

import inspect
import re
import string
import sys
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .ops import OPS, ROLES, Op, register
from .tensor import Tensor, apply

Array = np.ndarray

# The ops the engine itself defines (this module is imported after tracer.ops has registered
# them all, and before anything else can register more).
BUILTIN_OPS = frozenset(OPS)

# Each custom op -> ("file, line N" where its class is defined, its local or backward function).
# Keyed by the op itself (weakly), so an op replaced by a reload keeps its own origin.
_ORIGINS: weakref.WeakKeyDictionary[Op, tuple[str, Callable[..., Any] | None]] = (
    weakref.WeakKeyDictionary())


class CustomOpError(Exception):
    """A custom op is defined or used wrongly; the message names the function and its line.

    Deliberately not a ``ValueError``/``TypeError``: the tracer reports those as shape problems
    of the operands, and this is a problem of the op's own code.
    """


def _place(function: Callable[..., Any] | None) -> str | None:
    """``"net.py, line 20"``: where ``function`` is defined, if Python knows."""
    code = getattr(function, "__code__", None)
    return None if code is None else f"{code.co_filename}, line {code.co_firstlineno}"


def _where(function: Callable[..., Any] | None) -> str:
    """`` (net.py, line 20)``, to append to a function's name in a message ('' if unknown)."""
    place = _place(function)
    return f" ({place})" if place else ""


def snake_case(name: str) -> str:
    """``Softplus`` -> ``softplus``, ``BuggySoftplus`` -> ``buggy_softplus``, ``MyGELU`` ->
    ``my_gelu``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def origin(op: Op) -> str | None:
    """Where a custom op's class is defined (``"net.py, line 12"``), or ``None`` for a built-in
    op (or an op registered directly with :func:`tracer.ops.register`)."""
    entry = _ORIGINS.get(op)
    return None if entry is None else entry[0]


def derivative_origin(op: Op) -> str | None:
    """Where a custom op's ``local`` or ``backward`` function is defined (``"net.py, line
    20"``), or ``None`` for an op not defined with :class:`CustomOp`."""
    entry = _ORIGINS.get(op)
    return None if entry is None else _place(entry[1])


def is_custom(op: Op | None) -> bool:
    """Whether ``op`` was defined with :class:`CustomOp`."""
    return op is not None and op in _ORIGINS


def _function(cls: type, attribute: str) -> Callable[..., Any] | None:
    """The plain function behind ``cls.attribute`` (written with or without ``@staticmethod``)."""
    for klass in cls.__mro__:
        if klass is CustomOp:
            return None
        if attribute in vars(klass):
            value = vars(klass)[attribute]
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if not callable(value):
                raise CustomOpError(f"custom op {cls.__name__}: {attribute} must be a function, "
                                    f"not {type(value).__name__}")
            return value
    return None


def _signature(cls: type, fn: Callable[..., Any], role: str) -> tuple[list[str], list[str]]:
    """The positional and keyword-only parameter names of ``fn``."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise CustomOpError(f"custom op {cls.__name__}: cannot read the parameters of its "
                            f"{role}{_where(fn)}") from None
    positional = [p.name for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keywords = [p.name for p in parameters if p.kind == p.KEYWORD_ONLY]
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        raise CustomOpError(f"custom op {cls.__name__}: {role}{_where(fn)} must name each input "
                            f"(def {role}(a, b): …), not take *args: the names are the letters "
                            f"its formulas and sentence use")
    if positional[:1] in (["self"], ["ctx"], ["cls"]):
        raise CustomOpError(f"custom op {cls.__name__}: {role}{_where(fn)} takes "
                            f"{positional[0]!r} first, but a custom op's functions get only "
                            f"arrays. Write `def {role}({', '.join(positional[1:]) or 'x'}):` "
                            f"(optionally with @staticmethod)")
    return positional, keywords


def _fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template)
            if name}


def _braced(letter: str) -> str:
    return "{" + letter + "}"


def _as_tuple(result: Any) -> tuple[Any, ...]:
    return tuple(result) if isinstance(result, tuple | list) else (result,)


def _build(cls: type[CustomOp]) -> Op:
    """The :class:`Op` that ``cls`` describes, after checking every part of it."""
    label = f"custom op {cls.__name__}"
    forward = _function(cls, "forward")
    local = _function(cls, "local")
    backward = _function(cls, "backward")
    if forward is None:
        raise CustomOpError(f"{label} has no forward. Define `def forward(x):` computing the "
                            f"output from numpy arrays")
    if (local is None) == (backward is None):
        raise CustomOpError(f"{label} needs exactly one of local (the elementwise derivative "
                            f"∂out/∂input: `def local(x, out):`) or backward (the gradient for "
                            f"each input: `def backward(g, x, out):`), not "
                            f"{'both' if local else 'neither'}")
    letters, attributes = _signature(cls, forward, "forward")
    if not letters:
        raise CustomOpError(f"{label}: forward{_where(forward)} takes no inputs")
    name = cls.__dict__.get("name") or snake_case(cls.__name__)
    if not isinstance(name, str) or not name.isidentifier():
        raise CustomOpError(f"{label}: name must be a word such as 'softplus', not {name!r}")
    if name in BUILTIN_OPS:
        raise CustomOpError(f"{label}: {name!r} is a built-in op; give the custom op another "
                            f"name (name = 'my_{name}')")
    formulas = getattr(cls, "formulas", ())
    formulas = (formulas,) if isinstance(formulas, str) else tuple(formulas)
    if len(formulas) != len(letters) or not all(isinstance(f, str) for f in formulas):
        raise CustomOpError(f"{label}: formulas must give one text per input of forward"
                            f"({', '.join(letters)}), e.g. formulas = "
                            f"({', '.join(repr(f'∂{name}/∂{x} = …') for x in letters)},); it has "
                            f"{len(formulas)}")
    sentence = getattr(cls, "sentence", "")
    if not isinstance(sentence, str) or not sentence:
        raise CustomOpError(f"{label}: sentence must say in words what it computes, with "
                            f"{{out}} and the input letters, e.g. sentence = "
                            f"\"{{out}} is the {name} of {{{letters[0]}}}\"")
    symbol = getattr(cls, "symbol", "") or f"{name}({', '.join(_braced(x) for x in letters)})"
    for field, template, allowed in (("sentence", sentence, {"out", *letters}),
                                     ("symbol", symbol, {*letters, *attributes})):
        unknown = sorted(_fields(template) - allowed)
        if unknown:
            raise CustomOpError(f"{label}: its {field} uses {{{unknown[0]}}}, which is not one "
                                f"of {', '.join(_braced(x) for x in sorted(allowed))}")
    if local is not None:
        positional, _ = _signature(cls, local, "local")
        expected = [*letters, "out"]
    else:
        positional, _ = _signature(cls, backward, "backward")
        expected = ["g", *letters, "out"]
    role, fn = ("local", local) if local is not None else ("backward", backward)
    if len(positional) != len(expected):
        raise CustomOpError(f"{label}: {role}{_where(fn)} must take {len(expected)} arguments, "
                            f"`def {role}({', '.join(expected)}):`, not {len(positional)}")

    def run_forward(*arrays: Array, **attrs: Any) -> Array:
        out = forward(*arrays, **attrs)
        if isinstance(out, Tensor):
            raise CustomOpError(f"{label}: forward{_where(forward)} returned a Tensor; it gets "
                                f"plain numpy arrays and must return one (use np.exp, not "
                                f".exp())")
        return np.asarray(out, dtype=np.float64)

    def run_local(*arrays: Array, **attrs: Any) -> tuple[Any, ...]:
        return _as_tuple(local(*arrays, **attrs))

    def run_backward(g: Array, *arrays: Array, **attrs: Any) -> tuple[Any, ...]:
        return _as_tuple(backward(g, *arrays, **attrs))

    return Op(name, run_forward, formulas, sentence,
              local=run_local if local is not None else None,
              vjp=run_backward if backward is not None else None,
              symbol=symbol, letters=tuple(letters), role=_role(cls))


def _role(cls: type) -> str:
    role = getattr(cls, "role", "custom")
    if role not in ROLES:
        raise CustomOpError(f"{cls.__name__}.role is {role!r}; it must be one of "
                            f"{', '.join(ROLES)} (default 'custom')")
    return role


class CustomOp:
    """Base class for an op defined in a network file, like ``torch.autograd.Function``.

    A subclass defines, as plain functions of numpy arrays (``@staticmethod`` is optional):

    ``forward(x, …, *, attr=…)``
        The output from the inputs. The parameter names are the letters the formulas, sentence
        and symbol use; keyword-only parameters are fixed settings passed to ``apply``.
    ``local(x, …, out)`` *or* ``backward(g, x, …, out)``
        ``local``: for an elementwise op, ∂out/∂input for each input, one array (or number) per
        input, each the output's shape or broadcastable to it; the engine multiplies it by the
        upstream gradient and sums it back over any broadcast axes, and the debugger shows it.
        ``backward``: for any other op, the gradient for each input given the upstream
        gradient ``g`` = ∂L/∂out, each the input's shape (``None`` for an input that gets no
        gradient). Both get ``out``, the forward's result, and the same keyword settings.
    ``formulas``
        The local derivative for each input, as the inspector shows it (a string for one input).
    ``sentence``
        What the op computes, in words, over ``{out}`` and the input letters.
    ``symbol`` (optional)
        How it reads in an expression; default ``name({x})``.
    ``name`` (optional)
        The op's name in the graph; default the class name in snake_case.
    ``role`` (optional)
        What the op is for (:data:`tracer.ops.ROLES`); ``"activation"`` makes it a layer's
        nonlinearity for diagnostics and the graph's groups. Default ``"custom"``.

    Attributes
    ----------
    op : Op
        The registered op (set when the class is defined).
    """

    name: ClassVar[str] = ""
    formulas: ClassVar[str | tuple[str, ...]] = ()
    sentence: ClassVar[str] = ""
    symbol: ClassVar[str] = ""
    op: ClassVar[Op]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        op = _build(cls)
        cls.op = op
        register(op)
        caller = sys._getframe(1)  # the frame running the class statement
        _ORIGINS[op] = (f"{caller.f_code.co_filename}, line {caller.f_lineno}",
                        _function(cls, "local" if op.elementwise else "backward"))

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"a custom op is used through its class: {cls.__name__}.apply(...), "
                        f"not {cls.__name__}(...)")

    @classmethod
    def apply(cls, *inputs: Any, **attrs: Any) -> Tensor:
        """Run the op on ``inputs`` (Tensors or numbers) and return the result, in the graph.

        Keyword arguments are the op's fixed settings (its forward's keyword-only parameters).
        The backward runs once here on the forward's values, to check its shapes.
        """
        out = apply(cls.op, *inputs, **attrs)
        _check_backward(cls, out)
        return out


def _check_backward(cls: type[CustomOp], out: Tensor) -> None:
    """Call the op's derivative once and check it returns one array of a usable shape per
    input; raise :class:`CustomOpError` naming the function's line if not."""
    op = cls.op
    values = [t._data for t in out.inputs]
    role = "local" if op.elementwise else "backward"
    fn = _function(cls, role)
    label = f"custom op {cls.__name__}: {role}{_where(fn)}"
    with np.errstate(all="ignore"):
        if op.elementwise:
            results = op.local(*values, out._data, **out.attrs)
        else:
            results = op.vjp(np.ones_like(out._data), *values, out._data, **out.attrs)
    if len(results) != len(values):
        raise CustomOpError(f"{label} returned {len(results)} arrays for {len(values)} "
                            f"input{'s' if len(values) > 1 else ''}; return one per input, in "
                            f"the order forward takes them")
    for letter, value, result in zip(op.letters, values, results, strict=True):
        if result is None:
            if op.elementwise:
                raise CustomOpError(f"{label} returned None for {letter}; an elementwise "
                                    f"derivative is a number or an array")
            continue
        try:
            shape = np.shape(np.asarray(result, dtype=np.float64))
        except (TypeError, ValueError):
            raise CustomOpError(f"{label} returned {type(result).__name__} for {letter}, not "
                                f"an array of numbers") from None
        if op.elementwise:
            try:
                fits = np.broadcast_shapes(shape, out.shape) == out.shape
            except ValueError:
                fits = False
            if not fits:
                raise CustomOpError(f"{label} returned shape {shape} for ∂out/∂{letter}, which "
                                    f"does not fit the output's shape {out.shape}")
        elif shape != value.shape:
            raise CustomOpError(f"{label} returned shape {shape} for the gradient of {letter}, "
                                f"but {letter} has shape {value.shape}; the gradient of an "
                                f"input has the input's shape")
