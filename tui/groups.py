"""Groups of nodes that the graph can collapse into one box: layers, neurons, user-named groups.

Pure Python (networkx, no Textual), so the grouping is testable without a terminal.

How nodes are grouped
---------------------
- **User-named groups.** A tensor whose name has a slash belongs to the group named by what is
  before the last slash: ``fc1/W``, ``fc1/z`` and ``fc1/h`` make a group ``fc1``
  (``encoder/fc1/h`` belongs to ``encoder/fc1``).
- **Layers and neurons, found automatically.** Every activation (``relu``, ``tanh``,
  ``sigmoid``, ``softmax``) anchors a group. A node joins a group when everything that consumes
  it is in that group: for a vectorised layer that gathers the matmul, the bias add, the weight
  and the bias (``X @ W1 + b1`` then ``tanh``); for a scalar network it gathers a neuron's
  weights, products, chain of adds and bias. A user-named group pulls in the same way the
  unnamed nodes that only feed it (``fc1/h = relu(x @ W + b)`` with only ``fc1/h`` named still
  gathers the matmul, the add, ``W`` and ``b``).
- Inputs (data, targets) and the loss stay outside every group, as does an activation feeding
  another group (it anchors its own). A group needs at least two nodes.
- Automatic groups are named by depth: ``layer k`` when one group sits at depth ``k`` (the
  number of activations on the longest path into it), ``neuron k.j`` (scalar outputs) or
  ``layer k.j`` when several do.

A group stands for its **output**: the node whose value leaves it (the activation for an
automatic group). Its box shows that node's value and gradient, and selecting the box selects it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from tracer.record import Trace

SEPARATOR = "/"
MIN_MEMBERS = 2


def group_box(group: int) -> int:
    """The box id of group ``group`` when collapsed: negative, so it never clashes with a node."""
    return -1 - group


def is_group_box(box: int) -> bool:
    return box < 0


def group_of_box(box: int) -> int:
    return -1 - box


@dataclass(frozen=True, slots=True)
class Group:
    """Nodes drawn as one box when collapsed."""

    id: int
    name: str
    members: tuple[int, ...]  # node ids, ascending (forward order)
    output: int  # the member whose value leaves the group
    explicit: bool  # named by the user (``name/…``) rather than found

    def __len__(self) -> int:
        return len(self.members)


@dataclass(frozen=True, slots=True)
class Grouping:
    """Every group of a trace's graph, and each node's group (``None`` outside every group)."""

    groups: tuple[Group, ...]
    group_of: tuple[int | None, ...]

    def by_name(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(g.name for g in self.groups)


def explicit_group(name: str) -> str | None:
    """The group a node name puts its node in (``"fc1/W"`` -> ``"fc1"``), or ``None``."""
    head, sep, tail = name.rpartition(SEPARATOR)
    return head if sep and head and tail else None


def find_groups(trace: Trace) -> Grouping:
    """Group ``trace``'s nodes into layers, neurons and user-named groups (see the module)."""
    nodes = trace.nodes
    n = len(nodes)
    consumers: list[list[int]] = [[] for _ in range(n)]
    for node in nodes:
        for i in node.inputs:
            consumers[i].append(node.id)
    named = [explicit_group(node.name) for node in nodes]
    # Labels: ("named", name) for user groups, ("auto", anchor) for found ones.
    label: list[tuple[str, object] | None] = [None] * n
    for v in range(n - 1, -1, -1):  # consumers first: ids are in forward (topological) order
        node = nodes[v]
        if named[v] is not None:
            label[v] = ("named", named[v])
            continue
        if node.kind in ("input", "loss") or v == trace.root:
            continue
        outs = {label[w] for w in consumers[v]}
        only = next(iter(outs)) if len(outs) == 1 else None
        activation = trace.role(v) == "activation"
        if only is not None and (only[0] == "named" or not activation):
            label[v] = only
        elif activation:
            label[v] = ("auto", v)
    members: dict[tuple[str, object], list[int]] = defaultdict(list)
    for v, lab in enumerate(label):
        if lab is not None:
            members[lab].append(v)
    kept = {lab: ms for lab, ms in members.items() if len(ms) >= MIN_MEMBERS}
    kept = _acyclic(kept, consumers)
    return _number(trace, kept, consumers)


