"""tracer.narration: every op kind's sentence carries the step's own numbers and the right signs.

Expected numbers are computed here, in closed form from the values the graph was built with
(not from the engine's derivatives), then formatted with ``explain.number`` / ``explain.short``
and looked for in the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from scenarios import load
from tracer import (
    SGD,
    Moment,
    Momentum,
    Network,
    Tensor,
    bce,
    bce_with_logits,
    cross_entropy,
    mse,
    param,
    softmax,
)
from tracer.explain import number, short
from tracer.narration import narrate, narrate_timeline, title
from tracer.network import Outcome
from tracer.report import run_report, to_markdown, to_text

Array = np.ndarray


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def reduce_to(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum a broadcast gradient back to ``shape`` (written here, independent of the engine)."""
    g = np.asarray(g, dtype=float)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


@dataclass
class Case:
    """An op applied to named leaves, and each leaf's gradient in closed form given the upstream
    gradient ``g``: ``expected(g, *values)`` returns one array (or ``None``: no gradient) per
    input, in the op's input order."""

    kind: str
    build: Callable[[], tuple[Tensor, list[Tensor]]]
    expected: Callable[..., tuple[Array | None, ...]]


def p(value, name):
    return param(value, name=name)


CASES = [
    Case("add", lambda: _op2(lambda a, b: a + b, 0.8, -1.3),
         lambda g, a, b: (reduce_to(g, np.shape(a)), reduce_to(g, np.shape(b)))),
    Case("add", lambda: _op2(lambda a, b: a + b, [[0.5, -1.0], [2.0, 0.25]], [0.3, -0.7]),
         lambda g, a, b: (reduce_to(g, np.shape(a)), reduce_to(g, np.shape(b)))),
    Case("sub", lambda: _op2(lambda a, b: a - b, 0.8, -1.3), lambda g, a, b: (g, -g)),
    Case("mul", lambda: _op2(lambda a, b: a * b, 0.6, -1.5), lambda g, a, b: (g * b, g * a)),
    Case("mul", lambda: _op2(lambda a, b: a * b, [0.6, -0.2], [1.5, 0.9]),
         lambda g, a, b: (g * b, g * a)),
    Case("div", lambda: _op2(lambda a, b: a / b, 0.9, 2.5),
         lambda g, a, b: (g / b, -g * a / b**2)),
    Case("pow", lambda: _op1(lambda x: x**3, -0.7), lambda g, x: (g * 3 * x**2,)),
    Case("neg", lambda: _op1(lambda x: -x, 0.45), lambda g, x: (-g,)),
    Case("relu", lambda: _op1(lambda x: x.relu(), [1.2, -0.4]),
         lambda g, x: (g * (x > 0),)),
    Case("tanh", lambda: _op1(lambda x: x.tanh(), 0.35), lambda g, x: (g * (1 - np.tanh(x)**2),)),
    Case("sigmoid", lambda: _op1(lambda x: x.sigmoid(), -0.8),
         lambda g, x: (g * sig(x) * (1 - sig(x)),)),
    Case("exp", lambda: _op1(lambda x: x.exp(), 0.3), lambda g, x: (g * np.exp(x),)),
    Case("log", lambda: _op1(lambda x: x.log(), 1.7), lambda g, x: (g / x,)),
    Case("matmul", lambda: _op2(lambda a, b: a @ b, [0.5, -1.5, 2.0], [0.2, 0.4, -0.3]),
         lambda g, a, b: (g * b, g * a)),
    Case("matmul", lambda: _op2(lambda a, b: a @ b, [[0.5, -1.5], [1.0, 0.25]], [0.2, -0.6]),
         lambda g, a, b: (np.outer(g, b), a.T @ g)),
    Case("transpose", lambda: _op1(lambda x: x.T, [[0.5, -1.5], [1.0, 0.25]]),
         lambda g, x: (g.T,)),
    Case("reshape", lambda: _op1(lambda x: x.reshape(2, 2), [0.5, -1.5, 1.0, 0.25]),
         lambda g, x: (g.reshape(4),)),
    Case("index", lambda: _op1(lambda x: x[1], [0.5, -1.5, 1.0]),
         lambda g, x: (np.array([0.0, g, 0.0]),)),
    Case("sum", lambda: _op1(lambda x: x.sum(), [0.5, -1.5, 1.0]),
         lambda g, x: (np.full(3, g),)),
    Case("mean", lambda: _op1(lambda x: x.mean(), [0.5, -1.5, 1.0, 2.0]),
         lambda g, x: (np.full(4, g / 4),)),
    Case("softmax", lambda: _op1(lambda x: softmax(x), [0.5, -1.0, 1.5]),
         lambda g, x: (_softmax_vjp(g, x),)),
    Case("mse", lambda: _loss(mse, [0.5, 2.0], [1.0, 1.0]),
         lambda g, pr, t: (g * 2 * (pr - t) / 2, None)),
    Case("bce", lambda: _loss(bce, 0.3, 1.0),
         lambda g, pr, y: (g * -(y / pr - (1 - y) / (1 - pr)), None)),
    Case("bce_logits", lambda: _loss(bce_with_logits, 0.8, 0.0),
         lambda g, z, y: (g * (sig(z) - y), None)),
    Case("cross_entropy", lambda: _loss(cross_entropy, [2.0, 0.5, -1.0], 1.0),
         lambda g, z, y: (g * (_softmax(z) - np.eye(3)[int(y)]), None)),
]


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def _softmax_vjp(g, x):
    s = _softmax(x)
    return s * (g - np.sum(g * s))


