"""Big graphs: grouping and collapsing, the neighbourhood view, the minimap, and a 5,000-node
network that opens collapsed without freezing the app.

The grouping, the neighbourhood and the minimap are pure Python and tested as such; the rest
drives the real app through Pilot. Golden pictures live in tests/golden/big/; run with
GRADSTEP_UPDATE_GOLDEN=1 to rewrite them (then look at every changed file before keeping it).
"""

from __future__ import annotations

import asyncio
import time

import networkx as nx
import pytest

from benchmarks.tui_steps import generated
from scenarios import load
from tests.golden import check_golden
from tests.test_tui_app import palette_entries, settle
from tracer import Tensor, mse, param, trace
from tui.app import GradstepApp
from tui.debugger_screen import DebuggerScreen
from tui.graph_layout import box_size, layout_graph
from tui.graph_view import GraphView
from tui.groups import (
    collapse_graph,
    explicit_group,
    find_groups,
    group_box,
    is_group_box,
)
from tui.minimap import Minimap
from tui.neighbourhood import neighbourhood, within
from tui.node_commands import NodeCommands
from tui.state import Debugger
from tui.step_list import StepList
from tui.views import FULL, GraphState, group_label


def names(tr, members) -> set[str]:
    return {tr.nodes[m].name for m in members}


# --- grouping (pure) ---------------------------------------------------------------------------


def test_a_vectorised_mlp_groups_into_layers():
    tr = load("xor").cycle().trace
    grouping = find_groups(tr)
    assert [g.name for g in grouping.groups] == ["layer 1", "layer 2"]
    first, second = grouping.groups
    assert names(tr, first.members) == {"W1", "XW1", "b1", "z1", "h1"}
    assert names(tr, second.members) == {"W2", "h1W2", "b2", "z2", "yhat"}
    assert tr.nodes[first.output].name == "h1" and tr.nodes[second.output].name == "yhat"
    for outside in ("X", "y", "loss"):  # data and the loss stay outside every group
        assert grouping.group_of[tr.find(outside).id] is None
    assert not first.explicit


def test_a_scalar_network_groups_into_neurons():
    tr = generated(120).cycle().trace  # two layers of four tanh neurons over four inputs
    grouping = find_groups(tr)
    assert [g.name for g in grouping.groups] == [
        f"neuron {k}.{j}" for k in (1, 2) for j in (1, 2, 3, 4)]
    for group in grouping.groups:
        ops = sorted(tr.nodes[m].op for m in group.members)
        # four weights, four products, four adds (the chain starts from the bias), the bias,
        # and the activation that anchors the group
        assert ops == ["add"] * 4 + ["mul"] * 4 + ["param"] * 5 + ["tanh"]
        assert tr.nodes[group.output].op == "tanh"
    for k in range(4):  # inputs feed every neuron of the first layer: in no group
        assert grouping.group_of[tr.find(f"x{k}").id] is None


def test_user_named_groups_gather_their_unnamed_nodes():
    x = Tensor([[1.0, 2.0]], name="x")
    w1 = param([[0.5], [-0.5]], name="fc1/W")
    b1 = param([0.1], name="b1")
    w2 = param([[2.0]], name="fc2/W")
    h = (x @ w1 + b1).relu()
    h.name = "fc1/h"
    out = h @ w2
    out.name = "fc2/out"
    loss = mse(out, Tensor([[1.0]], name="target"))
    tr = trace(loss)
    grouping = find_groups(tr)
    fc1, fc2 = grouping.by_name("fc1"), grouping.by_name("fc2")
    assert fc1.explicit and fc2.explicit
    # the matmul, the add and the bias only feed fc1, so they are in it
    assert names(tr, fc1.members) == {"fc1/W", "matmul_1", "b1", "add_1", "fc1/h"}
    assert names(tr, fc2.members) == {"fc2/W", "fc2/out"}
    assert tr.nodes[fc1.output].name == "fc1/h"
    assert explicit_group("enc/fc1/h") == "enc/fc1" and explicit_group("a/") is None


