"""The lecture on the projector: the whole network fits with its numbers, an update shows the new
value in its own parameter's box, the outcome shows the re-run forward pass."""

from __future__ import annotations

import numpy as np
import pytest
from textual.widgets import Input

from scenarios import catalog
from scenarios.loader import load
from tracer import explain
from tracer.quiz import asked_input, asks
from tui.app import GradstepApp
from tui.box_text import box_numbers, fit_number, fit_value, name_lines, update_node, value_text
from tui.graph_view import COMPACT, FIT, GraphView
from tui.reading import SHORTEST, WORDS_PER_SECOND, reading_seconds
from tui.state import Debugger
from tui.views import GraphState, node_label
from tui.what_if import PromptError, iterations, what_if

from .test_tui_app import debugger_of, press, screen_text, settle


@pytest.mark.parametrize(("x", "width", "expected"), [
    (0.0004977, 7, "4.98e-4"),  # rounded, never cut to 0.000497
    (0.0004977, 9, "0.0004977"),
    (0.0004977, 5, "5e-4"),
    (0.35891648, 6, "0.3589"),
    (0.35891648, 5, "0.359"),
    (-0.0226, 6, "-0.023"),
    (12345.678, 6, "1.23e4"),
    (0.0, 3, "0"),
    (float("nan"), 3, "nan"),
])
def test_numbers_are_rounded_to_the_box(x, width, expected):
    assert fit_number(x, width) == expected
    assert float(fit_number(x, width)) == pytest.approx(x, rel=0.1, nan_ok=True)


def test_arrays_and_names_fit_their_box():
    assert fit_value(np.array([1.5, 0.3, -0.4]), 20) == "[1.5, 0.3, -0.4]"
    assert fit_value(np.array([1.5, 0.3, -0.4]), 14) == "[1.5,0.3,-0.4]"
    assert fit_value(np.array([1.52, 0.306, -0.396]), 14) == "[1.5,0.3,-0.4]"
    assert name_lines("weighted_h1", 8) == ["weighted", "_h1"]
    assert name_lines("w5·out_h1", 6) == ["w5·", "out_h1"]
    assert name_lines("abcdefghijklmnop", 5) == ["abcde", "fghi…"]


def test_every_node_of_mazur_fits_in_presenter_mode_at_120x40():
    """The graph's size in presenter mode at 120x40 (status, 8-row narration, footer)."""
    debugger = Debugger(load("mazur"))
    state = GraphState()
    state.size = (120, 40 - 1 - 8 - 1)
    layout = state.layout(debugger, FIT)
    assert layout.zoom == COMPACT
    assert layout.width <= 120 and layout.height <= 30
    debugger.goto(debugger.phase_bounds("backward")[1])  # every value and gradient known
    for node in debugger.trace.nodes:
        box = layout.boxes[node.id]
        label = node_label(debugger, node.id, layout.zoom, box.w)
        *name, value, grad = label
        assert "".join(name) == node.name  # the whole name, over two lines at most
        assert "…" not in value + grad and all(len(line) <= box.w for line in label)
        assert float(value) == pytest.approx(node.value.item(), rel=0.01, abs=1e-3)
        if debugger.trace.step_of(node.id) is None:  # data and constants: no gradient shown
            assert grad[1:].strip() == "·"
            continue
        assert float(grad[1:]) == pytest.approx(node.grad.item(), rel=0.05, abs=1e-3)


def test_house_price_fits_at_80x24():
    debugger = Debugger(load("house-price"))
    state = GraphState()
    state.size = (80, 24 - 6)
    layout = state.layout(debugger, FIT)
    assert layout.width <= 80 and layout.height <= 18
    assert set(layout.boxes) == {n.id for n in debugger.trace.nodes}


def test_a_graph_too_big_to_fit_keeps_scrolling_boxes():
    debugger = Debugger(load("mazur"))
    state = GraphState()
    state.size = (40, 12)
    assert state.layout(debugger, FIT).zoom == "full"


