"""A quiz that makes students derive: first the local derivative, then the chain-rule product.

At a backward step the quiz asks about one input: first its local derivative from the op's
formula (``∂out_o2/∂net_o2 = σ(x)·(1 − σ(x)) = ?``, its value not given), then, with that
known, the product with the gradient from above. A wrong answer can be tried again, with a hint;
the score counts the questions answered right. No Textual import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracer import explain
from tracer.record import BackwardStep, InputGrad, Trace

from .state import Debugger


@dataclass(frozen=True, slots=True)
class Ask:
    """One question: what to show, a hint for a second try, and the answer (``None`` when the
    answer is an array, which is revealed rather than typed)."""

    question: str
    hint: str
    answer: float | None


def asked_input(trace: Trace, step: BackwardStep) -> InputGrad | None:
    """The input a step's questions are about: the first differentiable one that is computed
    or trained (a label or constant only if there is nothing else)."""
    usable = [r for r in step.inputs if r.differentiable]
    learnt = [r for r in usable if trace.nodes[r.node].kind not in ("input", "constant")]
    return (learnt or usable or [None])[0]


def _values(trace: Trace, step: BackwardStep) -> str:
    """The numbers the local derivative is made of: the op's inputs and its output."""
    nodes = [trace.nodes[r.node] for r in step.inputs] + [trace.nodes[step.node]]
    return ", ".join(f"{n.name} = {explain.short(n.value)}" for n in nodes)


def asks(trace: Trace, step: BackwardStep) -> list[Ask]:
    """The questions of a backward step, in order (empty for a leaf)."""
    record = asked_input(trace, step)
    if record is None:
        return []
    lhs = explain.grad_name(trace, record.node)
    up = explain.grad_name(trace, step.node)
    local = explain.local_name(trace, step.node, record.node)
    scalar = record.contribution.size == 1 and step.upstream.size == 1
    questions = []
    formula = explain.formula(trace, step, record)
    if scalar and record.local is not None and record.local.size == 1:
        rule = formula.split(" = ", 1)[-1]
        questions.append(Ask(
            f"{local} = {rule} = ?   (the local derivative: {formula})",
            f"put this step's numbers into {rule}: {_values(trace, step)}",
            float(record.local.item())))
        product = (f"{lhs} = {up} × {local} = {explain.short(step.upstream)} × "
                   f"{explain.short(record.local)} = ?")
    else:
        product = f"{lhs} = {up} · {local} with {up} = {explain.short(step.upstream)}: ?"
    if scalar:
        questions.append(Ask(product, "multiply the gradient arriving from above by the local "
                             "derivative; mind the signs", float(record.contribution.item())))
    else:
        questions.append(Ask(f"{lhs} = ?  (an array of shape {record.contribution.shape}: "
                             "n reveals it)", "", None))
    return questions


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
            number = explain.number(float(text)) if _is_number(text) else repr(text.strip())
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


def _is_number(text: str) -> bool:
    try:
        float(text.replace("−", "-"))
    except ValueError:
        return False
    return True
