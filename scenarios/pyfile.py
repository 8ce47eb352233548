"""Python network files: run the file in a fresh module, then wrap its ``forward()``.

The protocol (docs/network-files.md): module-level ``param`` leaves, a ``forward()`` that
builds the graph from their current values and returns the scalar loss, and optional ``TITLE``,
``DESCRIPTION``, ``LR``, ``OPTIMIZER`` and ``story(trace) -> str``. Every failure inside the
user's code, now or on a later call of ``forward()``, becomes a :class:`LoadError` naming the
file and line.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import types
from collections.abc import Callable
from contextlib import contextmanager
from itertools import count
from typing import Any

import numpy as np

from tracer import Network, Optimizer, Tensor, Trace, make_optimizer
from tracer.optim import OPTIMIZERS
from tracer.printable import MESSAGE_LIMIT, printable

from .errors import fail, innermost_line, user_error
from .time_limit import user_code
from .torchfile import load_torch, missing_torch, uses_torch

DEFAULT_LR = 0.1
_fresh = count(1)


def load_python(source: str, path: str, name: str) -> Network:
    """Build a :class:`~tracer.Network` from the text of a Python network file.

    Parameters
    ----------
    source
        The file's text.
    path
        The file name used in messages and tracebacks (as the user wrote it).
    name
        The network's name (a built-in scenario's name, or the file's stem).

    Raises
    ------
    LoadError
        For a syntax error, an exception while running the file, a missing or unusable
        ``forward``, or a metadata value of the wrong type.
    """
    tree = _parse(source, path)
    namespace = _execute(tree, source, path)
    lines = _assignment_lines(tree)
    forward = _forward(namespace, path)
    story = namespace.get("story")
    if story is not None and not callable(story):
        raise fail(path, f"story must be a function story(trace) -> str, not a "
                         f"{type(story).__name__}.", lines.get("story"))
    about = {"title": _text(namespace, "TITLE", path, lines) or name,
             "description": _text(namespace, "DESCRIPTION", path, lines),
             "prediction_text": None if story is None else guard_story(story, source, path)}
    if uses_torch(namespace):
        return load_torch(namespace, forward, source, path, name, lines,
                          _lr(namespace, path, lines), **about)
    return Network(
        forward=guard_forward(forward, source, path),
        name=name,
        optimizer=_optimizer(namespace, path, lines),
        params=_module_params(namespace),
        source=path,
        **about,
    )


def _assignment_lines(tree: ast.Module) -> dict[str, int]:
    """The line of each module-level ``NAME = …``, so a bad ``LR`` can be pointed at."""
    lines = {}
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else (
            [stmt.target] if isinstance(stmt, ast.AnnAssign) else [])
        lines.update({t.id: stmt.lineno for t in targets if isinstance(t, ast.Name)})
    return lines


def _parse(source: str, path: str) -> ast.Module:
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as exc:
        line = exc.lineno
        text = f" (`{exc.text.strip()}`)" if exc.text and exc.text.strip() else ""
        raise fail(path, f"Python syntax error: {exc.msg}{text}. Fix this line and load the file "
                         f"again.", line) from None
    except (MemoryError, RecursionError):  # a huge literal, or expressions nested too deep
        raise fail(path, "Python cannot compile this file (it ran out of memory or nesting "
                         "depth: a huge literal?). Keep big data in a CSV or .npy file that the "
                         "code reads.") from None
    except ValueError as exc:  # null bytes: a binary file with a .py name
        raise fail(path, f"this is not Python source ({exc}). Is it a binary file?") from None


@contextmanager
def _beside(path: str):
    """Let the file import modules next to it, as ``python FILE`` would."""
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def _execute(tree: ast.Module, source: str, path: str) -> dict[str, Any]:
    """Run the module's top level in a fresh namespace; never cached in ``sys.modules``."""
    code = compile(tree, path, "exec")
    module = types.ModuleType(f"gradstep_network_{next(_fresh)}")
    module.__file__ = path
    # Registered only while it runs (dataclasses and typing look their module up there).
    sys.modules[module.__name__] = module
    try:
        with _beside(path), user_code(path, "while running the file"):
            exec(code, module.__dict__)
    except KeyboardInterrupt:
        raise
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "torch":
            raise user_error(exc, source, path, "while running the file") from exc
        raise missing_torch(path, innermost_line(exc.__traceback__, path)) from exc
    except BaseException as exc:
        raise user_error(exc, source, path, "while running the file") from exc
    finally:
        sys.modules.pop(module.__name__, None)
    return module.__dict__