def test_an_update_step_shows_its_own_parameter_going_from_old_to_new():
    debugger = Debugger(load("mazur"))
    start = debugger.phase_bounds("update")[0]
    names = [u.name for u in debugger.cycle.updates]
    debugger.goto(start + names.index("w5"))
    w5 = debugger.trace.find("w5").id
    assert update_node(debugger) == w5
    numbers = box_numbers(debugger, w5)
    assert numbers.status == "current"
    # Mazur's published update: w5+ = 0.35891648
    assert value_text(numbers, 14) == "0.4 → 0.3589"
    assert value_text(numbers, 8) == "→0.3589"
    assert float(numbers.new) == pytest.approx(0.35891648, abs=1e-8)
    earlier = debugger.trace.find(names[names.index("w5") - 1]).id
    assert box_numbers(debugger, earlier).status == "done"
    w6 = debugger.trace.find("w6").id
    assert box_numbers(debugger, w6).status == "pending"


def test_the_outcome_shows_the_forward_pass_run_again():
    debugger = Debugger(load("mazur"))
    debugger.apply_update()
    trace = debugger.trace
    loss = box_numbers(debugger, len(trace.nodes) - 1)
    assert float(loss.value) == pytest.approx(0.291027924, abs=1e-6)  # Mazur: 0.291027924
    assert loss.grad is None  # the next backward pass has not run
    w5 = box_numbers(debugger, trace.find("w5").id)
    assert float(w5.value) == pytest.approx(0.35891648, abs=1e-8)
    # every value of the re-run agrees with a fresh trace of the updated network
    fresh = debugger.network.trace()
    for node in trace.nodes:
        np.testing.assert_allclose(box_numbers(debugger, node.id).value,
                                   fresh.nodes[node.id].value)


