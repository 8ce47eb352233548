"""Layered layout of a computation graph for a text terminal.

:func:`layout_graph` places a DAG (edges input -> output) left to right, one column per layer,
the loss at the right, and routes every edge with right-angle lines in the channel between two
columns. The steps are the classic Sugiyama ones:

1. layers: longest path to a sink, so all sinks share the last column and a leaf constant sits
   just before its first consumer instead of far out in column 0, then passes that shorten
   edges;
2. dummy points on edges that span several layers, so every edge joins adjacent columns;
3. a few barycentre sweeps to cut crossings, keeping the best order seen;
4. rows: each node moves towards the median of its neighbours' ports (a weighted isotonic
   regression per column keeps the column's order and spacing), alternately from the left and
   from the right;
5. channel routing: each source gets a vertical trunk in the channel (edges into a port that
   several edges share get their own), trunks are packed into tracks under the constraint that
   no line ever continues into an unrelated one, and edges that would have to swap tracks get a
   dogleg through a free row.

The result is a :class:`~tui.graph_canvas.Layout`. Pure Python + networkx, no Textual or Rich.
"""

from __future__ import annotations

import gc
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from math import floor

import networkx as nx

from tui.graph_canvas import Box, Edge, HSeg, Layout, Row, Span, VSeg

__all__ = ["Box", "Layout", "Row", "Spacing", "Span", "box_size", "layout_graph"]

_LAYER_ROUNDS = 4  # left/right passes at most when choosing columns
_ORDER_SWEEPS = 4  # barycentre iterations at most (each one sweep up and one down)
_ROW_ROUNDS = 4  # row-alignment rounds at most; most graphs settle after one
_DUMMY_WEIGHT = 4.0  # long edges pull harder than real nodes, so they stay straight
_IDLE_WEIGHT = 0.01  # a node with no neighbour on the swept side barely resists its column


@dataclass(frozen=True, slots=True)
class Spacing:
    """Room around the boxes.

    ``gap`` blank rows between two boxes of a column (readable, and free rows for doglegs);
    ``lead`` cells between a box and its channel's first track and between the last track and
    the arrow (0 packs a small screen's graph tighter, the corner then touches the box);
    ``extra`` more cells in every channel, to spread a small graph over a big screen.
    """

    gap: int = 1
    lead: int = 1
    extra: int = 0


def box_size(lines: Sequence[str], border: bool = True) -> tuple[int, int]:
    """Return the ``(width, height)`` of a box that shows ``lines`` in full.

    Parameters
    ----------
    lines : sequence of str
        The label, one string per line.
    border : bool
        Bordered box (full zoom: a border and a space of padding on each side) or a bare chip.
    """
    widest = max((len(line) for line in lines), default=0)
    if border:
        return widest + 4, len(lines) + 2
    return max(widest, 1), max(len(lines), 1)


def layout_graph(
    graph: nx.DiGraph,
    sizes: Mapping[Hashable, tuple[int, int]],
    *,
    border: bool = True,
    spacing: Spacing | None = None,
) -> Layout:
    """Lay out a DAG left to right for a terminal.

    Parameters
    ----------
    graph : networkx.DiGraph
        Acyclic; edges point from an input to the node that consumes it.
    sizes : mapping
        ``node -> (width, height)`` of each node's box, in cells. With ``border`` a box needs
        ``width >= 2`` and ``height >= 3``; without, ``width >= 1`` and ``height >= 1``.
    border : bool
        ``True`` for bordered boxes (the full zoom level), ``False`` for bare chips (the
        compact one, usually one line high).
    spacing : Spacing, optional
        Blank rows between boxes and room in the channels between columns.

    Returns
    -------
    Layout
        Box geometry, the cell-to-node map and row-by-row drawing.

    Raises
    ------
    ValueError
        If the graph has a cycle, or a node has no size or a size too small for ``border``.
    """
    # Laying out makes hundreds of thousands of small objects and no reference cycles; left on,
    # the collector would walk every object of the (big) trace again and again meanwhile,
    # a quarter of the time on a graph of 5,000 nodes.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _layout_graph(graph, sizes, border, spacing or Spacing())
    finally:
        if collecting:
            gc.enable()


