"""The graph on a teacher's screen: the whole network fits where it can, no name is cut mid-word,
the minimap never covers the graph, the key bar's keys never overlap, slides show the whole
loss box."""

from __future__ import annotations

from itertools import pairwise

import pytest

from scenarios.loader import load
from tui.app import GradstepApp
from tui.box_text import name_lines
from tui.graph_view import COMPACT, FIT, GraphView
from tui.key_bar import PALETTE, KeyBar
from tui.state import Debugger
from tui.views import COMPACT_WIDTHS, GraphState, node_label

from .screen_text import svg_text
from .test_tui_app import debugger_of, press, settle
from .test_tui_big_graphs import generated

SIZES = [(80, 24), (88, 23), (112, 30), (120, 40), (142, 38)]


def graph_of(app) -> GraphView:
    return app.screen.query_one(GraphView)


def visible_boxes_fit(graph: GraphView) -> list[str]:
    """The names of the boxes not wholly inside the graph's window (scrolled to the start)."""
    view_w, view_h = graph.scrollable_content_region.size
    trace = graph.debugger.trace
    return [trace.nodes[box].name for box, b in graph.layout_.boxes.items()
            if b.x + b.w > view_w or b.y + b.h > view_h]


# --- 2. the whole network fits in the normal layout ---------------------------------------------


@pytest.mark.parametrize(("name", "size"), [("mazur", (120, 40)), ("mazur", (142, 38)),
                                            ("house-price", (80, 24)),
                                            ("house-price", (120, 40))])
async def test_every_node_is_inside_the_window_in_the_normal_layout(name, size):
    app = GradstepApp(load(name))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        graph = graph_of(app)
        assert graph.scroll_offset == (0, 0)
        assert visible_boxes_fit(graph) == []
        debugger = debugger_of(app)
        debugger.goto(debugger.phase_bounds("backward")[1])  # every value and gradient known
        for node in debugger.trace.nodes:  # readable: the whole name, numbers not cut
            box = graph.layout_.boxes[node.id]
            *name_rows, value, grad = node_label(debugger, node.id, graph.layout_.zoom, box.w)
            if graph.layout_.zoom == COMPACT:
                assert "".join(name_rows) == node.name
            assert "…" not in value + grad