def _op1(f, x):
    leaf = p(x, "x")
    return f(leaf), [leaf]


def _op2(f, a, b):
    leaves = [p(a, "a"), p(b, "b")]
    return f(*leaves), leaves


def _loss(f, prediction, target):
    """A loss op on a prediction (a parameter) and a fixed target, whose gradient (where it
    has one) the test ignores: only the prediction's is computed in closed form."""
    leaves = [p(prediction, "pred"), Tensor(target, name="t")]
    return f(*leaves), leaves


# The upstream gradient reaching the op: fixed, uneven, and of both signs.
def upstream_for(shape: tuple[int, ...]) -> Array:
    size = int(np.prod(shape))
    return (np.cos(np.arange(size) * 1.3 + 0.4) * 1.7).reshape(shape)


def traced(case: Case):
    out, leaves = case.build()
    out.name = "out"
    g = upstream_for(out.data.shape)
    weight = Tensor(g, name="W", kind="constant")
    loss = (out * weight).sum()
    return loss.backward(), out, leaves, g


def clause(text: str, name: str, names: list[str]) -> str:
    """The part of a backward sentence about what ``name`` gets (up to the next input's)."""
    start = text.rindex(f"{name} gets ")  # the op's own sentence may say "a gets" too
    ends = [text.find(f" {other} gets ", start + 1) for other in names if other != name]
    return text[start:min([e for e in ends if e > 0], default=len(text))]


def backward_moment(trace, name: str) -> Moment:
    step = trace.backward_step(trace.find(name).id)
    return Moment("backward", step.index, step)


def forward_moment(trace, name: str) -> Moment:
    step = trace.forward[trace.find(name).id]
    return Moment("forward", step.index, step)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.kind)
