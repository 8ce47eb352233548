"""``load(target)``: a built-in scenario name or a network file, as a fresh Network.

This is the one way in for the CLI, the TUI and tests. Every load runs the file again, so each
gives fresh parameters; every problem is a :class:`LoadError` with a one-paragraph message.
"""

from __future__ import annotations

import os
from pathlib import Path

from tracer import GraphError, Network, Tensor
from tracer.record import check_recorded
from tracer.tensor import op_budget, too_many_nodes

from .catalog import builtin_path, close_names, find_builtin
from .errors import LoadError, fail, innermost_line, user_error
from .files import PYTHON_LIMIT, READ_LIMIT, UnreadableFile, read_regular
from .mlp import build_mlp
from .pyfile import load_python
from .tomlfile import parse_mlp

__all__ = ["NODE_LIMIT", "LoadError", "count_nodes", "load", "load_file", "user_code_failure"]

# The debugger steps node by node; past this many nodes that stops being a way to understand
# anything (and the graph view and records get slow). A few thousand must load.
NODE_LIMIT = 20_000
SUFFIXES = (".py", ".toml")


def load(target: str | os.PathLike[str]) -> Network:
    """Load a built-in scenario by name, or a ``.py`` / ``.toml`` network file by path.

    Parameters
    ----------
    target
        A built-in name (``gradstep list``; case and ``_``/``-`` do not matter) or a path.

    Returns
    -------
    Network
        Fresh parameters on every call; its forward pass has run once and was checked.

    Raises
    ------
    LoadError
        With a message naming the file (and line) and what to do about it.
    """
    text = os.fspath(target)
    name = find_builtin(text)
    if name is not None:
        return load_file(builtin_path(name), name=name)
    path = Path(text)
    if path.suffix.lower() in SUFFIXES or path.exists() or os.sep in text or "/" in text:
        return load_file(path)
    close = close_names(text)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise LoadError(f"{text!r} is not a built-in scenario, and there is no file by that name."
                    f"{hint} Run `gradstep list` to see the built-in scenarios, or give the path "
                    f"of a .py or .toml network file.")


def load_file(path: str | os.PathLike[str], name: str | None = None) -> Network:
    """Load the network file at ``path`` (``.py`` runs it; ``.toml`` executes nothing).

    Parameters
    ----------
    path
        The file. Messages show it as given.
    name
        The network's name; defaults to the file's stem.
    """
    path = Path(path)
    shown = str(path)
    source = read_source(path)
    stem = name or path.stem
    if path.suffix.lower() == ".toml":
        network = build_mlp(parse_mlp(source, shown), stem, shown)
    else:
        network = load_python(source, shown, stem)
    check_size(network, shown)
    return network


def read_source(path: Path) -> str:
    """The text of a network file, or a :class:`LoadError` saying why there is none.

    Only a regular file is read, of at most :data:`~scenarios.files.PYTHON_LIMIT` bytes for
    Python and :data:`~scenarios.files.READ_LIMIT` for TOML.
    """
    shown = str(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        listing = f" It holds: {', '.join(inside[:8])}." if inside else ""
        raise fail(shown, f"this is a directory, not a network file. Give the path of a .py or "
                          f".toml file.{listing}")
    if not path.exists() and not path.is_symlink():
        raise fail(shown, f"no such file (looked in {path.resolve().parent}). Check the path, "
                          f"or run `gradstep list` for the built-in scenarios.")
    if path.suffix.lower() not in SUFFIXES:
        raise fail(shown, f"gradstep reads Python (.py) and TOML (.toml) network files, not "
                          f"{path.suffix or 'files without an extension'}. Rename the file or "
                          f"give another one.")
    try:
        raw = read_regular(path, PYTHON_LIMIT if path.suffix.lower() == ".py" else READ_LIMIT)
    except UnreadableFile as exc:
        advice = ("Keep big data in a CSV or .npy file beside it, read by the code" if
                  exc.too_big else "Give the path of a .py or .toml network file")
        raise fail(shown, f"the file {exc}. {advice}.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise fail(shown, f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot be "
                          f"decoded). Save it as UTF-8 and load it again.", line) from None
    if not text.strip():
        kind = "TOML" if path.suffix.lower() == ".toml" else "Python"
        raise fail(shown, f"the file is empty. A {kind} network file describes a network; see "
                          f"docs/network-files.md for a complete example.")
    return text


def count_nodes(root: Tensor, limit: int | None = None) -> int:
    """How many distinct tensors ``root`` depends on (itself included).

    With ``limit``, counting stops once past it (so a huge graph is refused quickly).
    """
    seen = {id(root)}
    stack = [root]
    while stack and (limit is None or len(seen) <= limit):
        for x in stack.pop().inputs:
            if id(x) not in seen:
                seen.add(id(x))
                stack.append(x)
    return len(seen)


def check_size(network: Network, shown: str) -> None:
    """Run the forward pass once and refuse a graph too big to step through."""
    with op_budget(NODE_LIMIT):  # stops forward() as soon as it crosses the limit
        root = network.forward()
    if count_nodes(root, NODE_LIMIT) > NODE_LIMIT:  # (leaves count too)
        exc = too_many_nodes(NODE_LIMIT)
        raise fail(shown, f"{exc}. {exc.advice}")
    try:  # the first run is not traced: a value it changed after using it is refused here
        check_recorded(root)
    except GraphError as exc:
        raise fail(shown, f"{exc.problem} inside forward(): {exc}. {exc.advice}") from None


def user_code_failure(exc: BaseException, network: Network) -> LoadError | None:
    """A :class:`LoadError` for ``exc`` if the network file's own code raised it, else ``None``.

    ``forward()`` and ``story()`` already report their errors; this covers the rest of a cycle,
    such as a custom op defined in the file whose derivative fails during the backward pass.
    Other errors that did not pass through the file are gradstep's own, and stay tracebacks.
    """
    path = network.source
    # A GraphError is the network's own mistake even where the engine finds it (a value its
    # forward() changed after using it is only seen when the trace reads it).
    if not path or (innermost_line(exc.__traceback__, path) is None
                    and not isinstance(exc, GraphError)):
        return None
    try:
        source = read_regular(Path(path)).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        source = ""
    return user_error(exc, source, path, "during the backward pass or the update")
