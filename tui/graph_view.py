"""The computation graph, drawn with the Line API: one Strip per visible row.

The layout (where boxes and edges go) is computed off the UI thread by :mod:`tui.views` and
:mod:`tui.graph_layout`; each repaint only styles the visible rows from the debugger's state, so
stepping stays fast on big graphs. What is drawn is a :class:`~tui.views.View`: every node on its
own, or groups (layers, neurons) collapsed into one box, or only the neighbourhood of the
current node. A minimap in the bottom-right corner shows the whole picture and the window; the
rows it takes are kept free of the graph (the canvas grows by as many rows, so that scrolling
still reaches every box), so it never covers a box or an arrow.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.events import Click
from textual.geometry import Region, Size
from textual.geometry import Spacing as Margins
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tracer.record import Trace
from tracer.timeline import STEP_PHASES

from .box_text import box_numbers, update_node
from .graph_layout import Layout
from .groups import Group, is_group_box
from .minimap import Minimap
from .panel import DebuggerPanel
from .state import Debugger
from .views import (
    CHIPS,
    COMPACT,
    FIT,
    FULL,
    KIND_LABEL,
    GraphState,
    View,
    box_size,
    compute_layout,
    group_label,
    group_state,
    node_label,
    whole_view,
)

__all__ = ["CHIPS", "COMPACT", "FIT", "FULL", "KIND_LABEL", "GraphState", "GraphView", "box_size",
           "compute_layout", "nearest_box", "node_label"]

BACKWARD_ARROW = "◄"  # an edge's arrow in the backward pass: the way the gradient goes
MINIMAP_AUTO = 6  # the minimap shows itself when the picture is this many windows big
MINIMAP_MAX = (32, 9)  # its largest size in cells, inside a one-cell margin


@dataclass(frozen=True, slots=True)
class Drawn:
    """What one repaint of the graph drew, to repaint only what the next one changes."""

    layout: Layout
    trace: Trace
    phase: str
    index: int  # the moment's index within its phase
    selected: int | None  # the selected node's box
    breakpoints: frozenset
    active: frozenset  # the drawn edges values or gradients flow along now
    hidden: bool  # a quiz question hides the current gradient

    def same_picture(self, other: Drawn) -> bool:
        """The same layout of the same trace in the same phase, breakpoints and quiz state
        alike: only the step, the selection and the flowing edges may differ."""
        return (self.layout is other.layout and self.trace is other.trace
                and self.phase == other.phase and self.breakpoints == other.breakpoints
                and self.hidden == other.hidden)


class LazyLabels(dict):
    """Labels computed on first use, so a repaint formats only the boxes it draws."""

    def __init__(self, debugger: Debugger, layout: Layout, view: View):
        super().__init__()
        self.debugger, self.layout, self.view = debugger, layout, view

    def __missing__(self, box: int) -> list[str]:
        group = self.view.group(box)
        zoom = self.layout.zoom
        if group is not None:
            label = group_label(self.debugger, group, zoom)
        else:
            label = node_label(self.debugger, box, zoom, self.layout.boxes[box].w)
        self[box] = label
        return label

    def get(self, box: int, default: object = None) -> list[str]:
        return self[box]


class GraphView(DebuggerPanel, ScrollView, can_focus=True, inherit_bindings=False):
    """The recorded graph: boxes for nodes, right-angle edges, styled by the step's state.

    It drops the scroll bindings it would inherit: arrows step and select here (the view
    follows the selection; the mouse wheel still scrolls). Collapsed groups are drawn with heavy
    borders; a group is current while any of its nodes is.
    """

    COMPONENT_CLASSES = {
        "graph--pending", "graph--current", "graph--done", "graph--selected",
        "graph--param", "graph--input", "graph--loss", "graph--edge", "graph--edge-active",
        "graph--breakpoint", "graph--group", "graph--chip", "graph--minimap", "graph--minimap-view",
        "graph--minimap-done",
    }

    DEFAULT_CSS = """
    GraphView > .graph--group { text-style: bold; }
    GraphView > .graph--chip { background: $panel; }
    GraphView > .graph--minimap { background: $panel; color: $text-muted; }
    GraphView > .graph--minimap-view { background: $accent 45%; color: $text; }
    GraphView > .graph--minimap-done { color: $text-success; }
    """

    class NodeClicked(Message):
        """The mouse selected a node."""

        def __init__(self, node: int) -> None:
            super().__init__()
            self.node = node

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.debugger: Debugger | None = None
        self.layout_: Layout | None = None
        self.view: View | None = None
        self.zoom = FULL
        self.state = GraphState()
        self._labels: LazyLabels | None = None
        self._styles: dict[str, Style] = {}
        self._active: set[tuple[int, int]] = set()
        self._status: dict[int, str] = {}
        self._breakpoints: set[int] = set()
        self._selected_box: int | None = None
        self._request = 0  # the latest relayout asked for; older results are dropped
        self._minimap: Minimap | None = None
        self._minimap_key: tuple | None = None
        self._minimap_rows: tuple[tuple, list] | None = None

    # --- what is shown -------------------------------------------------------------------------

    def show(self, debugger: Debugger, layout: Layout, zoom: str) -> None:
        """Draw ``debugger``'s graph with a precomputed ``layout``."""
        self.debugger, self.layout_, self.zoom = debugger, layout, zoom
        self.view = layout.view if isinstance(layout.view, View) else whole_view(debugger.trace)
        self._minimap = self._minimap_key = None
        self._drawn = None  # a new picture: repaint it all
        self._size_canvas()
        self.update_state()
        focus = self.focus_node()
        if focus is not None:  # again once the new canvas's scrollbars have come or gone
            self.call_after_refresh(self.follow, focus)

    def _size_canvas(self, again: bool = True) -> None:
        """The canvas is the layout and, while the minimap shows, the band of rows it takes
        below: scrolled to the end, the last boxes sit above the minimap, not under it."""
        layout = self.layout_
        if layout is None:
            return
        size = Size(layout.width, layout.height + self._band())
        if size != self.virtual_size:
            self.virtual_size = size
            if again:  # the minimap's size follows the window's, which scrollbars change
                self.call_after_refresh(self._size_canvas, False)

    def _band(self) -> int:
        """Rows at the bottom of the window the minimap takes (0 when it is hidden)."""
        minimap = self._minimap_for_size()
        return 0 if minimap is None else minimap.height + 1

    def moved(self, debugger: Debugger) -> None:
        self.update_state()

    def update_state(self) -> None:
        """The step changed: relabel lazily, keep the current node in sight, repaint."""
        debugger = self.debugger
        if debugger is None or self.view is None:
            return
        view = self.view
        before = self._drawn
        self._labels = LazyLabels(debugger, self.layout_, view)
        self._active = {e for u, v in debugger.active_edges() if (e := view.edge(u, v))}
        self._status = {}
        self._breakpoints = {view.box_of.get(n) for n in debugger.breakpoints}
        focus = self.focus_node()
        self._selected_box = view.box_of.get(focus)
        self._minimap_rows = None
        self._drawn = Drawn(self.layout_, debugger.trace, debugger.phase, debugger.moment.index,
                            self._selected_box, frozenset(self._breakpoints),
                            frozenset(self._active), debugger.hidden)
        if self.state.hops is not None and self._selected_box is not None and (
                view.hops != self.state.hops or self._selected_box != view.centre):
            self.relayout()  # the neighbourhood follows the selection
        if focus is not None:
            self.follow(focus)
        bands = self._changed_rows(before, self._drawn)
        if bands is None:
            self.refresh()
        else:  # a step: repaint only the rows it changed (a scroll repaints everything anyway)
            for top, bottom in bands:
                self.refresh_lines(top, bottom - top + 1)

    _drawn: Drawn | None = None  # what the last update_state drew, to repaint only changes
    SMALL_STEP = 8  # nodes whose state may change in one repaint of only their rows

    def _changed_rows(self, before: Drawn | None, after: Drawn) -> list[tuple[int, int]] | None:
        """Canvas row bands whose drawing differs between two states, or ``None`` for all."""
        if before is None or not before.same_picture(after):
            return None
        layout, view, phase = self.layout_, self.view, after.phase
        old, new = before.index, after.index
        if abs(new - old) > self.SMALL_STEP:
            return None
        trace = self.debugger.trace
        steps = range(min(old, new), max(old, new) + 1)
        nodes = [trace.node_of(k, phase) for k in steps] if phase in STEP_PHASES else []
        boxes = {view.box_of.get(v) for v in nodes} | {before.selected, after.selected}
        bands = []
        for box in boxes:
            b = layout.boxes.get(box)
            if b is not None:
                bands.append((b.y, b.y + b.h - 1))
        for edge in before.active ^ after.active:
            rows = layout.edge_rows(edge)
            if rows is not None:
                bands.append(rows)
        minimap = self._minimap_for_size()
        if minimap is not None:  # its current and done cells
            _, view_h = self.scrollable_content_region.size
            top = int(self.scroll_y) + view_h - self._band()
            bands.append((top, top + minimap.height))
        return bands

    def focus_node(self) -> int | None:
        """The node the picture is about: the parameter an update step changes, else the
        selection."""
        if self.debugger.phase == "update":  # the outcome is about every box
            return update_node(self.debugger)
        return self.debugger.selected

    def on_resize(self) -> None:
        """Fitting the graph to the window: lay it out again for the new size (the minimap
        may show or hide at it too)."""
        self._size_canvas()
        if self.zoom == FIT and self.debugger is not None and self.state.size != tuple(self.size):
            self.state.size = tuple(self.size)
            self.relayout()

    def follow(self, node: int) -> None:
        """Scroll so that ``node``'s box (or its group's) is in sight."""
        if self.layout_ is None or self.view is None:
            return
        box = self.layout_.boxes.get(self.view.box_of.get(node))
        if box is None:
            return
        if not self.scrollable_content_region.size:  # not laid out yet: once it is
            self.call_after_refresh(self.follow, node)
            return
        # The neighbourhood view is about the box at its centre: keep it in the middle. Never
        # in the minimap's band: as many rows below the box must be in the window too.
        self.scroll_to_region(Region(box.x, box.y, box.w, box.h), animate=False,
                              spacing=Margins(0, 0, self._band(), 0), immediate=True,
                              center=self.view.hops is not None)

    # --- changing the view (the layout runs in a worker) ----------------------------------------

    def relayout(self) -> None:
        """Lay the graph out again for the current options, off the UI thread."""
        if self.debugger is None:
            return
        self._request += 1
        self._lay_out(self.debugger, self.zoom, self.debugger.selected, self._request)

    @work(thread=True, exclusive=True, group="graph-layout", description="graph layout")
    def _lay_out(self, debugger: Debugger, zoom: str, selected: int, request: int) -> None:
        try:
            layout = self.state.layout(debugger, zoom, selected)
        except Exception as exc:  # a layout bug must not take the debugger down
            self.app.call_from_thread(self.notify, f"could not lay out the graph: {exc}",
                                      severity="error", markup=False)
            return
        self.app.call_from_thread(self._laid_out, debugger, zoom, layout, request)

    def _laid_out(self, debugger: Debugger, zoom: str, layout: Layout, request: int) -> None:
        if request == self._request and debugger is self.debugger and zoom == self.zoom:
            self.show(debugger, layout, zoom)

    def selected_group(self) -> Group | None:
        """The group of the selected node, if it is in one."""
        if self.debugger is None or self.view is None:
            return None
        g = self.view.grouping.group_of[self.debugger.selected]
        return None if g is None else self.view.grouping.groups[g]

    def toggle_group(self) -> str:
        """Collapse the selected node's group, or open it; say what happened."""
        group = self.selected_group()
        if group is None:
            if self.debugger is None:
                return "nothing to collapse yet"
            name = self.debugger.trace.nodes[self.debugger.selected].name
            return f"{name} is in no group (groups: layers, neurons, names like 'fc1/W')"
        collapsed = self.state.toggle_group(self.view.grouping, group)
        self.relayout()
        return f"{'collapsed' if collapsed else 'opened'} {group.name} ({len(group)} nodes)"

    def toggle_all(self) -> str:
        """Collapse every group, or open them all if all are collapsed; say what happened."""
        if self.view is None:
            return "nothing to collapse yet"
        grouping = self.view.grouping
        if not grouping.groups:
            return "this graph has no groups to collapse"
        collapsed = self.state.toggle_all(grouping)
        self.relayout()
        return f"{'collapsed' if collapsed else 'opened'} all {len(grouping.groups)} groups"

    def toggle_neighbourhood(self) -> str:
        on = self.state.toggle_neighbourhood()
        self.relayout()
        if on:
            return (f"neighbourhood view: {self.state.hops} hops around the current node "
                    "(< and > to change, v to leave)")
        return "whole graph"

    def change_hops(self, delta: int) -> str:
        hops = self.state.change_hops(delta)
        if hops is None:
            return "press v for the neighbourhood view first"
        self.relayout()
        return f"neighbourhood view: {hops} hop{'s' if hops > 1 else ''}"

    def toggle_minimap(self) -> str:
        shown = not self.minimap_shown
        self.state.minimap = shown
        self._minimap_rows = None
        self._size_canvas()
        self.refresh()
        return "minimap " + ("on" if shown else "off")

    def neighbour(self, direction: str) -> int | None:
        """The node of the box nearest the selection's in ``direction`` (for hjkl)."""
        if self.debugger is None or self.layout_ is None or self.view is None:
            return None
        box = self.view.box_of.get(self.debugger.selected)
        if box not in self.layout_.boxes:
            return None
        other = nearest_box(self.layout_.boxes, box, direction)
        return None if other is None else self.view.output(other)

    # --- drawing -------------------------------------------------------------------------------

    def box_status(self, box: int) -> str:
        status = self._status.get(box)
        if status is None:
            group = self.view.group(box)
            if group is not None:
                status = group_state(self.debugger, group)[0]
            else:
                status = box_numbers(self.debugger, box).status
            self._status[box] = status
        return status

    def _box_style(self, box: int, row: int) -> Style:
        styles = self._styles
        status = self.box_status(box)
        style = styles[f"graph--{status}"]
        border = self.layout_.border
        b = self.layout_.boxes[box]
        name_row = b.y + (border and b.h > 1)
        if is_group_box(box):
            if row == name_row:
                style += styles["graph--group"]
        else:
            kind = self.debugger.trace.nodes[box].kind
            if kind in ("param", "input", "constant", "loss") and row == name_row:
                style += styles["graph--input" if kind == "constant" else f"graph--{kind}"]
        if box == self._selected_box and status != "current":
            style += styles["graph--selected"]
        if not border:  # a bare box: its background shows where it is, on every row
            style += styles["bg-current" if status == "current" else "bg-chip"]
        return style

    def _resolve_styles(self) -> None:
        # Component styles, resolved once rather than once per span (they follow the theme).
        if not self._styles:
            self._styles = {name: self.get_component_rich_style(name)
                            for name in self.COMPONENT_CLASSES}
            # Component styles carry a colour too: these are their backgrounds alone.
            for name in ("chip", "current"):
                self._styles[f"bg-{name}"] = Style(bgcolor=self._styles[f"graph--{name}"].bgcolor)

    def notify_style_update(self) -> None:
        self._styles = {}  # the theme or the CSS changed: resolve the styles again
        super().notify_style_update()
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        # What every row of this frame needs, looked up once (each lookup walks the DOM).
        self._resolve_styles()
        self._frame = (self.rich_style, self.scroll_offset, self.size.width,
                       self.scrollable_content_region.size, self._minimap_for_size())
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    _frame: tuple | None = None

    def render_line(self, y: int) -> Strip:
        self._resolve_styles()
        frame = self._frame or (self.rich_style, self.scroll_offset, self.size.width,
                                self.scrollable_content_region.size, self._minimap_for_size())
        base, (scroll_x, scroll_y), width, (view_w, view_h), minimap = frame
        top = view_h if minimap is None else view_h - minimap.height - 1  # the minimap's band
        if y < top or y >= view_h:
            return self._graph_line(y, scroll_x, scroll_y, width, base)
        # The band: no graph in it (it is drawn above), the minimap at its right.
        left = view_w - minimap.width - 2
        panel = base + self._styles["graph--minimap"]
        segments = [Segment(" " * left, base)] if left > 0 else []
        row = y - top - 1
        segments.append(Segment(" ", panel))
        if row >= 0:
            for run in self._minimap_runs(minimap, scroll_x, scroll_y, view_w, view_h)[row]:
                style = panel
                if run.done:
                    style += self._styles["graph--minimap-done"]
                if run.view:
                    style += self._styles["graph--minimap-view"]
                if run.current:
                    style += self._styles["graph--current"]
                segments.append(Segment(run.text, style))
        else:
            segments.append(Segment(" " * minimap.width, panel))
        segments.append(Segment(" ", panel))
        return Strip(segments).adjust_cell_length(width, base)

    def _graph_line(self, y: int, scroll_x: int, scroll_y: int, width: int, base: Style
                    ) -> Strip:
        row_y = scroll_y + y
        layout = self.layout_
        if layout is None or row_y >= layout.height or scroll_x >= layout.width:
            return Strip.blank(width, base)
        # Draw only the visible window of the row: the cost follows the screen, not the graph.
        row = layout.draw_row(row_y, self._labels, scroll_x, min(scroll_x + width, layout.width))
        text = row.text
        active = self._active
        backward = self.debugger is not None and self.debugger.phase == "backward"
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
                if (owner in self._breakpoints and row_y == box.y
                        and start + scroll_x == box.x and len(piece) > 2):
                    bp = base + self._styles["graph--breakpoint"]
                    segments += [Segment(piece[0], style), Segment("●", bp)]
                    piece = piece[2:]
            else:
                owners = owner if isinstance(owner, frozenset) else {owner}
                style = edge_active if active & owners else edge
                if tag == "arrow" and backward:  # the gradient flows from output to input
                    piece = BACKWARD_ARROW * len(piece)
            segments.append(Segment(piece, style))
            cursor = end
        if cursor < len(text):
            segments.append(Segment(text[cursor:], base))
        return Strip(segments, len(text)).extend_cell_length(width, base)

    # --- the minimap ---------------------------------------------------------------------------

    @property
    def minimap_shown(self) -> bool:
        return self._minimap_for_size() is not None

    def _minimap_wanted(self) -> bool:
        layout = self.layout_
        if layout is None:
            return False
        if self.state.minimap is not None:
            return self.state.minimap
        view_w, view_h = self.scrollable_content_region.size
        return layout.width * layout.height > MINIMAP_AUTO * max(view_w * view_h, 1)

    def _minimap_for_size(self) -> Minimap | None:
        """The minimap for the current layout and window size, or ``None`` when hidden."""
        if not self._minimap_wanted():
            return None
        view_w, view_h = self.scrollable_content_region.size
        max_w = min(MINIMAP_MAX[0], view_w // 3)
        max_h = min(MINIMAP_MAX[1], view_h // 4)  # its band takes rows from the graph
        if max_w < 6 or max_h < 3:
            return None  # the window is too small to spare a corner
        key = (id(self.layout_), max_w, max_h)
        if self._minimap_key != key:
            view = self.view
            self._minimap = Minimap(self.layout_, max_w, max_h, view.members)
            self._minimap_key = key
            self._minimap_rows = None
        return self._minimap

    def _minimap_runs(self, minimap: Minimap, scroll_x: int, scroll_y: int, view_w: int,
                      view_h: int) -> list:
        key = (scroll_x, scroll_y, view_w, view_h, id(minimap))
        if self._minimap_rows is None or self._minimap_rows[0] != key:
            debugger = self.debugger
            cycle, moment = debugger.cycle, debugger.moment
            current = self.view.box_of.get(debugger.current_node)
            # A cell is done as a group box of its nodes would be: the cycle's one answer.
            rows = minimap.rows((scroll_x, scroll_y, view_w, view_h - self._band()),
                                () if current is None else (current,),
                                lambda nodes: cycle.group_status(nodes, moment)[0] == "done")
            self._minimap_rows = (key, rows)
        return self._minimap_rows[1]

    def _minimap_cell(self, x: int, y: int) -> tuple[int, int] | None:
        """The minimap cell under window cell ``(x, y)``, if the minimap is there."""
        minimap = self._minimap_for_size()
        if minimap is None:
            return None
        view_w, view_h = self.scrollable_content_region.size
        col, row = x - (view_w - minimap.width - 1), y - (view_h - minimap.height)
        if 0 <= col < minimap.width and 0 <= row < minimap.height:
            return col, row
        return None

    def on_click(self, event: Click) -> None:
        if self.layout_ is None:
            return
        cell = self._minimap_cell(event.x, event.y)
        if cell is not None:  # jump the window there
            x, y = self._minimap.canvas_point(*cell)
            view_w, view_h = self.scrollable_content_region.size
            shown_h = view_h - self._band()  # the graph's rows above the minimap
            self.scroll_to(x - view_w // 2, y - shown_h // 2, animate=False, immediate=True)
            return
        x, y = event.x + int(self.scroll_x), event.y + int(self.scroll_y)
        box = self.layout_.node_at(x, y)
        if box is not None:
            self.post_message(self.NodeClicked(self.view.output(box)))


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
