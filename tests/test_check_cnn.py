"""``check`` on CNNs as users write them. A ReLU before max-pooling leaves windows whose inputs
tie at 0: the op has a kink there, and the per-node check must not call a right backward wrong
(nor miss a wrong one). A ReLU after a convolution is a unit per channel: a pixel that is 0 for
every image of a batch is not a dead unit, a channel that is 0 everywhere is. Max-pooling keeps
the examples apart: it is not a loss that sums them."""

from pathlib import Path

import numpy as np
import pytest

from tracer import Tensor, cross_entropy, diagnose, nn, param
from tracer.diagnostics import problems
from tracer.ops import Op
from tracer.ops_nn import MAX_POOL2D
from tracer.record import trace
from tracer.tensor import apply

NETS_DIR = Path(__file__).resolve().parent / "torch_nets"


def native_cnn(bias: np.ndarray | None = None, seed: int = 0):
    """conv (padding 1) + bias, ReLU, 2×2 max-pool, a linear layer, cross-entropy; 8 images."""
    rng = np.random.default_rng(seed)
    images = Tensor(rng.standard_normal((8, 1, 8, 8)), name="images")
    w = param(0.5 * rng.standard_normal((4, 1, 3, 3)), name="w")
    b = param(np.zeros(4) if bias is None else bias, name="b")
    w2 = param(0.1 * rng.standard_normal((64, 10)), name="w2")
    labels = Tensor(rng.integers(0, 10, 8), name="labels")
    h = nn.relu(nn.conv2d(images, w, b, padding=1))
    pooled = nn.max_pool2d(h, 2)
    return trace(cross_entropy(pooled.reshape(8, 64) @ w2, labels)), h


def node_of(recorded, t: Tensor) -> int:
    return next(i for i, tensor in enumerate(recorded.tensors) if tensor is t)


def tied_windows(x: np.ndarray) -> int:
    """How many 2×2 windows have their largest value more than once."""
    n, c, hh, ww = x.shape
    windows = x.reshape(n, c, hh // 2, 2, ww // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    windows = windows.reshape(n, c, hh // 2, ww // 2, 4)
    return int(np.sum(np.sum(windows == windows.max(-1, keepdims=True), -1) > 1))


def test_relu_then_max_pool_ties_are_not_a_wrong_backward():
    recorded, h = native_cnn()
    assert tied_windows(recorded.nodes[node_of(recorded, h)].value) > 10
    assert [(f.kind, f.name) for f in problems(diagnose(recorded))] == []


def test_a_cnn_whose_loss_sums_the_batch_is_still_told():
    _, h = native_cnn()
    rng = np.random.default_rng(2)
    w2 = param(0.1 * rng.standard_normal((64, 10)), name="w2")
    scores = nn.max_pool2d(h, 2).reshape(8, 64) @ w2
    summed = trace(((scores - Tensor(rng.standard_normal((8, 10)))) ** 2).sum())
    assert [f.kind for f in diagnose(summed) if f.kind == "summed-loss"] == ["summed-loss"]


def pool_with(vjp, name: str) -> Op:
    return Op(name, MAX_POOL2D.forward, MAX_POOL2D.formulas, MAX_POOL2D.sentence, vjp=vjp,
              letters=("x",), role="reduction", picks=True)


def _windows(x: np.ndarray) -> np.ndarray:
    n, c, hh, ww = x.shape
    return x.reshape(n, c, hh // 2, 2, ww // 2, 2)


def _first_of_each_window(g, x, out, kernel, stride):
    """Wrong: every window's gradient to its top-left input, the largest or not."""
    dx = np.zeros(x.shape)
    _windows(dx)[:, :, :, 0, :, 0] = g
    return (dx,)


def _every_tied_input(g, x, out, kernel, stride):
    """Wrong where inputs tie: the whole gradient to each of them (a sum, not a pick)."""
    winners = _windows(x) == out[:, :, :, None, :, None]
    return ((winners * g[:, :, :, None, :, None]).reshape(x.shape),)


@pytest.mark.parametrize("vjp", [_first_of_each_window, _every_tied_input])
def test_a_wrong_max_pool_backward_is_still_caught(scratch_ops, vjp):
    bad = scratch_ops(pool_with(vjp, f"test_pool{vjp.__name__}"))
    rng = np.random.default_rng(1)
    w = param(0.5 * rng.standard_normal((4, 1, 3, 3)), name="w")
    h = nn.relu(nn.conv2d(Tensor(rng.standard_normal((8, 1, 8, 8)), name="images"), w,
                          padding=1))
    pooled = apply(bad, h, kernel=(2, 2), stride=(2, 2))
    recorded = trace((pooled * Tensor(rng.standard_normal((8, 4, 4, 4)))).sum())
    assert tied_windows(recorded.nodes[node_of(recorded, h)].value) > 10
    found = [f for f in problems(diagnose(recorded)) if f.kind == "gradcheck-node"]
    assert [f.node for f in found] == [node_of(recorded, pooled)]


def test_a_dead_channel_is_one_unit_and_a_dark_pixel_is_none():
    healthy, h = native_cnn()
    relu = node_of(healthy, h)
    value = healthy.nodes[relu].value
    assert np.any(np.all(value == 0, axis=0))  # pixels 0 for all 8 images ...
    assert not np.any(np.all(value == 0, axis=(0, 2, 3)))  # ... in channels alive elsewhere
    assert [f.kind for f in diagnose(healthy) if f.kind == "dead-relu"] == []

    dead, h = native_cnn(bias=np.array([0.0, 0.0, -50.0, 0.0]))
    (finding,) = [f for f in diagnose(dead) if f.kind == "dead-relu"]
    assert finding.details["units"] == [[2]]
    assert "channel 2 of" in finding.message and "(of 4)" in finding.message
    assert "at every position" in finding.message


def test_a_sequences_unit_is_a_feature_for_every_token():
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((2, 5, 3)), name="x")
    w = param(rng.standard_normal((3, 4)), name="w")
    b = param(np.array([0.0, -100.0, 0.0, 0.0]), name="b")  # feature 1 is dead everywhere
    h = nn.relu(x @ w + b)
    recorded = trace((h * Tensor(rng.standard_normal((2, 5, 4)))).sum())
    value = recorded.nodes[node_of(recorded, h)].value
    dark = np.all(value == 0, axis=0)
    dark[:, 1] = False
    assert dark.any()  # some (token, feature) is 0 in both sequences, its feature alive
    (finding,) = [f for f in diagnose(recorded) if f.kind == "dead-relu"]
    assert finding.details["units"] == [[1]]


def test_a_batchnorm_cnn_in_pytorch_is_healthy():
    torch = pytest.importorskip("torch", reason="PyTorch network files need torch "
                                                "(pip install 'gradstep[torch]')")
    from scenarios import load
    from tracer.diagnostics import diagnose_network

    assert torch.get_num_threads() >= 1
    # (before: a gradcheck-node error at the max-pool, a dead-relu warning for one pixel)
    assert [f.kind for f in problems(diagnose_network(load(NETS_DIR / "bn_cnn.py")))] == []
