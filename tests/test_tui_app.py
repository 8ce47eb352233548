"""The real app, driven through Textual's Pilot."""

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Input, OptionList

from scenarios import load
from tests.golden import check_golden
from tests.screen_text import blank_region, svg_text
from tui.app import GradstepApp
from tui.debugger_screen import DebuggerScreen
from tui.graph_view import CHIPS, COMPACT, FIT, FULL, GraphView
from tui.help_screen import HelpScreen
from tui.inspector import Inspector
from tui.narration_bar import narration_text
from tui.picker_screen import PickerScreen


async def settle(pilot) -> None:
    """Let screen switches and the tracing worker finish."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
    await settle(pilot)


def debugger_of(app):
    screen = app.screen
    assert isinstance(screen, DebuggerScreen)
    return screen.debugger


def screen_text(app) -> str:
    return svg_text(app.export_screenshot())


@pytest.fixture
def mazur_app():
    return GradstepApp(load("mazur"))


async def test_opens_on_the_picker_without_a_network():
    app = GradstepApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, PickerScreen)
        names = [o.id for o in app.screen.query_one(OptionList).options]
        assert "mazur" in names and "chain-rule" in names
        await press(pilot, "enter")  # the first scenario
        assert isinstance(app.screen, DebuggerScreen)
        assert app.screen.network.name == names[0]


async def test_picker_opens_a_file_and_shows_a_broken_file_in_the_app(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("from tracer import param\nw = param(1.0, name='w')\ndef forward(:\n")
    app = GradstepApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "o")
        app.screen.query_one(Input).value = str(broken)
        await press(pilot, "enter")
        assert isinstance(app.screen, PickerScreen)  # still running, still on the picker
        error = str(app.screen.query_one("#picker-error").render())
        assert "broken.py" in error and "line 3" in error
        good = tmp_path / "good.py"
        good.write_text("from tracer import param\nw = param(3.0, name='w')\n"
                        "def forward():\n    return w * w\n")
        app.screen.query_one(Input).value = str(good)
        await press(pilot, "enter")
        assert isinstance(app.screen, DebuggerScreen)
        assert debugger_of(app).cycle.loss == 9.0


async def test_step_keys_move_the_cursor(mazur_app):
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(mazur_app)
        await press(pilot, "n", "space", "right")
        assert debugger.position == 3
        await press(pilot, "N", "left")
        assert debugger.position == 1
        await press(pilot, "G")
        assert debugger.stepper.at_end and debugger.update_applied
        await press(pilot, "g")
        assert debugger.position == 0


async def test_continue_and_breakpoints(mazur_app):
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(mazur_app)
        w5 = debugger.trace.find("w5").id
        debugger.selected = w5
        await press(pilot, "b")
        assert w5 in debugger.breakpoints
        await press(pilot, "g", "c")
        assert debugger.current_node == w5
        await press(pilot, "c")
        assert debugger.position == debugger.phase_bounds("forward")[1]
        await press(pilot, "C")
        assert debugger.current_node == w5


async def test_update_and_rerun_are_available_only_when_they_make_sense(mazur_app):
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = mazur_app.screen
        debugger = debugger_of(mazur_app)
        assert screen.check_action("update", ()) is None  # greyed out in the footer
        await press(pilot, "u")
        assert debugger.phase == "forward"
        await press(pilot, "c", "c")  # through forward, then backward
        assert screen.check_action("update", ()) is True
        await press(pilot, "u")
        assert debugger.update_applied
        loss_after = debugger.cycle.loss_after
        await press(pilot, "r")
        assert debugger.cycle.iteration == 2
        assert debugger.cycle.loss == pytest.approx(loss_after)
        assert "iteration 2" in screen_text(mazur_app)


async def test_selection_keys_and_mouse(mazur_app):
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(mazur_app)
        start = debugger.selected
        await press(pilot, "l")
        assert debugger.selected != start
        moved = debugger.selected
        await press(pilot, "h")
        assert debugger.selected != moved
        await press(pilot, "j")
        await press(pilot, "k")
        graph = mazur_app.screen.query_one(GraphView)
        target = debugger.trace.find("w1").id
        box = graph.layout_.boxes[target]
        graph.scroll_to(box.x, box.y, animate=False, immediate=True)
        await pilot.pause()
        x, y = box.x - int(graph.scroll_x) + 2, box.y - int(graph.scroll_y) + 1
        await pilot.click(GraphView, offset=(x, y))
        await settle(pilot)
        assert debugger.selected == target
        await press(pilot, "enter")  # go to w1's step in the current phase
        assert debugger.current_node == target


async def test_find_selects_a_node(mazur_app):
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "slash")
        await pilot.press(*"out_o2")
        await press(pilot, "enter")
        debugger = debugger_of(mazur_app)
        assert debugger.trace.nodes[debugger.selected].name == "out_o2"
        assert "out_o2" in screen_text(mazur_app)


async def test_help_lists_every_key_and_closes(mazur_app):
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "question_mark")
        assert isinstance(mazur_app.screen, HelpScreen)
        text = str(mazur_app.screen.query_one("#help-text").content)
        for words in ("Continue", "Breakpoint", "Find", "Update", "Re-run", "What if",
                      "Presenter", "Inspector", "Parameters"):
            assert words in text
        assert "Continue" in screen_text(mazur_app)
        await press(pilot, "escape")
        assert isinstance(mazur_app.screen, DebuggerScreen)


async def test_zoom_and_expand(mazur_app):
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        graph = mazur_app.screen.query_one(GraphView)
        zooms = []
        for _ in range(4):  # z goes fit -> boxes -> compact -> names only -> fit
            await press(pilot, "z")
            zooms.append(graph.layout_.zoom)
        assert zooms == [FULL, COMPACT, CHIPS, graph.layout_.zoom]
        assert graph.zoom == FIT
        await press(pilot, "z", "z", "z")
        assert graph.zoom == CHIPS and graph.layout_.height < 60
        await press(pilot, "e", "z")
        assert mazur_app.screen.query_one(Inspector).full and graph.zoom != CHIPS


async def test_resizing_never_crashes(mazur_app):
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for size in ((80, 24), (40, 12), (200, 60), (120, 40)):
            await pilot.resize_terminal(*size)
            await press(pilot, "n")
        assert debugger_of(mazur_app).position == 4
        assert "gradstep" in screen_text(mazur_app)


async def test_inspector_shows_the_chain_rule_with_numbers(mazur_app):
    """At ∂E/∂net_o1 Mazur's article reads 0.74136507 × 0.186815602 = 0.138498562."""
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(mazur_app)
        net_o1 = debugger.trace.find("net_o1").id
        debugger.goto(debugger.position_of("backward", debugger.trace.find("out_o1").id))
        mazur_app.screen.moved()
        await settle(pilot)
        shown = mazur_app.screen.query_one("#inspector").plain
        assert "∂L/∂net_o1 = ∂L/∂out_o1 × ∂out_o1/∂net_o1 = 0.7414 × 0.1868 = 0.1385" in shown
        assert "∂L/∂out_o1" in screen_text(mazur_app)
        assert debugger.trace.nodes[net_o1].grad == pytest.approx(0.138498562, rel=1e-8)