def _acyclic(groups: dict, consumers: list[list[int]]) -> dict:
    """Drop user-named groups that would make the collapsed graph cyclic (a path leaving the
    group and coming back). Found groups never do: only their anchor feeds other nodes."""
    while True:
        where = {v: lab for lab, ms in groups.items() for v in ms}
        quotient = nx.DiGraph()
        quotient.add_nodes_from(groups)
        for v, ws in enumerate(consumers):
            a = where.get(v, v)
            for w in ws:
                b = where.get(w, w)
                if a != b:
                    quotient.add_edge(a, b)
        bad = [lab for component in nx.strongly_connected_components(quotient)
               if len(component) > 1 for lab in component if lab in groups]
        if not bad:
            return groups
        groups = {lab: ms for lab, ms in groups.items() if lab not in bad}


def _number(trace: Trace, groups: dict, consumers: list[list[int]]) -> Grouping:
    """Give groups ids (in forward order of their outputs) and names."""
    nodes = trace.nodes
    n = len(nodes)
    where = {v: lab for lab, ms in groups.items() for v in ms}

    def output(lab, ms: list[int]) -> int:
        if lab[0] == "auto":
            return lab[1]
        leaving = [v for v in ms if any(where.get(w) != lab for w in consumers[v])]
        return max(leaving or ms)

    outputs = {lab: output(lab, ms) for lab, ms in groups.items()}
    order = sorted(groups, key=outputs.__getitem__)
    # Depth of found groups: activations on the longest path into the group, its own included.
    depth = [0] * n
    anchors = {lab[1] for lab in groups if lab[0] == "auto"}
    for node in nodes:
        d = max((depth[i] for i in node.inputs), default=0)
        depth[node.id] = d + (node.id in anchors)
    at_depth: dict[int, list] = defaultdict(list)
    for lab in order:
        if lab[0] == "auto":
            at_depth[depth[lab[1]]].append(lab)

    def name(lab) -> str:
        if lab[0] == "named":
            return lab[1]
        k = depth[lab[1]]
        peers = at_depth[k]
        if len(peers) == 1:
            return f"layer {k}"
        scalar = all(nodes[p[1]].value.size == 1 for p in peers)
        return f"{'neuron' if scalar else 'layer'} {k}.{peers.index(lab) + 1}"

    result = []
    group_of: list[int | None] = [None] * n
    for gid, lab in enumerate(order):
        ms = tuple(sorted(groups[lab]))
        result.append(Group(gid, name(lab), ms, outputs[lab], lab[0] == "named"))
        for v in ms:
            group_of[v] = gid
    return Grouping(tuple(result), tuple(group_of))


def collapse_graph(trace: Trace, grouping: Grouping, collapsed: Iterable[int]
                   ) -> tuple[nx.DiGraph, dict[int, int]]:
    """The graph with each group in ``collapsed`` (group ids) drawn as one box.

    Returns the graph over box ids (node ids; :func:`group_box` ids for collapsed groups) and
    ``box_of``: each node's box. Edges inside a collapsed group disappear; edges into or out of
    it attach to its box (once per pair of boxes). Boxes keep forward order, and each box's
    inputs keep their order, so the layout reads as the uncollapsed one does.
    """
    closed = set(collapsed)
    box_of: dict[int, int] = {}
    for node in trace.nodes:
        g = grouping.group_of[node.id]
        box_of[node.id] = group_box(g) if g is not None and g in closed else node.id
    graph = nx.DiGraph()
    for node in trace.nodes:
        b = box_of[node.id]
        if b not in graph:
            graph.add_node(b)
        for i in node.inputs:
            a = box_of[i]
            if a != b and not graph.has_edge(a, b):
                graph.add_edge(a, b)
    return graph, box_of
