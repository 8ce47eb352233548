"""Progress of a long headless training run, on stderr when it is a terminal (rich's display)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LONG_RUN = 1_000  # iterations from which a run shows its progress
PROGRESS_EVERY = 0.1  # seconds between refreshes


@contextmanager
def training_progress(steps: int | None) -> Iterator[Callable[[int, int, float], None] | None]:
    """A callback for :func:`tracer.training.run` drawing a progress bar on stderr, or ``None``
    when stderr is not a terminal or the run is short (scripts and pipes get no progress)."""
    if steps is None or steps < LONG_RUN or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(),
                  console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task("training", total=steps, loss="")
        last = 0.0

        def progress(done: int, total: int, loss: float) -> None:
            nonlocal last
            now = time.perf_counter()
            if now - last >= PROGRESS_EVERY or done == total:
                last = now
                bar.update(task, completed=done, loss=f"{loss:.6g}")

        yield progress
