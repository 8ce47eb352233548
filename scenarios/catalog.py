"""The built-in scenarios: their names, in teaching order, and what each one is about.

Titles and descriptions are read from the scenario files without running them (a Python file's
module-level ``TITLE``/``DESCRIPTION`` string literals, a TOML file's ``title``/``description``),
so listing the scenarios is instant and executes nothing.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"

# Scenarios built to misbehave, each with one problem `gradstep check` finds (the debugging
# lessons, after the healthy ones).
PROBLEM_NAMES: tuple[str, ...] = (
    "vanishing-sigmoid",
    "exploding",
    "dead-relu",
    "nan-log",
    "unused-param",
    "buggy-custom-op",
)

# Teaching order: one scalar node at a time first, then vectors, matrices and training, then
# debugging.
BUILTIN_NAMES: tuple[str, ...] = (
    "chain-rule",
    "micrograd-neuron",
    "mazur",
    "cookies",
    "house-price",
    "dog-vs-cat",
    "digit-4-vs-9",
    "broadcast-bias",
    "xor",
    "cnn-4-vs-9",
    "attention-head",
    "char-rnn",
    "layer-norm",
    *PROBLEM_NAMES,
)


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    """A built-in scenario as the picker and ``gradstep list`` show it.

    Attributes
    ----------
    name
        Kebab-case name, what ``gradstep open NAME`` takes.
    title
        A few words.
    description
        Two or three sentences on what the scenario teaches.
    path
        The network file that defines it.
    """

    name: str
    title: str
    description: str
    path: Path


def read_metadata(path: Path) -> tuple[str, str]:
    """``(title, description)`` declared by a network file, without executing it.

    Missing or non-literal values give empty strings; unreadable files give ``("", "")``.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix == ".toml":
            table = tomllib.loads(text)
            values = {"TITLE": table.get("title"), "DESCRIPTION": table.get("description")}
        else:
            values = _literal_assignments(ast.parse(text), ("TITLE", "DESCRIPTION"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return "", ""
    title, description = values.get("TITLE"), values.get("DESCRIPTION")
    return (title if isinstance(title, str) else "",
            description if isinstance(description, str) else "")


def _literal_assignments(tree: ast.Module, names: tuple[str, ...]) -> dict[str, object]:
    found: dict[str, object] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            if isinstance(target, ast.Name) and target.id in names:
                with contextlib.suppress(ValueError):
                    found[target.id] = ast.literal_eval(stmt.value)
    return found


def builtin_path(name: str) -> Path:
    """The file of built-in scenario ``name`` (``digit-4-vs-9`` -> ``builtin/digit_4_vs_9.py``)."""
    return BUILTIN_DIR / f"{name.replace('-', '_')}.py"


def catalog() -> tuple[ScenarioInfo, ...]:
    """Every built-in scenario, in teaching order, with its title and description.

    Returns
    -------
    tuple of ScenarioInfo
        What the TUI's picker and ``gradstep list`` show.
    """
    infos = []
    for name in BUILTIN_NAMES:
        path = builtin_path(name)
        title, description = read_metadata(path)
        infos.append(ScenarioInfo(name, title, description, path))
    return tuple(infos)


def find_builtin(name: str) -> str | None:
    """The built-in scenario's canonical name if ``name`` is one (ignoring case and ``_``/``-``)."""
    key = name.strip().lower().replace("_", "-")
    return key if key in BUILTIN_NAMES else None


def close_names(name: str) -> list[str]:
    """Built-in names that look like ``name`` (a typo, a different spelling), best first."""
    key = name.strip().lower().replace("_", "-")
    close = difflib.get_close_matches(key, BUILTIN_NAMES, n=3, cutoff=0.5)
    return close or [n for n in BUILTIN_NAMES if key and (key in n or n in key)][:3]
