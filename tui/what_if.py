"""What the classroom prompts accept: a what-if (``w1 = 0.5``, ``lr = 0.1``) and a number of
iterations to train; every refusal is a sentence that says what to type instead.

No Textual import: the debugger screen asks these and shows the sentence.
"""

from __future__ import annotations

from tracer import explain
from tracer.training import MAX_STEPS

from .state import Debugger

MOST_ITERATIONS = MAX_STEPS  # one training run from the prompt (escape cancels it)


class PromptError(ValueError):
    """Input a prompt refuses; the message is a sentence to show as is."""


def sentence(text: str) -> str:
    """``text`` starting with a capital letter and ending with a full stop."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


def changeable(debugger: Debugger) -> list[str]:
    """The names a what-if can change: the graph's parameters and inputs."""
    names = [n.name for n in debugger.trace.nodes if not n.inputs and n.kind != "constant"]
    return list(dict.fromkeys(names))


def what_if(debugger: Debugger, text: str) -> str:
    """Apply the what-if ``text`` to the latest iteration and say what it changed.

    A learning rate only acts at the update, so a changed ``lr`` is answered with the loss
    after the update, before and after the change; a changed parameter or input with the
    loss and the loss after the update. Raises :class:`PromptError` for text it cannot use.
    """
    try:
        name, value = explain.parse_assignment(text)
    except ValueError as exc:
        raise PromptError(sentence(str(exc))) from None
    names = changeable(debugger)
    if name != "lr" and name not in names:
        computed = any(n.name == name for n in debugger.trace.nodes)
        listed = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
        first = (f"{name} is computed by the network, so it cannot be set" if computed
                 else f"there is no parameter or input called {name}")
        raise PromptError(sentence(f"{first}; you can change {listed} and lr"))
    cycle = debugger.cycle
    before, before_after = cycle.loss, cycle.loss_after
    try:
        if name == "lr":
            debugger.what_if({}, value)
        else:
            debugger.what_if({name: value}, None)
    except (KeyError, ValueError, TypeError) as exc:
        raise PromptError(sentence(str(exc).strip("\"'") if isinstance(exc, KeyError)
                                   else str(exc))) from None
    cycle = debugger.cycle

    def change(old: float, new: float) -> str:
        return f"{explain.number(old, 6)} → {explain.number(new, 6)}"

    if name == "lr":
        after = change(before_after, cycle.loss_after)
        return (f"{text.strip()}: the loss after the update goes {after} (the loss before "
                f"it, {explain.number(before, 6)}, does not depend on the learning rate)")
    return (f"{text.strip()}: loss {change(before, cycle.loss)}; after the update "
            f"{change(before_after, cycle.loss_after)}")


def iterations(text: str | None) -> int:
    """The number of iterations typed at the train prompt (1 to :data:`MOST_ITERATIONS`)."""
    typed = (text or "").strip().replace(",", "").replace("_", "")
    try:
        count = int(typed)
    except ValueError:
        raise PromptError(f"“{typed}” is not a whole number: type how many iterations to "
                          f"train, from 1 to {MOST_ITERATIONS:,}.") from None
    if not 1 <= count <= MOST_ITERATIONS:
        raise PromptError(f"Train from 1 to {MOST_ITERATIONS:,} iterations at a time, not "
                          f"{count:,}.")
    return count
