"""The one golden-file check: text compared with ``tests/golden/KIND/NAME.txt``.

Run with ``GRADSTEP_UPDATE_GOLDEN=1`` to rewrite the files (then look at every changed file
before keeping it: the picture is the real test). A missing file is written and the test fails,
so a new golden is always looked at once.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def check_golden(kind: str, name: str, text: str) -> None:
    """Compare ``text`` with ``golden/KIND/NAME.txt`` (which ends with a newline)."""
    path = GOLDEN / kind / f"{name}.txt"
    update = os.environ.get("GRADSTEP_UPDATE_GOLDEN") == "1"
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        if not update:
            raise AssertionError(f"golden file {path} was missing: written, check it by eye")
    expected = path.read_text(encoding="utf-8")
    if text + "\n" != expected:
        diff = difflib.unified_diff(expected.splitlines(), text.splitlines(), "golden", "now",
                                    lineterm="", n=1)
        raise AssertionError(f"text differs from {path}:\n" + "\n".join(diff))
