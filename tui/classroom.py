"""The debugger screen's classroom actions: autoplay, presenter mode, quiz, what-ifs.

:class:`ClassroomActions` is mixed into :class:`~tui.debugger_screen.DebuggerScreen`; it reads
the screen's ``debugger`` and moves it through the screen's ``_move`` and ``cycle_changed``.
"""

from __future__ import annotations

from textual.timer import Timer

from tracer import explain

from .prompt_screen import PromptScreen


class ClassroomActions:
    """Actions for teaching with the debugger (keys p, +, -, P, a, w; quiz from the palette)."""

    PACE_LIMITS = (0.05, 5.0)  # seconds per step for autoplay
    pace = 1.0
    player: Timer | None = None

    # --- autoplay --------------------------------------------------------------------------

    def action_autoplay(self) -> None:
        if self.player is not None:
            self.stop_autoplay()
        elif self.debugger is not None and not self.debugger.stepper.at_end:
            self.player = self.set_interval(self.pace, self.autoplay_tick)
            self.notify(f"autoplay: a step every {self.pace:g} s (+/- to change, p to pause)")

    def stop_autoplay(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.player = None

    def autoplay_tick(self) -> None:
        """One autoplay step; pause at a breakpoint and at the end of each phase."""
        debugger = self.debugger
        if debugger is None or debugger.stepper.at_end:
            self.stop_autoplay()
            return
        stretch = debugger.moment.stretch
        self._move(lambda d: d.next_in_quiz())
        end_of_phase = debugger.position == debugger.stretch_bounds(stretch)[1]
        if end_of_phase or debugger.current_node in debugger.breakpoints or debugger.hidden:
            self.stop_autoplay()

    def action_pace(self, factor: float) -> None:
        low, high = self.PACE_LIMITS
        self.pace = min(max(self.pace * factor, low), high)
        if self.player is not None:
            self.stop_autoplay()
            self.action_autoplay()
        else:
            self.notify(f"autoplay pace: a step every {self.pace:g} s")

    # --- presenter mode and quiz ---------------------------------------------------------------

    def action_present(self) -> None:
        self.toggle_class("-present")

    def action_quiz(self) -> None:
        self.quiz = not self.quiz
        if self.debugger is not None:
            self.debugger.quiz = self.quiz
            self.moved()
        self.notify("quiz mode " + ("on: each gradient is asked before it is shown"
                                    if self.quiz else "off"))

    def action_answer(self) -> None:
        question = self.debugger.question if self.debugger else None
        if question is None or question.answer is None:
            return

        def graded(text: str | None) -> None:
            if text is not None and text.strip():
                right, message = explain.grade(text, question.answer)
                self.notify(message, severity="information" if right else "warning")
                self._move(lambda d: d.reveal())

        self.app.push_screen(PromptScreen("Your answer", "a number; checked to 1%"), graded)

    # --- what-ifs --------------------------------------------------------------------------

    def action_what_if(self) -> None:
        debugger = self.debugger
        if debugger is None or not debugger.latest:
            return
        node = debugger.trace.nodes[debugger.selected]
        if node.inputs:
            value = f"lr = {debugger.network.optimizer.lr:g}"
        else:
            value = f"{node.name} = {explain.literal(node.value)}"
        self.app.push_screen(PromptScreen(
            "What if…", "NAME = VALUE for a parameter or input (arrays as [..]), or lr = VALUE; "
            "the passes re-run from this iteration's start", value), self._what_if)

    def _what_if(self, text: str | None) -> None:
        if not text:
            return
        try:
            name, value = explain.parse_assignment(text)
            values, lr = ({}, value) if name == "lr" else ({name: value}, None)
            before = self.debugger.what_if(values, lr)
        except (KeyError, ValueError, TypeError) as exc:
            self.notify(str(exc).strip("'\""), title="what-if", severity="error", markup=False)
            return
        except Exception as exc:  # the user's network code may raise anything
            self.app.show_error(str(exc))
            return
        self.cycle_changed()
        after = self.debugger.cycle.loss
        self.notify(f"{text}: {explain.loss_change(before, after)}", title="what-if",
                    markup=False)
