"""Which nodes get a backward step: the root and every node with a trainable parameter among its
ancestors-or-self (PyTorch's requires_grad rule). Data, targets, constants and values computed
only from them get none, yet every tensor's ``.grad`` is still filled."""

import re

import numpy as np
import pytest

from scenarios import BUILTIN_NAMES, load
from tracer import Tensor, param
from tracer.narration import narrate_timeline


def test_a_cycle_of_mazurs_network_has_87_moments_and_w5_comes_at_step_64():
    cycle = load("mazur").cycle()
    trace = cycle.trace
    # Forward: 43 nodes (i1, i2, w1..w8, b1, b2, the targets, per neuron two products, two sums
    # and a sigmoid, per output a difference, its square, 0.5 and their product, and the total).
    # Backward: all but the 8 nodes no weight is upstream of: i1, i2, b1, b2, target_o1,
    # target_o2 and the two constants 0.5 -> 35. Then the 8 updates (w1..w8) and the outcome.
    assert len(trace.nodes) == 43
    assert len(trace.backward) == 43 - 8
    assert len(cycle.timeline) == 43 + 35 + 8 + 1 == 87  # 95 before: every node had a step
    no_step = sorted(n.name for n in trace.nodes if trace.step_of(n.id) is None)
    assert no_step == sorted(["i1", "i2", "b1", "b2", "target_o1", "target_o2", "0.5", "0.5"])
    # w5's backward step, counted from 1 over the whole timeline (read from the timeline)
    w5 = trace.find("w5").id
    position = next(k for k, m in enumerate(cycle.timeline)
                    if m.phase == "backward" and m.node == w5)
    # was 69: five nodes without a step came before it in the backward pass (both 0.5s, both
    # targets, and b2, first used after w5·out_h1)
    assert position + 1 == 64
    update = next(u for u in cycle.updates if u.name == "w5")
    assert float(update.before) == 0.4
    assert float(update.after) == pytest.approx(0.35891648, abs=5e-9)  # the post's number


def test_cookies_recipe_amounts_keep_their_steps_gradients_and_updates():
    cycle = load("cookies").cycle()
    trace = cycle.trace
    # 16 nodes; no step for base, the three effects (constants) and the target -> 11
    assert (len(trace.nodes), len(trace.backward)) == (16, 11)
    assert all(trace.step_of(p.id) is not None for p in trace.params)
    # by hand: dryness = 3.9 + 1.5·3 − 2·1 + 0.4·1.5 = 7, loss = (7 − 4)², ∂L/∂dryness = 6
    grads = {p.name: float(p.grad) for p in trace.params}
    assert grads == pytest.approx({"flour": 9.0, "butter": -12.0, "sugar": 2.4})
    after = {u.name: float(u.after) for u in cycle.updates}  # lr 0.02
    assert after == pytest.approx({"flour": 2.82, "butter": 1.24, "sugar": 1.452})


def _preprocessed_network():
    """A batched layer as users write it: the data scaled, the targets mapped to ±1 first."""
    rng = np.random.default_rng(3)
    X = Tensor(rng.normal(size=(4, 3)), name="X")
    y = Tensor(rng.integers(0, 2, size=(4, 2)).astype(float), name="y")
    W = param(rng.normal(size=(3, 2)), name="W")
    b = param(rng.normal(size=2), name="b")
    scaled = X * 0.5
    signs = y * 2.0 - 1.0
    loss = (((scaled @ W + b).tanh() - signs) ** 2).mean()
    return X, y, W, b, scaled, signs, loss


def test_no_step_for_data_and_its_preprocessing_but_every_grad_matches_torch():
    torch = pytest.importorskip("torch", reason="PyTorch autograd is the reference here")
    X, y, W, b, scaled, signs, loss = _preprocessed_network()
    trace = loss.backward()
    without = {n.name for n in trace.nodes if trace.step_of(n.id) is None}
    assert {"X", "y", "0.5", "2", "1"} <= without  # the leaves and constants
    for t in (scaled, signs):  # preprocessing computed only from data
        assert trace.step_of(next(k for k, u in enumerate(trace.tensors) if u is t)) is None
    assert trace.step_of(trace.find("W").id) is not None
    tx, ty, tw, tb = (torch.tensor(np.asarray(t.data), dtype=torch.float64, requires_grad=True)
                      for t in (X, y, W, b))
    ts, tsg = tx * 0.5, ty * 2.0 - 1.0
    ts.retain_grad()
    tsg.retain_grad()
    (((ts @ tw + tb).tanh() - tsg) ** 2).mean().backward()
    for ours, ref in ((X, tx), (y, ty), (W, tw), (b, tb), (scaled, ts), (signs, tsg)):
        np.testing.assert_allclose(ours.grad, ref.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_the_data_still_gets_its_gradient_by_finite_differences(fd):
    X, y, W, b, _, _, loss = _preprocessed_network()
    loss.backward()
    w, bias, signs = np.asarray(W.data), np.asarray(b.data), np.asarray(y.data) * 2 - 1

    def f(x):
        return float(np.mean((np.tanh(x * 0.5 @ w + bias) - signs) ** 2))

    (expected,) = fd(f, [np.asarray(X.data)])
    np.testing.assert_allclose(X.grad, expected, rtol=1e-6, atol=1e-9)
    assert np.any(X.grad != 0)


def test_an_edge_to_data_says_once_that_it_needs_no_gradient():
    cycle = load("house-price").cycle()
    records = [r for s in cycle.trace.backward for r in s.inputs]
    data = [r for r in records if not r.needs_grad]
    assert sorted(cycle.trace.nodes[r.node].name for r in data) == ["features", "true_price"]
    said = " ".join(narrate_timeline(cycle))
    assert said.count("true_price is data: it needs no gradient, so no step of its own") == 1


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_no_narration_says_the_loss_wants_a_label_or_data_moved(name):
    cycle = load(name).cycle()
    trace = cycle.trace
    no_step = {n.name for n in trace.nodes if trace.step_of(n.id) is None}
    for sentence in narrate_timeline(cycle):
        for wanted in re.findall(r"the loss wants (\S+) (?:lower|higher)", sentence):
            assert wanted not in no_step, (name, sentence)
