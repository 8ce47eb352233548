"""What the graph shows: which boxes (nodes, collapsed groups), where, and what they say.

A :class:`GraphState` holds the user's view options (which groups are collapsed, the
neighbourhood view, the minimap) and turns a debugger's trace into a :class:`View` (the graph of
boxes to draw) and its :class:`~tui.graph_canvas.Layout`. Laying out is the slow part, so it
runs in workers and its results are cached; this module imports no Textual, so all of it is
testable without a terminal.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import networkx as nx

from tracer import explain
from tracer.record import Node, Trace

from .box_text import (
    BoxNumbers,
    box_numbers,
    cut,
    grad_text,
    name_lines,
    name_width,
    natural_width,
    value_text,
)
from .graph_layout import Layout, Spacing, layout_graph
from .groups import (
    Group,
    Grouping,
    collapse_graph,
    find_groups,
    group_of_box,
    is_group_box,
)
from .neighbourhood import DEFAULT_HOPS, MAX_HOPS, MIN_HOPS, neighbourhood
from .state import Debugger, NodeState

FULL, COMPACT, CHIPS = "full", "compact", "chips"
FIT = "fit"  # the zoom that shows the whole graph with its numbers, when one does
ZOOMS = (FIT, FULL, COMPACT, CHIPS)  # the order z goes through them
ZOOM_NAMES = {FIT: "fit the window", FULL: "boxes", COMPACT: "compact, with numbers",
              CHIPS: "names only"}
FIT_LIMIT = 150  # boxes; bigger pictures are not fitted (they scroll, collapse, minimap)
FIT_MARGIN = 1  # a blank column right of a fitted graph: a box flush with the edge reads as cut
COMPACT_WIDTHS = (12, 10, 9, 8, 7, 6)  # widest first: the first that fits the window wins
COMPACT_WIDTH = 9  # a compact box's widest, when compact is chosen by hand
COMPACT_MOST = 16  # nor does room to spare make one wider than this
NORMAL, TIGHT = Spacing(), Spacing(lead=0)  # room between boxes: as drawn always; packed
PARAM_WIDTH = 20  # a parameter's full box: room for "v 0.4 → 0.3589" at its update
FULL_ROOMY = 30  # a full box's widest where the window has room for every number in full
KIND_LABEL = {"param": "param", "input": "input", "constant": "const", "loss": "loss"}
BIG_GRAPH = 300  # nodes; bigger graphs open with their groups collapsed
GROUP_MARK = "▸"  # starts a collapsed group's name


BADGES = {"error": "✖ ", "warning": "⚠ "}


def box_size(node: Node, zoom: str, natural: int = 0) -> tuple[int, int]:
    """Width and height of a node's box: fixed per node so that stepping never moves a box.

    A compact box is ``natural`` cells wide (see :func:`tui.box_text.natural_width`; the
    caller caps it), at least 4, and never so narrow that a word of its name is cut (up to
    :data:`COMPACT_MOST` cells): numbers round to any width, a name cut mid-word misleads
    (``weighte`` / ``d_h1``, or ``weight…`` for four different boxes).

    A full box is as wide as its name and kind need, up to 22 cells; given ``natural``
    (where the window has room: the fit zoom's first choice), as wide as its numbers need
    too, up to :data:`FULL_ROOMY`.
    """
    if zoom == CHIPS:
        return min(max(len(node.name) + 2, 6), 16), 1
    if zoom == COMPACT:  # the name over one or two lines, the value, the gradient
        width = max(natural, 4, min(name_width(node.name), COMPACT_MOST))
        return width, 2 + len(name_lines(node.name, width))
    shown = KIND_LABEL.get(node.kind, node.op)  # what node_label writes after the name
    least = PARAM_WIDTH if node.kind == "param" else 14
    if natural:  # "v " or "g " before a number, a border and a space of padding on each side
        return min(max(len(node.name) + len(shown) + 5, natural + 6, least), FULL_ROOMY), 5
    return min(max(len(node.name) + len(shown) + 5, least), 22), 5


def group_box_size(group: Group, zoom: str, cap: int = COMPACT_WIDTH) -> tuple[int, int]:
    """A collapsed group's box: its name (and member count), like a node's box otherwise."""
    if zoom == CHIPS:
        return min(max(len(group.name) + 4, 6), 18), 1
    if zoom == COMPACT:
        return min(max(len(group.name) + 2, 6), cap), 3
    return min(max(len(group.name) + len(str(len(group))) + 9, 14), 28), 5


def node_label(debugger: Debugger, node: int, zoom: str, width: int = 22,
               numbers: BoxNumbers | None = None) -> list[str]:
    """The text inside a node's box of ``width`` cells at the current moment: name and op, value
    (old → new at its update) and gradient, each fitted to the box."""
    nd = debugger.trace.nodes[node]
    numbers = numbers or box_numbers(debugger, node)
    name = BADGES.get(debugger.badge(node), "") + nd.name  # a diagnosis found here
    if zoom == CHIPS:
        return [name]
    if zoom == COMPACT:  # a bare box: every cell of the width is text
        return [*name_lines(name, width), value_text(numbers, width),
                "∇" + grad_text(numbers, width - 1)]
    inner = width - 4  # a border and a space of padding on each side
    return [cut(f"{name} {KIND_LABEL.get(nd.kind, nd.op)}", inner),
            "v " + value_text(numbers, inner - 2), "g " + grad_text(numbers, inner - 2)]


def group_state(debugger: Debugger, group: Group) -> tuple[str, int]:
    """A group box's status and how many of its nodes are done (the cycle's answer, see
    :meth:`tracer.network.Cycle.group_status`)."""
    return debugger.cycle.group_status(group.members, debugger.moment)


def group_label(debugger: Debugger, group: Group, zoom: str) -> list[str]:
    """A collapsed group's text: its name and size, then its output's value and gradient.

    While only some of its nodes have had their step, the line still unknown shows how many
    have (``v · 5/14``).
    """
    head = f"{GROUP_MARK} {group.name}"
    if zoom == CHIPS:
        return [head]
    if zoom == COMPACT:
        return [head, *node_label(debugger, group.output, COMPACT, 99)[1:]]
    out = debugger.trace.nodes[group.output]
    state: NodeState = debugger.node_state(group.output)
    _, done = group_state(debugger, group)
    progress = f" {done}/{len(group)}" if 0 < done < len(group) else ""
    phase = debugger.phase
    value = explain.short(out.value) if state.value_known else "·" + (
        progress if phase == "forward" else "")
    grad = explain.short(out.grad) if state.grad_known else "·" + (
        progress if phase == "backward" else "")
    return [f"{head} ({len(group)})", f"v {value}", f"g {grad}"]


@dataclass
class View:
    """The graph of boxes one picture shows.

    Box ids are node ids for nodes drawn on their own and negative ids for collapsed groups
    (see :func:`tui.groups.group_box`). ``box_of`` maps every node of the trace to the box it is
    drawn in, or would be: in the neighbourhood view only the boxes of ``graph`` are shown.
    """

    graph: nx.DiGraph
    box_of: dict[int, int]
    grouping: Grouping
    collapsed: frozenset[int] = frozenset()
    centre: int | None = None  # the neighbourhood view's centre box
    hops: int | None = None
    outside: dict[int, int] = field(default_factory=dict)  # box -> neighbours not shown

    def shown(self, box: int | None) -> bool:
        return box is not None and box in self.graph

    def group(self, box: int) -> Group | None:
        return self.grouping.groups[group_of_box(box)] if is_group_box(box) else None

    def output(self, box: int) -> int:
        """The node a box stands for: itself, or a collapsed group's output."""
        group = self.group(box)
        return group.output if group is not None else box

    def members(self, box: int) -> tuple[int, ...]:
        group = self.group(box)
        return group.members if group is not None else (box,)

    def edge(self, u: int, v: int) -> tuple[int, int] | None:
        """The drawn edge that carries the trace's edge ``u -> v``, if it is drawn."""
        a, b = self.box_of.get(u), self.box_of.get(v)
        return (a, b) if a != b and self.graph.has_edge(a, b) else None


