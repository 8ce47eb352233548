"""``LoadError``: everything that can go wrong loading a network, said so a person can fix it.

A message is one paragraph: where (the file, and the line where there is one), what is wrong, and
what to do. It never includes a traceback; the original exception stays chained for debugging.
"""

from __future__ import annotations

from types import TracebackType

from tracer import GraphError
from tracer.printable import MESSAGE_LIMIT, printable

# An exception's own text is quoted up to this length (a message of 10 MB is cut, not printed).
EXCEPTION_TEXT_LIMIT = 400


class LoadError(ValueError):
    """A scenario name or network file that cannot be loaded or run.

    Parameters
    ----------
    message
        The whole user-facing paragraph (``str(error)``). Control characters in it are shown as
        escapes and newlines joined (it quotes file names, titles and exception text, which are
        untrusted), and it is cut at ``MESSAGE_LIMIT`` characters.
    path
        The file at fault, when there is one.
    line
        Its 1-based line number, when there is one.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        super().__init__(printable(message, one_line=True, limit=MESSAGE_LIMIT))
        self.path = path
        self.line = line


def where(path: str, line: int | None = None) -> str:
    """``net.py, line 3`` (or just ``net.py`` when the line is unknown)."""
    return f"{path}, line {line}" if line else path


def fail(path: str, problem: str, line: int | None = None) -> LoadError:
    """A :class:`LoadError` whose message starts with the place: ``net.py, line 3: problem``."""
    return LoadError(f"{where(path, line)}: {problem}", path, line)


def exception_text(exc: BaseException) -> str:
    """``str(exc)``, cut to ``EXCEPTION_TEXT_LIMIT`` characters, even when its ``__str__`` fails."""
    try:
        text = str(exc)
    except Exception as broken:  # the file's own exception class, with a broken __str__
        text = f"(its message cannot be shown: its __str__ raised {type(broken).__name__})"
    return printable(text, one_line=True, limit=EXCEPTION_TEXT_LIMIT)


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


def user_error(exc: BaseException, source: str, path: str, when: str) -> LoadError:
    """Turn an exception raised by the user's code into a message with its file and line.

    Parameters
    ----------
    exc
        What the user's code raised.
    source, path
        The network file's text and name.
    when
        ``"while running the file"``, ``"inside forward()"`` …, put into the message.
    """
    if isinstance(exc, LoadError):
        return exc
    if isinstance(exc, GraphError):
        line = exc.lineno if exc.filename == path else innermost_line(exc.__traceback__, path)
        return fail(path, f"{exc.problem} {when}: {exc}. {exc.advice}", line)
    line = innermost_line(exc.__traceback__, path)
    if isinstance(exc, SystemExit):
        return fail(path, f"the file called exit() {when}; a network file must not exit.", line)
    return fail(path, f"{type(exc).__name__} {when}: {exception_text(exc)}"
                      f"{quote_line(source, line)}. Fix the error and load the file again.", line)
