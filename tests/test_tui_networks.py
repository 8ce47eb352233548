"""The debugger on the network scenarios (CNN, attention, RNN, LayerNorm): every step shows
without error, and N-D values read well (a 4-D kernel as its 2-D slices once expanded)."""

import pytest

from scenarios import load
from tests.test_tui_app import debugger_of, press, screen_text, settle
from tui.app import GradstepApp


@pytest.mark.parametrize("name", ["cnn-4-vs-9", "attention-head", "char-rnn", "layer-norm"])
async def test_every_step_of_a_network_scenario_shows(name):
    app = GradstepApp(load(name))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        total = len(debugger.cycle.timeline)
        for position in range(0, total, max(1, total // 12)):
            debugger.goto(position)
            app.screen.moved()
            await settle(pilot)
            assert app.screen.query_one("#inspector").plain.strip()
        assert "gradstep" in screen_text(app)


async def test_the_inspector_expands_a_4d_kernel_into_its_slices():
    app = GradstepApp(load("cnn-4-vs-9"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        debugger.goto(debugger.position_of("backward", debugger.trace.find("kernels").id))
        app.screen.moved()
        await settle(pilot)
        folded = app.screen.query_one("#inspector").plain
        assert "shape (2, 1, 3, 3)" in folded and "[1, 0, :, :]" not in folded
        await press(pilot, "e")
        expanded = app.screen.query_one("#inspector").plain
        assert "[0, 0, :, :]" in expanded and "[1, 0, :, :]" in expanded