def _forward(namespace: dict[str, Any], path: str) -> Callable[[], Any]:
    forward = namespace.get("forward")
    if forward is None:
        raise fail(path, "there is no forward() function. A network file must define "
                         "`def forward():` that builds the graph from its module-level params "
                         "and returns the scalar loss (see docs/network-files.md).")
    if not callable(forward):
        raise fail(path, f"forward is a {type(forward).__name__}, not a function. Define "
                         f"`def forward():` returning the scalar loss.")
    try:
        signature = inspect.signature(forward)
    except (TypeError, ValueError):  # no introspectable signature: let the call decide
        return forward
    if any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
           for p in signature.parameters.values()):
        raise fail(path, f"forward{signature} must take no arguments: it reads the module-level "
                         f"params and data itself. Remove its parameters.", _def_line(forward))
    return forward


def _def_line(function: Any) -> int | None:
    code = getattr(function, "__code__", None)
    return code.co_firstlineno if code is not None else None


def guard_forward(forward: Callable[[], Any], source: str, path: str) -> Callable[[], Tensor]:
    """``forward`` that raises :class:`LoadError` (file, line) for anything that goes wrong,
    and for a result that is not a scalar Tensor."""

    def checked_forward() -> Tensor:
        try:
            with user_code(path, "inside forward()"):
                out = forward()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise user_error(exc, source, path, "inside forward()") from exc
        if not isinstance(out, Tensor):
            if inspect.iscoroutine(out):  # `async def forward`: never awaited, said once
                out.close()
            raise fail(path, f"forward() returned {_a(type(out).__name__)}, not a Tensor. Return "
                             f"the loss built from tracer Tensors, e.g. `return mse(prediction, "
                             f"target)`.", _def_line(forward))
        if out.data.size != 1:
            raise fail(path, f"forward() returned a tensor of shape {out.data.shape}, not a "
                             f"scalar. Backpropagation starts from one number: reduce it with "
                             f".sum() or .mean(), or return a loss from tracer.functional.",
                       _def_line(forward))
        return out

    return checked_forward


def guard_story(story: Callable[[Trace], Any], source: str, path: str) -> Callable[[Trace], str]:
    """``story(trace)`` as text, with errors reported like ``forward``'s."""

    def checked_story(trace: Trace) -> str:
        try:
            with user_code(path, "inside story()"):
                return str(story(trace))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise user_error(exc, source, path, "inside story()") from exc

    return checked_story


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiouAEIOU' else 'a'} {noun}"


def _text(namespace: dict[str, Any], key: str, path: str, lines: dict[str, int]) -> str:
    value = namespace.get(key, "")
    if not isinstance(value, str):
        raise fail(path, f"{key} must be a string, not {_a(type(value).__name__)}.",
                   lines.get(key))
    return printable(" ".join(value.split()), limit=MESSAGE_LIMIT)


def _lr(namespace: dict[str, Any], path: str, lines: dict[str, int]) -> float:
    lr = namespace.get("LR", DEFAULT_LR)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not np.isfinite(lr) or lr <= 0:
        raise fail(path, f"LR must be a positive number (the learning rate, e.g. LR = 0.1), not "
                         f"{lr!r}.", lines.get("LR"))
    return float(lr)


def _optimizer(namespace: dict[str, Any], path: str, lines: dict[str, int]) -> Optimizer:
    lr = _lr(namespace, path, lines)
    choice = namespace.get("OPTIMIZER", "sgd")
    if isinstance(choice, Optimizer):
        return choice
    if not isinstance(choice, str) or choice.lower() not in OPTIMIZERS:
        raise fail(path, f"OPTIMIZER must be one of {', '.join(map(repr, OPTIMIZERS))} or a "
                         f"tracer optimizer such as Momentum(lr=0.1, beta=0.9), not {choice!r}.",
                   lines.get("OPTIMIZER"))
    return make_optimizer(choice, lr)


def _module_params(namespace: dict[str, Any]) -> list[Tensor]:
    """Module-level tensors, named after their variable when unnamed; the params among them."""
    params = []
    for variable, value in namespace.items():
        if isinstance(value, Tensor) and not variable.startswith("_"):
            if value.name is None:
                value.name = variable
            if value.kind == "param" and all(value is not p for p in params):
                params.append(value)
    return params
