"""Tests of the graph layout and its text drawing, independent of any UI.

Golden pictures live in tests/golden/layout/; run with GRADSTEP_UPDATE_GOLDEN=1 to rewrite them
(then look at every changed file before keeping it: the picture is the real test).
"""

from __future__ import annotations

from collections import deque

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.golden import check_golden
from tui.graph_layout import Box, Layout, Spacing, box_size, layout_graph

# Arms of each line character: which sides of its cell the line leaves through. Written out
# here again (not imported) so that the test checks the drawing independently.
L, R, U, D = "L", "R", "U", "D"
ARMS = {
    "─": {L, R},
    "│": {U, D},
    "┌": {R, D},
    "┐": {L, D},
    "└": {R, U},
    "┘": {L, U},
    "┬": {L, R, D},
    "┴": {L, R, U},
    "├": {U, D, R},
    "┤": {U, D, L},
    "┼": {L, R, U, D},
    "►": {L},
}
STEP = {L: (-1, 0), R: (1, 0), U: (0, -1), D: (0, 1)}
OPPOSITE = {L: R, R: L, U: D, D: U}


def build(edges, names=None, nodes=()):
    """A DiGraph of int nodes from ``edges``, with one-line labels (names or the number)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    names = names or {}
    labels = {n: [names.get(n, str(n))] for n in graph}
    return graph, labels


def lay_out(graph, labels, border=True) -> Layout:
    return layout_graph(graph, {n: box_size(labels[n], border) for n in graph}, border=border)


def mazur():
    """Matt Mazur's 2-2-2 network at neuron level, one node per op, inputs in written order."""
    graph = nx.DiGraph()
    names: dict[int, str] = {}

    def node(name, *inputs):
        n = len(names)
        names[n] = name
        graph.add_node(n)
        graph.add_edges_from((i, n) for i in inputs)
        return n

    i1, i2 = node("i1"), node("i2")
    w = {k: node(f"w{k}") for k in range(1, 9)}
    b1, b2 = node("b1"), node("b2")

    def neuron(wa, xa, wb, xb, b, net, out):
        weighted = node("+", node("*", wa, xa), node("*", wb, xb))
        return node(f"{out}=σ", node(f"{net}=+", weighted, b))

    out_h1 = neuron(w[1], i1, w[2], i2, b1, "net_h1", "out_h1")
    out_h2 = neuron(w[3], i1, w[4], i2, b1, "net_h2", "out_h2")
    out_o1 = neuron(w[5], out_h1, w[6], out_h2, b2, "net_o1", "out_o1")
    out_o2 = neuron(w[7], out_h1, w[8], out_h2, b2, "net_o2", "out_o2")

    def half_square_error(target, out):
        return node("*", node("0.5"), node("**2", node("-", node(target), out)))

    node("E=+", half_square_error("t1", out_o1), half_square_error("t2", out_o2))
    return graph, {n: [names[n]] for n in graph}


def golden_case(name):
    """The graph, labels and zoom of each golden picture."""
    if name == "chain":
        return (*build([(0, 1), (1, 2), (2, 3)], dict(enumerate("abcd"))), True)
    if name == "fork":
        names = {0: "x", 1: "sin", 2: "cos", 3: "+"}
        return (*build([(0, 1), (0, 2), (1, 3), (2, 3)], names), False)
    if name == "diamond":
        # Three-line boxes: the product's two inputs get a port each.
        graph, _ = build([(0, 1), (0, 2), (1, 3), (2, 3)])
        labels = {
            0: ["a", "v=2.0"],
            1: ["b=a+1", "v=3.0"],
            2: ["c=a*a", "v=4.0"],
            3: ["d=b*c", "v=12.0", "g=1.0"],
        }
        return graph, labels, True
    if name == "long_edge":
        # x feeds the end of a chain directly, and a leaf constant joins at the end.
        names = {0: "x", 1: "f", 2: "g", 3: "h", 4: "k"}
        return (*build([(0, 1), (1, 2), (2, 3), (0, 3), (4, 3)], names), True)
    if name == "mazur":
        return (*mazur(), True)
    if name == "mazur_chips":
        return (*mazur(), False)
    raise KeyError(name)


