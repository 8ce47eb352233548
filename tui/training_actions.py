"""The debugger screen's training actions: run more iterations, view another one.

:class:`TrainingActions` is mixed into :class:`~tui.debugger_screen.DebuggerScreen`; it reads
the screen's ``debugger`` and shows a newly viewed cycle through the screen's ``cycle_changed``.
"""

from __future__ import annotations

from textual import work
from textual.widgets import TabbedContent

from .prompt_screen import PromptScreen


class TrainingActions:
    """Keys t, [ and ], and the Training tab's iteration list."""

    def action_train(self) -> None:
        if self.debugger is not None:
            self.app.push_screen(PromptScreen("Train how many iterations?", "1 to 10000", "50"),
                                 self._train)

    def _train(self, text: str | None) -> None:
        try:
            iterations = int(text or "")
        except ValueError:
            return
        if 1 <= iterations <= 10_000:
            self.run_training(iterations)

    @work(thread=True, exclusive=True, group="prepare")
    def run_training(self, iterations: int) -> None:
        try:
            self.debugger.train(iterations)
        except Exception as exc:  # the user's network code may raise anything
            self.app.call_from_thread(self.app.show_error, str(exc))
        self.app.call_from_thread(self.iterations_changed)

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
