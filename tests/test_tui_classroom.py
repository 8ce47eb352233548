"""Presenter mode, autoplay, quiz, what-ifs, training and screenshots, through Pilot."""

import numpy as np
import pytest
from textual.widgets import Input

from scenarios import load
from tests.test_tui_app import debugger_of, press, screen_text, settle
from tui.app import GradstepApp
from tui.prompt_screen import PromptScreen


async def answer_prompt(pilot, text: str) -> None:
    await pilot.pause()
    assert isinstance(pilot.app.screen, PromptScreen)
    pilot.app.screen.query_one(Input).value = text
    await press(pilot, "enter")


async def test_presenter_mode_hides_the_detail_panels_and_uses_the_projector_theme():
    app = GradstepApp(load("mazur"), present=True)
    # wide enough for mazur's whole graph beside the side panel (at 120x40 the normal layout
    # folds it away to fit the graph: tests/test_tui_fit.py)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        assert app.theme == "gradstep-projector"
        assert app.screen.has_class("-present")
        assert not app.screen.query_one("#side").display
        narration = app.screen.query_one("#narration").plain
        assert narration and narration.split(".")[0][:40] in screen_text(app)
        await press(pilot, "P")
        assert app.screen.query_one("#side").display


async def test_autoplay_steps_on_its_own_and_pauses_at_the_end_of_the_phase():
    app = GradstepApp(load("chain-rule"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        for _ in range(6):
            await pilot.press("plus")
        assert screen.pace == pytest.approx(screen.PACE_LIMITS[0])
        await press(pilot, "p")
        debugger = debugger_of(app)
        for _ in range(40):
            await pilot.pause(0.05)
            if screen.player is None:
                break
        assert screen.player is None  # paused by itself
        assert debugger.position == debugger.phase_bounds("forward")[1]
        await press(pilot, "minus")
        assert screen.pace == pytest.approx(2 * screen.PACE_LIMITS[0])


async def test_autoplay_pauses_at_a_breakpoint():
    app = GradstepApp(load("mazur"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        out_h1 = debugger.trace.find("out_h1").id  # forward step 10
        debugger.toggle_breakpoint(out_h1)
        app.screen.pace = 0.05
        await press(pilot, "p")
        for _ in range(60):
            await pilot.pause(0.05)
            if app.screen.player is None:
                break
        assert debugger.current_node == out_h1 and debugger.phase == "forward"


async def test_quiz_asks_the_local_derivative_then_the_product_and_keeps_score():
    app = GradstepApp(load("mazur"), quiz=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        out_o1 = debugger.trace.find("out_o1").id
        debugger.goto(debugger.position_of("backward", out_o1))
        app.screen.moved()
        await settle(pilot)
        # First the local derivative, from its formula, its value not given.
        shown = app.screen.query_one("#inspector").plain
        assert "∂out_o1/∂net_o1 = σ(x)·(1 − σ(x)) = ?" in shown
        assert "0.1868" not in shown and "0.1385" not in shown
        asked = app.screen.query_one("#narration").plain
        assert "Quiz" in asked and "0.1868" not in asked
        await press(pilot, "a")
        await answer_prompt(pilot, "0.75")  # wrong: tried again, with a hint
        assert isinstance(app.screen, PromptScreen)
        assert "Hint: put this step's numbers into σ(x)·(1 − σ(x))" in \
            app.screen.query_one(".dialog-title").render().plain
        # Mazur: out_o1 = 0.75136507, so σ' = 0.75136507 × (1 - 0.75136507) = 0.186815602
        await answer_prompt(pilot, "0.1868")
        assert debugger.hidden  # now the product, with the local derivative known
        shown = app.screen.query_one("#inspector").plain
        assert "0.7414 × 0.1868 = ?" in shown and "0.1385" not in shown
        await press(pilot, "a")
        await answer_prompt(pilot, "0.1385")  # Mazur's δ_o1 = 0.138498562
        assert not debugger.hidden
        assert "= 0.1385" in app.screen.query_one("#inspector").plain
        assert "quiz 1/2" in app.screen.query_one("#status").plain  # right first time: 1 of 2
        assert "Answer" in screen_text(app).splitlines()[-1]  # the quiz's key, in the footer
        position = debugger.position
        await press(pilot, "n")
        assert debugger.position == position + 1


async def test_quiz_next_key_reveals_first_then_moves_on():
    app = GradstepApp(load("chain-rule"), quiz=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        await press(pilot, "c")  # to the end of the forward pass
        await press(pilot, "n")  # onto the first backward step: asked, not shown
        first = debugger.position
        assert debugger.hidden
        await press(pilot, "n")
        assert debugger.position == first and not debugger.hidden
        await press(pilot, "n")
        assert debugger.position == first + 1


async def test_what_if_changes_a_weight_and_the_loss_follows_the_tracer():
    app = GradstepApp(load("mazur"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        before = debugger.cycle.loss
        debugger.selected = debugger.trace.find("w5").id
        await press(pilot, "w")
        assert app.screen.query_one(Input).value == "w5 = 0.4"
        await answer_prompt(pilot, "w5 = 0.1")
        reference = load("mazur")  # an independent copy of the network, changed by hand
        traced = reference.trace()
        traced.tensors[traced.find("w5").id].data = np.array(0.1)
        assert debugger.cycle.loss == pytest.approx(reference.loss(), rel=1e-12)
        assert debugger.cycle.loss != pytest.approx(before)
        assert debugger.cycle.iteration == 1
        await press(pilot, "w")
        await answer_prompt(pilot, "lr = 2")
        assert debugger.network.optimizer.lr == 2.0
        await press(pilot, "w")
        await answer_prompt(pilot, "w5 = [1, 2]")  # wrong shape: said, nothing changes
        assert debugger.trace.find("w5").value.item() == pytest.approx(0.1)


async def train(pilot, iterations: int):
    """Train ``iterations`` more through the ``t`` prompt; return the debugger."""
    await settle(pilot)
    await press(pilot, "t")
    await answer_prompt(pilot, str(iterations))
    await settle(pilot)
    return debugger_of(pilot.app)


async def test_training_runs_iterations_and_any_one_can_be_stepped_again():
    app = GradstepApp(load("xor"))
    async with app.run_test(size=(120, 40)) as pilot:
        debugger = await train(pilot, 30)
        assert debugger.count == 31
        history = debugger.loss_history()
        assert history[-1] < history[0]
        assert debugger.viewing == 30
        await press(pilot, "left_square_bracket")
        assert debugger.viewing == 29 and debugger.cycle.iteration == 30
        assert not app.screen.check_action("update", ())
        await press(pilot, "G")
        assert debugger.update_applied


async def test_screenshot_key_saves_an_svg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = GradstepApp(load("chain-rule"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "s")
        (svg,) = tmp_path.glob("*.svg")
        assert "gradstep" in svg.read_text(encoding="utf-8")


async def test_training_a_network_whose_loss_is_nan_stops_at_once_where_it_shows():
    app = GradstepApp(load("nan-log"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "G", "t")
        await answer_prompt(pilot, "3")
        await settle(pilot)
        debugger = debugger_of(app)
        assert debugger.count == 2  # the second iteration's loss is NaN: no third
        # where it shows: the first value that is not finite (the update made w NaN)
        assert debugger.phase == "forward"
        values = [n.value for n in debugger.trace.nodes]
        assert not np.isfinite(values[debugger.current_node]).all()
        assert all(np.isfinite(v).all() for v in values[:debugger.current_node])
        message = next(n.message for n in app._notifications if n.title == "training stopped")
        assert "stopped at iteration 2, forward step 2 (w)" in message
        assert "not finite" in message
        assert "nan" in screen_text(app)


async def test_every_iteration_of_a_long_run_can_be_opened_again():
    from tui.iteration_list import IterationList

    app = GradstepApp(load("xor"))
    async with app.run_test(size=(120, 40)) as pilot:
        debugger = await train(pilot, 200)
        iterations = app.screen.query_one(IterationList)
        assert iterations.count == debugger.count == 201
        iterations.focus()
        await press(pilot, "home", "enter")  # the first iteration: recorded again
        assert debugger.viewing == 0 and debugger.cycle.iteration == 1
        assert debugger.cycle.loss == debugger.history.losses[0]
        await press(pilot, "end", "up", "enter")
        assert debugger.viewing == 199 and debugger.cycle.iteration == 200
        assert iterations.row(199).startswith("▶ #200")
        assert iterations.render_line(iterations.highlighted - int(iterations.scroll_y)
                                      ).text.startswith("▶ #200")


async def test_quiz_answer_is_shown_as_typed_never_read_as_markup():
    # The grade repeats the guess; a visitor of `gradstep serve` types it, so text like
    # "[@click=app.quit]" must stay text (and "[/]" must not break the toast).
    from textual.widgets._toast import Toast

    app = GradstepApp(load("mazur"), quiz=True)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        await press(pilot, "c", "n")  # the first backward step, asked
        assert debugger_of(app).hidden
        guess = "[@click=app.quit]x[/] [b]y"
        await press(pilot, "a")
        await answer_prompt(pilot, guess)
        await pilot.pause(0.2)
        shown = [str(toast.render()) for toast in app.screen.query(Toast)]
        assert any(f"{guess!r} is not" in text for text in shown), shown  # shown as typed
