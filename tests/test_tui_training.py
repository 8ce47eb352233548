"""A training run in the debugger: live progress, keys that keep working, escape cancels."""

from textual.widgets import Input, ProgressBar

from scenarios import load
from tests.test_training import staircase
from tests.test_tui_app import debugger_of, settle
from tui.app import GradstepApp
from tui.status_bar import StatusBar


async def wait_for(pilot, condition, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


async def test_a_run_shows_its_progress_live_keeps_keys_working_and_escape_cancels_it():
    app = GradstepApp(load("xor"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        screen = app.screen
        await pilot.press("t")
        await pilot.pause()
        app.screen.query_one(Input).value = "1000000"
        await pilot.press("enter")  # (no waiting for the workers: the run is one)
        bar = screen.query_one("#training-progress", ProgressBar)
        await wait_for(pilot, lambda: bar.display and (bar.progress or 0) > 0)
        header = screen.query_one(StatusBar).plain
        assert "training: iteration" in header and "of 1,000,000" in header
        assert "it/s" in header and "esc cancels" in header
        assert bar.total == 1_000_000
        # The run is in a worker: stepping through the viewed iteration still works...
        position = debugger.position
        await pilot.press("n")
        await pilot.pause()
        assert debugger.position == position + 1
        # ...and what would move the parameters waits for the run
        assert not screen.check_action("what_if", ())
        first = bar.progress
        await wait_for(pilot, lambda: bar.progress > first)  # the bar moves
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.training is None)
        await settle(pilot)
        assert 1 < debugger.count < 1_000_001 and debugger.latest
        assert debugger.cycle.iteration == debugger.history.last
        assert not bar.display
        assert any("cancelled after" in n.message for n in app._notifications)
        assert screen.check_action("what_if", ())  # trained, and usable again


async def train_with(pilot, text: str) -> None:
    await pilot.press("t")
    await pilot.pause()
    pilot.app.screen.query_one(Input).value = text
    await pilot.press("enter")
    await settle(pilot)


async def test_the_prompt_takes_conditions_and_a_stop_opens_where_it_fired():
    app = GradstepApp(staircase())  # iteration 6's update takes the loss from 5 to 54
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        await train_with(pilot, "500 spike:3")
        assert debugger.count == 6 and debugger.cycle.iteration == 6
        assert debugger.update_applied  # the cursor is on the outcome, where it shows
        message = next(n.message for n in app._notifications if n.title == "training stopped")
        assert message.startswith("stopped at iteration 6, the outcome")
        assert "rose more than 3× (loss 5 → 54)" in message


async def test_the_prompt_says_what_is_wrong_with_what_was_typed():
    app = GradstepApp(load("xor"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for text, said in (("many", "is not a whole number"),
                           ("2000000", "from 1 to 1,000,000 iterations at a time, not 2,000,000"),
                           ("50 often", "Unknown condition 'often'")):
            await train_with(pilot, text)
            assert said in list(app._notifications)[-1].message
        assert debugger_of(app).count == 1
