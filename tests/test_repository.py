"""Facts about the repository itself that no other test would notice."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("<<<<<<< ", "=======\n", ">>>>>>> ")


def tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    suffixes = {".py", ".md", ".toml", ".tcss", ".txt", ".json", ".csv", ".html", ".cfg"}
    return [ROOT / name for name in out.splitlines() if Path(name).suffix in suffixes]


def test_no_file_holds_a_merge_conflict_marker():
    found = []
    for path in tracked_text_files():
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(True), 1):
            if line.startswith(MARKERS):
                found.append(f"{path.relative_to(ROOT)}:{number}")
    assert found == [], "merge conflict markers left in: " + ", ".join(found)
