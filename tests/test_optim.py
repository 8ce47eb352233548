"""Optimizer update records against update rules worked by hand and against torch.optim, and
the cycle a Network makes: trace, backward, update, re-run forward."""

from __future__ import annotations

import numpy as np
import pytest

from tracer import SGD, Adam, Momentum, Network, NetworkError, Tensor, make_optimizer, param

TORCH_RTOL, TORCH_ATOL = 1e-7, 1e-12

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])  # two examples, three features
Y = np.array([[1.0, 0.0], [0.0, 1.0]])
W0 = np.array([[0.1, -0.2, 0.3], [0.4, 0.2, -0.1]])
B0 = np.array([0.05, -0.05])


def small_problem():
    """A linear layer with MSE loss: the parameters and a forward function over them."""
    w = param(W0, name="W")
    b = param(B0, name="b")
    x, y = Tensor(X, name="x"), Tensor(Y, name="y")

    def forward():
        return (((x @ w.T + b).tanh() - y) ** 2).mean()

    return w, b, forward


def numpy_loss(w, b):
    return np.mean((np.tanh(X @ w.T + b) - Y) ** 2)


def constant_gradient_param(g: float = 3.0):
    """A scalar parameter whose loss is ``g·w``, so its gradient is ``g`` at every step."""
    w = param(1.0, name="w")
    return w, (lambda: w * g)


# --- update rules, worked by hand -------------------------------------------------------------

def test_sgd_step_records_before_grad_change_after():
    w, forward = constant_gradient_param(3.0)
    net = Network(forward, optimizer=SGD(0.1))
    (update,) = net.cycle().updates
    assert update.name == "w"
    assert (float(update.before), float(update.grad)) == (1.0, 3.0)
    assert float(update.change) == pytest.approx(-0.3, rel=1e-15)
    assert float(update.after) == pytest.approx(0.7, rel=1e-15)
    assert float(w.data) == float(update.after)
    assert dict(update.state) == {}


def test_momentum_velocity_accumulates_the_gradient():
    _, forward = constant_gradient_param(3.0)
    net = Network(forward, optimizer=Momentum(0.1, beta=0.9))
    velocities = [3.0, 0.9 * 3.0 + 3.0, 0.9 * (0.9 * 3.0 + 3.0) + 3.0]
    value = 1.0
    for velocity in velocities:
        (update,) = net.cycle().updates
        assert float(update.state["velocity"]) == pytest.approx(velocity, rel=1e-15)
        assert float(update.change) == pytest.approx(-0.1 * velocity, rel=1e-15)
        assert float(update.before) == pytest.approx(value, rel=1e-15)
        value -= 0.1 * velocity
        assert float(update.after) == pytest.approx(value, rel=1e-14)


def test_adam_with_a_constant_gradient_moves_by_lr_each_step():
    # With bias correction m̂ = g and v̂ = g² at every step, so the change is −lr·g/(|g| + ε).
    w, forward = constant_gradient_param(3.0)
    net = Network(forward, optimizer=Adam(0.01))
    for t in (1, 2, 3):
        (update,) = net.cycle().updates
        assert update.state["t"] == t
        assert float(update.state["m"]) == pytest.approx(3.0 * (1 - 0.9**t), rel=1e-14)
        assert float(update.state["v"]) == pytest.approx(9.0 * (1 - 0.999**t), rel=1e-12)
        assert float(update.change) == pytest.approx(-0.01 * 3.0 / (3.0 + 1e-8), rel=1e-12)
    assert float(w.data) == pytest.approx(1.0 - 3 * 0.01 * 3.0 / (3.0 + 1e-8), rel=1e-14)


# --- against torch.optim ----------------------------------------------------------------------

TORCH_OPTIMIZERS = [
    ("sgd", lambda: SGD(0.3), lambda torch, ps: torch.optim.SGD(ps, lr=0.3), {}),
    ("momentum", lambda: Momentum(0.3, beta=0.9),
     lambda torch, ps: torch.optim.SGD(ps, lr=0.3, momentum=0.9, dampening=0),
     {"velocity": "momentum_buffer"}),
    ("adam", lambda: Adam(0.05),
     lambda torch, ps: torch.optim.Adam(ps, lr=0.05, betas=(0.9, 0.999), eps=1e-8),
     {"m": "exp_avg", "v": "exp_avg_sq", "t": "step"}),
]