async def test_presenter_mode_fits_mazur_and_highlights_the_updated_parameter():
    app = GradstepApp(load("mazur"), present=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        graph = app.screen.query_one(GraphView)
        assert graph.zoom == FIT and graph.layout_.zoom == COMPACT
        width, height = graph.size
        assert graph.layout_.width <= width and graph.layout_.height <= height
        debugger = debugger_of(app)
        debugger.goto(debugger.phase_bounds("update")[0] + 4)
        app.screen.moved()
        await press(pilot)
        assert graph.focus_node() == debugger.trace.find(debugger.moment.record.name).id


async def test_a_narrow_terminal_folds_the_side_panel_and_i_brings_it_back():
    app = GradstepApp(load("house-price"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        side = app.screen.query_one("#side")
        assert not side.display
        graph = app.screen.query_one(GraphView)
        assert graph.layout_.width <= graph.size.width
        await press(pilot, "i")
        assert side.display


async def test_the_update_view_is_a_table_of_every_parameter():
    app = GradstepApp(load("mazur"), present=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        debugger.goto(debugger.phase_bounds("update")[0] + 4)  # w5's update
        app.screen.moved()
        await press(pilot, "U")
        assert app.screen.query_one("#graph-column").display is False
        text = screen_text(app)
        for words in ("value", "gradient", "−lr·grad", "new", "0.08217", "-0.04108", "0.3589"):
            assert words in text
        assert "w8" in text  # every parameter, the ones still to update with "·" as new
        await press(pilot, "U")
        assert app.screen.query_one("#graph-column").display is True


async def test_the_training_view_draws_the_loss_curve_with_labelled_axes():
    app = GradstepApp(load("mazur"), present=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "T")
        await press(pilot, "t", "4", "0", "enter")
        history = debugger_of(app).loss_history()
        assert len(history) == 42 and history[-1] < history[0]
        text = screen_text(app)
        assert "loss over 41 iterations" in text
        lines = [line.split() for line in text.splitlines()]
        assert ["loss", "iteration"] in lines  # the axes' labels, under the x axis
        assert ["0", "10", "20", "31", "41"] in lines  # whole iterations on the x axis


@pytest.mark.parametrize("name", ["house-price", "mazur", "digit-4-vs-9"])
async def test_at_80x24_the_header_keeps_step_and_loss_and_the_footer_help(name):
    app = GradstepApp(load(name))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "c", "n", "n")  # the forward pass done: the loss is known
        debugger = debugger_of(app)
        first_row = screen_text(app).splitlines()[0]
        assert "BACKWARD  step 2/" in first_row
        assert f"loss {explain.number(debugger.cycle.loss, 6)}" in first_row
        assert "Help" in screen_text(app).splitlines()[-1]


async def test_the_picker_lists_the_scenarios_one_line_each_at_80x24():
    app = GradstepApp(None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        shown = [s.name for s in catalog() if s.name in text]
        assert len(shown) >= 6
        assert "The smallest circuit" in text  # the highlighted one's description


def test_a_changed_learning_rate_is_answered_with_the_loss_after_the_update():
    debugger = Debugger(load("house-price"))
    before_after = debugger.cycle.loss_after
    message = what_if(debugger, "lr = 0.01")
    # house-price by hand: price = 4.2, true 5, L = (4.2 - 5)^2; ∂L/∂w = 2(4.2 - 5)·x, ∂L/∂b =
    # 2(4.2 - 5); x = [2, 3, 1.5]: one step of lr moves the price by lr·1.6·(4 + 9 + 2.25 + 1)
    price = 4.2 + 0.01 * 1.6 * (4 + 9 + 2.25 + 1)
    assert debugger.cycle.loss_after == pytest.approx((price - 5) ** 2, rel=1e-9)
    assert message.startswith("lr = 0.01: the loss after the update goes "
                              f"{explain.number(before_after, 6)} → "
                              f"{explain.number((price - 5) ** 2, 6)}")
    assert "does not depend on the learning rate" in message


@pytest.mark.parametrize(("typed", "expected"), [
    ("lr = abc", "'abc' is not a number or a list of numbers."),
    ("nothing", "Write NAME = VALUE"),
    ("wieghts = 1", "There is no parameter or input called wieghts; you can change features, "
                    "weights, bias, true_price and lr."),
    ("price = 1", "Price is computed by the network, so it cannot be set; you can change"),
    ("lr = -1", "The learning rate must be a positive number, not -1"),
    ("weights = [1, 2]", "Weights has shape (3,), not (2,)."),
])
def test_a_what_if_it_cannot_use_is_answered_with_a_sentence(typed, expected):
    debugger = Debugger(load("house-price"))
    with pytest.raises(PromptError) as refused:
        what_if(debugger, typed)
    message = str(refused.value)
    assert message.startswith(expected)
    assert message[0].isupper() or message[0] == "'"
    assert message.endswith(".")


@pytest.mark.parametrize(("typed", "words"), [
    ("abc", "“abc” is not a whole number"), ("0", "not 0."), ("2000000", "not 2,000,000."),
    ("", "is not a whole number"), ("2.5", "is not a whole number")])
def test_the_train_prompt_refuses_a_bad_count_with_a_message(typed, words):
    with pytest.raises(PromptError, match=words):
        iterations(typed)
    assert iterations(" 1,000 ") == 1000


async def test_a_refused_count_is_said_on_screen_and_trains_nothing():
    app = GradstepApp(load("mazur"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "t")
        app.screen.query_one(Input).value = "0"
        await press(pilot, "enter")
        assert debugger_of(app).count == 1
        assert any("not 0." in str(n.message) for n in app._notifications)


def test_the_quiz_asks_about_a_learnt_input_rather_than_a_constant_or_label():
    trace = load("mazur").cycle().trace
    e_o2 = trace.backward_step(trace.find("E_o2").id)  # 0.5 · diff_o2²
    assert trace.nodes[asked_input(trace, e_o2).node].name == "diff_o2²"
    diff = trace.backward_step(trace.find("diff_o2").id)  # out_o2 − target_o2
    assert trace.nodes[asked_input(trace, diff).node].name == "out_o2"
    first, second = asks(trace, trace.backward_step(trace.find("out_o2").id))
    # Mazur: out_o2 = 0.772928465, σ' = 0.772928465 × (1 − 0.772928465) = 0.175510052
    assert first.answer == pytest.approx(0.175510052, abs=1e-8)
    assert "= ?" in first.question and "0.1755" not in first.question
    assert "0.1755 = ?" in second.question


def test_a_longer_narration_takes_longer_to_read():
    assert reading_seconds("w1 = 0.15") == SHORTEST
    long = " ".join(["word"] * 60)
    assert reading_seconds(long) == pytest.approx(60 / WORDS_PER_SECOND)


async def test_autoplay_waits_each_steps_reading_time():
    app = GradstepApp(load("mazur"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await press(pilot, "p")
        first = screen.player
        debugger = debugger_of(app)
        words = len(screen.query_one("#narration").plain.split())
        assert first._interval == pytest.approx(max(SHORTEST, words / WORDS_PER_SECOND))
        await press(pilot, "p")
        assert screen.player is None and debugger.position == 0
