"""Quiz questions that make students derive: for a backward step, first the local derivative
from the op's formula (its value not given), then the chain-rule product.

The debugger asks them one by one (tui/quiz.py keeps the score); ``gradstep export --quiz``
prints them as a handout, with the answers on a page of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import explain
from .record import BackwardStep, InputGrad, Trace


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
    rule = formula.split(" = ", 1)[-1]
    known_local = scalar and record.local is not None and record.local.size == 1
    # A rule that is a number (a sum's 1) is no derivation: then only the product is asked.
    if known_local and not is_number(rule):
        questions.append(Ask(
            f"{local} = {rule} = ?   (the local derivative: {formula})",
            f"put this step's numbers into {rule}: {_values(trace, step)}",
            float(record.local.item())))
    if known_local:
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


def is_number(text: str) -> bool:
    """Whether ``text`` is a number (a minus sign may be typed as ``−``)."""
    try:
        float(text.replace("−", "-"))
    except ValueError:
        return False
    return True


PAGE_BREAK = '<div style="page-break-before: always"></div>'  # printing starts a new page


def quiz_handout(trace: Trace, title: str) -> str:
    """Every backward step's questions as a Markdown handout: the questions, numbered, then
    the answers on a page of their own (a page break before them when printed)."""
    questions, answers = [], []
    for step in trace.backward:
        name = trace.nodes[step.node].name
        for k, ask in enumerate(asks(trace, step)):
            if ask.answer is None:
                continue  # an array is shown, not asked
            number = len(questions) + 1
            part = "the local derivative" if k == 0 and len(asks(trace, step)) > 1 else \
                "the chain rule"
            questions.append(f"{number}. At {_md(name)} ({part}): {_md(ask.question)}")
            answers.append(f"{number}. {explain.number(ask.answer)}")
    return "\n".join([
        f"# Quiz: {_md(title)}", "",
        "Work backward from the loss. For each step, first the local derivative from the op's "
        "formula, then the chain rule: the gradient from above times that local derivative.", "",
        *questions, "", PAGE_BREAK, "", "## Answers", "", *answers, ""])


def _md(text: str) -> str:
    """Text in running Markdown: characters that would start emphasis or code escaped."""
    for char in "\\*`_<":
        text = text.replace(char, "\\" + char)
    return text
