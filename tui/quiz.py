"""The debugger's quiz: where each backward step's questions (tracer/quiz.py) are, and the
score.

At a backward step the quiz asks about one input: first its local derivative from the op's
formula (``∂out_o2/∂net_o2 = σ(x)·(1 − σ(x)) = ?``, its value not given), then, with that
known, the product with the gradient from above. A wrong answer can be tried again, with a hint;
the score counts the questions answered right the first time. No Textual import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracer import explain
from tracer.quiz import Ask, asked_input, asks, is_number

from .state import Debugger


@dataclass
class Quiz:
    """Where each backward step's questions are, and the score so far."""

    stage: dict[tuple[int, int], int] = field(default_factory=dict)  # (cycle, position) -> ask
    tried: set[tuple[int, int, int]] = field(default_factory=set)  # asks answered wrong once
    right: int = 0
    answered: int = 0

    def _key(self, debugger: Debugger) -> tuple[int, int]:
        return id(debugger.cycle), debugger.position

    def current(self, debugger: Debugger) -> Ask | None:
        """The question at the debugger's step, while its gradient is still hidden."""
        if not debugger.hidden:
            return None
        questions = asks(debugger.trace, debugger.moment.record)
        k = self.stage.get(self._key(debugger), 0)
        return questions[k] if k < len(questions) else None

    def lines(self, debugger: Debugger) -> list[explain.Line] | None:
        """The inspector's lines while a question is asked: the step, the question, the keys."""
        ask = self.current(debugger)
        if ask is None:
            return None
        step = debugger.moment.record
        nd = debugger.trace.nodes[step.node]
        record = asked_input(debugger.trace, step)
        return [explain.Line(f"{nd.name}  ({nd.op}): what is "
                             f"{explain.grad_name(debugger.trace, record.node)}?", "heading"),
                explain.Line(explain.describe(debugger.trace, nd), "sentence"),
                explain.Line(ask.question, "equation"),
                explain.Line(f"a: answer · n: reveal · {self.score()}", "note")]

    def answer(self, debugger: Debugger, text: str) -> tuple[bool, str]:
        """Grade ``text`` against the current question; say so, with a hint when it is wrong.

        Right: the next question comes (after the last, the step is revealed). Wrong: the
        same question stays, to be tried again.
        """
        ask = self.current(debugger)
        if ask is None or ask.answer is None:
            return False, "nothing to answer here"
        right, verdict = explain.grade(text, ask.answer)
        key = self._key(debugger)
        k = self.stage.get(key, 0)
        if not right:
            if (*key, k) not in self.tried:
                self.tried.add((*key, k))
                self.answered += 1
            number = explain.number(float(text)) if is_number(text) else repr(text.strip())
            return False, f"{number} is not it, try again. Hint: {ask.hint}"
        if (*key, k) not in self.tried:
            self.right += 1
            self.answered += 1
        self.stage[key] = k + 1
        if k + 1 >= len(asks(debugger.trace, debugger.moment.record)):
            debugger.reveal()
        return True, verdict

    def score(self) -> str:
        """``quiz 3/4``: questions right the first time, of those answered."""
        return f"quiz {self.right}/{self.answered}"


def screen_quiz(widget: object) -> Quiz | None:
    """The quiz of the debugger screen ``widget`` is on, while quiz mode is on."""
    screen = getattr(widget, "screen", None)
    return getattr(screen, "quiz_state", None) if getattr(screen, "quiz", False) else None
