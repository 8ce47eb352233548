"""A PyTorch model's backward steps come in the order PyTorch's autograd engine ran its Nodes.

The bridge works that order out from the recorded graph (tracer.torch_bridge.engine_order); here
it is watched instead, independently: this test puts a pre-hook of its own on every autograd Node
the loss reaches and notes the order they ran in, with the upstream gradient each ran with, and
compares that with the trace's order of steps and its nodes' gradients.
"""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch network files need torch "
                                            "(pip install 'gradstep[torch]')")

from scenarios import load  # noqa: E402
from tracer import torch_bridge  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NETS = ROOT / "tests" / "torch_nets"
EXAMPLES = ROOT / "examples"


def spied_trace(path: Path) -> tuple[object, list]:
    """The trace of a forward pass of ``path`` recorded now, and the autograd Nodes PyTorch's
    engine ran in its backward pass, in order: each recorded call's Node as a pre-hook of this
    test's saw it (``("op", the gradient of the call's result)``, one entry per result for a
    Node that made several), and each parameter's AccumulateGrad (``("param", its name)``)."""
    network = load(path)
    calls = []
    # a forward pass recorded now (the one recorded at load time has run its backward pass)
    recorder, loss = network.model.forward_recorded()
    made: dict[int, list] = {}  # a Node's sequence number -> the results it made
    for call in recorder.calls:
        made.setdefault(call.out.grad_fn._sequence_nr(), []).append(call.out)
    names = {id(p): name for name, p in network.model.params.items()}
    seen, stack = set(), [loss.grad_fn]
    while stack:  # every Node the loss reaches, each with a pre-hook
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(n for n, _ in node.next_functions)
        if type(node).__name__ == "AccumulateGrad":
            name = names.get(id(node.variable))
            node.register_prehook(lambda grads, name=name: calls.append(("param", name)))
            continue
        results = made.get(node._sequence_nr(), [])
        node.register_prehook(lambda grads, results=results: calls.extend(
            ("op", grads[r.output_nr]) for r in results))
    return network.model.trace_of(recorder, loss), calls


def assert_valid_order(trace) -> None:
    """Every consumer's step comes before the step of each of its inputs."""
    steps = {s.node: s.index for s in trace.backward}
    for node in trace.nodes:
        for j in node.inputs:
            if node.id in steps and j in steps:
                assert steps[node.id] < steps[j], (trace.nodes[node.id].name,
                                                   trace.nodes[j].name)


@pytest.mark.parametrize("path", [NETS / "attention.py", NETS / "rnn.py", NETS / "chunks.py",
                                  NETS / "embedding.py", NETS / "wrong_function.py",
                                  NETS / "table_ops.py", NETS / "activations.py",
                                  EXAMPLES / "torch_cnn.py", EXAMPLES / "torch_mlp.py"],
                         ids=lambda p: p.name)
def test_steps_follow_the_order_the_hooks_fired(path):
    trace, calls = spied_trace(path)
    assert_valid_order(trace)
    ran = trace.engine_order
    # what the hooks saw, Node by Node, is what the trace says ran (each op's gradient, each
    # parameter's name), unused parameters aside
    calls = [(kind, seen) for kind, seen in calls
             if kind == "op" or any(n.name == seen for n in trace.params)]
    assert len(ran) == len(calls)
    for node, (kind, seen) in zip(ran, calls, strict=True):
        if kind == "param":
            assert trace.nodes[node].name == seen
        else:
            np.testing.assert_allclose(trace.nodes[node].grad, seen.numpy(), rtol=1e-6,
                                       atol=1e-7)
    # the steps of the nodes that ran come exactly in that order
    stepped = [s.node for s in trace.backward if s.node in set(ran)]
    assert stepped == [n for n in ran if trace.step_of(n) is not None]
    assert trace.backward[0].node == trace.root


def test_results_sharing_one_node_step_in_the_order_their_hooks_fired():
    # chunk and iterating over a tensor make several results whose gradients one autograd
    # Node takes: their hooks fire one after another, in the results' order, where reverse
    # forward order would put the last result first
    trace, _ = spied_trace(NETS / "chunks.py")
    nodes = [s.node for s in trace.backward]
    assert nodes != sorted(nodes, reverse=True)
    chunks = [n for n in nodes if trace.nodes[n].op == "chunk"]
    assert [trace.nodes[n].name for n in chunks] == ["chunk_1", "chunk_2", "chunk_3"]
    assert chunks == [n for n in trace.engine_order if trace.nodes[n].op == "chunk"]


def test_an_order_is_kept_where_it_is_valid_and_repaired_where_not():
    # a diamond: 0 -> 1, 0 -> 2, (1, 2) -> 3 (the root)
    inputs = [(), (0,), (0,), (1, 2)]
    keys = ["x", "a", "b", "root"]
    assert torch_bridge.firing_order(inputs, keys, ["root", "a", "b", "x"]) == [3, 1, 2, 0]
    assert torch_bridge.firing_order(inputs, keys, ["root", "b", "a", "x"]) == [3, 2, 1, 0]
    # an input listed before a consumer still comes after it; what never ran comes last
    assert torch_bridge.firing_order(inputs, keys, ["root", "x", "a"]) == [3, 1, 2, 0]
