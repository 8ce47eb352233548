"""Network files written the way an engineer writes numpy: a batched attention block with a
hand-written LayerNorm (``np.sqrt(var + eps)``, ``keepdims``), an RNN that stacks its hidden
states with ``np.stack``, ``np.concatenate``, masks from comparisons, ``max``. Loaded through the
same loader as ``gradstep FILE``, their gradients checked against PyTorch written the same way.
"""

from __future__ import annotations

import numpy as np
import pytest

from scenarios.loader import load_file

ATTENTION = '''
import numpy as np
from tracer import Tensor, param, nn

rng = np.random.default_rng(3)
B, T, D = 2, 4, 8
X = Tensor(rng.normal(size=(B, T, D)), name="X")
targets = Tensor(rng.integers(0, D, size=(B, T)), name="targets")
Wq = param(rng.normal(0, 0.3, (D, D)), name="Wq")
Wk = param(rng.normal(0, 0.3, (D, D)), name="Wk")
Wv = param(rng.normal(0, 0.3, (D, D)), name="Wv")
gain = param(np.ones(D), name="gain")


def layer_norm(x, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def forward():
    h = layer_norm(X) * gain
    q, k, v = h @ Wq, h @ Wk, h @ Wv
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(D)
    causal = np.tril(np.ones((T, T)))
    scores = np.where(causal > 0, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-1, keepdims=True)
    out = np.concatenate([weights @ v, h], axis=-1)[..., :D] + np.maximum(h, 0.0)
    return nn.cross_entropy(out.reshape(B * T, D), targets.reshape(-1))
'''

RNN = '''
import numpy as np
from tracer import Tensor, param, mse

rng = np.random.default_rng(8)
xs = [Tensor(rng.normal(size=(3, 2)), name=f"x{t}") for t in range(4)]
target = Tensor(rng.normal(size=(4, 3, 5)), name="target")
Wx = param(rng.normal(0, 0.5, (2, 5)), name="Wx")
Wh = param(rng.normal(0, 0.5, (5, 5)), name="Wh")


def forward():
    h = Tensor(np.zeros((3, 5)))
    states = []
    for x in xs:
        h = np.tanh(x @ Wx + h @ Wh)
        states.append(h)
    stacked = np.stack(states)
    clipped = np.clip(stacked, -0.9, 0.9)
    return mse(clipped, target) + 0.01 * np.abs(Wh).max()
'''


def torch_attention(torch, ns):
    f = torch.nn.functional
    p = {k: torch.tensor(ns[k], requires_grad=True) for k in ("Wq", "Wk", "Wv", "gain")}
    x = torch.tensor(ns["X"])
    targets = torch.tensor(ns["targets"]).long()
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    h = (x - mean) / torch.sqrt(var + 1e-5) * p["gain"]
    q, k, v = h @ p["Wq"], h @ p["Wk"], h @ p["Wv"]
    scores = q @ k.transpose(1, 2) / np.sqrt(8)
    scores = scores.masked_fill(torch.ones(4, 4).tril() == 0, float("-inf"))
    weights = torch.exp(scores - scores.amax(-1, keepdim=True))
    weights = weights / weights.sum(-1, keepdim=True)
    out = torch.cat([weights @ v, h], -1)[..., :8] + torch.maximum(h, torch.tensor(0.0))
    f.cross_entropy(out.reshape(8, 8), targets.reshape(-1)).backward()
    return {k: t.grad.numpy() for k, t in p.items()}


def torch_rnn(torch, ns):
    p = {k: torch.tensor(ns[k], requires_grad=True) for k in ("Wx", "Wh")}
    h = torch.zeros(3, 5, dtype=torch.float64)
    states = []
    for t in range(4):
        h = torch.tanh(torch.tensor(ns[f"x{t}"]) @ p["Wx"] + h @ p["Wh"])
        states.append(h)
    clipped = torch.stack(states).clamp(-0.9, 0.9)
    target = torch.tensor(ns["target"])
    loss = ((clipped - target) ** 2).mean() + 0.01 * p["Wh"].abs().amax()
    loss.backward()
    return {k: t.grad.numpy() for k, t in p.items()}


@pytest.mark.parametrize(("source", "reference"), [(ATTENTION, torch_attention),
                                                   (RNN, torch_rnn)], ids=["attention", "rnn"])
def test_a_numpy_style_network_file_loads_and_matches_torch(tmp_path, source, reference):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: the autograd "
                                                "cross-check needs it")
    path = tmp_path / "net.py"
    path.write_text(source, encoding="utf-8")
    network = load_file(path)
    trace = network.trace()
    assert np.isfinite(trace.loss)
    expected = reference(torch, {node.name: node.value for node in trace.nodes})
    for name, grad in expected.items():
        np.testing.assert_allclose(trace.find(name).grad, grad, rtol=1e-7, atol=1e-12,
                                   err_msg=name)


def test_a_numpy_function_gradstep_does_not_trace_in_a_network_file_exits_with_its_line(
        tmp_path):
    path = tmp_path / "cumulative.py"
    path.write_text("import numpy as np\nfrom tracer import param\n\nw = param([1.0, 2.0])\n\n\n"
                    "def forward():\n    running = np.cumsum(w)\n    return running.sum()\n",
                    encoding="utf-8")
    from scenarios.errors import LoadError

    with pytest.raises(LoadError) as info:
        load_file(path).trace()
    message = str(info.value)
    assert "numpy.cumsum" in message and "line 8" in message and "CustomOp" in message


def test_the_docs_numpy_style_example_loads_and_its_gradients_match_finite_differences(
        tmp_path, fd):
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "network-files.md").read_text(
        encoding="utf-8")
    section = page[page.index("## Writing it as you write numpy"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "attention.py"
    path.write_text(code, encoding="utf-8")
    network = load_file(path)
    trace = network.trace()
    wq = trace.find("Wq")
    record = next(r for k, _ in trace.backward_step(wq.id).terms
                  for r in trace.backward_step(k).inputs if r.node == wq.id)
    assert record.reduced_axes == (0,)  # shared by the batch of two
    assert_gradient_matches_finite_differences(network, trace, "Wq", fd)


@pytest.mark.parametrize("activation", ["leaky_relu", "gelu", "silu", "softplus"])
def test_a_toml_network_may_use_the_new_activations(tmp_path, activation, fd):
    path = tmp_path / "net.toml"
    path.write_text(f'[network]\nlayers = [2, 3, 1]\nactivations = ["{activation}", "identity"]'
                    f'\n\n[data]\ninputs = [[0.5, -1.0], [1.5, 0.2]]\ntargets = [1.0, -0.5]\n',
                    encoding="utf-8")
    network = load_file(path)
    trace = network.trace()
    h1 = trace.find("h1")
    assert h1.op == activation
    assert_gradient_matches_finite_differences(network, trace, "W1", fd)


def assert_gradient_matches_finite_differences(network, trace, name, fd):
    """The parameter ``name``'s traced gradient against central differences of the loss."""
    node = trace.find(name)
    tensor = trace.tensors[node.id]

    def loss(value):
        tensor.data = value
        return float(network.forward().data)

    (numeric,) = fd(loss, [node.value])
    np.testing.assert_allclose(node.grad, numeric, rtol=1e-5, atol=1e-8)
