"""Where the cursor is and what is done: the trace's step <-> node map and the cycle's answers."""

import pytest

from tracer import Network, Tensor, param


@pytest.fixture
def chain():
    """Twelve nodes in a row: w (node 0), then eleven tanh ops (nodes 1 to 11, the loss)."""
    w = param(0.5, name="w")

    def forward():
        t = w
        for _ in range(11):
            t = t.tanh()
        return t

    return Network(forward).cycle()


def moment(cycle, phase, index):
    return next(m for m in cycle.timeline if m.phase == phase and m.index == index)


def test_step_and_node_map_each_other(chain):
    trace = chain.trace
    for node in range(len(trace.nodes)):
        assert trace.step_of(node, "forward") == node
        assert trace.node_of(trace.step_of(node)) == node
        assert trace.backward_step(node).node == node
    # backward goes down the ids: the loss's step comes first
    assert [trace.node_of(k) for k in range(3)] == [11, 10, 9]


def test_moments_know_their_node_and_the_outcome_is_its_own_phase(chain):
    phases = [m.phase for m in chain.timeline]
    assert phases == ["forward"] * 12 + ["backward"] * 12 + ["update"] + ["outcome"]
    assert moment(chain, "forward", 4).node == 4
    assert moment(chain, "backward", 0).node == 11
    assert moment(chain, "update", 0).node is None and moment(chain, "outcome", 0).node is None
    assert moment(chain, "outcome", 0).stretch == "update"
    assert chain.position_of("backward", 11) == 12 and chain.position_of("forward", 3) == 3


def test_node_status_follows_the_phases(chain):
    at = moment(chain, "forward", 3)
    assert chain.status(3, at).status == "current"
    assert chain.status(2, at).status == "done" and chain.status(2, at).value_known
    assert chain.status(4, at).status == "pending" and not chain.status(4, at).value_known
    at = moment(chain, "backward", 0)  # the loss's gradient
    assert chain.status(11, at).grad_known and chain.status(11, at).status == "current"
    assert not chain.status(0, at).grad_known and chain.status(0, at).value_known
    assert chain.status(0, moment(chain, "outcome", 0)).status == "done"


def test_progress_and_status_of_a_group(chain):
    members = (3, 4, 7, 9)
    assert chain.done_count(members, moment(chain, "forward", 5)) == 2  # 3 and 4 done
    assert chain.group_status(members, moment(chain, "forward", 7)) == ("current", 2)
    assert chain.group_status(members, moment(chain, "forward", 10)) == ("done", 4)
    # backward goes down the ids: nodes 11, 10, 9 done; 8 is current
    assert chain.done_count(members, moment(chain, "backward", 3)) == 1
    assert chain.group_status(members, moment(chain, "backward", 0)) == ("pending", 0)
    assert chain.group_status(members, moment(chain, "update", 0)) == ("done", 4)


def test_the_minimap_shades_a_cell_done_exactly_when_status_says_its_nodes_are():
    """Data and labels get no backward step: done in the backward pass, on the map too."""
    from tui.graph_layout import box_size, layout_graph
    from tui.minimap import Minimap

    w = param([0.5, -0.3], name="w")
    x = Tensor([1.0, 2.0], name="x")  # data: no gradient needed, no backward step
    y = Tensor(0.7, name="y")  # a label
    cycle = Network(lambda: ((w * x).sum() - y) ** 2).cycle()
    trace = cycle.trace
    stepless = [n.id for n in trace.nodes if trace.step_of(n.id, "backward") is None]
    assert trace.find("x").id in stepless and trace.find("y").id in stepless
    layout = layout_graph(trace.graph, {n.id: box_size([n.name] * 3) for n in trace.nodes})
    minimap = Minimap(layout, 60, 20)  # big enough to give each box cells of its own
    for m in cycle.timeline:
        rows = minimap.rows((0, 0, 1, 1),
                            done=lambda nodes, m=m: cycle.group_status(nodes, m)[0] == "done")
        flags = [run.done for row in rows for run in row for _ in run.text]
        cells = [(col, row) for row in range(minimap.height) for col in range(minimap.width)]
        for cell, done in zip(cells, flags, strict=True):
            nodes = minimap.cell_nodes.get(cell)
            if nodes is not None:
                assert done == all(cycle.status(n, m).status == "done" for n in nodes), (m, cell)
    first = next(m for m in cycle.timeline if m.phase == "backward")
    rows = minimap.rows((0, 0, 1, 1),
                        done=lambda nodes: cycle.group_status(nodes, first)[0] == "done")
    shaded = 0
    for node in stepless:  # at the loss's own step the data is already done, as status says
        assert cycle.status(node, first).status == "done"
        box = layout.boxes[node]
        col, row = minimap.cell_of(box.x + box.w / 2, box.y + box.h / 2)
        if set(minimap.cell_nodes[col, row]) <= set(stepless):
            assert [r.done for r in rows[row] for _ in r.text][col]
            shaded += 1
    assert shaded  # a cell of data alone was looked at


def test_updates_done_counts_the_applied_updates(chain):
    assert chain.updates_done(moment(chain, "backward", 11)) == 0
    assert chain.updates_done(moment(chain, "update", 0)) == 1
    assert chain.updates_done(moment(chain, "outcome", 0)) == len(chain.updates) == 1


def test_a_node_without_a_backward_step_is_done_in_the_backward_pass_with_no_gradient(chain):
    """The step <-> node map is data: a trace whose backward pass skips a node (as labels and
    constants may one day) is answered from its steps, with no arithmetic on node ids."""
    from dataclasses import replace

    from tracer.record import make_backward_step

    trace = chain.trace
    kept = [s for s in trace.backward if s.node != 0]  # w gets no step of its own
    steps = tuple(make_backward_step(index=k, node=s.node, upstream=s.upstream, terms=s.terms,
                                     inputs=s.inputs) for k, s in enumerate(kept))
    cycle = replace(chain, trace=replace(trace, backward=steps))
    assert cycle.trace.step_of(0) is None and cycle.trace.node_of(10) == 1
    assert cycle.position_of("backward", 0) is None
    at = moment(cycle, "backward", 2)  # node 9's step
    assert cycle.status(0, at).status == "done" and not cycle.status(0, at).grad_known
    assert cycle.done_count((0, 1, 11), at) == 2  # 0 (no step) and 11
    assert cycle.status(0, moment(cycle, "outcome", 0)).grad_known is False
    assert cycle.status(1, moment(cycle, "outcome", 0)).grad_known is True