def test_named_groups_that_would_make_a_cycle_are_dropped():
    a = Tensor(1.0, name="a/x")
    b = (a * 2.0).tanh()
    b.name = "b/y"
    c = b + a
    c.name = "a/z"  # a -> b -> a: collapsing both would draw a cycle
    d = c * 3.0
    d.name = "b/w"
    tr = trace(d)
    grouping = find_groups(tr)
    graph, _ = collapse_graph(tr, grouping, [g.id for g in grouping.groups])
    assert nx.is_directed_acyclic_graph(graph)
    assert grouping.by_name("a") is None and grouping.by_name("b") is None


def test_collapsing_draws_a_group_as_one_box_with_its_edges():
    tr = load("xor").cycle().trace
    grouping = find_groups(tr)
    graph, box_of = collapse_graph(tr, grouping, [0])
    layer1 = group_box(0)
    assert is_group_box(layer1) and layer1 in graph
    assert {box_of[tr.find(n).id] for n in ("W1", "XW1", "b1", "z1", "h1")} == {layer1}
    assert graph.has_edge(tr.find("X").id, layer1)
    assert graph.has_edge(layer1, tr.find("h1W2").id)  # layer 2 is open
    assert len(graph) == len(tr.nodes) - 4
    graph, _ = collapse_graph(tr, grouping, [0, 1])
    assert sorted(graph.nodes, key=str) == sorted(
        [group_box(0), group_box(1), *(tr.find(n).id for n in ("X", "y", "loss"))], key=str)


def test_big_graphs_open_collapsed_and_groups_toggle():
    debugger = Debugger(generated(120))
    small, big = GraphState(threshold=10_000), GraphState(threshold=50)
    assert all(box >= 0 for box in small.view(debugger.trace).graph)
    view = big.view(debugger.trace)
    assert sum(is_group_box(b) for b in view.graph) == 8
    grouping = view.grouping
    assert not big.toggle_group(grouping, grouping.groups[0])  # open one
    assert sum(is_group_box(b) for b in big.view(debugger.trace).graph) == 7
    assert big.toggle_all(grouping) and big.collapsed == grouping.names
    assert not big.toggle_all(grouping) and big.collapsed == frozenset()


def test_group_label_shows_the_output_and_progress():
    debugger = Debugger(generated(120))
    grouping = find_groups(debugger.trace)
    group = grouping.groups[0]
    debugger.goto(group.members[2])  # forward: some of its nodes done, its output not yet
    head, value, grad = group_label(debugger, group, FULL)
    assert head == f"▸ {group.name} ({len(group)})"
    assert value.startswith("v ·") and "/14" in value and grad == "g ·"
    debugger.goto(len(debugger.timeline) - 1)
    _, value, grad = group_label(debugger, group, FULL)
    assert "/" not in value + grad and value != "v ·" and grad != "g ·"


def test_collapsed_picture_golden():
    tr = load("xor").cycle().trace
    state = GraphState(threshold=0)
    debugger = Debugger(load("xor"))
    layout = state.layout(debugger, FULL)
    labels = {box: ([f"▸ {layout.view.group(box).name}"] if is_group_box(box)
                    else [tr.nodes[box].name]) for box in layout.boxes}
    check_golden("big", "xor_collapsed", layout.draw(labels))


# --- the neighbourhood (pure) ------------------------------------------------------------------


def test_within_counts_hops_both_ways():
    chain = nx.DiGraph([(0, 1), (1, 2), (2, 3), (3, 4), (5, 2)])
    assert within(chain, 2, 1) == {2: 0, 1: 1, 5: 1, 3: 1}
    assert set(within(chain, 2, 2)) == {0, 1, 2, 3, 4, 5}
    sub, outside = neighbourhood(chain, 0, 2)
    assert list(sub.edges) == [(0, 1), (1, 2)]
    assert outside == {0: 0, 1: 0, 2: 2}  # 2 also touches 3 and 5, not shown


