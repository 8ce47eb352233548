"""The record-free fast path on networks written the way users write them, and the op table's
selective vector-Jacobian products (``needs=``) it relies on to skip ∂L/∂X and the labels.

What the fast path gives is compared bit for bit with recorded cycles (the same arithmetic), and
the selective vjps with the full ones, with central finite differences and with PyTorch.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scenarios.loader import load_file
from tests.test_numpy_style_networks import ATTENTION, RNN
from tracer import SGD, Network, Tensor, mse, nn, param
from tracer.ops import OPS, sum_to_shape, vjp_for
from tracer.tensor import quiet

CNN = '''
import numpy as np
from tracer import Tensor, param, nn

rng = np.random.default_rng(4)
images = Tensor(rng.normal(size=(3, 1, 6, 6)), name="images")
labels = Tensor(rng.integers(0, 4, size=3), name="labels")
kernel = param(rng.normal(0, 0.4, (2, 1, 3, 3)), name="kernel")
bias = param(np.zeros(2), name="bias")
W = param(rng.normal(0, 0.3, (8, 4)), name="W")
LR = 0.2


def forward():
    h = nn.max_pool2d(nn.relu(nn.conv2d(images, kernel, bias)), 2)
    return nn.cross_entropy(h.reshape(3, 8) @ W, labels)
'''

LOGISTIC = '''
import numpy as np
from tracer import Tensor, param, nn, bce_with_logits, bce

rng = np.random.default_rng(6)
X = Tensor(rng.normal(size=(10, 3)), name="X")
y = Tensor((rng.random(size=(10, 1)) > 0.5).astype(float), name="y")
w = param(rng.normal(0, 0.5, (3, 1)), name="w")
b = param(np.zeros(1), name="b")


def forward():
    z = X @ w + b
    return bce_with_logits(z, y) + 0.5 * bce(z.sigmoid(), y)
'''

NETS = {"attention": ATTENTION, "rnn": RNN, "cnn": CNN, "logistic": LOGISTIC}


def params_of(network):
    return {t.name: (t.shape, t._data.tobytes()) for t in network._leaves if t.kind == "param"}


@pytest.mark.parametrize("source", NETS.values(), ids=NETS.keys())
def test_the_fast_path_on_user_style_networks_is_bit_for_bit_a_recorded_cycle(tmp_path, source):
    path = tmp_path / "net.py"
    path.write_text(source, encoding="utf-8")
    recorded, fast = load_file(path), load_file(path)
    for _ in range(4):
        cycle = recorded.cycle()
        before, after = fast.fast_step()
        assert (before, after) == (cycle.loss, cycle.loss_after)
        leaves = {t.name: t for t in fast._leaves}
        for update in cycle.updates:
            assert leaves[update.name].grad.tobytes() == update.grad.tobytes(), update.name
    assert params_of(fast) == params_of(recorded)


def test_a_weight_shared_by_a_batch_of_matrix_products_keeps_its_shape_on_the_fast_path():
    # (the fast path used to add the per-example gradients of W without summing them back, so
    # W became (2, 4, 3) after one step)
    rng = np.random.default_rng(0)
    X = Tensor(rng.normal(size=(2, 5, 4)), name="X")

    def network():
        W = param(rng.normal(size=(4, 3)), name="W")
        return W, Network(lambda: (X @ W).tanh().sum(), params=[W])

    (w_fast, fast), (w_recorded, recorded) = network(), network()
    w_fast.data = w_recorded._data.copy()
    fast.fast_step()
    cycle = recorded.cycle()
    assert w_fast.shape == (4, 3)
    assert w_fast._data.tobytes() == w_recorded._data.tobytes()
    assert cycle.updates[0].grad.shape == (4, 3)


def test_a_recorded_cycle_still_fills_the_gradient_of_data_and_labels():
    X = Tensor(np.arange(6.0).reshape(3, 2) / 6, name="X")
    y = Tensor([[0.0], [1.0], [1.0]], name="y")
    w = param([[0.3], [-0.2]], name="w")
    trace = mse(X @ w, y).backward()
    assert X.grad.shape == (3, 2) and y.grad.shape == (3, 1)
    residual = X.data @ w.data - y.data
    np.testing.assert_allclose(X.grad, 2 * residual @ w.data.T / 3, rtol=1e-12)
    np.testing.assert_allclose(y.grad, -2 * residual / 3, rtol=1e-12)
    assert trace.find("X").grad is X.grad


# --- the selective vjps ------------------------------------------------------------------------

RNG = np.random.default_rng(17)


def _cases():
    probability = RNG.uniform(0.1, 0.9, (4, 3))
    labels = (RNG.random((4, 3)) > 0.5).astype(float)
    return {
        "matmul": ((RNG.normal(size=(2, 3, 4)), RNG.normal(size=(4, 5))), {}),
        "mse": ((RNG.normal(size=(4, 3)), RNG.normal(size=(1, 3))), {}),
        "bce": ((probability, labels), {}),
        "bce_logits": ((RNG.normal(size=(4, 3)), labels), {}),
        "conv2d": ((RNG.normal(size=(2, 2, 5, 5)), RNG.normal(size=(3, 2, 2, 2))),
                   {"stride": (1, 1), "padding": (1, 1)}),
        "conv2d_bias": ((RNG.normal(size=(2, 2, 5, 5)), RNG.normal(size=(3, 2, 2, 2)),
                         RNG.normal(size=3)), {"stride": (2, 1), "padding": (1, 0)}),
    }


CASES = _cases()


def _applied(name):
    """The op called ``name``, its case's inputs and settings, its output, and an upstream
    gradient with every element different."""
    op = OPS[name]
    arrays, attrs = CASES[name]
    out = np.asarray(op.forward(*arrays, **attrs))
    return op, arrays, attrs, out, np.asarray(RNG.normal(size=out.shape))


def test_every_selective_op_has_a_case_here():
    assert {name for name, op in OPS.items() if op.selective} == set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_a_selective_vjp_gives_exactly_the_wanted_gradients_and_none_for_the_rest(name):
    with quiet():
        op, arrays, attrs, out, g = _applied(name)
        full = op.vjp(g, *arrays, out, **attrs)  # the call form other code uses
        for needs in itertools.product((True, False), repeat=len(arrays)):
            got = vjp_for(op, g, arrays, out, attrs, needs)
            for wanted, part, whole in zip(needs, got, full, strict=True):
                if wanted:
                    assert part.tobytes() == np.asarray(whole).tobytes()
                else:
                    assert part is None


@pytest.mark.parametrize("name", CASES)
def test_a_selective_vjp_matches_central_finite_differences(name):
    with quiet():
        op, arrays, attrs, out, g = _applied(name)
        for k in range(len(arrays)):
            needs = tuple(j == k for j in range(len(arrays)))
            # (matmul gives a weight shared by a batch its per-example gradients: summed back
            # by the engine, as here)
            got = sum_to_shape(vjp_for(op, g, arrays, out, attrs, needs)[k], arrays[k].shape)[0]
            expected = np.zeros_like(arrays[k])
            for index in np.ndindex(arrays[k].shape):
                shifted = []
                for step in (1e-6, -1e-6):
                    moved = [a.copy() for a in arrays]
                    moved[k][index] += step
                    shifted.append(np.sum(g * op.forward(*moved, **attrs)))
                expected[index] = (shifted[0] - shifted[1]) / 2e-6
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8, err_msg=f"input {k}")


def test_the_fast_path_gradients_of_a_cnn_match_pytorch(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: the autograd "
                                                "cross-check needs it")
    path = tmp_path / "cnn.py"
    path.write_text(CNN, encoding="utf-8")
    network = load_file(path)
    network.optimizer = SGD(1e-9)  # (the step barely moves them: gradients are compared)
    trace = network.trace()
    leaves = {n.name: torch.tensor(n.value, requires_grad=n.kind == "param")
              for n in trace.nodes if n.is_leaf}
    f = torch.nn.functional
    h = f.max_pool2d(f.relu(f.conv2d(leaves["images"], leaves["kernel"], leaves["bias"])), 2)
    f.cross_entropy(h.reshape(3, 8) @ leaves["W"], leaves["labels"].long()).backward()
    network.fast_step()
    got = {t.name: t.grad for t in network._leaves}
    for name in ("kernel", "bias", "W"):
        np.testing.assert_allclose(got[name], leaves[name].grad.numpy(), rtol=1e-7,
                                   atol=1e-12, err_msg=name)
    assert got["images"] is None  # no parameter is upstream of the images: not computed


def test_nn_conv2d_of_data_on_the_fast_path_skips_the_images_gradient():
    rng = np.random.default_rng(2)
    images = Tensor(rng.normal(size=(2, 1, 4, 4)), name="images")
    kernel = param(rng.normal(size=(1, 1, 2, 2)), name="kernel")
    network = Network(lambda: nn.conv2d(images, kernel).sum(), params=[kernel])
    network.fast_step()
    assert images.grad is None and kernel.grad.shape == (1, 1, 2, 2)


def _bce_as_written(p, y):
    """Binary cross-entropy and its slope the general way (every term, each dropped where its
    coefficient is 0), as the op computed them for any labels before 0/1 labels got their own
    shorter form."""
    def xlogy(x, v):
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, v)))

    loss = -np.mean(xlogy(y, p) + xlogy(1 - y, 1 - p))
    slope = -(np.where(y == 0, 0.0, y / np.where(y == 0, 1.0, p))
              - np.where(y == 1, 0.0, (1 - y) / np.where(y == 1, 1.0, 1 - p)))
    return loss, slope


@pytest.mark.parametrize("p", [
    np.array([[0.2], [0.9], [0.5], [1e-300]]), np.array([[0.0], [1.0], [0.3], [0.7]]),
    np.array([[0.1, 0.4, 0.6]] * 4)], ids=["column", "sure-answers", "broadcast-rows"])
def test_bce_on_0_1_labels_is_bit_for_bit_the_general_formula(p):
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    op = OPS["bce"]
    with quiet():
        out = np.asarray(op.forward(p, y))
        expected_loss, slope = _bce_as_written(p, y)
        n = np.broadcast(p, y).size
        (dp, _) = op.vjp(np.array(1.0), p, y, out)
        expected_dp = sum_to_shape(np.broadcast_to(slope / n, np.broadcast(p, y).shape),
                                   p.shape)[0]
    assert out.tobytes() == np.float64(expected_loss).tobytes()
    assert dp.tobytes() == expected_dp.tobytes()