def _layout_graph(
    graph: nx.DiGraph, sizes: Mapping[Hashable, tuple[int, int]], border: bool, spacing: Spacing
) -> Layout:
    nodes = list(graph.nodes)
    _check_sizes(nodes, sizes, border)
    # The graph by index, once: networkx lookups cost more than the whole layout otherwise.
    index = {node: i for i, node in enumerate(nodes)}
    preds = [[index[u] for u in ins] for _, ins in graph.pred.items()]
    succs = [[index[w] for w in outs] for _, outs in graph.succ.items()]
    order = _topological_order(preds, succs)
    if len(order) < len(nodes):
        raise ValueError("the graph has a cycle; only DAGs can be laid out")
    dag = _Dag(nodes, preds, _layers(preds, succs, order))
    layers = _order_layers(dag)
    n_real = len(nodes)
    widths = [sizes[n][0] for n in nodes]
    heights = [sizes[n][1] for n in nodes] + [1] * (len(dag.layer) - n_real)
    out_off = [h // 2 for h in heights]
    in_off = _in_ports(dag, layers, heights, n_real, border)
    y = _assign_rows(dag, layers, heights, out_off, in_off, n_real, spacing.gap)

    channels = []
    for layer in layers[:-1]:
        pieces = [
            (a, b, y[a] + out_off[a], y[b] + in_off[a, b], (b, in_off[a, b]))
            for a in layer
            for b in dag.succs[a]
        ]
        channels.append(_route_channel(pieces))

    col_w = [max((widths[v] for v in layer if v < n_real), default=1) for layer in layers]
    # A channel is a lead-out, its tracks, a lead-in and the arrow; with no tracks one cell of
    # line is enough.
    col_x = [0]
    lead, extra = spacing.lead, spacing.extra
    for i, channel in enumerate(channels):
        room = channel.n_tracks + 2 * lead + 1 if channel.n_tracks else 2
        col_x.append(col_x[-1] + col_w[i] + room + extra)

    boxes = {
        nodes[v]: Box(col_x[i], y[v], widths[v], heights[v])
        for i, layer in enumerate(layers)
        for v in layer
        if v < n_real
    }
    hsegs: list[HSeg] = []
    vsegs: list[VSeg] = []
    arrows: list[tuple[int, int, Edge]] = []
    for i, channel in enumerate(channels):
        first_track = col_x[i] + col_w[i] + lead + extra // 2
        for a, b, ya, yb, route in channel.routes:
            edge = dag.edge_of[a, b]
            # A line leaves a real box at its right side, a dummy point at its column's left.
            x0 = col_x[i] + widths[a] if a < n_real else col_x[i]
            x1 = col_x[i + 1] - 2 if b < n_real else col_x[i + 1] - 1
            if b < n_real:
                arrows.append((x1 + 1, yb, edge))
            _route_segments(edge, x0, x1, ya, yb, route, first_track, hsegs, vsegs)
    out_ports = {nodes[v]: y[v] + out_off[v] for v in range(n_real) if dag.succs[v] and border}
    columns = [[nodes[v] for v in layer if v < n_real] for layer in layers]
    width = col_x[-1] + col_w[-1] if nodes else 0
    # A dogleg may jog along a row below every box.
    height = max(
        max((row + h for row, h in zip(y, heights, strict=True)), default=0),
        max((seg.y + 1 for seg in hsegs), default=0),
    )
    return Layout(
        size=(width, height),
        boxes=boxes,
        columns=columns,
        border=border,
        out_ports=out_ports,
        hsegs=hsegs,
        vsegs=vsegs,
        arrows=arrows,
    )


def _check_sizes(
    nodes: list[Hashable], sizes: Mapping[Hashable, tuple[int, int]], border: bool
) -> None:
    min_w, min_h = (2, 3) if border else (1, 1)
    for node in nodes:
        if node not in sizes:
            raise ValueError(f"no size given for node {node!r}")
        w, h = sizes[node]
        if w < min_w or h < min_h:
            raise ValueError(
                f"box of node {node!r} is {w}x{h}; at least {min_w}x{min_h} is needed"
                f" {'with' if border else 'without'} a border"
            )


class _Dag:
    """The graph by integer index, every edge split to join adjacent layers.

    Indices ``0..n-1`` are the graph's nodes in order; higher ones are dummy points on long
    edges. ``edge_of`` maps each piece ``(a, b)`` back to the graph edge it is part of.
    """

    def __init__(self, nodes: list[Hashable], preds: list[list[int]], layer: list[int]) -> None:
        n = len(nodes)
        self.layer = layer
        self.n_layers = max(self.layer, default=-1) + 1
        self.preds: list[list[int]] = [[] for _ in range(n)]
        self.succs: list[list[int]] = [[] for _ in range(n)]
        self.edge_of: dict[tuple[int, int], Edge] = {}
        # Inputs in each node's own input order (the order its edges were added).
        for v, ins in enumerate(preds):
            for u in ins:
                if layer[v] - layer[u] == 1:  # the common case, inlined
                    self.succs[u].append(v)
                    self.preds[v].append(u)
                    self.edge_of[u, v] = (nodes[u], nodes[v])
                else:
                    self._split(u, v, (nodes[u], nodes[v]))

    def _split(self, a: int, b: int, edge: Edge) -> None:
        """Add edge ``a -> b`` as a chain of pieces through dummies, one per layer crossed."""
        for layer in range(self.layer[a] + 1, self.layer[b]):
            dummy = len(self.layer)
            self.layer.append(layer)
            self.preds.append([])
            self.succs.append([])
            self._link(a, dummy, edge)
            a = dummy
        self._link(a, b, edge)

    def _link(self, a: int, b: int, edge: Edge) -> None:
        self.succs[a].append(b)
        self.preds[b].append(a)
        self.edge_of[a, b] = edge


def _topological_order(preds: list[list[int]], succs: list[list[int]]) -> list[int]:
    """Nodes generation by generation (Kahn), in exactly networkx's ``topological_sort``
    order; fewer than all nodes if the graph has a cycle."""
    indegree = [len(ins) for ins in preds]
    generation = [v for v, d in enumerate(indegree) if not d]
    order: list[int] = []
    while generation:
        order += generation
        following = []
        for v in generation:
            for w in succs[v]:
                indegree[w] -= 1
                if not indegree[w]:
                    following.append(w)
        generation = following
    return order


def _layers(preds: list[list[int]], succs: list[list[int]], order: list[int]) -> list[int]:
    """Column of each node: sinks last, leaves next to their consumer, edges short.

    Start from the longest path to a sink, counted from the right: sinks line up at the end and
    a leaf sits just before its first consumer (not far out in column 0). Then alternate two
    linear passes, each moving a node to the end of its free range that shortens more edges
    than it lengthens: left for a node with at least as many inputs as consumers, right for
    one with more consumers. On scalar networks (chains of adds) this finds the fewest dummy
    points there are, where either longest path alone gives up to twenty times more.
    """
    n = len(preds)
    height = [0] * n  # longest path to a sink
    for v in reversed(order):
        if succs[v]:
            height[v] = 1 + max([height[w] for w in succs[v]])
    top = max(height, default=0)
    layer = [top - h for h in height]
    # A leaf with one consumer always goes right next to it, so it neither pulls nor blocks.
    follows = [not preds[v] and len(succs[v]) == 1 for v in range(n)]
    inputs = [[u for u in preds[v] if not follows[u]] for v in range(n)]

    def place_leaves() -> None:
        for v in reversed(order):
            if not preds[v] and succs[v]:
                layer[v] = min(layer[w] for w in succs[v]) - 1

    def total_length() -> int:
        return sum(layer[w] - layer[v] for v in range(n) for w in succs[v])

    best, best_length = layer[:], total_length()
    for _ in range(_LAYER_ROUNDS):
        for v in order:  # inputs have settled before their consumers move
            if succs[v] and inputs[v] and len(inputs[v]) >= len(succs[v]):
                layer[v] = max(layer[u] for u in inputs[v]) + 1
        place_leaves()
        for v in reversed(order):
            if preds[v] and len(succs[v]) > len(inputs[v]):
                layer[v] = min(layer[w] for w in succs[v]) - 1
        place_leaves()
        length = total_length()
        if length >= best_length:
            break
        best, best_length = layer[:], length
    # Close up columns the passes emptied: every edge only gets shorter.
    column = {k: i for i, k in enumerate(sorted(set(best)))}
    return [column[k] for k in best]


def _order_layers(dag: _Dag) -> list[list[int]]:
    """Order each layer by barycentre sweeps; return the order with the fewest crossings.

    The starting order is a depth-first walk back from the sinks, taking inputs in their edge
    order: for a computation graph that is the expression tree as written, which the sweeps
    only replace if they find fewer crossings.
    """
    layers: list[list[int]] = [[] for _ in range(dag.n_layers)]
    seen = [False] * len(dag.layer)
    sinks = [v for v, succs in enumerate(dag.succs) if not succs]
    stack = sinks[::-1]
    while stack:
        v = stack.pop()
        if not seen[v]:
            seen[v] = True
            layers[dag.layer[v]].append(v)
            stack.extend(reversed(dag.preds[v]))
    rank = [0.0] * len(dag.layer)

    def rerank(layer: list[int]) -> None:
        # Ranks are fractions of the layer, so layers of different lengths compare.
        for k, v in enumerate(layer):
            rank[v] = (k + 0.5) / len(layer)

    def sweep(i: int, neighbours: list[list[int]]) -> None:
        # Sort by the neighbours' mean rank; a node without neighbours on that side keeps its
        # place, and ties keep their order.
        if len(layers[i]) < 2:
            return  # nothing to reorder (most layers of a long chain)
        keyed = []
        for v in layers[i]:
            ns = neighbours[v]
            if len(ns) == 1:
                keyed.append((rank[ns[0]], rank[v], v))
            elif ns:
                keyed.append((sum([rank[w] for w in ns]) / len(ns), rank[v], v))
            else:
                keyed.append((rank[v], rank[v], v))
        keyed.sort()
        layers[i] = [v for *_, v in keyed]
        rerank(layers[i])

    for layer in layers:
        rerank(layer)
    best = [list(layer) for layer in layers]
    best_crossings = _crossings(layers, dag.succs, rank)
    for _ in range(_ORDER_SWEEPS):
        if best_crossings == 0:
            break
        # Up first: the sinks (the loss) anchor the order, as a reader scans back from it.
        for i in range(dag.n_layers - 2, -1, -1):
            sweep(i, dag.succs)
        for i in range(1, dag.n_layers):
            sweep(i, dag.preds)
        crossings = _crossings(layers, dag.succs, rank)
        if crossings >= best_crossings:
            break  # converged or oscillating: more sweeps rarely pay for themselves
        best = [list(layer) for layer in layers]
        best_crossings = crossings
    return best


def _crossings(layers: list[list[int]], succs: list[list[int]], rank: list[float]) -> int:
    """Count pairs of crossing edges between every two adjacent layers."""
    total = 0
    for layer in layers[:-1]:
        if len(layer) < 2:
            continue  # edges from one node never cross each other
        seen: list[float] = []  # sorted target ranks of the edges from nodes above
        for v in layer:
            ws = succs[v]
            targets = [rank[ws[0]]] if len(ws) == 1 else sorted([rank[w] for w in ws])
            for r in targets:
                total += len(seen) - bisect_right(seen, r)
            for r in targets:
                insort(seen, r)
    return total


def _port_rows(k: int, height: int, border: bool) -> list[int]:
    """Rows (relative to the box) where ``k`` incoming edges enter a box of ``height``.

    A single input enters on the same row as the output leaves, so chains are straight lines.
    Several inputs spread over the inner rows, a row apart where there is room; when there are
    more inputs than rows, neighbouring inputs share a row (they merge into one arrow).
    """
    first = 1 if border else 0
    n = height - 2 * first
    used = min(k, n)
    if used == 1:
        rows = [height // 2]
    else:
        step = min(2, (n - 1) // (used - 1))
        start = first + (n - 1 - step * (used - 1)) // 2
        rows = [start + j * step for j in range(used)]
    return [rows[j * used // k] for j in range(k)]


def _in_ports(
    dag: _Dag, layers: list[list[int]], heights: list[int], n_real: int, border: bool
) -> dict[tuple[int, int], int]:
    """Row offset, within the target's box, where each piece ``(a, b)`` enters ``b``."""
    position = {v: k for layer in layers for k, v in enumerate(layer)}
    in_off: dict[tuple[int, int], int] = {}
    for b, preds in enumerate(dag.preds):
        if not preds:
            continue
        # Inputs take ports in their column order, so they do not cross at the box.
        preds = sorted(preds, key=position.__getitem__)
        rows = _port_rows(len(preds), heights[b], border) if b < n_real else [0] * len(preds)
        for a, row in zip(preds, rows, strict=True):
            in_off[a, b] = row
    return in_off


def _assign_rows(
    dag: _Dag,
    layers: list[list[int]],
    heights: list[int],
    out_off: list[int],
    in_off: dict[tuple[int, int], int],
    n_real: int,
    gap: int,
) -> list[int]:
    """Give every node a top row, aligning ports with neighbours; rows start at 0."""
    n = len(heights)
    # Room the boxes above each node need; stacked that tightly is also the starting point.
    y = [0] * n
    layer_offsets = []
    for layer in layers:
        offsets, top = [], 0
        for v in layer:
            offsets.append(top)
            y[v] = top
            top += heights[v] + gap
        layer_offsets.append(offsets)
    # A neighbour at row r wants v at row r + offset, so that the two ports line up.
    from_left = [[(a, out_off[a] - in_off[a, v]) for a in dag.preds[v]] for v in range(n)]
    from_right = [[(b, in_off[v, b] - out_off[v]) for b in dag.succs[v]] for v in range(n)]
    weight = [1.0] * n_real + [_DUMMY_WEIGHT] * (n - n_real)

    def place(i: int, wanted_from: list[list[tuple[int, int]]]) -> None:
        """Move layer ``i`` towards its neighbours on one side."""
        layer = layers[i]
        if len(layer) == 1:  # a chain's layer: _pack's arithmetic for one node, inlined
            v = layer[0]
            terms = wanted_from[v]
            if len(terms) == 1:
                want, w = y[terms[0][0]] + terms[0][1], weight[v]
            elif terms:
                want, w = _median([y[a] + offset for a, offset in terms]), weight[v]
            else:
                want, w = y[v], _IDLE_WEIGHT
            y[v] = floor(w * want / w + 0.5)
            return
        wanted, weights = [], []
        for v in layer:
            terms = wanted_from[v]
            if len(terms) == 1:
                a, offset = terms[0]
                wanted.append(y[a] + offset)
                weights.append(weight[v])
            elif terms:
                wanted.append(_median([y[a] + offset for a, offset in terms]))
                weights.append(weight[v])
            else:
                wanted.append(y[v])
                weights.append(_IDLE_WEIGHT)
        for v, row in zip(layers[i], _pack(wanted, weights, layer_offsets[i]), strict=True):
            y[v] = row

    for _ in range(_ROW_ROUNDS):
        before = y[:]
        for i in range(1, dag.n_layers):
            place(i, from_left)
        for i in range(dag.n_layers - 2, -1, -1):
            place(i, from_right)
        # Done when a round only moved everything by the same amount (rows are relative).
        shift = y[0] - before[0] if y else 0
        if all(new - old == shift for new, old in zip(y, before, strict=True)):
            break
    lowest = min(y, default=0)
    return [row - lowest for row in y]


def _median(values: list[int]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _pack(wanted: list[float] | list[int], weights: list[float], offsets: list[int]) -> list[int]:
    """Rows closest to ``wanted`` (weighted least squares) keeping order and spacing.

    ``offsets[k]`` is the room the boxes above node ``k`` need. With ``z_k = row_k -
    offsets[k]`` the spacing constraint becomes ``z`` non-decreasing, which the
    pool-adjacent-violators algorithm solves exactly in linear time.
    """
    blocks: list[list[float]] = []  # [sum of weights, weighted sum of z, count]
    for want, weight, offset in zip(wanted, weights, offsets, strict=True):
        block = [weight, weight * (want - offset), 1]
        # Merge with the block above while that one would sit lower (a violated order).
        while blocks and blocks[-1][1] * block[0] >= block[1] * blocks[-1][0]:
            above = blocks.pop()
            block = [above[0] + block[0], above[1] + block[1], above[2] + block[2]]
        blocks.append(block)
    rows: list[int] = []
    for w, total, count in blocks:
        rows += [floor(total / w + 0.5)] * int(count)
    return [z + offset for z, offset in zip(rows, offsets, strict=True)]


class _Trunk:
    """A vertical line in a channel, shared by the pieces that use it.

    ``src`` is the row where the line comes in from the left (``None`` for the second half of a
    dogleg, which comes in along its jog row); ``tgts`` are the rows where it turns right into a
    port; ``top``..``bottom`` is its extent, jog rows included.
    """

    __slots__ = ("bottom", "key", "pieces", "src", "tgts", "top", "track")

    def __init__(self, src: int | None, tgts: set[int], rows: Sequence[int], pieces: list) -> None:
        """``rows[0]`` is where the trunk starts (source or jog row), ``rows[1:]`` where it goes."""
        self.src = src
        self.tgts = tgts
        self.top = min(rows)
        self.bottom = max(rows)
        self.pieces = pieces
        self.track = -1
        start = rows[0]
        # Trunks are placed in this order, each on the leftmost track that takes it. Of two
        # overlapping trunks going down, the one starting lower goes left (and the other way
        # round going up): then neither one's horizontal runs cross the other trunk.
        down = sum(rows[1:]) > start * (len(rows) - 1)
        self.key = (0, -start) if down else (1, start)


class _Channel:
    """The routing of one channel: ``routes`` holds ``(a, b, ya, yb, route)`` per piece, where
    ``route`` is ``()`` (straight), ``(track,)`` or ``(track, jog_row, track)`` (a dogleg)."""

    def __init__(
        self, n_tracks: int, routes: list[tuple[int, int, int, int, tuple[int, ...]]]
    ) -> None:
        self.n_tracks = n_tracks
        self.routes = routes


def _route_channel(pieces: list[tuple[int, int, int, int, tuple[int, int]]]) -> _Channel:
    """Route the pieces ``(a, b, ya, yb, port)`` crossing one channel.

    The rule that keeps the picture unambiguous: on any row, a line coming in from the left
    (a source's horizontal, running to its trunk) must end left of every trunk that turns right
    on that row into a port, or the two would run together and a source would seem to reach a
    node it does not feed. That is a "left of" constraint between trunks; a cycle of such
    constraints (two edges swapping rows) is broken with a dogleg through a free row.
    """
    port_size = Counter(port for *_, port in pieces)
    straight_rows = {yb for _, _, ya, yb, _ in pieces if ya == yb}
    busy_rows = {ya for _, _, ya, _, _ in pieces} | {yb for _, _, _, yb, _ in pieces}
    shared: dict[int, list] = {}
    trunks: list[_Trunk] = []
    for piece in pieces:
        _, _, ya, yb, port = piece
        if ya == yb:
            continue
        if port_size[port] > 1:
            # Into a port several edges share: its own trunk, so its end on the port row is a
            # plain tee (a shared trunk passing through would draw an ambiguous cross).
            trunks.append(_Trunk(ya, {yb}, (ya, yb), [piece]))
        else:
            shared.setdefault(ya, []).append(piece)
    for ya, group in shared.items():
        tgts = {p[3] for p in group}
        trunks.append(_Trunk(ya, tgts, (ya, *tgts), group))

    jogs: list[tuple[_Trunk, _Trunk, int]] = []  # dogleg halves and their jog row
    while True:
        after = _constraints(trunks, jogs)
        cycle = _find_cycle(trunks, after)
        if cycle is None:
            break
        _break_cycle(cycle, trunks, jogs, busy_rows)
    n_tracks = _assign_tracks(trunks, after, straight_rows)

    routes = [(a, b, ya, yb, ()) for a, b, ya, yb, _ in pieces if ya == yb]
    halves = {first: (second, row) for first, second, row in jogs}
    for trunk in trunks:
        if trunk.src is None:
            continue
        for a, b, ya, yb, _ in trunk.pieces:
            if trunk in halves:
                second, row = halves[trunk]
                routes.append((a, b, ya, yb, (trunk.track, row, second.track)))
            else:
                routes.append((a, b, ya, yb, (trunk.track,)))
    return _Channel(n_tracks, routes)


def _constraints(
    trunks: list[_Trunk], jogs: list[tuple[_Trunk, _Trunk, int]]
) -> dict[_Trunk, dict[_Trunk, int]]:
    """``after[s][t] = d``: trunk ``t`` must be at least ``d`` tracks right of trunk ``s``.

    Where a source line ends on a row that a trunk leaves to the right, one blank track is
    kept between them: ``┘├`` side by side reads as a line running through.
    """
    sources: dict[int, list[_Trunk]] = {}
    targets: dict[int, list[_Trunk]] = {}
    for t in trunks:
        if t.src is not None:
            sources.setdefault(t.src, []).append(t)
        for row in t.tgts:
            targets.setdefault(row, []).append(t)
    after: dict[_Trunk, dict[_Trunk, int]] = {t: {} for t in trunks}
    for row, ts in sources.items():
        for t in targets.get(row, ()):
            for s in ts:
                after[s][t] = 2
    for first, second, _ in jogs:
        after[first][second] = 1  # the jog runs left to right
    return after


def _find_cycle(
    trunks: list[_Trunk], after: dict[_Trunk, dict[_Trunk, int]]
) -> list[_Trunk] | None:
    """A cycle of constraints ``[t0, t1, ...]`` (each must be left of the next), or ``None``."""
    indegree = Counter(t for ts in after.values() for t in ts)
    ready = [t for t in trunks if indegree[t] == 0]
    while ready:
        for t in after[ready.pop()]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    # Trunks hash by identity: go by list and dict order only, so the layout is deterministic.
    stuck = {t: None for t in trunks if indegree[t] > 0}
    if not stuck:
        return None
    # Every stuck trunk has a stuck predecessor: walk back until a trunk repeats.
    before: dict[_Trunk, list[_Trunk]] = {t: [] for t in stuck}
    for s in stuck:
        for t in after[s]:
            if t in stuck:
                before[t].append(s)
    path, seen = [], {}
    t = next(iter(stuck))
    while t not in seen:
        seen[t] = len(path)
        path.append(t)
        t = before[t][0]
    return path[seen[t] :][::-1]


def _break_cycle(
    cycle: list[_Trunk],
    trunks: list[_Trunk],
    jogs: list[tuple[_Trunk, _Trunk, int]],
    busy_rows: set[int],
) -> None:
    """Remove a constraint cycle by a dogleg, splitting a shared trunk first if need be.

    Dogleg halves are never part of a cycle (the first has no port row to be constrained by,
    the second no source row to constrain others with), so splitting always makes progress.
    """
    singles = [t for t in cycle if len(t.pieces) == 1]
    if not singles:
        shared = cycle[0]
        trunks.remove(shared)
        trunks.extend(_Trunk(p[2], {p[3]}, (p[2], p[3]), [p]) for p in shared.pieces)
        return
    trunk = max(singles, key=lambda t: t.bottom - t.top)
    piece = trunk.pieces[0]
    ya, yb = piece[2], piece[3]
    row = _free_row(trunk.top, trunk.bottom, busy_rows)
    first = _Trunk(ya, set(), (ya, row), [piece])
    second = _Trunk(None, {yb}, (row, yb), [])
    trunks.remove(trunk)
    trunks.extend((first, second))
    jogs.append((first, second, row))
    busy_rows.add(row)


def _free_row(top: int, bottom: int, busy_rows: set[int]) -> int:
    """The unused row nearest the middle of ``top..bottom``, preferably strictly inside it.

    Past the last busy row every row is free, so there always is one; a jog outside the range
    makes a detour, which is still better than two lines running into each other.
    """
    middle = (top + bottom) // 2
    d = 0
    while True:
        for row in (middle - d, middle + d + 1):
            if row >= 0 and row not in busy_rows:
                return row
        d += 1


def _assign_tracks(
    trunks: list[_Trunk], after: dict[_Trunk, dict[_Trunk, int]], straight_rows: set[int]
) -> int:
    """Put each trunk on the leftmost track it may use; return the number of tracks.

    Trunks are placed in constraint order (preferred order among those free to go), each on
    the first track at or right of what its constraints demand where it fits. A track holds
    trunks whose extents are disjoint, except that a trunk coming down into a merged port and
    one coming up into it may meet on the port row (drawn ``├``), provided no line from
    further left runs along that row: it would turn the tee into a cross.
    """
    waiting = Counter(t for ts in after.values() for t in ts)  # constraining trunks not placed
    earliest = dict.fromkeys(trunks, 0)
    order = {t: n for n, t in enumerate(trunks)}  # tie-break, trunks do not compare
    ready = [(t.key, order[t], t) for t in trunks if not waiting[t]]
    heapify(ready)
    tracks: list[tuple[list[int], list[_Trunk]]] = []  # per track: tops, trunks sorted by top
    # Port row -> leftmost track turning into it (-1: a straight line runs along the row).
    leftmost = dict.fromkeys(straight_rows, -1)
    meets: dict[int, int] = {}  # port row -> track where two trunks meet on it
    while ready:
        t = heappop(ready)[2]
        k = earliest[t]
        while k < len(tracks) and not _fits(t, k, tracks[k], leftmost, meets):
            k += 1
        while len(tracks) <= k:  # a constraint may ask for a blank track in between
            tracks.append(([], []))
        tops, placed = tracks[k]
        i = bisect_left(tops, t.top)
        tops.insert(i, t.top)
        placed.insert(i, t)
        t.track = k
        for neighbour in placed[max(i - 1, 0) : i + 2]:
            if neighbour.bottom == t.top or neighbour.top == t.bottom:
                meets[t.top if neighbour.bottom == t.top else t.bottom] = k
        for row in t.tgts:
            leftmost[row] = min(leftmost.get(row, k), k)
        for s, distance in after[t].items():
            waiting[s] -= 1
            earliest[s] = max(earliest[s], k + distance)
            if not waiting[s]:
                heappush(ready, (s.key, order[s], s))
    return len(tracks)


def _fits(
    t: _Trunk,
    k: int,
    track: tuple[list[int], list[_Trunk]],
    leftmost: dict[int, int],
    meets: dict[int, int],
) -> bool:
    """Whether trunk ``t`` may go on track ``k``."""
    if meets:
        for row in t.tgts:
            if meets.get(row, k) > k:
                return False  # its line into the port would cross a meeting further right
    tops, placed = track
    i = bisect_left(tops, t.top)
    # The track's trunks are disjoint and sorted, so only the two around t can overlap it.
    for other in placed[max(i - 1, 0) : i + 1]:
        if t.bottom < other.top or other.bottom < t.top:
            continue
        row = t.bottom if t.bottom == other.top else t.top if t.top == other.bottom else None
        if row is None or row not in t.tgts or row not in other.tgts:
            return False
        if leftmost.get(row, k) < k:
            return False
    return True


def _route_segments(
    edge: Edge,
    x0: int,
    x1: int,
    ya: int,
    yb: int,
    route: tuple[int, ...],
    first_track: int,
    hsegs: list[HSeg],
    vsegs: list[VSeg],
) -> None:
    """Append the line segments of one routed piece running from ``(x0, ya)`` to ``(x1, yb)``."""
    if not route:
        hsegs.append(HSeg(ya, x0, x1, True, True, edge))
        return
    xs = [first_track + track for track in route[::2]]
    rows = [ya, *route[1::2], yb]
    hsegs.append(HSeg(ya, x0, xs[0], True, False, edge))
    for k, x in enumerate(xs):
        vsegs.append(VSeg(x, min(rows[k], rows[k + 1]), max(rows[k], rows[k + 1]), edge))
        if k + 1 < len(xs):
            hsegs.append(HSeg(rows[k + 1], x, xs[k + 1], False, False, edge))
    hsegs.append(HSeg(yb, xs[-1], x1, False, True, edge))
