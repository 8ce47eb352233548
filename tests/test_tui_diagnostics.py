"""Diagnostics in the app: badges on the graph, the panel, conditional breakpoints."""

import numpy as np
import pytest
from textual.widgets import OptionList

from scenarios import load
from tests.test_tui_app import debugger_of, press, settle
from tests.test_tui_classroom import answer_prompt
from tracer import explain
from tui.app import GradstepApp
from tui.graph_view import GraphView
from tui.inspector import inspector_lines
from tui.views import node_label


async def open_app(pilot) -> None:
    await settle(pilot)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_a_problem_gets_a_badge_a_list_entry_and_a_jump():
    app = GradstepApp(load("nan-log"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(pilot)
        debugger = debugger_of(app)
        first = debugger.findings[0]
        assert first.kind == "nonfinite-value" and first.severity == "error"
        assert node_label(debugger, first.node, "full")[0].startswith("✖ ")
        healthy = next(n.id for n in debugger.trace.nodes if debugger.badge(n.id) is None)
        assert not node_label(debugger, healthy, "full")[0].startswith(("✖", "⚠"))
        tab = app.screen.query_one("#tabs").get_tab("diagnostics-tab")
        assert "Diagnostics (" in str(tab.label)
        findings = app.screen.query_one("#findings", OptionList)
        assert findings.option_count == len(debugger.findings)
        assert first.summary in str(findings.get_option_at_index(0).prompt)
        app.screen.query_one("#tabs").active = "diagnostics-tab"
        await pilot.pause()
        findings.focus()
        findings.highlighted = 0
        await press(pilot, "enter")
        assert debugger.selected == first.node
        assert debugger.phase == first.phase
        assert debugger.moment.index == first.step
        assert first.message == str(app.screen.query_one("#finding-message").content)


async def test_a_healthy_network_has_no_badges_and_says_so():
    app = GradstepApp(load("mazur"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(pilot)
        debugger = debugger_of(app)
        assert not [f for f in debugger.findings if f.is_problem]
        assert all(debugger.badge(n.id) is None for n in debugger.trace.nodes)
        assert "No problems found" in str(app.screen.query_one("#verdict").content)


async def test_conditional_breakpoint_stops_at_the_first_nonfinite_value():
    app = GradstepApp(load("nan-log"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(pilot)
        debugger = debugger_of(app)
        app.screen.action_break_on("nonfinite")
        await press(pilot, "c")
        first = debugger.findings[0]
        assert debugger.phase == "forward" and debugger.current_node == first.node
        app.screen.action_clear_conditions()
        await press(pilot, "g", "c")
        assert debugger.position == debugger.phase_bounds("forward")[1]


async def test_conditional_breakpoint_on_a_gradient_above_a_threshold():
    app = GradstepApp(load("exploding"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(pilot)
        debugger = debugger_of(app)
        app.screen.action_break_on("gradient")
        await answer_prompt(pilot, "5")
        await press(pilot, "c", "c")  # to the end of the forward pass, then into the backward
        # It stops at the first node whose own gradient ∂L/∂node has an element above 5.
        assert debugger.phase == "backward"
        assert abs(debugger.moment.record.upstream).max() > 5
        earlier = debugger.timeline[debugger.phase_bounds("backward")[0]:debugger.position]
        assert earlier and all(abs(m.record.upstream).max() <= 5 for m in earlier)


async def test_graph_box_shows_the_badge():
    app = GradstepApp(load("dead-relu"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(pilot)
        debugger = debugger_of(app)
        dead = next(f for f in debugger.findings if f.kind == "dead-relu")
        debugger.selected = dead.node
        app.screen.moved()
        await pilot.pause()
        graph = app.screen.query_one(GraphView)
        assert graph._labels.get(dead.node)[0].startswith("⚠ ")


async def test_d_opens_the_diagnostics_tab_and_the_palette_has_it():
    app = GradstepApp(load("dead-relu"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(pilot)
        assert app.screen.query_one("#tabs").active != "diagnostics-tab"
        await press(pilot, "d")
        assert app.screen.query_one("#tabs").active == "diagnostics-tab"
        assert app.focused is app.screen.query_one("#findings", OptionList)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Diagnostics" in titles


async def test_the_parameter_check_runs_at_open_and_the_inspector_shows_both_numbers():
    app = GradstepApp(load("buggy-custom-op"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(pilot)
        debugger = debugger_of(app)
        kinds = {f.kind for f in debugger.findings}
        assert {"gradcheck-node", "gradcheck-param"} <= kinds  # cheap: run at open
        node = next(f for f in debugger.findings if f.kind == "gradcheck-node")
        app.screen._move(lambda d: d.go_to_finding(node))
        await pilot.pause()
        lines = [line.text for line in inspector_lines(debugger)]
        worst = tuple(node.details["element"])  # 12 elements: the worst one, with its index
        analytic = np.asarray(node.details["analytic"])[worst]
        numeric = np.asarray(node.details["numeric"])[worst]
        at = f"[{worst[0]}, {worst[1]}]"
        assert "gradient check fails (z1)" in lines
        assert f"backward: {explain.number(analytic)} at {at}" in lines
        assert f"finite differences of the op: {explain.number(numeric)}" in lines
        assert analytic == pytest.approx(1.5 * numeric, rel=1e-6)  # the scenario's bug


async def test_an_expensive_parameter_check_is_offered_with_its_cost(monkeypatch):
    import tui.state
    from tracer.diagnostics import Thresholds

    monkeypatch.setattr(tui.state, "THRESHOLDS", Thresholds(param_check_at_open=0.0))
    app = GradstepApp(load("buggy-custom-op"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(pilot)
        debugger = debugger_of(app)
        assert "gradcheck-param" not in {f.kind for f in debugger.findings}
        note = next(f for f in debugger.findings if f.kind == "unchecked")
        assert "it takes about" in note.message and "ctrl+p" in note.message
        verdict_text = str(app.screen.query_one("#verdict").content)
        assert "Not checked: the parameters' gradients against the whole loss" in verdict_text


async def test_a_diagnosis_that_ends_after_its_screen_was_left_is_dropped_not_a_crash():
    # The findings are worked out in a thread; by the time they come back the person may have
    # gone back to the picker (or be quitting), and the screen's widgets are gone.
    app = GradstepApp(load("mazur"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await screen.query_one("#side").remove()  # as when the screen is torn down
        assert not screen.query("DiagnosticsPanel")
        screen.diagnosed()  # raised NoMatches, which crashed the app from its worker
        await pilot.pause()
        assert app.is_running
