"""``LoadError``: everything that can go wrong loading a network, said so a person can fix it.

A message is one paragraph: where (the file, and the line where there is one), what is wrong, and
what to do. It never includes a traceback; the original exception stays chained for debugging.
"""

from __future__ import annotations

from types import TracebackType


class LoadError(ValueError):
    """A scenario name or network file that cannot be loaded or run.

    Parameters
    ----------
    message
        The whole user-facing paragraph (``str(error)``).
    path
        The file at fault, when there is one.
    line
        Its 1-based line number, when there is one.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.path = path
        self.line = line


def where(path: str, line: int | None = None) -> str:
    """``net.py, line 3`` (or just ``net.py`` when the line is unknown)."""
    return f"{path}, line {line}" if line else path


def fail(path: str, problem: str, line: int | None = None) -> LoadError:
    """A :class:`LoadError` whose message starts with the place: ``net.py, line 3: problem``."""
    return LoadError(f"{where(path, line)}: {problem}", path, line)


def innermost_line(tb: TracebackType | None, filename: str) -> int | None:
    """The line of the innermost traceback frame running code from ``filename``, if any."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def quote_line(source: str, line: int | None) -> str:
    """`` (`x = 1 / 0`)``: the source line, quoted, to append to a message ('' if unknown)."""
    lines = source.splitlines()
    if not line or not 0 < line <= len(lines) or not lines[line - 1].strip():
        return ""
    return f" (`{lines[line - 1].strip()}`)"
