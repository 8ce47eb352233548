"""The debugger screen's training actions: run more iterations, view another one.

:class:`TrainingActions` is mixed into :class:`~tui.debugger_screen.DebuggerScreen`; it reads
the screen's ``debugger`` and shows a newly viewed cycle through the screen's ``cycle_changed``.
A run goes on in a worker: the header and the Training tab show its progress, escape cancels it
(the screen's ``training`` event), and what would move the parameters or the viewed iteration
waits for it (:data:`BUSY_WHILE_TRAINING`).
"""

from __future__ import annotations

import threading
import time

from textual import work
from textual.widgets import TabbedContent

from tracer.training import RunResult, StopCondition, parse_until

from .presenter_views import PresenterViews
from .prompt_screen import PromptScreen
from .status_bar import StatusBar
from .training_panel import TrainingPanel, progress_text
from .what_if import MOST_ITERATIONS, PromptError, iterations, sentence

PROGRESS_EVERY = 0.1  # seconds between progress updates of a training run
# What would move the parameters or the viewed iteration under a training run.
BUSY_WHILE_TRAINING = frozenset({"update", "rerun", "what_if", "train", "iteration", "open"})


class TrainingActions:
    """Keys t, [, ] and escape, and the Training tab's iteration list."""

    training: threading.Event | None

    def action_train(self) -> None:
        if self.debugger is not None:
            self.app.push_screen(PromptScreen(
                "Train how many iterations? Optionally until a condition: nan, spike[:FACTOR], "
                "grad-above:X, gradcheck, dead-unit", f"1 to {MOST_ITERATIONS:,}, e.g. 500 spike:3",
                "50"), self._train)

    def _train(self, text: str | None) -> None:
        if text is None:
            return  # the prompt was cancelled
        count, *conditions = text.split() or [""]
        try:
            run = iterations(count)
            until = [parse_until(word) for word in conditions]
        except PromptError as exc:
            self.notify(str(exc), title="train", severity="error", markup=False)
            return
        except ValueError as exc:  # a condition
            self.notify(sentence(str(exc)), title="train", severity="error", markup=False)
            return
        self.training = threading.Event()
        self.refresh_bindings()
        self.run_training(run, until, self.training)

    @work(thread=True, exclusive=True, group="prepare")
    def run_training(self, iterations: int, until: list[StopCondition],
                     cancel: threading.Event) -> None:
        started = last = time.perf_counter()
        done_before = self.debugger.count

        def progress(done: int, total: int, loss: float) -> None:
            nonlocal last
            now = time.perf_counter()
            if now - last >= PROGRESS_EVERY or done == total:
                last = now
                rate = done / max(now - started, 1e-9)
                self.from_worker(self.training_progress, done, total, loss, rate)

        try:
            result = self.debugger.run(iterations, until, progress, cancel.is_set)
        except Exception as exc:  # the user's network code may raise anything
            self.from_worker(self.app.show_error, str(exc))
            result = RunResult(iterations, self.debugger.count - done_before)
        self.from_worker(self.training_done, result)

    def training_progress(self, done: int, total: int, loss: float, rate: float) -> None:
        """Live progress: the header and the Training tab (with the curve growing)."""
        network = self.network
        self.query_one(StatusBar).update(
            f" gradstep │ {network.title or network.name} │ training: "
            f"{progress_text(done, total, loss, rate)}")
        self.query_one(TrainingPanel).progress(self.debugger, done, total, loss, rate)
        self.query_one(PresenterViews).moved(self.debugger)  # (its loss curve)
        self.query_one(TabbedContent).active = "training-tab"

    def training_done(self, result: RunResult) -> None:
        """Look at where the run ended (or stopped) and say why it ended there."""
        self.training = None
        try:
            self.debugger.land(result)  # (an iteration cancelled mid-way is replayed)
        except Exception as exc:  # the user's network code may raise anything
            self.refresh_bindings()
            self.app.show_error(str(exc))
            return
        self.iterations_changed()
        self.refresh_bindings()
        if result.stop is not None:
            self.query_one(TabbedContent).active = "steps-tab"
            self.notify(result.stop.message, title="training stopped", severity="warning",
                        markup=False, timeout=10)
        elif result.cancelled:
            self.notify(f"cancelled after {result.done:,} of {result.requested:,} iterations; "
                        f"what was trained is kept", title="training", markup=False)

    def action_cancel_training(self) -> None:
        if self.training is not None:
            self.training.set()

    def iterations_changed(self) -> None:
        self.query_one(TabbedContent).active = "training-tab"
        self.cycle_changed()

    def action_iteration(self, delta: int) -> None:
        if self.debugger is not None:
            self.view_iteration(self.debugger.viewing + delta)

    def view_iteration(self, index: int) -> None:
        if self.training is not None:
            self.notify("a training run is going on: wait for it, or press escape to cancel "
                        "it", markup=False, severity="warning")
            return
        self.debugger.view(index)  # an old iteration is recorded again from its checkpoint
        self.iterations_changed()