def test_neighbourhood_view_follows_the_selection():
    debugger = Debugger(load("mazur"))
    state = GraphState()
    state.toggle_neighbourhood()
    tr = debugger.trace
    net_h1 = tr.find("net_h1").id
    view = state.view(tr, net_h1)
    assert view.centre == net_h1 and view.hops == 2
    assert set(view.graph) == set(within(tr.graph, net_h1, 2))
    state.change_hops(-5)
    assert state.hops == 1
    assert set(state.view(tr, net_h1).graph) == {net_h1, *tr.graph.pred[net_h1],
                                                 *tr.graph.succ[net_h1]}


# --- the minimap (pure) ------------------------------------------------------------------------


def test_minimap_marks_boxes_and_the_window():
    graph = nx.DiGraph([(k, k + 1) for k in range(40)])
    sizes = {n: box_size([f"node {n}"]) for n in graph}
    layout = layout_graph(graph, sizes)
    minimap = Minimap(layout, 20, 5)
    assert 1 <= minimap.width <= 20 and 3 <= minimap.height <= 5
    assert all(len(row) == minimap.width for row in minimap.text)
    assert all(0x2800 <= ord(c) <= 0x28FF for row in minimap.text for c in row)
    assert any(c != "\u2800" for row in minimap.text for c in row)  # boxes made dots
    rows = minimap.rows((0, 0, 30, 10), current=[0], done=lambda nodes: max(nodes) < 10)
    first = rows[minimap.cell_of(0, 0)[1]][0]
    assert first.view and first.current
    done = [run for row in rows for run in row if run.done]
    assert 0 < sum(len(run.text) for run in done) < minimap.width  # the first nodes' cells
    assert not rows[-1][-1].view  # the window is at the left
    col, row = minimap.cell_of(*minimap.canvas_point(3, 1))
    assert (col, row) == (3, 1)


# --- the app (Pilot) ---------------------------------------------------------------------------


