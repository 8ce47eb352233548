"""The text canvas of a laid-out graph: node boxes, right-angle edges, drawing row by row.

A :class:`Layout` is made by :func:`tui.graph_layout.layout_graph`. It keeps the picture as
per-row segments sorted by x, never as a dense grid of cells: a graph of thousands of nodes gives
a canvas of millions of cells, while a UI only ever shows one screenful. Drawing a window of a
row bisects to the segments and boxes in it and rasterises just those cells.

This module imports neither Textual nor Rich, so that the drawing is testable as plain text.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

Node: TypeAlias = Hashable
Edge: TypeAlias = tuple[Hashable, Hashable]
Labels: TypeAlias = Mapping[Hashable, Sequence[str]]

# The four sides of a cell that a line can leave through.
_LEFT, _RIGHT, _UP, _DOWN = 1, 2, 4, 8

_LINE_CHARS = {
    _LEFT: "─",
    _RIGHT: "─",
    _LEFT | _RIGHT: "─",
    _UP: "│",
    _DOWN: "│",
    _UP | _DOWN: "│",
    _RIGHT | _DOWN: "┌",
    _LEFT | _DOWN: "┐",
    _RIGHT | _UP: "└",
    _LEFT | _UP: "┘",
    _LEFT | _RIGHT | _DOWN: "┬",
    _LEFT | _RIGHT | _UP: "┴",
    _UP | _DOWN | _RIGHT: "├",
    _UP | _DOWN | _LEFT: "┤",
    _LEFT | _RIGHT | _UP | _DOWN: "┼",
}
_ARROW = "►"


class Box(NamedTuple):
    """A node's rectangle on the canvas: top-left cell ``(x, y)``, ``w`` columns, ``h`` rows."""

    x: int
    y: int
    w: int
    h: int


class Span(NamedTuple):
    """Cells ``start`` (inclusive) to ``end`` (exclusive) of a row, with their meaning.

    ``tag`` is ``"box"`` (border and text of a node; ``owner`` is the node), ``"edge"`` (a line;
    ``owner`` is the ``(u, v)`` edge, or a ``frozenset`` of edges where several share the cells:
    a source's trunk, a junction, inputs merging into one port) or ``"arrow"`` (the ``►`` where
    an edge enters a box; ``owner`` as for ``"edge"``).
    """

    start: int
    end: int
    tag: str
    owner: object


@dataclass(frozen=True, slots=True)
class Row:
    """One drawn row (or window of a row): ``text`` and the meaning of its cells.

    ``text`` is exactly ``end - start`` characters, ``Layout.width`` for a whole row. ``spans``
    index into ``text``; they are sorted and disjoint and cover only non-blank cells, every
    other cell is a space with no owner.
    """

    text: str
    spans: list[Span]


class HSeg(NamedTuple):
    """A horizontal run of line cells ``x0..x1`` (inclusive) of one edge on row ``y``.

    ``open_left``/``open_right`` say whether the end cells also carry the line out through their
    outer side (into a box, an arrow or the next piece of a long edge); ends that meet a vertical
    segment are closed, the vertical supplies the corner.
    """

    y: int
    x0: int
    x1: int
    open_left: bool
    open_right: bool
    edge: Edge


class VSeg(NamedTuple):
    """A vertical run of line cells ``y0..y1`` (inclusive, ``y0 < y1``) of one edge at ``x``."""

    x: int
    y0: int
    y1: int
    edge: Edge


