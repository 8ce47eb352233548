"""``gradstep check`` tells the truth (issue 15): no false alarms on networks written the way users
write them (a causal mask of −inf or −1e9, training gone wild), no silent skips (a 2,560-element
custom op, a 20,000-node network), the classic training bugs found (a summed loss, a bias per
example, an update that overshoots, weights gone NaN), and numbers that agree with each other.
Each diagnosis is tested on a network that has the problem and on a healthy one."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.check import scalar_chain
from tests import check_networks as nets
from tracer import CustomOp, Tensor, explain, param
from tracer.diagnostics import (
    check_lines,
    diagnose,
    diagnose_network,
    headline,
    problems,
    to_json,
    to_text,
    verdict,
)
from tracer.diagnostics.losscheck import locate
from tracer.diagnostics.nonfinite import harmful
from tracer.diagnostics.training import summed_over_batch
from tracer.record import Trace


def kinds(findings) -> set[str]:
    return {f.kind for f in findings}


def only(findings, kind):
    (found,) = [f for f in findings if f.kind == kind]
    return found


# --- non-finite values: only those that reach the loss or a gradient ---------------------------


@pytest.mark.parametrize("mask", [-np.inf, -1e9])
def test_a_causal_mask_is_not_an_error_when_the_loss_and_gradients_are_finite(mask):
    network = nets.attention(mask)
    trace = network.trace()
    assert np.isfinite(trace.loss) and all(np.all(np.isfinite(n.grad)) for n in trace.nodes)
    findings = diagnose_network(network)
    assert problems(findings) == [], to_text(findings)
    assert verdict(findings) == "No problems found."
    if mask == -np.inf:
        assert not np.all(np.isfinite(trace.find("scores").value))  # the mask is there
        assert harmful(trace) == []


def test_the_causal_attention_gradients_match_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is the independent reference")
    network = nets.attention(-np.inf)
    trace = network.trace()
    x, target, mask = (torch.tensor(trace.find(n).value) for n in ("x", "target", "mask"))
    w = {n: torch.tensor(trace.find(n).value, requires_grad=True) for n in ("Wq", "Wk", "Wv")}
    q, k, v = x @ w["Wq"], x @ w["Wk"], x @ w["Wv"]
    weights = torch.softmax((q @ k.T) * (1 / np.sqrt(4)) + mask, dim=-1)
    loss = torch.mean((weights @ v - target) ** 2)
    loss.backward()
    assert trace.loss == pytest.approx(loss.item(), rel=1e-12)
    for name, tensor in w.items():
        np.testing.assert_allclose(trace.find(name).grad, tensor.grad.numpy(), rtol=1e-10)


def test_a_minus_inf_that_reaches_the_loss_is_reported_and_said_truly():
    x = param([1.0, 2.0, 3.0], name="x")
    mask = Tensor([0.0, 0.0, -np.inf], name="mask")

    def forward():
        return (x + mask).sum()

    findings = diagnose(forward().backward(), forward)
    finding = only(findings, "nonfinite-value")
    assert finding.name == "mask" and "the loss included (-inf)" in finding.message.replace(
        "−", "-")


def test_a_nan_gradient_with_a_finite_loss_is_not_called_a_nan_loss():
    x = param([0.0, 1.0], name="x")

    def forward():
        return (x ** 0.5).sum()  # √0 is finite, its slope 1/(2√0) is not

    findings = diagnose(forward().backward(), forward)
    assert "nonfinite-gradient" in kinds(findings)
    assert "nonfinite-value" not in kinds(findings)  # no value is NaN
    assert all("the loss included" not in f.message for f in findings)


# --- gradient checks that do not cry wolf, and miss nothing -----------------------------------


def test_training_gone_wild_is_not_blamed_on_the_derivative_of_add():
    network = nets.mlp(summed=True, lr=0.1)
    for _ in range(12):  # the loss grows by orders of magnitude, values stay finite
        network.cycle()
    assert network.loss() > 1e20
    findings = diagnose_network(network)
    assert not kinds(findings) & {"gradcheck-node", "gradcheck-param"}, to_text(findings)
    assert "summed-loss" in kinds(findings)


def test_a_wrong_backward_over_2560_elements_is_checked_and_pinned_to_its_node():
    network = nets.wide_custom_op()
    trace = network.trace()
    assert trace.find("matmul_1").value.size == 2560
    findings = diagnose_network(network)
    node = only(findings, "gradcheck-node")
    assert node.name == "unit" and node.severity == "error"
    assert node.details["compared"] == "gradient along a random direction"
    assert "2560 elements" in node.message and "check_networks.py, line" in node.message
    lines = [line.text for line in check_lines(findings, node.node)]
    assert lines[0] == "gradient check fails (matmul_1, along a random direction)"
    assert lines[1] == f"backward: {explain.number(node.details['analytic'])}"
    param_finding = only(findings, "gradcheck-param")
    assert param_finding.name == "W" and param_finding.severity == "error"
    assert "pins it on unit" in param_finding.message
    healthy = diagnose_network(nets.wide_custom_op(right=True))
    assert problems(healthy) == [] and verdict(healthy) == "No problems found."


class OneWrongElement(CustomOp):
    """Doubles its input; the backward gets element 7 wrong."""

    formulas = ("∂(2x)/∂x = 2",)
    sentence = "{out} doubles {x}"

    def forward(x):
        return 2 * x

    def backward(g, x, out):
        grad = 2 * g
        grad[7] *= 3
        return (grad,)


def test_a_mismatch_quotes_the_worst_element_with_its_index_and_its_own_values():
    x = param(np.linspace(0.5, 1.5, 10), name="x")

    def forward():
        return (OneWrongElement.apply(x) ** 2).sum()

    trace = forward().backward()
    finding = only(diagnose(trace, forward), "gradcheck-node")
    assert finding.details["element"] == [7]
    analytic, numeric = finding.details["analytic"][7], finding.details["numeric"][7]
    true = 2 * (2 * 2 * x.data[7])  # upstream 2·out times the op's 2
    assert numeric == pytest.approx(true, rel=1e-6) and analytic == pytest.approx(3 * true)
    assert (f"{explain.number(analytic)} at [7] in the backward pass but "
            f"{explain.number(numeric)}") in finding.message
    assert "at [7], the worst element" in finding.message


def test_every_parameter_of_a_big_network_is_checked_and_a_bug_among_them_found():
    network = scalar_chain(3000)
    findings = diagnose_network(network)
    assert "unchecked" not in kinds(findings)
    assert not kinds(findings) & {"gradcheck-node", "gradcheck-param"}

    class Tripled(CustomOp):
        formulas = ("∂(x³)/∂x = 3x²",)
        sentence = "{out} cubes {x}"

        def forward(x):
            return x ** 3

        def local(x, out):
            return 2 * x ** 2  # 2 where the power rule gives 3

    weights = [param(1.0 + 0.001 * k, name=f"v{k}") for k in range(600)]

    def forward():
        h = Tensor(0.5, name="x")
        for k, w in enumerate(weights):
            h = (w * h).tanh()
            if k == 590:
                h = Tripled.apply(h)
        return h * 1.0

    trace = forward().backward()
    found = diagnose(trace, forward, params=weights)
    node = only(found, "gradcheck-node")
    assert trace.nodes[node.node].op == "tripled"
    wrong = sorted(int(f.name[1:]) for f in found if f.kind == "gradcheck-param")
    # The weights just below the bug, none above; far below, 590 tanh layers have shrunk the
    # gradient (and its error) past what any difference of the loss can see.
    assert 590 in wrong and 589 in wrong and max(wrong) == 590


def test_a_forward_that_depends_on_state_is_told_so():
    w = param([0.5, -1.0], name="w")
    calls = []

    def forward():
        calls.append(1)
        return (w * (1.0 + 1e-4 * len(calls))).sum()  # not the same function twice

    finding = only(diagnose(forward().backward(), forward), "gradcheck-param")
    assert "depends on state besides the parameters" in finding.message
    steady = param([0.5, -1.0], name="w")

    def same():
        return (steady * 1.0001).sum()

    assert problems(diagnose(same().backward(), same)) == []


def test_bisecting_the_path_names_the_node_whose_backward_is_wrong():
    w = param(0.7, name="w")

    def forward():
        a = (w * 1.5).tanh()
        a.name = "a"
        b = a * a
        b.name = "b"
        c = b.sigmoid()
        c.name = "c"
        return c * 2.0

    trace = forward().backward()
    # A backward gone wrong at c (it sent b twice its gradient): everything below c is doubled.
    c = trace.find("c").id
    nodes = tuple(n._replace(grad=n.grad * 2) if n.id < trace.find("b").id + 1 else n
                  for n in trace.nodes)
    tampered = Trace(nodes, trace.backward, trace.tensors, trace.root)
    from tracer.diagnostics import THRESHOLDS
    wrong, right = locate(tampered, trace.find("w").id, THRESHOLDS)
    assert (tampered.nodes[wrong].name, right) == ("b", c)
    assert locate(trace, trace.find("w").id, THRESHOLDS) is None


# --- how it will train: summed loss, a bias per example, overshoot, divergence ----------------


def test_a_loss_summed_over_the_batch_is_found_and_a_mean_is_not():
    summed = diagnose_network(nets.mlp(summed=True))
    finding = only(summed, "summed-loss")
    assert finding.severity == "warning" and finding.details["batch"] == 32
    assert finding.details["weight"] == pytest.approx(32)
    assert finding.details["loss_after"] > nets.mlp(summed=True).loss()  # the probe overshoots
    assert "Use the mean" in finding.message and "divide the learning rate by the batch" in (
        finding.message)
    mean = diagnose_network(nets.mlp())
    assert problems(mean) == [] and summed_over_batch(nets.mlp().trace(), _limits()) is None


def _limits():
    from tracer.diagnostics import THRESHOLDS
    return THRESHOLDS


def test_a_bias_with_one_value_per_example_is_found():
    finding = only(diagnose_network(nets.mlp(bias_rows=32)), "per-example-param")
    assert finding.name == "b2" and finding.details["shape"] == [32, 1]
    assert "shape (1, 1)" in finding.message
    assert "per-example-param" not in kinds(diagnose_network(nets.mlp(bias_rows=1)))


def test_an_update_that_overshoots_says_the_learning_rate_is_too_large():
    network = nets.mlp(lr=8.0)
    finding = only(diagnose_network(network), "overshoot")
    assert finding.details["loss_after"] >= 2 * network.loss()
    assert "the learning rate is too large" in finding.message
    assert "overshoot" not in kinds(diagnose_network(nets.mlp(lr=0.1)))


def test_weights_gone_nan_say_the_learning_rate_is_too_large_not_clean_the_data():
    network = nets.diverged()
    findings = diagnose_network(network)
    finding = findings[0]
    assert (finding.kind, finding.severity) == ("diverged", "error")
    assert trace_kind(network, finding.name) == "param"
    assert "the learning rate is too large" in finding.message
    assert "clean" not in finding.message
    assert "diverged" not in kinds(diagnose_network(nets.mlp(summed=True, lr=0.5)))


def trace_kind(network, name):
    return network.trace().find(name).kind


# --- nothing claimed that was not checked; one way of counting ---------------------------------


def test_a_verdict_without_the_whole_loss_check_says_so():
    network = nets.mlp()
    findings = diagnose(network.trace())
    assert problems(findings) == []
    assert verdict(findings).startswith("No problems found in what was checked.")
    assert "Not checked: the parameters' gradients against the whole loss" in verdict(findings)


def test_steps_count_from_1_in_the_text_and_the_json():
    from scenarios import load
    findings = diagnose_network(load("nan-log"))
    for finding, record in zip(findings, to_json(findings), strict=True):
        if finding.step is not None:
            assert f"{finding.phase} step {record['step']})" in headline(finding)
            assert record["step"] == finding.step + 1


class HalfLog(CustomOp):
    """ln x with half the right slope."""

    formulas = ("∂ln(x)/∂x = 1/x",)
    sentence = "{out} is the log of {x}"

    def forward(x):
        return np.log(x)

    def local(x, out):
        return 0.5 / x


def test_values_at_the_edge_of_an_ops_domain_are_checked_with_smaller_steps():
    x = param([2e-6, 1e-3, 3e-6], name="x")  # ln at x − 6e-6 would be NaN

    def right():
        return x.log().sum()

    findings = diagnose(right().backward(), right)
    assert not kinds(findings) & {"unchecked", "gradcheck-node", "gradcheck-param"}, to_text(
        findings)  # checked, and right

    def wrong():
        return HalfLog.apply(x).sum()

    finding = only(diagnose(wrong().backward(), wrong), "gradcheck-node")
    assert finding.details["numeric"] == pytest.approx(1 / x.data, rel=1e-2)  # steep: h²/x²


# --- an op's facts live in its op table entry: a new op needs nothing elsewhere ---------------


def test_a_new_ops_hooks_are_all_diagnostics_needs(scratch_ops):
    from tracer.ops import NonFinite, Op
    from tracer.tensor import apply

    recip = scratch_ops(Op(
        "recip_test", lambda x: 1.0 / x, ("∂(1/x)/∂x = −1/x²",), "{out} is 1 over {x}",
        local=lambda x, out: (-out * out,), symbol="1/{x}", letters=("x",),
        nonfinite=lambda x: NonFinite("division-by-zero", note=": 1/0") if x == 0 else None))
    scale = scratch_ops(Op(
        "times_test", lambda a, b: a * b, ("∂(a·b)/∂a = b", "∂(a·b)/∂b = a"),
        "{out} multiplies {a} by {b}", local=lambda a, b, out: (b, a), symbol="{a} ⊗ {b}",
        scaled_by_other=True))
    x = param([0.0, 2.0], name="x")
    value = only(diagnose(apply(recip, x).sum().backward()), "nonfinite-value")
    assert value.details["cause"] == "division-by-zero" and ": 1/0" in value.message
    w = param([1.5], name="w")
    zero = Tensor([0.0], name="zero")
    note = only(diagnose(apply(scale, w, zero).sum().backward()), "zero-gradient")
    assert "zero = [0]" in note.message or "zero = 0" in note.message
    assert "is not 0" in note.message  # the product's explanation, from scaled_by_other


def test_the_one_step_probe_leaves_the_network_as_it_was():
    from tracer.optim import Momentum

    network = nets.mlp(lr=8.0)
    network.optimizer = Momentum(lr=8.0)
    network.cycle()  # the optimizer now has a velocity per parameter
    values = [p.data.copy() for p in network.params]
    state = network.optimizer.snapshot()
    assert "overshoot" in kinds(diagnose_network(network))
    for p, value in zip(network.params, values, strict=True):
        np.testing.assert_array_equal(p.data, value)
    after = network.optimizer.snapshot()
    assert after[0] == state[0] and after[1].keys() == state[1].keys()
    for key, memory in state[1].items():
        for name, array in memory.items():
            np.testing.assert_array_equal(after[1][key][name], array)


@pytest.mark.parametrize(("scale", "summed"), [("divide", False), ("weights", False),
                                               ("half", True), ("none", True)])
def test_a_sum_of_scaled_terms_is_a_sum_only_when_the_scale_does_not_average(scale, summed):
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((16, 2)), name="x")
    y = Tensor(rng.standard_normal((16, 1)), name="y")
    w = param(rng.standard_normal((2, 1)), name="w")
    weights = Tensor(rng.dirichlet(np.ones(16))[:, None], name="weights")  # add up to 1

    def forward():
        errors = (x @ w - y) ** 2
        scaled = {"divide": errors / 16, "weights": errors * weights, "half": errors * 0.5,
                  "none": errors}[scale]
        return scaled.sum()

    found = diagnose(forward().backward(), forward)
    assert ("summed-loss" in kinds(found)) is summed, to_text(found)


def test_a_mask_that_meets_a_zero_is_reported_where_nan_is_made():
    x = param([1.0, 2.0, 3.0], name="x")
    mask = Tensor([0.0, -np.inf, -np.inf], name="mask")
    keep = Tensor([1.0, 0.0, 1.0], name="keep")

    def forward():
        masked = (x + mask) * keep  # −inf · 0 = NaN at [1]
        masked.name = "masked"
        return masked.sum()

    finding = only(diagnose(forward().backward(), forward), "nonfinite-value")
    assert finding.name == "masked" and "clean" not in finding.message

    def straight():
        return (x + mask).sum()  # −inf reaches the loss as it is

    finding = only(diagnose(straight().backward(), straight), "nonfinite-value")
    assert finding.name == "mask" and finding.details["cause"] == "mask"
    assert "before softmax" in finding.message