def whole_view(trace: Trace, grouping: Grouping | None = None) -> View:
    """Every node on its own: the graph as recorded."""
    grouping = grouping or Grouping((), (None,) * len(trace.nodes))
    return View(trace.graph, {n.id: n.id for n in trace.nodes}, grouping)


def _signature(trace: Trace) -> tuple[int, int]:
    """Identifies a graph's structure and names: a re-run of the same network matches."""
    return len(trace.nodes), hash(tuple((n.name, n.op, n.inputs) for n in trace.nodes))


class GraphState:
    """The view options of one debugger screen, and a cache of the pictures made from them.

    ``collapsed`` is the set of collapsed group names, or ``None`` for the default (every group
    collapsed when the graph has more than ``threshold`` nodes, none otherwise); ``hops`` turns
    the neighbourhood view on; ``minimap`` is ``None`` for automatic (shown when the picture is
    much bigger than the window). Options change on the UI thread; :meth:`layout` may run in a
    worker.
    """

    CACHE = 24  # layouts kept (a neighbourhood view makes one per centre)

    def __init__(self, threshold: int = BIG_GRAPH) -> None:
        self.threshold = threshold
        self.collapsed: frozenset[str] | None = None
        self.hops: int | None = None
        self.minimap: bool | None = None
        self.size: tuple[int, int] | None = None  # the window FIT fits the graph into
        self._lock = threading.Lock()
        self._groupings: dict[tuple[int, int], Grouping] = {}
        self._layouts: OrderedDict[tuple, Layout] = OrderedDict()

    # --- options -------------------------------------------------------------------------------

    def grouping(self, trace: Trace) -> Grouping:
        key = _signature(trace)
        with self._lock:
            found = self._groupings.get(key)
        if found is None:
            found = find_groups(trace)
            with self._lock:
                self._groupings = {key: found}  # one graph at a time
        return found

    def collapsed_names(self, grouping: Grouping) -> frozenset[str]:
        if self.collapsed is not None:
            return self.collapsed & grouping.names
        n = len(grouping.group_of)
        return grouping.names if n > self.threshold else frozenset()

    def toggle_group(self, grouping: Grouping, group: Group) -> bool:
        """Collapse ``group`` if it is open, open it if collapsed; return whether it is now
        collapsed."""
        names = self.collapsed_names(grouping)
        self.collapsed = names - {group.name} if group.name in names else names | {group.name}
        return group.name in self.collapsed

    def toggle_all(self, grouping: Grouping) -> bool:
        """Collapse every group unless all are collapsed already, then open them all; return
        whether they are now collapsed."""
        everything = grouping.names
        self.collapsed = frozenset() if self.collapsed_names(grouping) == everything \
            else everything
        return bool(self.collapsed)

    def toggle_neighbourhood(self) -> bool:
        self.hops = None if self.hops else DEFAULT_HOPS
        return self.hops is not None

    def change_hops(self, delta: int) -> int | None:
        if self.hops is not None:
            self.hops = max(MIN_HOPS, min(self.hops + delta, MAX_HOPS))
        return self.hops

    # --- pictures ------------------------------------------------------------------------------

    def view(self, trace: Trace, selected: int | None = None) -> View:
        """The boxes to draw for ``trace``: groups collapsed, and in the neighbourhood view only
        the boxes within ``hops`` of the selected node's box."""
        grouping = self.grouping(trace)
        names = self.collapsed_names(grouping)
        closed = frozenset(g.id for g in grouping.groups if g.name in names)
        if closed:
            graph, box_of = collapse_graph(trace, grouping, closed)
        else:
            graph, box_of = trace.graph, {n.id: n.id for n in trace.nodes}
        view = View(graph, box_of, grouping, closed)
        hops = self.hops
        if hops is not None and selected is not None and selected in box_of:
            centre = box_of[selected]
            sub, outside = neighbourhood(graph, centre, hops)
            view = View(sub, box_of, grouping, closed, centre, hops, outside)
        return view

    def layout(self, debugger: Debugger, zoom: str, selected: int | None = None) -> Layout:
        """Lay out the view of ``debugger``'s graph (slow for big graphs: call it from a
        worker). The layout's ``view`` attribute is the :class:`View` it draws, its ``zoom``
        the zoom level its boxes are drawn at (for :data:`FIT`, the one chosen)."""
        trace = debugger.trace
        selected = debugger.selected if selected is None else selected
        view = self.view(trace, selected)
        if zoom == FIT:
            layout = self._fit(debugger, view)
        else:
            layout = self._cached(debugger, view, zoom, COMPACT_WIDTH)
        if len(trace.nodes) > self.threshold:
            settle(trace)
        return layout

    def _cached(self, debugger: Debugger, view: View, zoom: str, cap: int | dict[int, int],
                spacing: Spacing = NORMAL) -> Layout:
        sizes = box_sizes(debugger, view, zoom, cap)
        key = (_signature(debugger.trace), zoom, spacing, view.collapsed, view.centre,
               view.hops, hash(tuple(sizes.values())))
        with self._lock:
            layout = self._layouts.get(key)
            if layout is not None:
                self._layouts.move_to_end(key)
        if layout is None:
            layout = lay_out(view, sizes, zoom, spacing)
            with self._lock:
                self._layouts[key] = layout
                while len(self._layouts) > self.CACHE:
                    self._layouts.popitem(last=False)
        return layout

    def fits(self, debugger: Debugger, size: tuple[int, int]) -> bool:
        """Whether the fit zoom shows every box of ``debugger``'s graph in a window of
        ``size`` cells (rather than falling back to full boxes to scroll)."""
        view = self.view(debugger.trace, debugger.selected)
        return self._fitting(debugger, view, size) is not None

    def _fitting(self, debugger: Debugger, view: View, size: tuple[int, int]
                 ) -> tuple[Layout, str, int, Spacing] | None:
        """The most readable zoom whose layout fits ``size``, with its cap and spacing, or
        ``None`` (big graphs are never fitted)."""
        width, height = size[0] - FIT_MARGIN, size[1]
        if len(view.graph) > FIT_LIMIT or width <= 0:
            return None
        for zoom, cap, spacing in [(FULL, FULL_ROOMY, NORMAL), (FULL, 0, NORMAL),
                                   (FULL, 0, TIGHT), (COMPACT, 99, NORMAL),
                                   *((COMPACT, c, TIGHT) for c in COMPACT_WIDTHS)]:
            layout = self._cached(debugger, view, zoom, cap, spacing)
            if layout.width <= width and layout.height <= height:
                return layout, zoom, cap, spacing
        return None

    def _fit(self, debugger: Debugger, view: View) -> Layout:
        """The most readable zoom that shows every box in ``size``, spread out to use the room
        left; big graphs (or none fitting) get the full boxes, to scroll."""
        size = self.size or (0, 0)
        found = self._fitting(debugger, view, size)
        if found is None:
            return self._cached(debugger, view, FULL, COMPACT_WIDTH)
        layout, zoom, cap, spacing = found
        width, height = size[0] - FIT_MARGIN, size[1]
        if zoom == COMPACT and layout.width < width:  # room for more digits and longer names
            caps = widen(debugger, layout, width - layout.width)
            wider = self._cached(debugger, view, zoom, caps, spacing)
            if wider.width <= width and wider.height <= height:
                layout, cap = wider, caps
        channels = max(len(layout.columns) - 1, 1)
        extra = min((width - layout.width) // channels, 8)
        for gap in (3, 2, 1):  # more room between boxes, as much as the window has
            wider = Spacing(gap, spacing.lead, extra)
            if (extra or gap > spacing.gap) and wider != spacing:
                spread = self._cached(debugger, view, zoom, cap, wider)
                if spread.width <= width and spread.height <= height:
                    return spread
        return layout


def box_sizes(debugger: Debugger, view: View, zoom: str, cap: int | dict[int, int]
              ) -> dict[int, tuple[int, int]]:
    """Every box's size at ``zoom``; compact boxes are as wide as their numbers need, up to
    ``cap`` cells (one for all, or per box); full boxes too with ``cap`` :data:`FULL_ROOMY`."""
    trace = debugger.trace
    sizes = {}
    for box in view.graph:
        most = cap if isinstance(cap, int) else cap[box]
        group = view.group(box)
        if group is not None:
            sizes[box] = group_box_size(group, zoom, most)
        elif zoom == COMPACT:
            sizes[box] = box_size(trace.nodes[box], zoom, min(natural_width(debugger, box), most))
        elif zoom == FULL and most == FULL_ROOMY:  # every number in full, where there is room
            sizes[box] = box_size(trace.nodes[box], zoom, natural_width(debugger, box))
        else:
            sizes[box] = box_size(trace.nodes[box], zoom)
    return sizes


def widen(debugger: Debugger, layout: Layout, room: int) -> dict[int, int]:
    """Per-box caps that give ``room`` more cells to the columns of a compact ``layout`` whose
    boxes would show more with them, a cell at a time to each column still short."""
    view = layout.view
    caps = {box: layout.boxes[box].w for box in view.graph}
    columns = [[box for box in column if view.group(box) is None] for column in layout.columns]
    width = [max((caps[b] for b in column), default=0) for column in columns]
    wanted = [min(max((natural_width(debugger, b) for b in column), default=0), COMPACT_MOST)
              for column in columns]
    while room > 0:
        short = [k for k in range(len(columns)) if width[k] < wanted[k]]
        if not short:
            break
        for k in short[:room]:
            width[k] += 1
            room -= 1
    for k, column in enumerate(columns):
        for box in column:
            caps[box] = width[k]
    return caps


_settled: set[int] = set()


def settle(trace: Trace) -> None:
    """Move everything alive now (the big trace above all) out of the garbage collector's way.

    A trace of thousands of nodes is hundreds of thousands of long-lived objects that the
    collector would otherwise walk again at every full collection, and a step's repaint makes
    enough short-lived ones to trigger those: ``gc.freeze()`` took 40% off a step at 500 nodes.
    The cost is that frozen garbage with reference cycles stays until the process ends, so this
    is done once per big trace only.
    """
    if id(trace) not in _settled:
        _settled.add(id(trace))
        gc.freeze()


def lay_out(view: View, sizes: dict[int, tuple[int, int]], zoom: str,
            spacing: Spacing = NORMAL) -> Layout:
    """Lay out ``view`` with boxes of ``sizes``; the result carries the view as ``layout.view``
    and its zoom level as ``layout.zoom``."""
    layout = layout_graph(view.graph, sizes, border=zoom == FULL, spacing=spacing)
    layout.view = view
    layout.zoom = zoom
    layout.heavy = frozenset(box for box in view.graph if is_group_box(box))
    return layout


def compute_layout(debugger: Debugger, zoom: str, state: GraphState | None = None) -> Layout:
    """Lay out ``debugger``'s graph at ``zoom`` (slow for big graphs: call it from a worker).

    With a ``state``, the view it asks for (collapsed groups, neighbourhood); without, every
    node on its own.
    """
    if state is not None:
        return state.layout(debugger, zoom)
    view, zoom = whole_view(debugger.trace), FULL if zoom == FIT else zoom
    return lay_out(view, box_sizes(debugger, view, zoom, COMPACT_WIDTH), zoom)
