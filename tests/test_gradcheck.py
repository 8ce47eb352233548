"""tracer.gradcheck: it passes correct gradients and pins a wrong op to the node where it is
wrong. Wrong ops are registered for one test only (the ``scratch_ops`` fixture removes them)."""

from __future__ import annotations

import numpy as np
import pytest

import tracer
from tracer import Op, Tensor, check_node, check_params, param
from tracer.gradcheck import relative_error
from tracer.tensor import apply


def mlp():
    """A 3-2-2 network with a cross-entropy loss: params W1, b1, W2 and the forward function."""
    w1 = param([[0.2, -0.4, 0.1], [0.7, 0.3, -0.5]], name="W1")
    b1 = param([0.05, -0.1], name="b1")
    w2 = param([[0.6, -0.2], [-0.3, 0.8]], name="W2")
    x = Tensor([[1.0, 0.5, -1.5], [0.2, -0.7, 0.9]], name="x")
    labels = Tensor([1.0, 0.0], name="labels")

    def forward():
        hidden = (x @ w1.T + b1).tanh()
        return tracer.cross_entropy(hidden @ w2.T, labels)

    return (w1, b1, w2), forward


def test_check_params_passes_on_a_correct_network(fd):
    (w1, b1, w2), forward = mlp()
    trace = forward().backward()
    checks = check_params(forward, trace)
    assert [c.name for c in checks] == ["W1", "b1", "W2"]
    assert all(c.ok for c in checks), [(c.name, c.error) for c in checks]

    def loss(a, b, c):
        def layer(x):
            return np.tanh(x @ a.T + b) @ c.T
        z = layer(np.array([[1.0, 0.5, -1.5], [0.2, -0.7, 0.9]]))
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -(log_p[0, 1] + log_p[1, 0]) / 2

    reference = fd(loss, [w1.data, b1.data, w2.data])
    for check, expected in zip(checks, reference, strict=True):
        np.testing.assert_allclose(check.numeric, expected, rtol=1e-6, atol=1e-9)


def test_check_params_leaves_the_trace_and_the_params_as_they_were():
    (w1, b1, w2), forward = mlp()
    trace = forward().backward()
    values = [w.data.copy() for w in (w1, b1, w2)]
    recorded = [n.value.copy() for n in trace.nodes]
    check_params(forward, trace)
    for w, value in zip((w1, b1, w2), values, strict=True):
        np.testing.assert_array_equal(w.data, value)
    for node, value in zip(trace.nodes, recorded, strict=True):
        np.testing.assert_array_equal(node.value, value)


def test_check_params_probes_at_most_limit_elements_per_param():
    _, forward = mlp()
    trace = forward().backward()
    check = check_params(forward, trace, limit=2)[0]
    assert check.name == "W1"
    assert np.all(np.isfinite(check.numeric.flat[:2]))
    assert np.all(np.isnan(check.numeric.flat[2:]))
    assert check.ok


def test_check_params_passes_a_correct_vanishing_gradient():
    # σ'(20) ≈ 2e-9: correct, but below what central differences resolve relative to σ ≈ 1.
    w = param([20.0, 22.0, 0.5], name="w")

    def forward():
        return w.sigmoid().sum()

    checks = check_params(forward, forward().backward())
    assert checks[0].ok, checks[0]


def test_check_params_accepts_a_loss_shaped_one_element_vector():
    w = param([[0.3, -0.8]], name="w")
    x = Tensor([1.0, 2.0], name="x")

    def forward():
        return ((w @ x).tanh() - 0.5) ** 2  # shape (1,), as a one-output network gives

    (check,) = check_params(forward, forward().backward())
    assert check.ok, check


def test_check_node_passes_at_every_op_node_of_a_correct_network():
    _, forward = mlp()
    trace = forward().backward()
    op_nodes = [n.id for n in trace.nodes if n.kind in ("op", "loss")]
    assert len(op_nodes) >= 6
    for node in op_nodes:
        checks = check_node(trace, node)
        assert checks, f"no checks at {trace.nodes[node].name}"
        assert all(c.ok for c in checks), [(c.name, c.error) for c in checks]


def test_check_node_skips_labels_and_leaves():
    _, forward = mlp()
    trace = forward().backward()
    checks = check_node(trace, trace.root)
    assert len(checks) == 1 and "labels" not in checks[0].name
    assert check_node(trace, trace.find("W1").id) == []


# --- deliberately wrong ops -------------------------------------------------------------------

def wrong_sign_square(scratch_ops) -> Op:
    """x² whose local derivative has the wrong sign (−2x instead of 2x)."""
    return scratch_ops(Op("test_wrong_sign_square", lambda x: x * x, ("∂x²/∂x = −2x (wrong)",),
                          "{out} squares {x}", local=lambda x, out: (-2.0 * x,),
                          letters=("x",)))


def vjp_missing_factor(scratch_ops) -> Op:
    """3·x whose vector-Jacobian product forgets the factor 3."""
    return scratch_ops(Op("test_missing_factor", lambda x: 3.0 * x, ("∂(3x)/∂x = 3",),
                          "{out} triples {x}", vjp=lambda g, x, out: (g,), letters=("x",)))


@pytest.mark.parametrize("make_op", [wrong_sign_square, vjp_missing_factor],
                         ids=["wrong-sign-local", "vjp-missing-factor"])
def test_wrong_op_is_flagged_at_its_node_and_only_there(scratch_ops, make_op):
    bad = make_op(scratch_ops)
    w = param([0.4, -0.9, 1.3], name="w")
    v = param([0.5, 0.25, -0.75], name="v")
    x = Tensor([1.0, 2.0, -1.0], name="x")

    def forward():
        wrong = apply(bad, w * x)
        wrong.name = "wrong"
        return (wrong.tanh() + v.sigmoid()).sum()

    trace = forward().backward()
    wrong = trace.find("wrong").id
    (check,) = check_node(trace, wrong)
    assert check.node == wrong and not check.ok
    assert check.error > check.tolerance
    for node in trace.nodes:
        if node.id != wrong and node.kind in ("op", "loss"):
            assert all(c.ok for c in check_node(trace, node.id)), node.name

    by_name = {c.name: c for c in check_params(forward, trace)}
    assert not by_name["w"].ok and by_name["w"].error > by_name["w"].tolerance
    assert by_name["v"].ok  # v does not pass through the wrong op


def test_scratch_op_is_gone_after_its_test():
    assert not any(name.startswith("test_") for name in tracer.ops.OPS)


def test_register_refuses_an_op_with_both_or_neither_derivative():
    with pytest.raises(ValueError, match="exactly one"):
        tracer.register(Op("test_neither", lambda x: x, ("1",), "{out}"))
    with pytest.raises(ValueError, match="exactly one"):
        tracer.register(Op("test_both", lambda x: x, ("1",), "{out}",
                           local=lambda x, out: (1.0,), vjp=lambda g, x, out: (g,)))
    assert "test_neither" not in tracer.ops.OPS and "test_both" not in tracer.ops.OPS


# --- the error measure ------------------------------------------------------------------------

def test_relative_error_is_relative_for_normal_gradients():
    assert relative_error(np.array([2.0, -4.0]), np.array([2.0, -4.0])) == 0.0
    assert relative_error(np.array([1.0, 100.0]), np.array([1.0, 101.0])) == pytest.approx(
        1 / 101)
    assert relative_error(np.array([1.0]), np.array([-1.0])) == pytest.approx(2.0)
    assert relative_error(np.array([]), np.array([])) == 0.0
