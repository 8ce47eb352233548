"""The debugger screen's training actions: run more iterations, view another one.

:class:`TrainingActions` is mixed into :class:`~tui.debugger_screen.DebuggerScreen`; it reads
the screen's ``debugger`` and shows a newly viewed cycle through the screen's ``cycle_changed``.
"""

from __future__ import annotations

from textual import work
from textual.widgets import TabbedContent

from .presenter_views import PresenterViews
from .prompt_screen import PromptScreen
from .status_bar import StatusBar
from .what_if import MOST_ITERATIONS, PromptError, iterations


class TrainingActions:
    """Keys t, [ and ], and the Training tab's iteration list."""

    def action_train(self) -> None:
        if self.debugger is not None:
            self.app.push_screen(PromptScreen("Train how many iterations?",
                                              f"1 to {MOST_ITERATIONS:,}", "50"), self._train)

    def _train(self, text: str | None) -> None:
        if text is None:
            return  # the prompt was cancelled
        try:
            count = iterations(text)
        except PromptError as exc:
            self.notify(str(exc), title="train", severity="error", markup=False)
            return
        self.run_training(count)

    @work(thread=True, exclusive=True, group="prepare")
    def run_training(self, iterations: int) -> None:
        try:
            # In about twenty runs, so that the loss curve grows while it trains.
            done, chunk = 0, max(1, iterations // 20)
            while done < iterations:
                self.debugger.train(min(chunk, iterations - done))
                done += chunk
                if done < iterations:
                    self.app.call_from_thread(self.training_progress)
        except Exception as exc:  # the user's network code may raise anything
            self.app.call_from_thread(self.app.show_error, str(exc))
        self.app.call_from_thread(self.iterations_changed)

    def training_progress(self) -> None:
        """Part of a training run is done: the header and the loss curve show it."""
        for panel in (self.query_one(StatusBar), self.query_one(PresenterViews)):
            panel.moved(self.debugger)

    def iterations_changed(self) -> None:
        self.query_one(TabbedContent).active = "training-tab"
        self.cycle_changed()

    def action_iteration(self, delta: int) -> None:
        if self.debugger is not None:
            self.view_iteration(self.debugger.viewing + delta)

    def view_iteration(self, index: int) -> None:
        try:
            self.debugger.view(index)
        except ValueError as exc:  # its records were let go
            self.notify(str(exc), markup=False, severity="warning")
            return
        self.iterations_changed()