@pytest.mark.parametrize(("name", "ours", "theirs", "state_keys"), TORCH_OPTIMIZERS,
                         ids=[o[0] for o in TORCH_OPTIMIZERS])
def test_three_update_steps_match_torch_optim(name, ours, theirs, state_keys):
    torch = pytest.importorskip("torch", reason="PyTorch not installed: the autograd "
                                                "cross-check needs it")
    w, b, forward = small_problem()
    net = Network(forward, optimizer=ours())

    tw = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(B0, dtype=torch.float64, requires_grad=True)
    tx, ty = torch.tensor(X), torch.tensor(Y)
    optimizer = theirs(torch, [tw, tb])

    for step in range(3):
        optimizer.zero_grad()
        loss = ((tx @ tw.T + tb).tanh() - ty).pow(2).mean()
        loss.backward()
        before = {"W": tw.detach().clone().numpy(), "b": tb.detach().clone().numpy()}
        grads = {"W": tw.grad.clone().numpy(), "b": tb.grad.clone().numpy()}
        optimizer.step()
        after = {"W": tw.detach().clone().numpy(), "b": tb.detach().clone().numpy()}

        cycle = net.cycle()
        assert cycle.loss == pytest.approx(loss.item(), rel=TORCH_RTOL)
        updates = {u.name: u for u in cycle.updates}
        assert set(updates) == {"W", "b"}
        for key, tensor in (("W", tw), ("b", tb)):
            u = updates[key]
            label = f"{name} step {step + 1} {key}"
            np.testing.assert_allclose(u.before, before[key], rtol=TORCH_RTOL, atol=TORCH_ATOL,
                                       err_msg=label)
            np.testing.assert_allclose(u.grad, grads[key], rtol=TORCH_RTOL, atol=TORCH_ATOL,
                                       err_msg=label)
            np.testing.assert_allclose(u.change, after[key] - before[key], rtol=1e-6,
                                       atol=1e-14, err_msg=label)
            np.testing.assert_allclose(u.after, after[key], rtol=TORCH_RTOL, atol=TORCH_ATOL,
                                       err_msg=label)
            np.testing.assert_array_equal(u.after, u.before + u.change)
            for our_key, torch_key in state_keys.items():
                np.testing.assert_allclose(u.state[our_key],
                                           optimizer.state[tensor][torch_key].numpy(),
                                           rtol=TORCH_RTOL, atol=TORCH_ATOL, err_msg=label)
        np.testing.assert_allclose(w.data, after["W"], rtol=TORCH_RTOL, atol=TORCH_ATOL)
        np.testing.assert_allclose(b.data, after["b"], rtol=TORCH_RTOL, atol=TORCH_ATOL)


# --- what gets updated ------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: SGD(0.5), lambda: Momentum(0.5), lambda: Adam(0.5)],
                         ids=["sgd", "momentum", "adam"])
def test_inputs_and_constants_are_never_updated(make):
    w = param([1.0, 2.0], name="w")
    x = Tensor([3.0, -1.0], name="x")
    c = Tensor(2.0, name="c", kind="constant")
    loss = (w * x * c).sum()
    loss.backward()
    assert np.any(x.grad) and np.any(c.grad), "inputs and constants do get gradients"
    records = make().step([("w", w), ("x", x), ("c", c)])
    assert [r.name for r in records] == ["w"]
    np.testing.assert_array_equal(x.data, [3.0, -1.0])
    assert float(c.data) == 2.0
    assert not np.array_equal(w.data, [1.0, 2.0])


def test_network_cycle_updates_only_params_found_in_the_graph():
    w = param([0.5, -0.5], name="w")
    x = Tensor([1.0, 2.0], name="x")
    c = Tensor(0.25, name="c", kind="constant")
    cycle = Network(lambda: ((w * x).sum() + c).tanh(), optimizer=SGD(0.1)).cycle()
    assert [u.name for u in cycle.updates] == ["w"]
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    assert float(c.data) == 0.25


def test_cycle_loss_after_equals_an_independent_re_evaluation():
    w, b, forward = small_problem()
    cycle = Network(forward, optimizer=SGD(0.3)).cycle()
    assert cycle.loss == pytest.approx(numpy_loss(W0, B0), rel=1e-14)
    updates = {u.name: u for u in cycle.updates}
    assert cycle.loss_after == pytest.approx(
        numpy_loss(np.asarray(updates["W"].after), np.asarray(updates["b"].after)), rel=1e-14)
    assert cycle.loss_after == pytest.approx(numpy_loss(w.data, b.data), rel=1e-14)
    assert cycle.loss_after < cycle.loss


