"""The reference pages under ``docs/``, for the tests that run or check what they document."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def doc_page(name: str) -> str:
    """The text of ``docs/NAME`` (e.g. ``"network-files.md"``)."""
    return (DOCS / name).read_text(encoding="utf-8")
