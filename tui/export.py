"""Headless rendering of the debugger: one SVG screenshot per step of a cycle, for slides.

The real :class:`~tui.app.GradstepApp` runs without a terminal (Textual's headless driver), the
debugger screen's own step actions walk the timeline, and ``App.export_screenshot`` draws each
step exactly as a person at the keyboard would see it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tracer import Network
from tracer.narration import title

from .app import GradstepApp
from .debugger_screen import DebuggerScreen

DEFAULT_SIZE = (120, 40)


class _ExportApp(GradstepApp):
    """The app, keeping an error it would show (the network failed) to raise it instead."""

    error: str | None = None

    def show_error(self, message: str) -> None:
        self.error = message


@dataclass(frozen=True)
class Shot:
    """One exported step: its timeline position, label and SVG file."""

    position: int
    label: str
    path: Path


_SUPERSCRIPTS = str.maketrans({"²": "-p2", "³": "-p3", "ᵖ": "-pp", "ᵀ": "-T"})


def slug(text: str) -> str:
    """``text`` as a file-name part: ASCII letters, digits, ``.``, ``_`` and ``-`` only; a
    power keeps a mark (``diff_o2²`` is ``diff_o2-p2``, not the same as ``diff_o2``)."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", text.translate(_SUPERSCRIPTS)).strip("-.") or "node"


def file_name(position: int, label: str) -> str:
    """``step-007-backward-x.svg`` for position 6 (numbered from 1, in timeline order)."""
    return f"step-{position + 1:03d}-{slug(label)}.svg"


async def export_steps(network: Network, write: Callable[[str, str], Path],
                       size: tuple[int, int] = DEFAULT_SIZE, present: bool = False) -> list[Shot]:
    """Run the app headless on ``network`` and save one SVG per step of its first cycle.

    Parameters
    ----------
    network
        The network to trace; the app runs one cycle of it (its parameters move, as in the app).
    write
        ``write(file_name, svg)`` saves one step and returns where (the CLI's checked folder,
        :class:`gradstep.output_files.StepFolder`).
    size
        Terminal size in cells, ``(width, height)``.
    present
        Presenter mode (graph and narration, large, in the projector theme), as
        ``gradstep open --present`` shows it.

    Returns
    -------
    list[Shot]
        In timeline order: forward steps, backward steps, each update, the outcome.

    Raises
    ------
    RuntimeError
        If the debugger could not run the network; the message is the one the app would show.
    """
    app = _ExportApp(network, present=present)
    shots: list[Shot] = []
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        if not isinstance(screen, DebuggerScreen) or screen.debugger is None:
            raise RuntimeError(app.error or f"the debugger could not run {network.name}")
        if present:  # a slide: no key bar, no scrollbars
            screen.add_class("-slide")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
        debugger = screen.debugger
        screen.action_first()
        for position, moment in enumerate(debugger.timeline):
            if position:
                screen.action_next()
            await pilot.pause()
            if debugger.position != position:  # the screen's step action must visit each step
                raise RuntimeError(f"stepping stopped at {debugger.position}, not {position}")
            label = title(debugger.cycle, moment)
            svg = app.export_screenshot(
                title=f"{network.name} · step {position + 1}/{len(debugger.timeline)} · {label}")
            shots.append(Shot(position, label, write(file_name(position, label), svg)))
    return shots


def export_svgs(network: Network, write: Callable[[str, str], Path],
                size: tuple[int, int] = DEFAULT_SIZE, present: bool = False) -> list[Shot]:
    """:func:`export_steps` from synchronous code (it runs its own event loop)."""
    return asyncio.run(export_steps(network, write, size, present))