def test_cycle_accepts_a_loss_shaped_one_element_vector():
    w = param([[0.3, -0.8]], name="w")
    x = Tensor([1.0, 2.0], name="x")
    cycle = Network(lambda: ((w @ x).tanh() - 0.5) ** 2, optimizer=SGD(0.1)).cycle()
    assert cycle.loss_after == pytest.approx(
        (np.tanh(np.asarray(cycle.updates[0].after) @ [1.0, 2.0]).item() - 0.5) ** 2, rel=1e-14)


def test_cycle_timeline_is_forward_backward_updates_then_outcome():
    _, _, forward = small_problem()
    cycle = Network(forward, optimizer=SGD(0.3)).cycle()
    phases = [m.phase for m in cycle.timeline]
    n = len(cycle.trace.nodes)
    # a backward step for every node but the data x and the targets y
    assert phases == ["forward"] * n + ["backward"] * (n - 2) + ["update"] * len(
        cycle.updates) + ["outcome"]
    outcome = cycle.timeline[-1].record
    assert (outcome.loss_before, outcome.loss_after) == (cycle.loss, cycle.loss_after)
    assert outcome.change == pytest.approx(cycle.loss_after - cycle.loss)


def test_unused_declared_param_is_listed_with_zero_gradient():
    w = param([0.5, -0.5], name="w")
    unused = param([[1.0, 2.0]], name="spare")
    net = Network(lambda: (w * w).sum(), optimizer=SGD(0.1), params=[w, unused])
    updates = {u.name: u for u in net.cycle().updates}
    assert set(updates) == {"w", "spare"}
    np.testing.assert_array_equal(updates["spare"].grad, np.zeros((1, 2)))
    np.testing.assert_array_equal(updates["spare"].change, np.zeros((1, 2)))
    np.testing.assert_array_equal(unused.data, [[1.0, 2.0]])
    np.testing.assert_allclose(updates["w"].grad, [1.0, -1.0], rtol=1e-15)


def test_earlier_update_records_keep_their_values():
    _, forward = constant_gradient_param(2.0)
    net = Network(forward, optimizer=SGD(0.25))
    first = net.cycle().updates[0]
    second = net.cycle().updates[0]
    assert float(first.before) == 1.0 and float(first.after) == 0.5
    assert float(second.before) == 0.5 and float(second.after) == 0.0
    for array in (first.before, first.grad, first.change, first.after):
        assert not array.flags.writeable


def test_train_returns_each_loss_and_the_final_one():
    _, forward = constant_gradient_param(2.0)
    losses = Network(forward, optimizer=SGD(0.25)).train(3)
    assert losses == pytest.approx([2.0, 1.0, 0.0, -1.0])


# --- construction -----------------------------------------------------------------------------

@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf")])
def test_optimizer_rejects_a_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="learning rate"):
        SGD(lr)


def test_make_optimizer_by_name():
    assert isinstance(make_optimizer("SGD", 0.1), SGD)
    momentum = make_optimizer("momentum", 0.2, beta=0.5)
    assert isinstance(momentum, Momentum) and momentum.beta == 0.5 and momentum.lr == 0.2
    assert isinstance(make_optimizer("adam", 0.001), Adam)
    with pytest.raises(KeyError):
        make_optimizer("rmsprop", 0.1)


def test_network_rejects_a_non_scalar_or_non_tensor_forward():
    v = param([1.0, 2.0], name="v")
    with pytest.raises(NetworkError, match="scalar"):
        Network(lambda: v * 2).cycle()
    with pytest.raises(NetworkError, match="Tensor"):
        Network(lambda: 1.0).cycle()


def test_each_update_record_carries_its_parameters_node():
    w = param([0.5, -0.5], name="w")
    unused = param(1.0, name="unused")
    x = Tensor([1.0, 2.0], name="x")
    cycle = Network(lambda: (w * x).sum() ** 2, optimizer=SGD(0.1), params=[w, unused]).cycle()
    nodes = {u.name: u.node for u in cycle.updates}
    assert nodes == {"w": cycle.trace.find("w").id, "unused": None}