class _Track:
    """The vertical segments at one x, grouped into runs of touching segments for bisecting."""

    __slots__ = ("groups", "starts", "x")

    def __init__(self, x: int, segs: list[VSeg]) -> None:
        self.x = x
        self.starts: list[int] = []
        self.groups: list[tuple[int, list[VSeg]]] = []  # (last row, segments)
        for seg in sorted(segs, key=lambda s: s.y0):
            if self.groups and seg.y0 <= self.groups[-1][0]:
                end, members = self.groups[-1]
                members.append(seg)
                self.groups[-1] = (max(end, seg.y1), members)
            else:
                self.starts.append(seg.y0)
                self.groups.append((seg.y1, [seg]))

    def at(self, y: int) -> list[VSeg]:
        """The segments of this track that cover row ``y``."""
        k = bisect_right(self.starts, y) - 1
        if k < 0 or self.groups[k][0] < y:
            return []
        return [s for s in self.groups[k][1] if s.y0 <= y <= s.y1]


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut with an ellipsis where it had to be cut."""
    return text if len(text) <= width else text[: width - 1] + "…" if width > 0 else ""


def _owner(edges: set[Edge]) -> Edge | frozenset[Edge]:
    return next(iter(edges)) if len(edges) == 1 else frozenset(edges)


class Layout:
    """A laid-out graph: box geometry, a cell-to-node map, and row-by-row drawing.

    Attributes
    ----------
    boxes : dict
        ``node -> Box`` for every node of the graph.
    width, height : int
        Size of the whole canvas in cells.
    columns : list of list
        The nodes of each layer (column), left to right, each top to bottom; dummy points of long
        edges are not included. Useful for keyboard navigation between neighbours.
    border : bool
        Whether boxes have a border (full zoom) or are bare one-line chips.
    """

    def __init__(
        self,
        *,
        size: tuple[int, int],
        boxes: dict[Node, Box],
        columns: list[list[Node]],
        border: bool,
        out_ports: Mapping[Node, int],
        hsegs: Sequence[HSeg],
        vsegs: Sequence[VSeg],
        arrows: Sequence[tuple[int, int, Edge]],
    ) -> None:
        self.width, self.height = size
        self.boxes = boxes
        self.columns = columns
        self.border = border
        self._out_ports = out_ports
        # Boxes drawn with heavy borders (collapsed groups), and what the picture shows and at
        # which zoom level (set by tui.views; the canvas itself does not use them).
        self.heavy: frozenset[Node] = frozenset()
        self.view: object = None
        self.zoom: str = ""
        self._runs: dict[tuple[int, int, int], list] = {}  # drawn lines by row window
        # Everything below is kept per row and sorted by x, so that drawing a window of a row
        # bisects to it instead of walking the whole row.
        self._box_x: list[list[int]] = [[] for _ in range(self.height)]
        self._box_nodes: list[list[Node]] = [[] for _ in range(self.height)]
        for column in columns:  # left to right, so appending keeps each row sorted
            for node in column:
                b = boxes[node]
                for y in range(b.y, b.y + b.h):
                    self._box_x[y].append(b.x)
                    self._box_nodes[y].append(node)
        self._hsegs: list[list[HSeg]] = [[] for _ in range(self.height)]
        for seg in hsegs:
            self._hsegs[seg.y].append(seg)
        self._hseg_x0: list[list[int]] = []
        self._hseg_reach: list[int] = []  # longest segment of the row
        for row in self._hsegs:
            row.sort(key=lambda seg: seg.x0)
            self._hseg_x0.append([seg.x0 for seg in row])
            self._hseg_reach.append(max((seg.x1 - seg.x0 for seg in row), default=0))
        self._arrows: list[list[tuple[int, Edge]]] = [[] for _ in range(self.height)]
        for x, y, edge in sorted(arrows, key=lambda a: a[0]):
            self._arrows[y].append((x, edge))
        self._arrow_x = [[x for x, _ in row] for row in self._arrows]
        by_x: dict[int, list[VSeg]] = {}
        for seg in vsegs:
            by_x.setdefault(seg.x, []).append(seg)
        self._lines_in = (hsegs, vsegs)  # for edge_rows, on demand
        self._edge_rows: dict[Edge, tuple[int, int]] | None = None
        self._tracks = [_Track(x, segs) for x, segs in sorted(by_x.items())]
        self._track_x = [track.x for track in self._tracks]

    def edge_rows(self, edge: Edge) -> tuple[int, int] | None:
        """The first and last row that ``edge``'s lines and arrow cover, or ``None``."""
        if self._edge_rows is None:
            rows: dict[Edge, tuple[int, int]] = {}
            hsegs, vsegs = self._lines_in
            for e, top, bottom in [*((g.edge, g.y, g.y) for g in hsegs),
                                   *((g.edge, g.y0, g.y1) for g in vsegs)]:
                lo, hi = rows.get(e, (top, bottom))
                rows[e] = (min(lo, top), max(hi, bottom))
            self._edge_rows = rows
        return self._edge_rows.get(edge)

    def node_at(self, x: int, y: int) -> Node | None:
        """Return the node whose box covers cell ``(x, y)``, or ``None``.

        Parameters
        ----------
        x, y : int
            Canvas cell (column, row); anything outside the canvas gives ``None``.
        """
        if not 0 <= y < self.height:
            return None
        k = bisect_right(self._box_x[y], x) - 1
        if k < 0:
            return None
        node = self._box_nodes[y][k]
        b = self.boxes[node]
        return node if x < b.x + b.w else None

    def draw_row(
        self, y: int, labels: Labels | None = None, start: int = 0, end: int | None = None
    ) -> Row:
        """Draw canvas row ``y``, or the window ``start <= x < end`` of it.

        Parameters
        ----------
        y : int
            Row, ``0 <= y < height``.
        labels : mapping, optional
            ``node -> lines of text`` shown inside each box (line ``i`` on the box's inner row
            ``i``), clipped or padded to the box's inner width: ``w - 4`` for bordered boxes (a
            space pads each side), ``w`` for chips. A node missing from ``labels`` shows
            ``str(node)``. Characters are assumed one cell wide.
        start, end : int, optional
            The window of columns to draw, by default the whole row. A UI passes its visible
            columns: the cost is proportional to the window, not to the canvas width.

        Returns
        -------
        Row
            ``text`` is exactly ``end - start`` characters (``width`` by default); span
            offsets are into ``text``, so they equal canvas columns minus ``start``.
        """
        end = self.width if end is None else end
        # Lines never change for a layout, only the boxes' labels do: keep each window's runs.
        key = (y, start, end)
        runs = self._runs.get(key)
        if runs is None:
            if len(self._runs) > 4096:
                self._runs.clear()
            runs = self._runs[key] = self._line_runs(y, start, end)
        pieces = list(runs)
        box_x = self._box_x[y]
        k = max(bisect_right(box_x, start) - 1, 0)  # the box just left may reach into the window
        for x, node in zip(box_x[k:], self._box_nodes[y][k:], strict=True):
            if x >= end:
                break
            text = self._box_text(node, y, labels)
            if x + len(text) > start:
                lo = max(start - x, 0)
                pieces.append((x + lo, text[lo : end - x], "box", node))
        pieces.sort(key=lambda p: p[0])
        parts: list[str] = []
        spans: list[Span] = []
        cursor = start
        for x, text, tag, owner in pieces:
            if x > cursor:
                parts.append(" " * (x - cursor))
            parts.append(text)
            spans.append(Span(x - start, x - start + len(text), tag, owner))
            cursor = x + len(text)
        parts.append(" " * (end - cursor))
        return Row("".join(parts), spans)

    def draw(self, labels: Labels | None = None) -> str:
        """Return the whole picture: rows joined by newlines, trailing spaces stripped."""
        return "\n".join(self.draw_row(y, labels).text.rstrip() for y in range(self.height))

    def _box_text(self, node: Node, y: int, labels: Labels | None) -> str:
        b = self.boxes[node]
        lines = labels.get(node) if labels is not None else None
        if lines is None:
            lines = [str(node)]
        if not self.border:
            line = lines[y - b.y] if y - b.y < len(lines) else ""
            return cut(line, b.w).ljust(b.w)
        inner = b.w - 2
        heavy = node in self.heavy
        if y == b.y:
            return "┏" + "━" * inner + "┓" if heavy else "╭" + "─" * inner + "╮"
        if y == b.y + b.h - 1:
            return "┗" + "━" * inner + "┛" if heavy else "╰" + "─" * inner + "╯"
        k = y - b.y - 1
        line = lines[k] if k < len(lines) else ""
        body = f" {cut(line, inner - 2):<{inner - 2}} " if inner >= 2 else " " * inner
        # A tee on the right border marks where the node's outgoing edges leave.
        if heavy:
            return "┃" + body + ("┣" if self._out_ports.get(node) == y else "┃")
        return "│" + body + ("├" if self._out_ports.get(node) == y else "│")

    def _line_runs(self, y: int, start: int, end: int) -> list[tuple[int, str, str, object]]:
        """The lines and arrows of row ``y`` within ``start..end`` as ``(x, text, tag, owner)``.

        Each cell's character comes from the sides its segments leave through, so junctions
        draw themselves; neighbouring cells of the same kind and owner merge into one run.
        """
        masks: dict[int, int] = {}
        owners: dict[int, set[Edge]] = {}
        segs = self._hsegs[y]
        first = bisect_left(self._hseg_x0[y], start - self._hseg_reach[y])
        for seg in segs[first:]:
            if seg.x0 >= end:
                break
            for x in range(max(seg.x0, start), min(seg.x1 + 1, end)):
                bits = _LEFT | _RIGHT
                if x == seg.x0 and not seg.open_left:
                    bits = _RIGHT
                if x == seg.x1 and not seg.open_right:
                    bits &= ~_RIGHT
                masks[x] = masks.get(x, 0) | bits
                owners.setdefault(x, set()).add(seg.edge)
        k = bisect_left(self._track_x, start)
        for track in self._tracks[k : bisect_left(self._track_x, end, k)]:
            for seg in track.at(y):
                bits = (_UP if y > seg.y0 else 0) | (_DOWN if y < seg.y1 else 0)
                masks[track.x] = masks.get(track.x, 0) | bits
                owners.setdefault(track.x, set()).add(seg.edge)
        cells = [(x, _LINE_CHARS[m], "edge", owners[x]) for x, m in masks.items()]
        arrows: dict[int, set[Edge]] = {}
        k = bisect_left(self._arrow_x[y], start)
        for x, edge in self._arrows[y][k : bisect_left(self._arrow_x[y], end, k)]:
            arrows.setdefault(x, set()).add(edge)
        cells += [(x, _ARROW, "arrow", edges) for x, edges in arrows.items()]
        cells.sort(key=lambda c: c[0])
        runs: list[tuple[int, list[str], str, object]] = []
        for x, char, tag, edges in cells:
            owner = _owner(edges)
            if runs:
                rx, chars, rtag, rowner = runs[-1]
                if rx + len(chars) == x and rtag == tag and rowner == owner:
                    chars.append(char)
                    continue
            runs.append((x, [char], tag, owner))
        return [(x, "".join(chars), tag, owner) for x, chars, tag, owner in runs]
