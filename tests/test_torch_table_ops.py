"""PyTorch calls that map onto gradstep's op table: each node is the table's op (its formula and
sentence), the table's forward gives PyTorch's value and the table's backward what PyTorch's
autograd sent; in float64 the table's vector-Jacobian product equals PyTorch's to rounding."""

import functools
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch network files need torch "
                                            "(pip install 'gradstep[torch]')")

from scenarios import load  # noqa: E402
from tracer import explain  # noqa: E402
from tracer.ops import OPS  # noqa: E402
from tracer.record import _input_grads  # noqa: E402

NETS = Path(__file__).resolve().parent / "torch_nets"
# each net -> the table's op -> how many nodes of the net are one
MAPPED = {
    "table_ops": {"linear": 1, "conv2d": 2, "max_pool2d": 1, "avg_pool2d": 1, "layer_norm": 1,
                  "embedding": 1, "stack": 1, "concatenate": 1, "where": 1, "max": 2, "min": 2,
                  "var": 1, "std": 1},
    # PyTorch's defaults: nn.Conv2d's bias, nn.LayerNorm's weight and bias, var/std with N − 1
    "default_layers": {"conv2d_bias": 1, "layer_norm_affine": 1, "linear_no_bias": 1,
                       "linear": 1, "var": 2, "std": 1, "cross_entropy": 1},
}
CASES = [(net, name) for net, ops in MAPPED.items() for name in sorted(ops)]


@functools.cache
def traces(net: str):
    """The net's trace as PyTorch ran it (float32) and its float64 copy for checks."""
    network = load(NETS / f"{net}.py")
    return network.trace(), network.trace_for_checks()


def literal_part(sentence: str) -> str:
    """The longest stretch of an op's sentence between its placeholders."""
    return max(re.split(r"\{[a-z0-9]+\}", sentence), key=len).strip()


@pytest.mark.parametrize(("net", "name"), CASES)
def test_the_call_is_the_tables_op_with_its_formula_and_sentence(net, name):
    trace = traces(net)[0]
    nodes = [n for n in trace.nodes if n.op == name]
    assert len(nodes) == MAPPED[net][name]
    op = OPS[name]
    for node in nodes:
        assert trace.op(node.id) is op
        assert literal_part(op.sentence) in explain.describe(trace, node)
        step = trace.backward_step(node.id)
        for record in step.inputs:
            if record.differentiable and trace.step_of(record.node) is not None:
                assert explain.formula(trace, step, record)
                assert "computed by PyTorch" not in explain.formula(trace, step, record)


@pytest.mark.parametrize(("net", "name"), CASES)
def test_the_tables_numbers_are_pytorchs(net, name):
    for trace, rtol in zip(traces(net), (1e-5, 1e-10), strict=True):
        for node in (n for n in trace.nodes if n.op == name):
            values = [trace.nodes[i].value for i in node.inputs]
            mine = OPS[name].forward(*values, **node.attrs)
            np.testing.assert_allclose(mine, node.value, rtol=rtol, atol=rtol)
            step = trace.backward_step(node.id)
            table = _input_grads(trace.tensors[node.id], values, node.value, step.upstream)
            for record, (c, *_) in zip(step.inputs, table, strict=True):
                if c is None:  # (indices and masks get none)
                    continue
                if not record.needs_grad and trace.op(node.id).local is None:
                    # data into a layer (a convolution's images): no gradient, as in PyTorch,
                    # which computes none for what nothing trainable needs
                    assert not record.differentiable and not np.any(record.contribution)
                    assert explain.no_gradient(trace, step, record).endswith(
                        "gets no gradient: nothing trainable needs it")
                    continue
                np.testing.assert_allclose(c, record.contribution, rtol=rtol,
                                           atol=rtol * np.abs(record.contribution).max())


def test_calls_with_options_the_table_lacks_are_computed_by_pytorch(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(
        "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
        "torch.manual_seed(0)\n"
        "conv = nn.Conv2d(1, 1, 2, dilation=2)\n"           # dilation
        "norm = nn.LayerNorm(3, bias=False)\n"              # a weight but no bias
        "x = torch.randn(1, 1, 5, 5)\n"
        "y = torch.tensor([1])\n"
        "def forward():\n"
        "    h = norm(conv(x).flatten(1)[:, :3])\n"
        "    return (F.cross_entropy(h, y, label_smoothing=0.1)\n"  # label smoothing
        "            + F.avg_pool2d(conv(x), 2, padding=1).sum())\n")  # padding
    trace = load(path).trace()
    for name in ("conv2d", "layer_norm", "cross_entropy", "avg_pool2d"):
        nodes = [n for n in trace.nodes if n.op == name]
        assert nodes, name
        table = list(OPS.values())
        assert not any(trace.op(n.id) is op for n in nodes for op in table), name
        assert "computed by PyTorch" in explain.describe(trace, nodes[0])