GOLDEN_CASES = ["chain", "fork", "diamond", "long_edge", "mazur", "mazur_chips"]


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden(name):
    graph, labels, border = golden_case(name)
    layout = lay_out(graph, labels, border)
    check_layout(graph, layout, labels)
    check_golden("layout", name, layout.draw(labels))


def check_layout(graph: nx.DiGraph, layout: Layout, labels=None) -> None:
    """Every structural property a correct, readable drawing must have."""
    boxes = layout.boxes
    assert set(boxes) == set(graph)
    # Boxes are inside the canvas and never overlap.
    owner_of: dict[tuple[int, int], object] = {}
    for node, b in boxes.items():
        assert b.x >= 0 and b.y >= 0
        assert b.x + b.w <= layout.width and b.y + b.h <= layout.height
        for y in range(b.y, b.y + b.h):
            for x in range(b.x, b.x + b.w):
                assert (x, y) not in owner_of, f"{node} overlaps {owner_of[x, y]}"
                owner_of[x, y] = node
    # node_at agrees with the boxes on every cell of the canvas (and a bit beyond).
    for y in range(-1, layout.height + 1):
        for x in range(-1, layout.width + 1):
            assert layout.node_at(x, y) == owner_of.get((x, y))

    # Rows: exact width; spans sorted, disjoint, non-blank, and blank everywhere else.
    grid: dict[tuple[int, int], str] = {}
    cell_owner: dict[tuple[int, int], object] = {}
    cell_tag: dict[tuple[int, int], str] = {}
    for y in range(layout.height):
        row = layout.draw_row(y, labels)
        assert len(row.text) == layout.width
        end = 0
        for span in row.spans:
            assert end <= span.start < span.end <= layout.width
            end = span.end
            for x in range(span.start, span.end):
                cell_owner[x, y] = span.owner
                cell_tag[x, y] = span.tag
        for x, char in enumerate(row.text):
            grid[x, y] = char
            if (x, y) not in cell_tag:
                assert char == " "
    # A box's cells are exactly the cells tagged "box" with that node as owner.
    for (x, y), tag in cell_tag.items():
        assert (tag == "box") == ((x, y) in owner_of)
        if tag == "box":
            assert cell_owner[x, y] == owner_of[x, y]

    def arms(cell):
        return ARMS[grid[cell]] if cell_tag.get(cell) in ("edge", "arrow") else set()

    # No dangling line: every arm meets an arm coming back, an arrow's tip meets a box's left
    # side, and a line leaving a box leaves from its right side.
    for cell, tag in cell_tag.items():
        if tag == "box":
            continue
        x, y = cell
        for side in arms(cell):
            dx, dy = STEP[side]
            other = (x + dx, y + dy)
            if OPPOSITE[side] in arms(other):
                continue
            assert side == L and cell_tag.get(other) == "box", f"dangling {grid[cell]} at {cell}"
            assert boxes[owner_of[other]].x + boxes[owner_of[other]].w - 1 == other[0]
        if tag == "arrow":
            right = (x + 1, y)
            assert cell_tag.get(right) == "box" and boxes[owner_of[right]].x == right[0]

    def edges_at(cell):
        owner = cell_owner.get(cell)
        if cell_tag.get(cell) not in ("edge", "arrow"):
            return set()
        return set(owner) if isinstance(owner, frozenset) else {owner}

    def coherent(edges):
        """Lines may only join where they all leave one node or all enter one node."""
        return len({u for u, _ in edges}) == 1 or len({v for _, v in edges}) == 1

    # No ambiguous merge: the edges in a cell share their source or their target, except where
    # two unrelated lines cross (┼ with different edges across and along).
    for cell, tag in cell_tag.items():
        if tag == "box":
            continue
        here = edges_at(cell)
        if coherent(here):
            continue
        x, y = cell
        assert grid[cell] == "┼", f"{grid[cell]} at {cell} joins unrelated edges {here}"
        across = here & (edges_at((x - 1, y)) | edges_at((x + 1, y)))
        along = here & (edges_at((x, y - 1)) | edges_at((x, y + 1)))
        assert not across & along and coherent(across) and coherent(along), f"┼ at {cell}"

    def carries(cell, edge):
        owner = cell_owner.get(cell)
        tag = cell_tag.get(cell)
        if tag not in ("edge", "arrow"):
            return False
        return owner == edge or (isinstance(owner, frozenset) and edge in owner)

    # Each edge's cells form one path from its source's right side to an arrow into its target.
    edge_cells: dict[object, set] = {}
    for cell in cell_tag:
        owner = cell_owner[cell]
        if cell_tag[cell] != "box":
            for edge in owner if isinstance(owner, frozenset) else [owner]:
                edge_cells.setdefault(edge, set()).add(cell)
    assert set(edge_cells) == set(graph.edges)
    for u, v in graph.edges:
        source, target = boxes[u], boxes[v]
        starts = [
            (source.x + source.w, y)
            for y in range(source.y, source.y + source.h)
            if carries((source.x + source.w, y), (u, v))
        ]
        assert len(starts) == 1, f"edge {u}->{v} leaves {u} {len(starts)} times"
        seen = {starts[0]}
        queue = deque(seen)
        while queue:
            x, y = queue.popleft()
            for side in arms((x, y)):
                dx, dy = STEP[side]
                other = (x + dx, y + dy)
                if other not in seen and carries(other, (u, v)) and OPPOSITE[side] in arms(other):
                    seen.add(other)
                    queue.append(other)
        assert seen == edge_cells[u, v], f"edge {u}->{v} is not one connected line"
        ends = [c for c in seen if cell_tag[c] == "arrow"]
        assert len(ends) == 1, f"edge {u}->{v} has {len(ends)} arrows"
        ax, ay = ends[0]
        assert ax == target.x - 1 and target.y <= ay < target.y + target.h