def test_backward_narration_carries_the_steps_numbers(case):
    trace, _, leaves, g = traced(case)
    assert trace.find("out").op == case.kind
    text = narrate(trace, backward_moment(trace, "out"))
    step = trace.backward_step(trace.find("out").id)
    np.testing.assert_allclose(step.upstream, g)
    assert short(g) in text  # the upstream gradient, ∂L/∂out
    expected = case.expected(g if g.size > 1 else g.item(), *(leaf.data for leaf in leaves))
    for leaf, want, record in zip(leaves, expected, step.inputs, strict=True):
        if want is None:
            if not record.differentiable:
                assert f"{leaf.name} gets no gradient" in text
            continue
        want = np.asarray(want, dtype=float).reshape(leaf.data.shape)
        np.testing.assert_allclose(record.contribution, want, rtol=1e-12, atol=1e-15)
        assert f"{leaf.name} gets " in text
        assert short(want) in text, (short(want), text)
        if record.local is not None and want.size == 1:  # elementwise: the slope is shown too
            assert number(want.item() / g.item()) in text
        if record.reduced_axes:
            assert "summed over the batch (axis 0)" in text and "broadcast" in text
        if leaf.kind == "param" and want.size == 1 and want.item() != 0:
            word, other = ("down", "up") if want.item() > 0 else ("up", "down")
            said = clause(text, leaf.name, [x.name for x in leaves])
            assert f"will be nudged {word}" in said and f"nudged {other}" not in said


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.kind)
def test_forward_narration_shows_the_value_and_the_ops_words(case):
    trace = traced(case)[0]
    node = trace.find("out")
    text = narrate(trace, forward_moment(trace, "out"))
    assert f"= {short(node.value)}." in text or f"giving {short(node.value)}." in text
    template = trace.op(node.id).sentence.split(";")[0].split("{")[0]
    assert text.startswith("out" + template.replace("{out}", "")) or template in text
    assert "{" not in text and "}" not in text


@pytest.mark.parametrize(("prediction", "target", "word", "other"),
                         [(2.0, 1.0, "too high", "too low"), (0.5, 1.0, "too low", "too high")])
def test_a_prediction_is_too_high_or_too_low_by_the_sign_of_its_gradient(prediction, target,
                                                                          word, other):
    price = param(prediction, name="w") * 1.0
    price.name = "price"
    loss = mse(price, Tensor(target, name="t"))
    loss.name = "loss"
    trace = loss.backward()
    story = "predicted $420k; it sold for $500k"
    at_loss = narrate(trace, backward_moment(trace, "loss"), prediction=story)
    at_price = narrate(trace, backward_moment(trace, "price"), prediction=story)
    assert f"the prediction price is {word}" in at_loss and other not in at_loss
    assert f"the prediction price is {word} ({story})" in at_price and other not in at_price


@pytest.mark.parametrize(("value", "word"), [(3.0, "down"), (-3.0, "up")])
def test_a_parameters_own_step_says_which_way_the_update_will_move_it(value, word):
    w = param(value, name="w")
    trace = (w * w).backward()  # ∂/∂w = 2w: the sign of w
    text = narrate(trace, backward_moment(trace, "w"))
    grad = 2 * value
    assert f"∂L/∂w = {number(grad / 2)} + {number(grad / 2)} = {number(grad)}, so" in text \
        or f"∂L/∂w = ({number(grad / 2)}) + ({number(grad / 2)}) = {number(grad)}, so" in text
    assert "fed 2 places (mul_1 twice)" in text
    assert f"gradient descent will nudge it {word}" in text
    assert ("positive gradient" if grad > 0 else "negative gradient") in text
    assert ("lower" if grad > 0 else "higher") in text.split(".")[0]


def test_a_value_used_twice_gets_the_sum_of_what_each_use_sent_back():
    cycle = load("chain-rule").cycle()
    text = narrate(cycle, backward_moment(cycle.trace, "x"))
    x = cycle.trace.find("x")
    y = cycle.trace.find("y").value.item()
    assert "fed 2 places (f, xy)" in text and "sum of what each use sent back" in text
    assert f"∂L/∂x = 1 + {number(y) if y >= 0 else f'({number(y)})'} = {number(x.grad.item())}" \
        in text
    assert "one of its 2 shares of the blame" in narrate(cycle, backward_moment(cycle.trace, "f"))


def test_a_broadcast_bias_says_its_gradient_was_summed_over_the_batch():
    x = Tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], name="x")
    b = param([0.1, -0.2], name="b")
    z = x + b
    z.name = "z"
    trace = (z * Tensor([[1.0, -2.0], [0.5, 1.0], [2.0, 0.25]], name="W")).sum().backward()
    expected = np.array([1.0 + 0.5 + 2.0, -2.0 + 1.0 + 0.25])
    for name in ("z", "b"):
        text = narrate(trace, backward_moment(trace, name))
        assert "over the batch (axis 0)" in text and "summed" in text and "broadcast" in text
        assert short(expected) in text


