"""The computation graph, drawn with the Line API: one Strip per visible row.

The layout (where boxes and edges go) is computed once per graph by :mod:`tui.graph_layout`;
each repaint only styles the visible rows from the debugger's state, so stepping stays fast on
big graphs.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tracer import explain
from tracer.record import Node

from .graph_layout import Layout, layout_graph
from .state import Debugger

FULL, CHIPS = "full", "chips"
KIND_LABEL = {"param": "param", "input": "input", "constant": "const", "loss": "loss"}


def box_size(node: Node, zoom: str) -> tuple[int, int]:
    """Width and height of a node's box: fixed per node so that stepping never moves a box."""
    if zoom == CHIPS:
        return min(max(len(node.name) + 2, 6), 16), 1
    return min(max(len(node.name) + len(node.op) + 5, 14), 22), 5


def node_label(debugger: Debugger, node: int, zoom: str) -> list[str]:
    """The text inside a node's box at the current moment: name, op, value and gradient."""
    nd = debugger.trace.nodes[node]
    state = debugger.node_state(node)
    if zoom == CHIPS:
        return [nd.name]
    value = explain.short(nd.value) if state.value_known else "·"
    grad = explain.short(nd.grad) if state.grad_known else "·"
    return [f"{nd.name} {KIND_LABEL.get(nd.kind, nd.op)}", f"v {value}", f"g {grad}"]


class LazyLabels(dict):
    """Labels computed on first use, so a repaint formats only the boxes it draws."""

    def __init__(self, debugger: Debugger, zoom: str):
        super().__init__()
        self.debugger, self.zoom = debugger, zoom

    def __missing__(self, node: int) -> list[str]:
        label = self[node] = node_label(self.debugger, node, self.zoom)
        return label

    def get(self, node: int, default: object = None) -> list[str]:
        return self[node]


class GraphView(ScrollView, can_focus=True, inherit_bindings=False):
    """The recorded graph: boxes for nodes, right-angle edges, styled by the step's state.

    It drops the scroll bindings it would inherit: arrows step and select here (the view
    follows the selection; the mouse wheel still scrolls).
    """

    COMPONENT_CLASSES = {
        "graph--pending", "graph--current", "graph--done", "graph--selected",
        "graph--param", "graph--input", "graph--loss", "graph--edge", "graph--edge-active",
        "graph--breakpoint",
    }

    class NodeClicked(Message):
        """The mouse selected a node."""

        def __init__(self, node: int) -> None:
            super().__init__()
            self.node = node

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.debugger: Debugger | None = None
        self.layout_: Layout | None = None
        self.zoom = FULL
        self._labels: LazyLabels | None = None
        self._styles: dict[str, Style] = {}
        self._active: set[tuple[int, int]] = set()

    def show(self, debugger: Debugger, layout: Layout, zoom: str) -> None:
        """Draw ``debugger``'s graph with a precomputed ``layout``."""
        self.debugger, self.layout_, self.zoom = debugger, layout, zoom
        self.virtual_size = Size(layout.width, layout.height)
        self.update_state()

    def update_state(self) -> None:
        """The step changed: relabel lazily, keep the current node in sight, repaint."""
        if self.debugger is None:
            return
        self._labels = LazyLabels(self.debugger, self.zoom)
        # Component styles resolved once per step, not once per span (they follow the theme).
        self._styles = {name: self.get_component_rich_style(name)
                        for name in self.COMPONENT_CLASSES}
        self._active = self.debugger.active_edges()
        self.follow(self.debugger.selected)
        self.refresh()

    def follow(self, node: int) -> None:
        if self.layout_ is None or node not in self.layout_.boxes:
            return
        box = self.layout_.boxes[node]
        self.scroll_to_region(Region(box.x, box.y, box.w, box.h), animate=False, spacing=None,
                              immediate=True)

    def _box_style(self, node: int, row: int) -> Style:
        debugger = self.debugger
        styles = self._styles
        status = debugger.node_state(node).status
        style = styles[f"graph--{status}"]
        box = self.layout_.boxes[node]
        kind = debugger.trace.nodes[node].kind
        if kind in ("param", "input", "constant", "loss") and row == box.y + (box.h > 1):
            style += styles["graph--input" if kind == "constant" else f"graph--{kind}"]
        if node == debugger.selected and status != "current":
            style += styles["graph--selected"]
        return style

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        row_y = scroll_y + y
        layout = self.layout_
        if layout is None or row_y >= layout.height or scroll_x >= layout.width:
            return Strip.blank(width, base)
        # Draw only the visible window of the row: the cost follows the screen, not the graph.
        row = layout.draw_row(row_y, self._labels, scroll_x, min(scroll_x + width, layout.width))
        text = row.text
        active = self._active
        edge = base + self._styles["graph--edge"]
        edge_active = base + self._styles["graph--edge-active"]
        segments = []
        cursor = 0
        for start, end, tag, owner in row.spans:
            if start > cursor:
                segments.append(Segment(text[cursor:start], base))
            piece = text[start:end]
            if tag == "box":
                style = base + self._box_style(owner, row_y)
                box = layout.boxes[owner]
                if (owner in self.debugger.breakpoints and row_y == box.y
                        and start + scroll_x == box.x and len(piece) > 2):
                    bp = base + self._styles["graph--breakpoint"]
                    segments += [Segment(piece[0], style), Segment("●", bp)]
                    piece = piece[2:]
            else:
                owners = owner if isinstance(owner, frozenset) else {owner}
                style = edge_active if active & owners else edge
            segments.append(Segment(piece, style))
            cursor = end
        if cursor < len(text):
            segments.append(Segment(text[cursor:], base))
        return Strip(segments, len(text)).extend_cell_length(width, base)

    def on_click(self, event: Click) -> None:
        if self.layout_ is None:
            return
        x, y = event.x + int(self.scroll_x), event.y + int(self.scroll_y)
        node = self.layout_.node_at(x, y)
        if node is not None:
            self.post_message(self.NodeClicked(node))


def compute_layout(debugger: Debugger, zoom: str) -> Layout:
    """Lay out ``debugger``'s graph at ``zoom`` (slow for big graphs: call it from a worker)."""
    nodes = debugger.trace.nodes
    return layout_graph(debugger.trace.graph, {n.id: box_size(n, zoom) for n in nodes},
                        border=zoom == FULL)


def nearest_box(boxes: dict, node: int, direction: str) -> int | None:
    """The box nearest to ``node``'s in ``direction`` (up, down, left, right), for hjkl."""
    here = boxes[node]
    cx, cy = here.x + here.w / 2, here.y + here.h / 2
    best, best_cost = None, float("inf")
    for other, box in boxes.items():
        dx, dy = box.x + box.w / 2 - cx, box.y + box.h / 2 - cy
        ahead, side = {"up": (-dy, dx), "down": (dy, dx), "left": (-dx, dy),
                       "right": (dx, dy)}[direction]
        if other == node or ahead <= 0:
            continue
        cost = ahead + 3 * abs(side)  # prefer boxes straight ahead over nearer ones off to a side
        if cost < best_cost:
            best, best_cost = other, cost
    return best