@st.composite
def dags(draw):
    """Random DAGs up to 40 nodes with random box sizes and zoom."""
    n = draw(st.integers(1, 40))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    edges = [(a, b) for a, b in draw(st.lists(pairs, max_size=2 * n)) if a < b]
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    border = draw(st.booleans())
    if border:
        size = st.tuples(st.integers(2, 9), st.integers(3, 6))
    else:
        size = st.tuples(st.integers(1, 9), st.just(1))
    sizes = {node: draw(size) for node in graph}
    return graph, sizes, border


@settings(max_examples=150, deadline=None)
@given(dags())
def test_random_dags_draw_correctly(case):
    graph, sizes, border = case
    layout = layout_graph(graph, sizes, border=border)
    check_layout(graph, layout)


def test_sinks_last_and_leaves_next_to_their_consumer():
    graph, labels = mazur()
    layout = lay_out(graph, labels)
    column = {n: k for k, nodes in enumerate(layout.columns) for n in nodes}
    loss = next(n for n in graph if labels[n] == ["E=+"])
    assert column[loss] == len(layout.columns) - 1
    for n in graph:
        if graph.in_degree(n) == 0:
            assert column[n] == min(column[s] for s in graph.succ[n]) - 1, labels[n]


def test_chain_is_one_straight_row():
    graph, labels = build([(0, 1), (1, 2), (2, 3)], dict(enumerate("abcd")))
    layout = lay_out(graph, labels, border=False)
    assert layout.draw(labels) == "a─►b─►c─►d"
    assert [b.y for b in layout.boxes.values()] == [0, 0, 0, 0]


def test_draw_row_spans_and_owners():
    graph, labels = build([(0, 1), (1, 2)], {0: "x", 1: "sq", 2: "y"})
    layout = lay_out(graph, labels, border=False)
    row = layout.draw_row(0, labels)
    assert row.text == "x─►sq─►y"
    assert [(s.start, s.end, s.tag, s.owner) for s in row.spans] == [
        (0, 1, "box", 0),
        (1, 2, "edge", (0, 1)),
        (2, 3, "arrow", (0, 1)),
        (3, 5, "box", 1),
        (5, 6, "edge", (1, 2)),
        (6, 7, "arrow", (1, 2)),
        (7, 8, "box", 2),
    ]