def _cycle(loss_of, w0: float, optimizer, cycles: int = 1):
    w = param(w0, name="w")
    network = Network(lambda: loss_of(w), optimizer=optimizer)
    for _ in range(cycles - 1):
        network.cycle()
    return network.cycle()


@pytest.mark.parametrize(("w0", "word"), [(2.0, "down"), (-2.0, "up")])
def test_an_update_says_which_way_by_how_much_and_why(w0, word):
    cycle = _cycle(lambda w: w * w, w0, SGD(0.1))
    update = cycle.updates[0]
    text = narrate(cycle, Moment("update", 0, update))
    assert f"moves it {word} by {number(abs(update.change.item()))}" in text
    assert f"from {number(w0)} to {number(w0 - 0.1 * 2 * w0)}" in text
    assert f"The gradient of w is {number(2 * w0)}" in text
    assert ("a positive gradient" if w0 > 0 else "a negative gradient") in text
    assert "sgd (lr 0.1)" in text
    assert "gradient descent moves it" in narrate(cycle.trace, Moment("update", 0, update))


def test_an_update_against_the_gradient_is_put_down_to_momentum():
    # w² from w = 1 with lr 0.9 overshoots to -0.8; the next gradient (-1.6) says up, but the
    # velocity 0.9·2 - 1.6 = 0.2 still moves w down.
    cycle = _cycle(lambda w: w * w, 1.0, Momentum(0.9, beta=0.9), cycles=2)
    update = cycle.updates[0]
    assert update.grad.item() < 0 < -update.change.item()
    text = narrate(cycle, Moment("update", 0, update))
    assert "outweighs" in text and "moves it down" in text


def test_a_zero_gradient_leaves_the_parameter_where_it_is():
    cycle = _cycle(lambda w: w * 0.0 + 1.0, 0.7, SGD(0.1))
    text = narrate(cycle, Moment("update", 0, cycle.updates[0]))
    assert "leaves it at 0.7" in text and " up " not in text and " down " not in text


@pytest.mark.parametrize(("lr", "words"), [(0.1, ("down by", "helped")),
                                           (1.5, ("up by", "overshot"))])
def test_the_outcome_says_whether_the_step_helped(lr, words):
    cycle = _cycle(lambda w: w * w, 1.0, SGD(lr))
    outcome = Outcome(cycle.loss, cycle.loss_after)
    text = narrate(cycle, Moment("outcome", 0, outcome), prediction_after="now w² is small")
    assert f"from {number(cycle.loss, 6)} to {number(cycle.loss_after, 6)}" in text
    assert all(w in text for w in words) and "now w² is small" in text


def test_house_price_tells_the_story_in_dollars():
    report = run_report(load("house-price"))
    cycle = report.cycle
    words = narrate_timeline(cycle, prediction=report.prediction,
                             prediction_after=report.prediction_after)
    by_title = dict(zip((title(cycle, m) for m in cycle.timeline), words, strict=True))
    assert "$420k" in by_title["forward loss"]
    assert "the prediction price is too low" in by_title["backward price"]
    assert "$420k" in by_title["backward price"]
    assert "will be nudged up" in by_title["backward price"]  # bias: the prediction is too low
    assert "$472k" in by_title["outcome"]


def test_mazur_backward_step_reads_as_documented():
    cycle = load("mazur").cycle()
    text = narrate(cycle, backward_moment(cycle.trace, "w5·out_h1"))
    assert text == (
        "∂L/∂w5·out_h1 = 0.1385, so the loss wants w5·out_h1 lower. w5·out_h1 multiplies w5 by "
        "out_h1; each input's slope is the other input: w5 gets 0.1385 × 0.5933 = 0.08217, its "
        "share of the blame, so it will be nudged down, and out_h1 gets 0.1385 × 0.4 = 0.0554.")


@pytest.mark.parametrize("name", ["mazur", "xor", "digit-4-vs-9", "dog-vs-cat", "cookies"])
def test_every_step_of_every_scenario_is_narrated(name):
    cycle = load(name).cycle()
    words = narrate_timeline(cycle)
    assert len(words) == len(cycle.timeline)
    for text in words:
        assert text.endswith(".") and "{" not in text and "nan" not in text
        assert not re.search(r"\b1 elements\b", text)


