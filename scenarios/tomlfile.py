"""TOML network files: an MLP described as data. Parsing and checking them executes no code.

:func:`parse_mlp` turns the file's text into an :class:`MlpSpec`, checking every key and value
and the data against the layer sizes; :mod:`scenarios.mlp` builds the network from it. The keys
are documented in docs/network-files.md.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from tracer.functional import LOSS_FUNCTIONS
from tracer.ops import OPS
from tracer.optim import OPTIMIZERS
from tracer.printable import MESSAGE_LIMIT, printable

from .dataset import inline_rows, pick_columns, read_csv, select_rows
from .errors import LoadError, fail

# A layer's activation: the op table's elementwise activations (a Tensor method each), or none.
ACTIVATIONS = (*(name for name, op in OPS.items() if op.role == "activation" and op.elementwise),
               "identity")
LOSSES = tuple(LOSS_FUNCTIONS)
SCHEMES = ("xavier", "he", "normal", "zeros")
WEIGHT_LIMIT = 5_000_000  # numbers in all W and b together; past this, nothing is readable
OPTIMIZER_OPTIONS = {"sgd": (), "momentum": ("beta",), "adam": ("beta1", "beta2", "eps")}

KEYS: dict[str, tuple[str, ...]] = {
    "": ("title", "description", "network", "data", "init", "optimizer"),
    "network": ("layers", "activations", "loss"),
    "data": ("inputs", "targets", "csv", "input_columns", "target_columns", "batch"),
    "init": ("seed", "scheme", "std"),  # plus W1, b1, W2, b2, … (one pair per layer)
    "optimizer": ("name", "lr", "beta", "beta1", "beta2", "eps"),
}
_MISSING = object()


@dataclass(frozen=True)
class MlpSpec:
    """A checked TOML network: the layers, the (batch of) data, the initial weights, training."""

    title: str
    description: str
    layers: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    inputs: np.ndarray  # (rows, layers[0])
    targets: np.ndarray  # (rows, layers[-1]); class indices (rows,) for cross_entropy
    seed: int
    scheme: str
    std: float
    given: dict[str, np.ndarray] = field(default_factory=dict)  # explicit W1, b1, …
    optimizer: str = "sgd"
    lr: float = 0.1
    options: dict[str, float] = field(default_factory=dict)


def toml_line(text: str, table: str, key: str | None = None) -> int | None:
    """The line where ``key`` of ``[table]`` is written (or the table's header), if found.

    A best-effort scan (``tomllib`` keeps no positions): it follows ``[table]`` headers and
    matches ``key =`` and dotted ``table.key =`` lines.
    """
    current = ""
    want = f"{table}.{key}" if table and key else (key or table)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        header = re.match(r"^\[\s*([^\[\]]+?)\s*\]", line)
        if header:
            current = re.sub(r"\s|[\"']", "", header.group(1))
            if current == want:
                return number
            continue
        assigned = re.match(r"^([A-Za-z0-9_.\-\"' ]+?)\s*=", line)
        if assigned:
            name = re.sub(r"\s|[\"']", "", assigned.group(1))
            if (f"{current}.{name}" if current else name) == want:
                return number
    return None


class _Document:
    """The parsed TOML with its text, so every complaint can point at a line."""

    def __init__(self, text: str, path: str):
        self.text = text
        self.path = path
        try:
            self.data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            found = re.search(r"\(at line (\d+), column (\d+)\)", message)
            line = int(found.group(1)) if found else None
            if "(at end of document)" in message:  # an unclosed array or string
                line = len(text.splitlines()) or None
            detail = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
            if found:
                detail += f" (column {found.group(2)})"
            elif line:
                detail += " (at the end of the file: something opened was never closed)"
            raise fail(path, f"TOML syntax error: {detail}. Fix this line and load the file "
                             f"again.", line) from None

    def line(self, table: str, key: str | None = None) -> int | None:
        return toml_line(self.text, table, key)

    def error(self, table: str, key: str | None, problem: str) -> LoadError:
        name = f"[{table}] {key}" if table and key else (key or f"[{table}]")
        return fail(self.path, f"{name} {problem}", self.line(table, key))

    def table(self, name: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        """Sub-table ``name`` (empty if absent), with unknown keys refused."""
        value = self.data if not name else self.data.get(name, {})
        if not isinstance(value, dict):
            raise self.error("", name, f"must be a table ([{name}] followed by keys), not "
                                       f"{_describe(value)}.")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                where = f"in [{name}]" if name else "at the top level"
                raise fail(self.path, f"unknown key {key!r} {where}.{hint} The keys allowed "
                                      f"there are: {', '.join(allowed)}.", self.line(name, key))
        return value

    def get(self, table: dict[str, Any], name: str, key: str, check: str,
            default: Any = _MISSING, example: str = "") -> Any:
        """``table[key]`` checked to be a ``check`` (see :data:`_CHECKS`), or ``default``."""
        if key not in table:
            if default is _MISSING:
                raise self.error(name, None, f"needs the key {key!r}{example}.")
            return default
        value = table[key]
        test, wanted = _CHECKS[check]
        if not test(value):
            raise self.error(name, key, f"must be {wanted}, not {_describe(value)}.")
        return value


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_CHECKS = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "positive": (lambda v: _is_number(v) and v > 0, "a positive number"),
    "fraction": (lambda v: _is_number(v) and 0 <= v < 1, "a number from 0 up to (not incl.) 1"),
    "seed": (lambda v: _is_int(v) and v >= 0, "a whole number, 0 or more"),
    "sizes": (lambda v: isinstance(v, list) and len(v) >= 2 and all(_is_int(x) and x > 0
                                                                   for x in v),
              "an array of at least two positive whole numbers (inputs, …, outputs)"),
    "names": (lambda v: isinstance(v, str) or (isinstance(v, list) and v and all(
        isinstance(x, str) for x in v)), "a column name or an array of column names"),
    "strings": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                "an array of strings"),
    "any": (lambda v: True, "anything"),
}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"an array ({value!r})" if len(repr(value)) <= 40 else "an array"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} (it must be finite)"
    return f"{type(value).__name__} {value!r}"


def _choice(doc: _Document, name: str, key: str, value: str, options: tuple[str, ...]) -> str:
    if value.lower() in options:
        return value.lower()
    close = difflib.get_close_matches(value.lower(), options, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise doc.error(name, key, f"is {value!r}, which gradstep does not know.{hint} Choose one of: "
                               f"{', '.join(options)}.")


def parse_mlp(text: str, path: str) -> MlpSpec:
    """Parse and check a TOML network file.

    Parameters
    ----------
    text
        The file's contents.
    path
        The file's name as the user wrote it: messages name it, and a relative ``csv`` path is
        resolved against its folder.

    Raises
    ------
    LoadError
        For a syntax error, an unknown key, a value of the wrong type, data that is missing,
        ragged or not finite, or layer sizes that do not fit the data.
    """
    doc = _Document(text, path)
    top = doc.table("", KEYS[""])
    for name in ("network", "data"):
        if name not in top:
            raise fail(path, f"there is no [{name}] table. A TOML network file needs [network] "
                             f"(layers, activations, loss) and [data] (inputs and targets, or a "
                             f"csv file); see docs/network-files.md.")
    title = doc.get(top, "", "title", "string", Path(path).stem)
    description = doc.get(top, "", "description", "string", "")
    layers, activations, loss = _network(doc)
    inputs, targets = _data(doc, layers, loss)
    seed, scheme, std, given = _init(doc, layers)
    optimizer, lr, options = _optimizer(doc)
    # Shown on screen: no escape codes (a shared file must not be able to clear a terminal).
    title, description = (printable(" ".join(text.split()), limit=MESSAGE_LIMIT)
                          for text in (title, description))
    return MlpSpec(title, description, layers, activations,
                   loss, inputs, targets, seed, scheme, std, given, optimizer, lr, options)


def _network(doc: _Document) -> tuple[tuple[int, ...], tuple[str, ...], str]:
    table = doc.table("network", KEYS["network"])
    layers = tuple(doc.get(table, "network", "layers", "sizes",
                           example=", e.g. layers = [2, 4, 1] (inputs, hidden units, outputs)"))
    count = len(layers) - 1
    weights = sum(a * b + b for a, b in pairwise(layers))
    if weights > WEIGHT_LIMIT:
        raise doc.error("network", "layers",
                        f"= {list(layers)} needs {weights:,} weights, more than gradstep holds "
                        f"({WEIGHT_LIMIT:,}); a network that size cannot be read step by step. "
                        f"Use narrower layers.")
    activations = doc.get(table, "network", "activations", "strings",
                          ["tanh"] * (count - 1) + ["identity"])
    if len(activations) != count:
        raise doc.error("network", "activations",
                        f"lists {len(activations)} activation(s), but layers = {list(layers)} "
                        f"has {count} layer(s) after the input; give one per layer.")
    activations = tuple(_choice(doc, "network", "activations", a, ACTIVATIONS)
                        for a in activations)
    loss = _choice(doc, "network", "loss", doc.get(table, "network", "loss", "string", "mse"),
                   LOSSES)
    if loss == "bce" and activations[-1] != "sigmoid":
        raise doc.error("network", "activations", f"ends in {activations[-1]!r}, but loss "
                        f"'bce' takes probabilities: make the last activation 'sigmoid'.")
    if loss == "cross_entropy" and activations[-1] != "identity":
        raise doc.error("network", "activations", f"ends in {activations[-1]!r}, but loss "
                        f"'cross_entropy' applies the softmax itself to raw scores: make the "
                        f"last activation 'identity'.")
    return layers, activations, loss


def _data(doc: _Document, layers: tuple[int, ...], loss: str) -> tuple[np.ndarray, np.ndarray]:
    table = doc.table("data", KEYS["data"])
    if "csv" in table:
        for key in ("inputs", "targets"):
            if key in table:
                raise doc.error("data", key, "cannot be given together with csv: take the data "
                                             "from the CSV file or write it inline, not both.")
        x, y, x_names = _csv_data(doc, table)
        where = f"the CSV's input columns ({', '.join(x_names)})"
    else:
        if "inputs" not in table or "targets" not in table:
            raise doc.error("data", None, "needs inputs and targets (inline arrays, one row per "
                                          "example) or csv = \"file.csv\" with a header row.")
        x = inline_rows(table["inputs"], "[data] inputs", doc.path, doc.line("data", "inputs"))
        y = inline_rows(table["targets"], "[data] targets", doc.path,
                        doc.line("data", "targets"))
        if len(x) != len(y):
            raise doc.error("data", "targets", f"has {len(y)} rows but inputs has {len(x)}; "
                                               f"give one target row per input row.")
        where = "each row of [data] inputs"
    if x.shape[1] != layers[0]:
        raise doc.error("network", "layers",
                        f"= {list(layers)} starts with {layers[0]} input(s), but {where} has "
                        f"{x.shape[1]} value(s). Make the first layer size {x.shape[1]}.")
    y = _fit_targets(doc, y, layers[-1], loss)
    rows = select_rows(doc.get(table, "data", "batch", "any", "all"), len(x), doc.path,
                       doc.line("data", "batch"))
    return x[rows], y[rows]


def _csv_data(doc: _Document, table: dict[str, Any]) -> tuple[np.ndarray, np.ndarray,
                                                                list[str]]:
    shown = doc.get(table, "data", "csv", "string")
    line = doc.line("data", "csv")
    data = read_csv(_inside_folder(doc, shown), shown, doc.path, line)
    targets = doc.get(table, "data", "target_columns", "names", [data.columns[-1]])
    targets = [targets] if isinstance(targets, str) else targets
    inputs = doc.get(table, "data", "input_columns", "names",
                     [c for c in data.columns if c not in targets])
    inputs = [inputs] if isinstance(inputs, str) else inputs
    if not inputs:
        raise doc.error("data", "target_columns", "uses every column of the CSV as a target; "
                                                  "leave some columns as inputs.")
    x = pick_columns(data, inputs, "[data] input_columns", doc.path,
                     doc.line("data", "input_columns"))
    y = pick_columns(data, targets, "[data] target_columns", doc.path,
                     doc.line("data", "target_columns") or line)
    return x, y, inputs


def _inside_folder(doc: _Document, shown: str) -> Path:
    """The ``csv`` file, which must resolve inside the TOML file's folder (or one below it):
    a TOML network file is safe to share only if it cannot read anything else."""
    if Path(shown).is_absolute() or shown.startswith("~"):
        raise doc.error("data", "csv", f"must be a path relative to the TOML file's folder, not "
                                       f"{shown!r}: keep the CSV beside the TOML file (or in a "
                                       f"folder below it) and name it, e.g. csv = \"data.csv\".")
    folder = Path(doc.path).resolve().parent
    csv_path = Path(doc.path).parent / shown
    try:
        resolved = csv_path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        resolved = None
    if resolved is None or not resolved.is_relative_to(folder):
        raise doc.error("data", "csv", f"{shown!r} is outside the TOML file's folder (through "
                                       f"'..' or a symbolic link); a TOML network file may only "
                                       f"read a CSV in its own folder or one below it, so that "
                                       f"it is safe to share. Move the CSV beside it.")
    return csv_path


def _fit_targets(doc: _Document, y: np.ndarray, outputs: int, loss: str) -> np.ndarray:
    if loss == "cross_entropy":
        if y.shape[1] != 1 or np.any(y != np.round(y)) or np.any(y < 0) or np.any(y >= outputs):
            raise doc.error("data", "targets",
                            f"must be one class number per row (0 to {outputs - 1}) for loss "
                            f"'cross_entropy' with {outputs} outputs.")
        return y[:, 0].astype(np.float64)
    if y.shape[1] != outputs:
        raise doc.error("network", "layers",
                        f"ends with {outputs} output(s), but each target row has {y.shape[1]} "
                        f"value(s). Make the last layer size {y.shape[1]}.")
    if loss == "bce" and (np.any(y < 0) or np.any(y > 1)):
        raise doc.error("data", "targets", "must be labels between 0 and 1 for loss 'bce'.")
    return y


def _init(doc: _Document, layers: tuple[int, ...]) -> tuple[int, str, float,
                                                            dict[str, np.ndarray]]:
    arrays = tuple(f"{kind}{k}" for k in range(1, len(layers)) for kind in ("W", "b"))
    table = doc.table("init", KEYS["init"] + arrays)
    seed = doc.get(table, "init", "seed", "seed", 0)
    scheme = _choice(doc, "init", "scheme", doc.get(table, "init", "scheme", "string", "xavier"),
                     SCHEMES)
    std = doc.get(table, "init", "std", "positive", 0.1)
    given = {}
    for name in arrays:
        if name in table:
            k = int(name[1:])
            shape = (layers[k - 1], layers[k]) if name[0] == "W" else (layers[k],)
            value = inline_rows(table[name], f"[init] {name}", doc.path, doc.line("init", name))
            value = value.reshape(-1) if name[0] == "b" and value.shape[1] == 1 else value
            value = value.reshape(-1) if name[0] == "b" and value.shape[0] == 1 else value
            if value.shape != shape:
                rows = f"{shape[0]} × {shape[1]}" if len(shape) == 2 else f"{shape[0]} values"
                raise doc.error("init", name, f"must be {rows} for layers = {list(layers)}, but "
                                              f"it has shape {value.shape}.")
            given[name] = value
    return seed, scheme, std, given


def _optimizer(doc: _Document) -> tuple[str, float, dict[str, float]]:
    table = doc.table("optimizer", KEYS["optimizer"])
    name = _choice(doc, "optimizer", "name", doc.get(table, "optimizer", "name", "string", "sgd"),
                   tuple(OPTIMIZERS))
    lr = doc.get(table, "optimizer", "lr", "positive", 0.1)
    options = {}
    for key in ("beta", "beta1", "beta2", "eps"):
        if key in table:
            if key not in OPTIMIZER_OPTIONS[name]:
                raise doc.error("optimizer", key, f"does not apply to {name!r}; it is an option "
                                                  f"of {_owner(key)!r}.")
            options[key] = doc.get(table, "optimizer", key,
                                   "positive" if key == "eps" else "fraction")
    return name, float(lr), options


def _owner(option: str) -> str:
    return next(name for name, keys in OPTIMIZER_OPTIONS.items() if option in keys)