async def press(pilot, *keys: str) -> None:
    """Unlike tests.test_tui_app.press, settle after every key (each may start a layout)."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


def graph_of(app) -> GraphView:
    assert isinstance(app.screen, DebuggerScreen)
    return app.screen.query_one(GraphView)


async def test_collapse_and_expand_with_x():
    app = GradstepApp(load("xor"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        graph = graph_of(app)
        debugger = app.screen.debugger
        assert not any(is_group_box(b) for b in graph.layout_.boxes)  # small: open
        debugger.selected = debugger.trace.find("z1").id
        await press(pilot, "x")
        group = group_box(graph.view.grouping.group_of[debugger.selected])
        assert group in graph.layout_.boxes and group in graph.layout_.heavy
        assert debugger.trace.find("z1").id not in graph.layout_.boxes
        assert graph.view.output(group) == debugger.trace.find("h1").id
        await press(pilot, "x")  # the selection is still in the group: it opens again
        assert not any(is_group_box(b) for b in graph.layout_.boxes)
        await press(pilot, "X")
        assert sum(is_group_box(b) for b in graph.layout_.boxes) == 2
        await press(pilot, "X")
        assert not any(is_group_box(b) for b in graph.layout_.boxes)


async def test_stepping_through_a_collapsed_group_keeps_its_box_current():
    app = GradstepApp(load("xor"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "X")
        graph = graph_of(app)
        debugger = app.screen.debugger
        seen = set()
        for _ in range(len(debugger.trace.nodes) + len(debugger.trace.backward)):  # both passes
            node = debugger.current_node
            box = graph.view.box_of[node]
            assert graph.box_status(box) == "current"
            if is_group_box(box):
                seen.add(box)
                label = graph._labels[box]
                assert label[0].startswith("▸ layer")
            await press(pilot, "n")
        assert seen == {group_box(0), group_box(1)}


async def test_selecting_a_collapsed_group_selects_its_output():
    app = GradstepApp(load("xor"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "X")
        graph = graph_of(app)
        debugger = app.screen.debugger
        debugger.selected = debugger.trace.find("X").id
        await press(pilot, "l")  # hjkl move between boxes, groups included
        assert debugger.selected == debugger.trace.find("h1").id
        box = graph.layout_.boxes[group_box(0)]
        await pilot.click(GraphView, offset=(box.x - int(graph.scroll_x) + 2,
                                             box.y - int(graph.scroll_y) + 1))
        await settle(pilot)
        assert debugger.selected == debugger.trace.find("h1").id


async def test_neighbourhood_view_toggles_and_follows_steps():
    app = GradstepApp(load("mazur"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        graph = graph_of(app)
        debugger = app.screen.debugger
        whole = len(graph.layout_.boxes)
        await press(pilot, "v")
        assert graph.view.hops == 2
        assert set(graph.layout_.boxes) == set(within(debugger.trace.graph,
                                                      debugger.selected, 2))
        assert len(graph.layout_.boxes) < whole
        await press(pilot, "n", "n", "n")
        assert graph.view.centre == debugger.current_node  # re-centred on the new step
        assert debugger.current_node in graph.layout_.boxes
        await press(pilot, "greater_than_sign")
        assert graph.view.hops == 3
        await press(pilot, "less_than_sign", "less_than_sign", "less_than_sign")
        assert graph.view.hops == 1
        await press(pilot, "v")
        assert graph.view.hops is None and len(graph.layout_.boxes) == whole


async def test_minimap_shows_on_a_big_graph_and_jumps_the_window():
    app = GradstepApp(generated(2000))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        graph = graph_of(app)
        assert any(is_group_box(b) for b in graph.layout_.boxes)  # opened collapsed
        assert graph.minimap_shown
        minimap = graph._minimap
        view_w, view_h = graph.scrollable_content_region.size
        # the graph opens at its first forward step, on the left; click the minimap's last
        # cell: the window jumps to the end of the graph
        start = graph.scroll_offset
        await pilot.click(GraphView, offset=(view_w - 2, view_h - 1))
        await pilot.pause()
        assert graph.scroll_offset.x > start.x
        runs = graph._minimap_runs(minimap, *graph.scroll_offset, view_w, view_h)
        assert any(run.view for row in runs for run in row)  # the window is marked
        await press(pilot, "m")
        assert not graph.minimap_shown
        await press(pilot, "m")
        assert graph.minimap_shown


async def test_a_5000_node_network_opens_collapsed_without_freezing():
    app = GradstepApp(generated(5000))
    ticks: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.set_interval(0.02, lambda: ticks.append(time.perf_counter()))
        started = time.perf_counter()
        while not isinstance(app.screen, DebuggerScreen) or app.screen.debugger is None:
            await asyncio.sleep(0.02)
            assert time.perf_counter() - started < 60, "the network never opened"
        await settle(pilot)
        # The event loop kept ticking while the worker traced and laid out the graph (how
        # smoothly is measured by benchmarks/tui_steps.py, not asserted here: timings are noisy).
        assert len(ticks) >= 2
        graph = graph_of(app)
        debugger = app.screen.debugger
        assert len(debugger.trace.nodes) > 4900
        assert sum(is_group_box(b) for b in graph.layout_.boxes) > 300
        assert len(graph.layout_.boxes) < 400
        await press(pilot, "n")
        assert debugger.position == 1
        await press(pilot, "G")
        assert debugger.stepper.at_end
        steps = app.screen.query_one(StepList)
        assert steps.prompt(debugger.position).startswith("▶ U")
        assert steps.prompt(0).startswith("✓ F")


async def test_step_list_marks_and_chooses_steps():
    app = GradstepApp(load("mazur"))
    async with app.run_test(size=(200, 50)) as pilot:  # the graph fits beside the steps
        await settle(pilot)
        debugger = app.screen.debugger
        steps = app.screen.query_one(StepList)
        await press(pilot, "n", "n")
        assert [steps.prompt(k)[:2] for k in range(4)] == ["✓ ", "✓ ", "▶ ", "· "]
        steps.focus()
        await press(pilot, "down", "down", "enter")
        assert debugger.position == 4
        assert steps.prompt(4).startswith("▶ F   5")
        top = int(steps.scroll_y)
        await pilot.click(StepList, offset=(4, 1 + 1))  # border, then the second row shown
        await settle(pilot)
        assert debugger.position == top + 1


async def test_command_palette_lists_only_the_best_node_matches_on_a_big_graph():
    app = GradstepApp(generated(2000))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = app.screen.debugger
        await press(pilot, "ctrl+p", "w")
        entries = palette_entries(app)
        nodes = [e.removeprefix("Go to node: ") for e in entries if e.startswith("Go to node: ")]
        found, shown = debugger.find("w"), NodeCommands.MAX_HITS
        assert len(found) > 300
        assert nodes == [debugger.trace.nodes[k].name for k in found[:shown]] + [
            f"{len(found) - shown:,} more match, type more of the name"]


@pytest.mark.parametrize("name", ["mazur", "xor", "generated-2000"])
async def test_a_step_repaints_only_what_changed_and_nothing_goes_stale(name):
    big = name.startswith("generated")
    app = GradstepApp(generated(2000) if big else load(name))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        graph = graph_of(app)
        if name == "xor":
            await press(pilot, "X")  # collapsed groups change state too
        assert graph.minimap_shown == big  # its cells follow the steps too
        debugger = app.screen.debugger
        keys = ["n"] * (12 if big else 30) + ["l", "j", "N", "b", "n", "h", "k"] + ["N"] * 5
        for key in keys:
            await press(pilot, key)
            stepped = app.export_screenshot()
            for panel in (graph, *app.screen.query("StepList, #inspector, #narration")):
                panel.refresh()  # everything, from scratch
            await pilot.pause()
            assert app.export_screenshot() == stepped, f"stale rows after {key!r} at " \
                f"step {debugger.position}"


async def test_parameter_table_follows_jumps_and_updates_on_a_big_network():
    from textual.widgets import TabbedContent

    from tui.params_panel import param_rows
    from tui.params_table import ParamsTable

    app = GradstepApp(generated(500))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = app.screen.debugger
        table = app.screen.query_one(ParamsTable)
        await press(pilot, "G")  # the last step, in the update phase: the table's tab opens
        assert app.screen.query_one(TabbedContent).active == "params-tab"
        assert table.rows == param_rows(debugger) and len(table.rows) > 100
        assert table.line(None).split() == ["param", "value", "grad", "−lr·grad", "new"]
        assert table.render_line(0).text.startswith(" param ")  # wider than the panel: cut
        start, _ = debugger.phase_bounds("update")
        debugger.goto(start + 120)
        app.screen.moved()
        await pilot.pause()
        assert table.highlighted == 120
        top, height = int(table.scroll_y), table.scrollable_content_region.height
        assert top <= 120 <= top + height - 2  # in view, below the header
        width = table.scrollable_content_region.width
        assert table.render_line(120 - top + 1).text == table.line(120)[:width]
        row = table.rows[120]
        assert row[4] != "·" and table.rows[121][4] == "·"  # updated so far, not beyond
        shown = app.export_screenshot()
        table.refresh()  # drawn from scratch: nothing was stale
        await pilot.pause()
        assert app.export_screenshot() == shown
        await press(pilot, "g")  # back to the start: no gradient is known yet
        assert table.highlighted is None and {r[2] for r in table.rows} == {"·"}
        table.focus()
        top = int(table.scroll_y)
        await press(pilot, "down", "down")
        assert int(table.scroll_y) == top + 2
        assert table.render_line(0).text.split()[0] == "param"  # the header stays
        assert table.render_line(1).text.rstrip() == table.line(top + 2).rstrip()
