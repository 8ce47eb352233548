"""tracer.dot: the graph as Graphviz DOT, checked with a small parser (``dot`` is not needed)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from scenarios import load
from tracer import Tensor, param
from tracer.dot import STYLES, to_dot
from tracer.explain import short

STRING = r'"((?:[^"\\]|\\.)*)"'
NODE = re.compile(r"^  (n\d+) \[(.*)\];$")
EDGE = re.compile(r"^  (n\d+) -> (n\d+)(?: \[(.*)\])?;$")
ATTR = re.compile(rf"(\w+)={STRING}")


def unquote(text: str) -> str:
    """A DOT string's content as Graphviz reads it (``\\n`` kept as a line break)."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def parse(source: str) -> tuple[dict[str, dict[str, str]], dict[tuple[str, str], dict[str, str]]]:
    """Nodes (id -> attributes) and edges ((tail, head) -> attributes) of ``to_dot`` output;
    fails on any statement line it does not understand."""
    lines = source.rstrip("\n").split("\n")
    assert lines[0] == "digraph gradstep {" and lines[-1] == "}"
    nodes: dict[str, dict[str, str]] = {}
    edges: dict[tuple[str, str], dict[str, str]] = {}
    for line in lines[1:-1]:
        if line.lstrip().startswith(("graph [", "node [", "edge [")):
            continue
        if m := EDGE.match(line):
            attrs = {k: unquote(v) for k, v in ATTR.findall(m.group(3) or "")}
            assert (m.group(1), m.group(2)) not in edges, f"edge listed twice: {line}"
            edges[(m.group(1), m.group(2))] = attrs
        elif m := NODE.match(line):
            body = m.group(2)
            attrs = {k: unquote(v) for k, v in ATTR.findall(body)}
            # Every attribute was consumed: what is left is only the separators.
            assert re.sub(rf"\w+={STRING}", "", body).replace(",", "").strip() == "", line
            nodes[m.group(1)] = attrs
        else:
            raise AssertionError(f"not a DOT statement of ours: {line!r}")
    return nodes, edges


@pytest.mark.parametrize("name", ["chain-rule", "mazur", "xor"])
def test_every_node_and_edge_is_listed_with_its_numbers(name):
    trace = load(name).trace()
    nodes, edges = parse(to_dot(trace, title=name))
    assert set(nodes) == {f"n{n.id}" for n in trace.nodes}
    assert set(edges) == {(f"n{a}", f"n{b}") for a, b in trace.graph.edges}
    for node in trace.nodes:
        label = nodes[f"n{node.id}"]["label"].split("\n")
        assert label == [node.name, node.op, f"value {short(node.value)}",
                         f"grad {short(node.grad)}"]
    # Edges point forward, input -> output, as the values flow.
    assert all(int(a[1:]) in trace.nodes[int(b[1:])].inputs for a, b in edges)


def test_kinds_are_styled_apart():
    trace = load("house-price").trace()
    nodes, _ = parse(to_dot(trace))
    style = {n.kind: nodes[f"n{n.id}"] for n in trace.nodes}
    assert {"param", "input", "op", "loss"} <= set(style)
    fills = {kind: (attrs["shape"], attrs["fillcolor"]) for kind, attrs in style.items()}
    assert len(set(fills.values())) == len(fills)  # no two kinds look the same
    assert style["param"]["fillcolor"] == STYLES["param"]["fillcolor"]
    assert style["loss"]["shape"] == "doubleoctagon"


def test_edges_carry_the_gradient_sent_back_summed_over_repeated_use():
    w = param(3.0, name="w")
    x = Tensor(2.0, name="x")
    square = w * w
    square.name = "square"
    out = square * x
    out.name = "out"
    trace = out.backward()
    _, edges = parse(to_dot(trace))
    ids = {n.name: f"n{n.id}" for n in trace.nodes}
    # ∂out/∂w through square = x·2w = 12: two uses of w, 6 each, one edge.
    assert edges[(ids["w"], ids["square"])]["label"] == "← 12"
    assert edges[(ids["square"], ids["out"])]["label"] == "← 2"
    assert edges[(ids["x"], ids["out"])]["label"] == "← 9"


def test_names_with_quotes_and_backslashes_survive_quoting():
    odd = param(1.5, name='say "hi" \\ there')
    trace = (odd * 2.0).backward()
    nodes, _ = parse(to_dot(trace, title='a "title"'))
    labels = [attrs["label"].split("\n")[0] for attrs in nodes.values()]
    assert 'say "hi" \\ there' in labels
    assert 'label="a \\"title\\""' in to_dot(trace, title='a "title"')


def test_array_values_are_summarised_like_the_debugger_shows_them():
    trace = load("digit-4-vs-9").trace()
    nodes, _ = parse(to_dot(trace))
    w = trace.find("W")
    assert nodes[f"n{w.id}"]["label"].split("\n")[2] == f"value {short(w.value)}"
    assert np.asarray(w.value).size > 6 and "|·|=" in nodes[f"n{w.id}"]["label"]