async def test_a_step_repaints_its_panels_without_laying_the_screen_out(mazur_app):
    """The narration bar and the inspector keep their size whatever they show (tui/repaint.py):
    a step repaints them instead of laying out, and so repainting, the whole screen."""
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = mazur_app.screen
        debugger = debugger_of(mazur_app)
        start, end = debugger.phase_bounds("backward")
        debugger.goto(start)
        screen.moved()
        await settle(pilot)
        layouts = []
        screen.screen_layout_refresh_signal.subscribe(screen, layouts.append, immediate=True)
        shown = set()
        for _ in range(start, end - 1):  # the keys available stay the same (so does the footer)
            await press(pilot, "n")
            shown.add(screen.query_one("#narration").plain)
        assert len(shown) == end - 1 - start  # a new narration at every step
        assert layouts == []


async def at_the_out_h1_fork(app, pilot) -> DebuggerScreen:
    """The backward step at out_h1, whose narration (a sum at a fork) is one of Mazur's longest."""
    await settle(pilot)
    debugger = debugger_of(app)
    debugger.goto(debugger.position_of("backward", debugger.trace.find("out_h1").id))
    app.screen.moved()
    await settle(pilot)
    return app.screen


async def test_a_narration_longer_than_its_bar_grows_it_once_and_it_stays(mazur_app):
    async with mazur_app.run_test(size=(80, 24)) as pilot:
        screen = await at_the_out_h1_fork(mazur_app, pilot)
        bar = screen.query_one("#narration")
        assert bar.plain == narration_text(debugger_of(mazur_app))
        assert bar.outer_size.height > 3 and bar.max_scroll_y == 0  # grown to fit, no scrolling
        assert " ".join(bar.plain.split()[-4:]) in " ".join(screen_text(mazur_app).split())
        grown = bar.outer_size.height
        for _ in range(3):  # shorter narrations: the bar keeps its height
            await press(pilot, "n")
            assert bar.outer_size.height == grown
        await pilot.resize_terminal(120, 40)  # a new terminal size starts from the stylesheet's
        await settle(pilot)
        assert bar.outer_size.height == 3


async def test_a_narration_longer_than_the_bar_can_grow_scrolls(mazur_app):
    async with mazur_app.run_test(size=(40, 30)) as pilot:
        screen = await at_the_out_h1_fork(mazur_app, pilot)
        bar = screen.query_one("#narration")
        last_words = " ".join(bar.plain.split()[-3:])
        assert bar.outer_size.height == 3 + bar.MAX_GROWTH and bar.max_scroll_y > 0
        assert last_words not in " ".join(screen_text(mazur_app).split())
        bar.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert last_words in " ".join(screen_text(mazur_app).split())


def palette_entries(app) -> list[str]:
    """The command palette's entries, first line of each (help text dropped)."""
    options = app.screen.query_one(CommandList)
    return [str(options.get_option_at_index(k).prompt).split("\n")[0]
            for k in range(options.option_count)]


