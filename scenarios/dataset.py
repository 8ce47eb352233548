"""Tabular data for TOML networks: inline rows or a CSV file, checked cell by cell.

Every problem is reported with the file and line it comes from: the TOML file for inline data,
the CSV file (line numbers as an editor shows them) for a CSV.
"""

from __future__ import annotations

import csv
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import fail
from .files import UnreadableFile, read_regular


@dataclass(frozen=True)
class Table:
    """Numeric columns with names: ``values`` has one row per example."""

    columns: tuple[str, ...]
    values: np.ndarray


def inline_rows(value: Any, what: str, path: str, line: int | None) -> np.ndarray:
    """A TOML array of rows (or of numbers, one per row) as a 2-D float array.

    Parameters
    ----------
    value
        The parsed TOML value.
    what
        How the message names it, e.g. ``"[data] inputs"``.
    path, line
        Where it was written, for messages.
    """
    if not isinstance(value, list) or not value:
        raise fail(path, f"{what} must be a non-empty array of rows, e.g. [[0, 1], [1, 0]].",
                   line)
    rows = [row if isinstance(row, list) else [row] for row in value]
    width = len(rows[0])
    for r, row in enumerate(rows, 1):
        if len(row) != width:
            raise fail(path, f"{what} is ragged: row {r} has {len(row)} values but row 1 has "
                             f"{width}. Every row needs the same number of values.", line)
        for c, cell in enumerate(row, 1):
            if isinstance(cell, bool) or not isinstance(cell, int | float):
                raise fail(path, f"{what}: row {r}, value {c} is {_kind(cell)}, not a number.",
                           line)
            if not math.isfinite(cell):
                raise fail(path, f"{what}: row {r}, value {c} is {cell}; gradstep needs finite "
                                 f"numbers (no nan or inf).", line)
    if width == 0:
        raise fail(path, f"{what} has empty rows.", line)
    return np.array(rows, dtype=np.float64)


def _kind(cell: Any) -> str:
    if isinstance(cell, str):
        return f"the string {cell!r}"
    if isinstance(cell, bool):
        return f"the boolean {str(cell).lower()}"
    return f"a {type(cell).__name__}"


def read_csv(csv_path: Path, shown: str, toml_path: str, line: int | None) -> Table:
    """Read a CSV file with a header row of column names and numeric cells.

    Parameters
    ----------
    csv_path
        The resolved file.
    shown
        How the TOML file names it (messages about its contents name ``csv_path``).
    toml_path, line
        The TOML file and the line of its ``csv`` key, for a missing or unreadable file.
    """
    where = str(csv_path)  # content problems name the CSV file itself (with its lines)
    try:
        text = read_regular(csv_path).decode("utf-8-sig")
    except UnreadableFile as exc:
        raise fail(toml_path, f"the data file {shown!r} {exc} (looked for {csv_path}; a "
                              f"relative csv path is relative to the TOML file's folder).", line
                   ) from None
    except UnicodeDecodeError as exc:
        raise fail(where, f"the file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); "
                          f"save it as UTF-8 CSV.", exc.object.count(b"\n", 0, exc.start) + 1
                   ) from None
    reader = csv.reader(text.splitlines())
    try:
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:  # a cell longer than csv's limit (131,072 characters), a NUL byte
        raise fail(where, f"this is not a CSV file gradstep can read ({exc}). It needs a header "
                          f"row of column names, then rows of numbers.", reader.line_num + 1
                   ) from None
    if not rows:
        raise fail(where, "the CSV file is empty; it needs a header row of column names and at "
                          "least one row of numbers.")
    header_line, header = rows[0]
    header = [name.strip() for name in header]
    repeated = next((name for i, name in enumerate(header) if name in header[:i]), None)
    if repeated is not None:
        raise fail(where, f"the header names the column {repeated!r} twice; every column needs "
                          f"its own name (rename one of them).", header_line)
    if len(rows) == 1:
        raise fail(where, "the CSV file has a header but no rows of data.", header_line)
    values = []
    for lineno, row in rows[1:]:
        if len(row) != len(header):
            raise fail(where, f"this row has {len(row)} values but the header has {len(header)} "
                              f"columns ({', '.join(header)}). Every row needs one value per "
                              f"column.", lineno)
        values.append([_cell(cell, name, where, lineno) for cell, name in zip(row, header,
                                                                              strict=True)])
    return Table(tuple(header), np.array(values, dtype=np.float64))


def _cell(cell: str, column: str, where: str, lineno: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise fail(where, f"column {column!r} holds {_quote(cell)}, which is not a number. "
                          f"Every cell after the header must be a number.", lineno) from None
    if not math.isfinite(value):
        raise fail(where, f"column {column!r} holds {_quote(cell)}; gradstep needs finite "
                          f"numbers (no nan or inf). Remove or fix that row.", lineno)
    return value


def _quote(cell: str, limit: int = 40) -> str:
    """A cell, quoted and cut short (a cell may be a million digits long)."""
    cell = cell.strip()
    return repr(cell) if len(cell) <= limit else f"{cell[:limit]!r}… ({len(cell):,} characters)"


def pick_columns(table: Table, names: Sequence[str], what: str, path: str,
                 line: int | None) -> np.ndarray:
    """The named columns of ``table``, in that order, as a 2-D array."""
    index = []
    for name in names:
        if name not in table.columns:
            close = difflib.get_close_matches(name, table.columns, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise fail(path, f"{what} names the column {name!r}, which the CSV does not have "
                             f"(its columns: {', '.join(table.columns)}).{hint}", line)
        index.append(table.columns.index(name))
    return table.values[:, index]


def select_rows(batch: Any, rows: int, path: str, line: int | None) -> np.ndarray:
    """Row indices for ``batch``: ``"all"``, the first ``n`` rows, or a list of row numbers."""
    if batch == "all":
        return np.arange(rows)
    if isinstance(batch, int) and not isinstance(batch, bool):
        if not 1 <= batch <= rows:
            raise fail(path, f"[data] batch = {batch}, but the data has {rows} rows; use a number "
                             f"from 1 to {rows}, or \"all\".", line)
        return np.arange(batch)
    if isinstance(batch, list) and batch and all(
            isinstance(b, int) and not isinstance(b, bool) for b in batch):
        bad = [b for b in batch if not 0 <= b < rows]
        if bad:
            raise fail(path, f"[data] batch lists row {bad[0]}, but rows are numbered 0 to "
                             f"{rows - 1}.", line)
        return np.array(batch)
    raise fail(path, f"[data] batch must be \"all\", a number of rows (the first n), or a list "
                     f"of row numbers counted from 0, not {batch!r}.", line)

