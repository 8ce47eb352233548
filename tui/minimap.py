"""An overview of a laid-out graph in braille dots, with the visible window marked.

Each terminal cell holds a 2×4 braille block, so a minimap of 30×8 cells shows 60×32 dots. Boxes
are drawn as dots, keeping the picture's proportions (a cell is about twice as tall as wide) unless
that would make the map thinner than three rows or six columns. Pure Python (no Textual): the
widget asks :meth:`Minimap.rows` for runs of text with flags and styles them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from math import ceil, floor
from typing import NamedTuple

from .graph_canvas import Layout

# Braille dot bits by (column, row) within a cell.
_DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
MIN_ROWS, MIN_COLS = 3, 6


class Run(NamedTuple):
    """``text`` drawn with the same flags: the window (``view``), every node in these cells
    done (``done``), the current node in one of them (``current``)."""

    text: str
    view: bool
    done: bool
    current: bool


class Minimap:
    """The dots of ``layout``'s boxes, at most ``max_width`` × ``max_height`` cells.

    ``members`` maps a box to the node ids it stands for (a collapsed group stands for many);
    it lets :meth:`rows` mark the cells whose nodes are all done.
    """

    cell_nodes: dict[tuple[int, int], tuple[int, ...]]
    """The node ids each cell stands for, sorted (what :meth:`rows` asks ``done`` about)."""

    def __init__(self, layout: Layout, max_width: int, max_height: int,
                 members=None) -> None:
        w, h = max(layout.width, 1), max(layout.height, 1)
        max_width, max_height = max(max_width, MIN_COLS), max(max_height, MIN_ROWS)
        # Canvas columns per dot, and rows per dot: a dot is half a cell wide and a quarter
        # tall, so keeping proportions means half as many rows per dot as columns.
        sx = max(w / (2 * max_width), h / (2 * max_height), 0.5)
        sy = sx / 2
        if ceil(h / sy / 4) < MIN_ROWS:
            sy = h / (4 * MIN_ROWS)
        if ceil(w / sx / 2) < MIN_COLS:
            sx = w / (2 * MIN_COLS)
        self.sx, self.sy = sx, sy
        self.width = min(max(ceil(w / sx / 2), 1), max_width)
        self.height = min(max(ceil(h / sy / 4), 1), max_height)
        bits = [[0] * self.width for _ in range(self.height)]
        self._cells: dict[tuple[int, int], list] = {}  # (col, row) -> boxes there
        self._box_cells: dict[object, list[tuple[int, int]]] = {}
        nodes_at: dict[tuple[int, int], set] = {}
        for box, b in layout.boxes.items():
            # The middle half of each box: neighbours stay apart when the scale is coarse.
            x0, x1 = self._dot_x(b.x + b.w / 4), self._dot_x(b.x + b.w * 3 / 4 - 0.5)
            y0, y1 = self._dot_y(b.y + b.h / 4), self._dot_y(b.y + b.h * 3 / 4 - 0.5)
            nodes = members(box) if members is not None else (box,)
            for dy in range(y0, y1 + 1):
                for dx in range(x0, x1 + 1):
                    bits[dy // 4][dx // 2] |= _DOT[dx % 2][dy % 4]
            for row in range(y0 // 4, y1 // 4 + 1):
                for col in range(x0 // 2, x1 // 2 + 1):
                    self._cells.setdefault((col, row), []).append(box)
                    self._box_cells.setdefault(box, []).append((col, row))
                    nodes_at.setdefault((col, row), set()).update(nodes)
        self.cell_nodes = {cell: tuple(sorted(ns)) for cell, ns in nodes_at.items()}
        self.text = ["".join(chr(0x2800 + b) for b in row) for row in bits]

    def _dot_x(self, x: float) -> int:
        return min(max(floor(x / self.sx), 0), 2 * self.width - 1)

    def _dot_y(self, y: float) -> int:
        return min(max(floor(y / self.sy), 0), 4 * self.height - 1)

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """The minimap cell ``(col, row)`` showing canvas cell ``(x, y)``."""
        return self._dot_x(x) // 2, self._dot_y(y) // 4

    def canvas_point(self, col: int, row: int) -> tuple[int, int]:
        """The canvas cell at the middle of minimap cell ``(col, row)``."""
        return floor((col + 0.5) * 2 * self.sx), floor((row + 0.5) * 4 * self.sy)

    def boxes_at(self, col: int, row: int) -> list:
        return self._cells.get((col, row), [])

    def rows(self, window: tuple[int, int, int, int], current: Iterable = (),
             done: Callable[[Sequence[int]], bool] = lambda nodes: False) -> list[list[Run]]:
        """The map's rows as runs of cells with the same flags.

        ``window`` is the visible part of the canvas ``(x, y, width, height)``; ``current`` the
        boxes to mark as current; a cell is done when ``done`` says so of its nodes (sorted ids:
        the cycle's answer, :meth:`tracer.network.Cycle.group_status`).
        """
        x, y, w, h = window
        c0, r0 = self.cell_of(x, y)
        c1, r1 = self.cell_of(x + max(w, 1) - 1, y + max(h, 1) - 1)
        marked = {cell for box in current for cell in self._box_cells.get(box, ())}
        out = []
        for row, text in enumerate(self.text):
            runs: list[Run] = []
            for col, char in enumerate(text):
                cell = (col, row)
                nodes = self.cell_nodes.get(cell)
                flags = (r0 <= row <= r1 and c0 <= col <= c1, nodes is not None and done(nodes),
                         cell in marked)
                if runs and runs[-1][1:] == flags:
                    runs[-1] = runs[-1]._replace(text=runs[-1].text + char)
                else:
                    runs.append(Run(char, *flags))
            out.append(runs)
        return out
