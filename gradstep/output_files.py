"""Where ``gradstep export`` writes, checked before anything is run: it never overwrites a file
it did not write.

- ``--dot FILE`` and ``--quiz FILE`` refuse a file that exists, unless ``--force``, and a
  folder that does not.
- ``--svg DIR`` writes into a new folder (its parent must exist: nothing is created silently),
  an empty one, or one holding only gradstep's own earlier step SVGs, which it replaces. Files
  are opened without following symlinks, so a link planted under a step's name cannot send
  the write anywhere else.

Every refusal and every failed write is an :class:`~gradstep.common.OutputError` (exit 2).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from tracer.printable import printable

from .common import OutputError

__all__ = ["StepFolder", "check_target", "write_new_file"]

STEP_SVG = re.compile(r"step-\d{3,}-[A-Za-z0-9._-]*\.svg")
SVG_MARK = b'<svg class="rich-terminal"'  # how every SVG Textual exports begins


def _shown(path: Path | str) -> str:
    return printable(str(path), one_line=True)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _folder_exists(path: Path, what: str) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {what} {_shown(path)}: the folder {_shown(parent)} does "
                          f"not exist. Create it first, or give a path in a folder that exists.")


def check_target(destination: str, force: bool, option: str) -> None:
    """Refuse a file destination (``--dot``, ``--quiz``) before any work: an existing file
    (unless ``force``), a directory, or a path in a folder that does not exist. ``-`` (stdout)
    is always fine."""
    if destination == "-":
        return
    path = Path(destination)
    if path.is_dir():
        raise OutputError(f"{option} {_shown(path)} is a folder; give the path of a file to "
                          f"write into, such as {_shown(path / 'graph.dot')}.")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputError(f"{option} {_shown(path)} already exists, and export does not "
                          f"overwrite a file unless told to. Give a new file name, or add "
                          f"--force to replace it.")
    _folder_exists(path, f"the {option} file")


def write_new_file(destination: str, text: str, force: bool, what: str) -> None:
    """Write ``text`` to ``destination``: a new file, or (``force``) replacing one."""
    path = Path(destination)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    _write(path, text, flags, what)


def _write(path: Path, text: str, flags: int, what: str) -> None:
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
    except FileExistsError:
        raise OutputError(f"{_shown(path)} appeared while gradstep was working; it was left "
                          f"alone. Give another name, or --force.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError(f"{_shown(path)} is a symbolic link; gradstep does not write "
                              f"through links. Remove it or give another name.") from None
        raise OutputError(f"cannot write {what} {_shown(path)}: {_reason(exc)}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        raise OutputError(f"cannot write {what} {_shown(path)}: {_reason(exc)}.") from None


class StepFolder:
    """The ``--svg`` folder: checked (and created, one level) when made, then written step by
    step with :meth:`write`.

    Raises
    ------
    OutputError
        The path is a file or a symlink, its parent does not exist, or it holds anything but
        gradstep's own step SVGs.
    """

    def __init__(self, directory: str) -> None:
        self.path = Path(directory)
        self.old = self._check()

    def _check(self) -> list[Path]:
        path = self.path
        try:
            info = path.lstat()
        except FileNotFoundError:
            _folder_exists(path, "the SVG folder")
            return []
        except OSError as exc:
            raise OutputError(f"cannot use the SVG folder {_shown(path)}: {_reason(exc)}."
                              ) from None
        if stat.S_ISLNK(info.st_mode):
            raise OutputError(f"--svg {_shown(path)} is a symbolic link; give the folder itself.")
        if not stat.S_ISDIR(info.st_mode):
            raise OutputError(f"--svg {_shown(path)} is a file, not a folder. Give the path of a "
                              f"new or empty folder for the step SVGs.")
        try:
            entries = list(path.iterdir())
        except OSError as exc:
            raise OutputError(f"cannot read the SVG folder {_shown(path)}: {_reason(exc)}."
                              ) from None
        foreign = sorted(p.name for p in entries if not _own_step_svg(p))
        if foreign:
            raise OutputError(
                f"--svg {_shown(path)} already holds {len(foreign)} file(s) gradstep did not "
                f"write ({_shown(', '.join(foreign[:3]))}{' …' if len(foreign) > 3 else ''}), "
                f"and export does not write among other files. Give a new or empty folder.")
        return entries

    def create(self) -> None:
        """Create the folder if it is new (one level; its parent exists) and clear out the
        previous export's step SVGs, so that the folder holds exactly this export."""
        try:
            self.path.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the SVG folder {_shown(self.path)}: "
                              f"{_reason(exc)}.") from None
        for old in self.old:
            try:
                old.unlink()
            except OSError as exc:
                raise OutputError(f"cannot replace {_shown(old)}: {_reason(exc)}.") from None

    def write(self, name: str, svg: str) -> Path:
        """Write one step's SVG as ``name`` in the folder (never through a symlink)."""
        path = self.path / name
        _write(path, svg, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, "the SVG")
        return path


def _own_step_svg(path: Path) -> bool:
    """Whether ``path`` is a step SVG an earlier ``gradstep export`` wrote (a regular file with
    a step's name, holding a Textual screenshot)."""
    if not STEP_SVG.fullmatch(path.name):
        return False
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        with open(path, "rb") as file:
            return SVG_MARK in file.read(400)
    except OSError:
        return False
