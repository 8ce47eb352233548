"""The neighbourhood view: only the boxes within a few hops of the current one.

Pure Python (no Textual). Hops follow edges both ways (inputs and consumers), so the view shows
where a value came from and where it went.
"""

from __future__ import annotations

from collections.abc import Hashable

import networkx as nx

DEFAULT_HOPS = 2
MIN_HOPS, MAX_HOPS = 1, 9


def within(graph: nx.DiGraph, centre: Hashable, hops: int) -> dict[Hashable, int]:
    """Every node at most ``hops`` edges from ``centre`` (either direction), with its distance."""
    distance = {centre: 0}
    frontier = [centre]
    for d in range(1, hops + 1):
        reached = []
        for v in frontier:
            for w in (*graph.pred[v], *graph.succ[v]):
                if w not in distance:
                    distance[w] = d
                    reached.append(w)
        frontier = reached
    return distance


def neighbourhood(graph: nx.DiGraph, centre: Hashable, hops: int
                  ) -> tuple[nx.DiGraph, dict[Hashable, int]]:
    """The subgraph within ``hops`` of ``centre`` (nodes and edges in the graph's own order, so
    it lays out like the whole graph), and for each of its nodes how many neighbours it has
    outside the subgraph (drawn as a hint that the graph goes on)."""
    keep = within(graph, centre, hops)
    sub = nx.DiGraph()
    sub.add_nodes_from(v for v in graph if v in keep)
    for v in sub:
        for u in graph.pred[v]:
            if u in keep:
                sub.add_edge(u, v)
    outside = {v: sum(w not in keep for w in (*graph.pred[v], *graph.succ[v])) for v in sub}
    return sub, outside