def test_shared_cells_are_owned_by_a_frozenset():
    # x feeds sin and cos: the first cell after x carries both edges.
    graph, labels = build([(0, 1), (0, 2)], {0: "x", 1: "sin", 2: "cos"})
    layout = lay_out(graph, labels, border=False)
    b = layout.boxes[0]
    row = layout.draw_row(b.y, labels)
    first = next(s for s in row.spans if s.start == b.x + b.w)
    assert first.tag == "edge" and first.owner == frozenset({(0, 1), (0, 2)})


def test_labels_are_cut_with_an_ellipsis_and_padded():
    graph, _ = build([(0, 1)])
    layout = layout_graph(graph, {0: (7, 4), 1: (4, 1)}, border=False)
    assert layout.draw_row(layout.boxes[1].y, {1: ["longer"]}).text.endswith("lon…")
    layout = layout_graph(graph, {0: (7, 4), 1: (4, 3)})
    labels = {0: ["abcdefgh", "ab"], 1: ["z"]}
    rows = [layout.draw_row(layout.boxes[0].y + k, labels).text[:7] for k in range(4)]
    assert rows == ["╭─────╮", "│ ab… │", "│ ab  ├", "╰─────╯"]


def test_tight_spacing_puts_the_corner_against_the_box_and_extra_widens_channels():
    graph, _ = build([(0, 1), (0, 2)])
    sizes = {0: (3, 1), 1: (3, 1), 2: (3, 1)}
    normal = layout_graph(graph, sizes, border=False)
    tight = layout_graph(graph, sizes, border=False, spacing=Spacing(lead=0))
    spread = layout_graph(graph, sizes, border=False, spacing=Spacing(gap=3, extra=4))
    assert tight.width == normal.width - 2  # no lead-out, no lead-in cell
    assert spread.width == normal.width + 4
    assert spread.boxes[2].y - spread.boxes[1].y == normal.boxes[2].y - normal.boxes[1].y + 2
    row = tight.draw_row(tight.boxes[0].y, {0: ["abc"]}).text
    assert row.startswith("abc┬") or row.startswith("abc┤") or row.startswith("abc┐")


def test_box_size():
    assert box_size(["mul", "v=1.5"]) == (9, 4)
    assert box_size(["[mul]"], border=False) == (5, 1)


def test_bad_input_is_refused():
    graph, labels = build([(0, 1), (1, 0)])
    with pytest.raises(ValueError, match="cycle"):
        lay_out(graph, labels)
    graph, _ = build([(0, 1)])
    with pytest.raises(ValueError, match="no size"):
        layout_graph(graph, {0: (3, 3)})
    with pytest.raises(ValueError, match="at least"):
        layout_graph(graph, {0: (3, 1), 1: (3, 3)})


def test_empty_graph():
    layout = layout_graph(nx.DiGraph(), {})
    assert (layout.width, layout.height, layout.boxes, layout.draw()) == (0, 0, {}, "")


def test_box_geometry_is_exposed():
    graph, labels = build([(0, 1)])
    layout = lay_out(graph, labels)
    assert layout.boxes[0] == Box(0, 0, 5, 3)
    assert layout.node_at(2, 1) == 0 and layout.node_at(5, 1) is None


def test_a_window_of_a_row_is_that_slice_of_the_row():
    graph, labels = mazur()
    layout = lay_out(graph, labels)
    for y in range(layout.height):
        full = layout.draw_row(y, labels)
        for start, end in [(0, 7), (5, 37), (40, 140), (layout.width - 9, layout.width + 4)]:
            window = layout.draw_row(y, labels, start, end)
            # Past the canvas the window is padded with blanks, so it always fills the screen.
            assert window.text == full.text[start:end].ljust(end - start)
            clipped = [
                (max(s.start, start) - start, min(s.end, end) - start, s.tag, s.owner)
                for s in full.spans
                if s.start < end and s.end > start
            ]
            assert [tuple(s) for s in window.spans] == clipped
