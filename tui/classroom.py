"""The debugger screen's classroom actions: autoplay, presenter mode, quiz, what-ifs.

:class:`ClassroomActions` is mixed into :class:`~tui.debugger_screen.DebuggerScreen`; it reads
the screen's ``debugger`` and moves it through the screen's ``_move`` and ``cycle_changed``.
"""

from __future__ import annotations

from textual.timer import Timer

from tracer import explain

from .narration_bar import narration_text
from .prompt_screen import PromptScreen
from .reading import reading_seconds
from .what_if import PromptError, what_if


class ClassroomActions:
    """Actions for teaching with the debugger (keys p, +, -, P, a, w; quiz from the palette)."""

    PACE_LIMITS = (0.05, 5.0)  # autoplay: times the narration's reading time per step
    pace = 1.0
    player: Timer | None = None

    # --- autoplay --------------------------------------------------------------------------

    def action_autoplay(self) -> None:
        if self.player is not None:
            self.stop_autoplay()
        elif self.debugger is not None and not self.debugger.stepper.at_end:
            self._play_next()
            self.notify(f"autoplay at reading pace ×{self.pace:g}: each step waits for its "
                        "narration to be read (+/- to change, p to pause)", markup=False)

    def _play_next(self) -> None:
        """Wait as long as the narration on screen takes to read, times the pace, then step."""
        quiz = self.quiz_state if self.quiz else None
        wait = self.pace * reading_seconds(narration_text(self.debugger, quiz))
        self.player = self.set_timer(wait, self.autoplay_tick)

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
        elif self.player is not None:
            self._play_next()

    def action_pace(self, factor: float) -> None:
        low, high = self.PACE_LIMITS
        self.pace = min(max(self.pace * factor, low), high)
        if self.player is not None:
            self.stop_autoplay()
            self.action_autoplay()
        else:
            self.notify(f"autoplay pace: ×{self.pace:g} the narration's reading time",
                        markup=False)

    # --- presenter mode and quiz ---------------------------------------------------------------

    def action_present(self) -> None:
        self.toggle_class("-present")
        self._fold_side()  # leaving it, the graph may need the width again

    def action_quiz(self) -> None:
        self.quiz = not self.quiz
        if self.debugger is not None:
            self.debugger.quiz = self.quiz
            self.moved()
        self.notify("quiz mode " + ("on: each gradient is asked before it is shown"
                                    if self.quiz else "off"))

    def action_answer(self, hint: str = "") -> None:
        """Ask for the quiz question's answer; a wrong one is asked again, with a hint."""
        ask = self.quiz_state.current(self.debugger) if self.debugger else None
        if ask is None or ask.answer is None:
            return

        def graded(text: str | None) -> None:
            if text is None or not text.strip():
                return
            right, message = self.quiz_state.answer(self.debugger, text)
            self.notify(message, severity="information" if right else "warning", markup=False)
            self.moved()
            if not right:
                self.action_answer(message.split("Hint: ", 1)[-1])

        title = ask.question if not hint else f"{ask.question}\nTry again. Hint: {hint}"
        self.app.push_screen(PromptScreen(title, "a number; checked to 1%"), graded)

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
            message = what_if(self.debugger, text)
        except PromptError as exc:
            self.notify(str(exc), title="what-if", severity="error", markup=False)
            return
        except Exception as exc:  # the user's network code may raise anything
            self.app.show_error(str(exc))
            return
        self.cycle_changed()
        self.notify(message, title="what-if", markup=False)