async def test_command_palette_goes_to_a_node_by_name(mazur_app):
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(mazur_app)
        await press(pilot, "ctrl+p")
        assert isinstance(mazur_app.screen, CommandPalette)
        opened = palette_entries(mazur_app)
        assert "Go to node…" in opened  # nodes are listed once a name is typed
        assert not any(entry.startswith("Go to node: ") for entry in opened)
        await press(pilot, *"w5")
        assert palette_entries(mazur_app) == ["Go to node: w5", "Go to node: w5·out_h1"]
        await press(pilot, "enter")
        assert isinstance(mazur_app.screen, DebuggerScreen)
        assert debugger.selected == debugger.trace.find("w5").id


@pytest.mark.parametrize("moment", ["start", "backward-fork", "after-update"])
async def test_main_screen_snapshots(mazur_app, moment):
    mazur_app.animation_level = "none"  # the tabs' underline would be caught mid-slide
    async with mazur_app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(mazur_app)
        if moment == "backward-fork":  # out_h1 fed two places: its gradient is a sum
            debugger.goto(debugger.position_of("backward", debugger.trace.find("out_h1").id))
        elif moment == "after-update":
            debugger.apply_update()
        mazur_app.screen.moved()
        await settle(pilot)
        if moment == "backward-fork":  # the inspector's sum: i brings back the folded panel
            await press(pilot, "i")
        await pilot.wait_for_scheduled_animations()  # the tabs' underline moving to Parameters
        # The narration bar's sentences have tests of their own (tests/test_narration.py):
        # here it must show the narration of the moment, and the rest of the screen its golden.
        bar = mazur_app.screen.query_one("#narration")
        assert bar.plain == narration_text(debugger)
        x, y, width, height = bar.region
        check_golden("screens", f"mazur-{moment}", blank_region(
            screen_text(mazur_app), x, y, width, height, "[narration: tests/test_narration.py]"))


async def test_on_a_tiny_terminal_the_narration_bar_does_not_grow_over_the_graph(mazur_app):
    async with mazur_app.run_test(size=(40, 12)) as pilot:
        screen = await at_the_out_h1_fork(mazur_app, pilot)
        bar = screen.query_one("#narration")
        assert bar.outer_size.height == 3 and bar.max_scroll_y > 0  # it scrolls instead
        assert screen.query_one("#graph").outer_size.height >= 4


async def test_breakpoint_note_shows_a_node_name_as_written(tmp_path):
    # Names come from the user's network file: brackets in them are text, not markup.
    net = tmp_path / "brackets.py"
    net.write_text("from tracer import param\n"
                   "w = param(2.0, name='w[/] [b]bold')\n"
                   "def forward():\n"
                   "    return w * w\n")
    from textual.widgets._toast import Toast

    app = GradstepApp(load(str(net)))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        app.screen.select(debugger.trace.find("w[/] [b]bold").id)
        await press(pilot, "b")
        await pilot.pause(0.2)
        shown = [str(toast.render()) for toast in app.screen.query(Toast)]
        assert "breakpoint set on w[/] [b]bold" in shown, shown


async def test_status_bar_at_the_outcome_shows_the_prediction_after_the_update(mazur_app):
    # The bar reads "loss before → after" there; its words must be the ones after the update
    # too. 0.7421 and 0.7753 are the outputs of the 2-2-2 sigmoid net with the updated weights
    # Mazur's post publishes (w1+ = 0.149780716 ... w8+ = 0.561370121), worked out by hand.
    async with mazur_app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        status = mazur_app.screen.query_one("#status")
        assert "0.7514" not in status.plain  # the forward pass has not reached the outputs yet
        await press(pilot, "c")  # the end of the forward pass: the outputs before the update
        assert "outputs 0.7514 and 0.7729" in status.plain
        await press(pilot, "G")
        assert debugger_of(mazur_app).phase == "outcome"
        assert "loss 0.298371 → 0.291028" in status.plain
        assert "outputs 0.7421 and 0.7753" in status.plain
        assert "0.7514" not in status.plain
        await press(pilot, "N")  # the last parameter update: the loss after is not shown yet
        assert "outputs 0.7514 and 0.7729" in status.plain


async def test_zoom_lays_the_graph_out_again_without_diagnosing_or_announcing_again():
    app = GradstepApp(load("dead-relu"))  # one problem: its toast is shown once, on opening
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        await press(pilot, "c", "n", "n")
        position = debugger.position

        def announced() -> int:
            return sum("problem(s) found" in n.message for n in app._notifications)

        assert announced() == 1
        zooms = [app.screen.zoom]
        for _ in range(2):
            await press(pilot, "z")
            zooms.append(app.screen.zoom)
        assert len(set(zooms)) == 3 and announced() == 1  # two new layouts, no new diagnosis
        assert debugger.position == position
        await press(pilot, "G", "r")  # a new cycle is diagnosed (and announced) as before
        assert debugger.cycle.iteration == 2 and announced() == 2
