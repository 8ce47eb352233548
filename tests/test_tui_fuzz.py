"""The app under random keys and terminal sizes: no exception, and still running.

A fixed seed, three scenarios (the picker in front of each), sizes down to 20×8, PageUp and
PageDown included (they crashed the picker at 13 rows or fewer). About 20 s of CPU in all
(longer on a loaded machine: at tiny sizes each key keeps the app busy for a while, and the
pilot waits for it to be idle).
"""

from __future__ import annotations

import random

import pytest

from scenarios import load
from tui.app import GradstepApp

KEYS = ["n", "space", "right", "N", "left", "c", "C", "b", "g", "G", "k", "j", "h", "l", "up",
        "down", "enter", "u", "r", "z", "x", "X", "v", "less_than_sign", "greater_than_sign",
        "m", "e", "P", "plus", "minus", "left_square_bracket", "right_square_bracket", "s",
        "tab", "shift+tab", "home", "end", "pageup", "pagedown", "pageup", "pagedown",
        "escape", "o", "question_mark", "slash", "backspace", "1", "0"]
SIZES = [(120, 40), (80, 24), (40, 13), (30, 10), (20, 8), (60, 12)]
# Every run goes through the smallest size and the picker's old crash size (13 rows).
FORCED = {10: (20, 8), 20: (40, 13)}
PRESSES = 30  # per scenario


@pytest.mark.parametrize("scenario", ["mazur", "broadcast-bias", "xor", None])
async def test_random_keys_and_sizes_never_crash_the_app(scenario, tmp_path, monkeypatch):
    """``None``: starting on the scenario picker (Enter opens one)."""
    monkeypatch.chdir(tmp_path)  # `s` saves screenshots here
    rng = random.Random(f"gradstep-fuzz-{scenario}")
    app = GradstepApp(load(scenario) if scenario else None)
    async with app.run_test(size=SIZES[0]) as pilot:
        await pilot.pause()
        for step in range(PRESSES):
            if step % 10 == 0:
                await pilot.resize_terminal(*FORCED.get(step, rng.choice(SIZES)))
            await pilot.press(rng.choice(KEYS))
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running, "the app stopped (crashed or quit) under random keys"
        assert app.return_code is None
