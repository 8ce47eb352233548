"""``printable(text)``: text from a network file or a visitor, made safe to show in a terminal.

A title, a tensor's name, a CSV header, an exception's message or a file name is untrusted text:
an escape sequence in it could clear the screen, retitle the window or fake output, and a
10 MB message would bury the one line that matters. Everything such text reaches (the CLI's
stdout and stderr, the TUI, the exports) passes through this one function.
"""

from __future__ import annotations

import re

__all__ = ["MESSAGE_LIMIT", "printable"]

# C0 controls (but tab and newline), DEL, C1 controls, and the bidirectional overrides and
# isolates that make text display in another order than it is stored.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NEWLINES = re.compile(r"\s*\n\s*")

# A message longer than this is cut (a 10 MB exception message is not read, it is scrolled past).
MESSAGE_LIMIT = 2_000


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, one_line: bool = False, limit: int | None = None) -> str:
    """``text`` with control characters shown as escapes (``"\\x1b"``), never sent raw.

    Parameters
    ----------
    text
        Untrusted text.
    one_line
        Also join lines with ``" / "`` (a message paragraph, a title); otherwise newlines and
        tabs stay.
    limit
        Cut to this many characters, ending in ``" … (N more characters)"``.

    Examples
    --------
    >>> printable("\\x1b[2Jtitle")
    '\\\\x1b[2Jtitle'
    """
    if one_line:
        text = _NEWLINES.sub(" / ", text.strip()).replace("\t", " ")
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]} … ({len(text) - limit:,} more characters)"
    return _UNSAFE.sub(_escape, text)