def test_narrate_refuses_what_is_not_a_step():
    trace = (param(1.0, name="w") * 2.0).backward()
    with pytest.raises(TypeError, match="cannot narrate"):
        narrate(trace, Moment("update", 0, "nothing"))


def test_the_handouts_carry_the_same_sentences():
    report = run_report(load("chain-rule"))
    words = narrate_timeline(report.cycle, prediction=report.prediction,
                             prediction_after=report.prediction_after)
    text, markdown = to_text(report), to_markdown(report)
    assert "Step by step, in words" in text and "## Step by step, in words" in markdown
    for k, (moment, sentence) in enumerate(zip(report.cycle.timeline, words, strict=True), 1):
        assert f"  {k}. {title(report.cycle, moment)}: {sentence}\n" in text
        assert f"{k}. **{title(report.cycle, moment)}**: {sentence}\n" in markdown



def test_numbers_that_broke_down_are_called_so():
    w = param(0.0, name="w")
    cycle = Network(lambda: w.log() * 1.0, optimizer=SGD(0.1)).cycle()  # log 0 = -inf
    *_, update, outcome = narrate_timeline(cycle)
    assert "broken down" in update and "inf" in update
    assert "broken down" in outcome and "unchanged" not in outcome


# Matt Mazur, "A Step by Step Backpropagation Example" (2015): the article's printed values,
# rounded by hand to the four significant digits a narration writes (six for the losses).
MAZUR_SAYS = {
    ("forward", "out_h1"): ["σ(0.3775) = 0.5933"],  # net_h1 0.3775, out_h1 0.593269992
    ("forward", "out_o1"): ["= 0.7514"],  # 0.75136507
    ("forward", "out_o2"): ["= 0.7729"],  # 0.772928465
    ("forward", "E_total"): ["= 0.2984"],  # 0.298371109
    # ∂E/∂out_o1 0.74136507, ∂out_o1/∂net_o1 0.186815602, ∂E/∂net_o1 0.138498562
    ("backward", "out_o1"): ["∂L/∂out_o1 = 0.7414", "its slope here is 0.1868",
                             "net_o1 gets 0.7414 × 0.1868 = 0.1385"],
    ("backward", "w5·out_h1"): ["w5 gets 0.1385 × 0.5933 = 0.08217"],  # ∂E/∂w5 0.082167041
    # ∂E_o2/∂out_h1 -0.019049119 + ∂E_o1/∂out_h1 0.055399425 = 0.036350306; slope 0.241300709
    ("backward", "out_h1"): ["(-0.01905) + 0.0554 = 0.03635", "its slope here is 0.2413"],
    ("backward", "w1·i1"): ["w1 gets 0.008771 × 0.05 = 0.0004386"],  # ∂E/∂w1 0.000438568
    ("update", "w5"): ["from 0.4 to 0.3589"],  # w5+ 0.35891648
    ("update", "w6"): ["from 0.45 to 0.4087"],  # w6+ 0.408666186
    ("update", "w7"): ["from 0.5 to 0.5113"],  # w7+ 0.511301270
    ("update", "w8"): ["from 0.55 to 0.5614"],  # w8+ 0.561370121
    ("update", "w1"): ["from 0.15 to 0.1498"],  # w1+ 0.149780716
    ("update", "w2"): ["from 0.2 to 0.1996"],  # w2+ 0.19956143
    ("update", "w3"): ["from 0.25 to 0.2498"],  # w3+ 0.24975114
    ("update", "w4"): ["from 0.3 to 0.2995"],  # w4+ 0.29950229
    ("outcome", ""): ["from 0.298371 to 0.291028"],  # E_total 0.298371109, then 0.291027924
}


def test_the_mazur_narration_carries_the_articles_numbers():
    cycle = load("mazur").cycle()
    said = {}
    for moment in cycle.timeline:
        phase, _, name = title(cycle, moment).partition(" ")
        said[phase, name] = narrate(cycle, moment)
    for key, fragments in MAZUR_SAYS.items():
        for fragment in fragments:
            assert fragment in said[key], (key, fragment, said[key])