async def test_the_side_panel_folds_only_when_the_graph_needs_the_width():
    app = GradstepApp(load("mazur"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        side = app.screen.query_one("#side")
        assert not side.display  # mazur needs the whole width at 120 columns
        await press(pilot, "i")  # the inspector comes back; the graph scrolls then
        assert side.display
    app = GradstepApp(load("house-price"))  # fits beside the side panel: it stays
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#side").display
        assert visible_boxes_fit(graph_of(app)) == []


# --- 3. names: split at a separator, never mid-word; no two boxes alike -------------------------


@pytest.mark.parametrize("name", ["mazur", "house-price", "dog-vs-cat"])
def test_compact_boxes_never_cut_a_name_mid_word_and_never_look_alike(name):
    debugger = Debugger(load(name))
    nodes = debugger.trace.nodes
    state = GraphState()
    view = state.view(debugger.trace)
    layouts = [state._cached(debugger, view, COMPACT, cap) for cap in COMPACT_WIDTHS]
    for width, height in SIZES:  # what fit chooses beside the side panel and without it
        for graph_w in (width, width - 48):
            state.size = (graph_w, height - 6)
            layouts.append(state.layout(debugger, FIT))
    for layout in layouts:
        if layout.zoom != COMPACT:
            continue
        shown = {}
        for node in nodes:
            rows = name_lines(node.name, layout.boxes[node.id].w)
            assert "".join(rows) == node.name, rows  # nothing cut
            if len(rows) == 2:  # split at a separator: ``weighted`` / ``_h1``, ``w5·`` / ``out``
                assert rows[0].endswith("·") or rows[1][0] in "_./-", rows
            shown.setdefault(tuple(rows), set()).add(node.name)
        assert all(len(names) == 1 for names in shown.values()), shown


def test_a_name_that_needs_more_cells_than_the_cap_gets_them():
    debugger = Debugger(load("mazur"))
    state = GraphState()
    layout = state._cached(debugger, state.view(debugger.trace), COMPACT, 6)
    weighted = [n.id for n in debugger.trace.nodes if n.name.startswith("weighted_")]
    assert len(weighted) == 4
    for node in weighted:  # "weighted" / "_h1": 8 cells, where the cap said 6
        assert layout.boxes[node].w == 8


# --- 1. the minimap never covers the graph ----------------------------------------------------


def band_of(graph: GraphView) -> tuple[int, int, int]:
    """The minimap's rectangle in the window: its first row, its first column, the window's
    height."""
    minimap = graph._minimap_for_size()
    view_w, view_h = graph.scrollable_content_region.size
    return view_h - minimap.height - 1, view_w - minimap.width - 2, view_h


def assert_minimap_covers_nothing(graph: GraphView) -> None:
    top, left, view_h = band_of(graph)
    scroll_x, scroll_y = int(graph.scroll_x), int(graph.scroll_y)
    layout = graph.layout_
    for y in range(top, view_h):
        text = graph.render_line(y).text
        assert text[:left].strip() == "", (y, text)  # no graph in the band, left of the map
        assert all(c == " " or 0x2800 <= ord(c) <= 0x28FF for c in text[left:]), (y, text)
    # and the graph above the band is drawn as the layout says: the band hides, not shifts
    row = next((y for y in range(top) if layout.draw_row(scroll_y + y, graph._labels, scroll_x,
                                                         scroll_x + left).text.strip()), None)
    if row is not None:
        expected = layout.draw_row(scroll_y + row, graph._labels, scroll_x, scroll_x + left).text
        assert graph.render_line(row).text[:len(expected)] == expected


@pytest.mark.parametrize("size", [(80, 24), (88, 23), (112, 30), (120, 40)])
@pytest.mark.parametrize("present", [False, True])
@pytest.mark.parametrize("network", ["mazur", "big"])
async def test_the_minimap_never_covers_a_box_or_an_arrow(size, present, network):
    app = GradstepApp(load("mazur") if network == "mazur" else generated(2000), present=present)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        graph = graph_of(app)
        if not graph.minimap_shown:  # the whole graph fits: m shows the minimap anyway
            await press(pilot, "m")
        assert graph.minimap_shown
        assert_minimap_covers_nothing(graph)
        await press(pilot, "G")  # the last step, the loss at the right
        assert_minimap_covers_nothing(graph)
        graph.scroll_to(graph.max_scroll_x, graph.max_scroll_y, animate=False, immediate=True)
        await settle(pilot)
        assert_minimap_covers_nothing(graph)
        # scrolled to the end, the lowest box is in the window, above the minimap's band
        top, _, _ = band_of(graph)
        lowest = max(b.y + b.h for b in graph.layout_.boxes.values())
        assert lowest - int(graph.scroll_y) <= top


# --- 4. the key bar -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (88, 23), (100, 30), (120, 40)])
async def test_the_key_bar_shows_whole_keys_that_never_overlap_and_keeps_help(size):
    app = GradstepApp(load("mazur"))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(KeyBar)
        keys = [k for k in bar.query_children("FooterKey") if k.display]
        palette = next(k for k in keys if k.has_class(PALETTE))
        shown = [k for k in keys if k is not palette]
        assert "Help" in [k.description for k in shown]
        spans = sorted((k.region.x, k.region.right) for k in shown)
        assert spans[-1][1] <= palette.region.x  # nothing under the palette's key
        assert all(a[1] <= b[0] for a, b in pairwise(spans))
        assert palette.region.right <= size[0]
        last_row = app.screen.query_one(KeyBar).region.y
        row = svg_text(app.export_screenshot()).splitlines()[last_row]
        for key in shown:  # each key reads whole on screen, and nothing after the palette's
            assert key.description in row
        assert row.rstrip().endswith("palette")


async def test_in_a_quiz_the_narrow_key_bar_keeps_the_answer_key():
    app = GradstepApp(load("chain-rule"), quiz=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "c", "n")  # the first backward step asks its question
        bar = app.screen.query_one(KeyBar)
        shown = [k.description for k in bar.query_children("FooterKey") if k.display]
        assert "Answer" in shown and "Help" in shown


# --- 5. slides show the whole loss box -----------------------------------------------------------


@pytest.mark.parametrize(("name", "steps"), [("mazur", (0, 43, 63, 86)),
                                             ("house-price", (0, 7, 12)),
                                             ("dog-vs-cat", (0, 13, 20))])
async def test_a_presenter_slide_shows_the_whole_loss_box(name, steps):
    """As ``gradstep export --svg --present`` draws it: the loss box's every cell on the slide,
    with a blank column after it (a box flush with the slide's edge reads as cut)."""
    app = GradstepApp(load(name), present=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.screen.add_class("-slide")
        await settle(pilot)
        graph, debugger = graph_of(app), debugger_of(app)
        loss = len(debugger.trace.nodes) - 1
        box = graph.layout_.boxes[loss]
        view_w, _ = graph.scrollable_content_region.size
        assert box.x + box.w < view_w and view_w == 120
        for step in steps:
            debugger.goto(step)
            app.screen.moved()
            await settle(pilot)
            assert graph.scroll_offset == (0, 0)
            rows = svg_text(app.export_screenshot()).splitlines()
            top = graph.region.y + box.y
            drawn = [rows[top + k][box.x:box.x + box.w + 1] for k in range(box.h)]
            label = graph._labels[loss]
            if graph.layout_.border:
                assert drawn[0][0] == "╭" and drawn[-1][box.w - 1] == "╯", drawn
            else:
                assert [line[:box.w].rstrip() for line in drawn] == [
                    line.rstrip() for line in label], drawn
            assert all(line[box.w:] == " " * (len(line) - box.w) for line in drawn), drawn


@pytest.mark.parametrize("name", ["digit-4-vs-9", "house-price"])
def test_full_boxes_with_room_to_spare_show_every_number_whole(name):
    """Presenter mode at 120x40: small networks get full boxes as wide as their numbers need
    (digit-4-vs-9's scores read ``[2.65, 1.8]``, not ``[2.65, …``)."""
    debugger = Debugger(load(name))
    state = GraphState()
    state.size = (120, 40 - 1 - 8 - 1)
    layout = state.layout(debugger, FIT)
    assert layout.zoom == "full" and layout.width < 120
    for moment in (debugger.phase_bounds("backward")[1], debugger.phase_bounds("update")[0]):
        debugger.goto(moment)
        for node in debugger.trace.nodes:
            label = node_label(debugger, node.id, layout.zoom, layout.boxes[node.id].w)
            assert "…" not in "".join(label), label
