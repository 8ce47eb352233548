"""tracer.diagnostics: each finding on a network that has the problem and on one that does not,
no false alarm on any healthy built-in scenario, each problem scenario diagnosed with the right
kind at the right node, and the conditional-breakpoint predicates over the step records."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from scenarios import BUILTIN_NAMES, load
from scenarios.catalog import PROBLEM_NAMES
from tests.docs_pages import doc_page
from tests.test_gradcheck import mlp  # the same 3-2-2 cross-entropy network
from tracer import Stepper, Tensor, bce, cross_entropy, mse, param
from tracer.diagnostics import (
    KINDS,
    THRESHOLDS,
    Finding,
    Thresholds,
    break_on_dead_unit,
    break_on_gradcheck_failure,
    break_on_gradient_above,
    break_on_nonfinite,
    dead_units,
    diagnose,
    diagnose_network,
    layers,
    node_checks,
    problems,
    saturated_units,
    to_json,
    to_text,
    verdict,
)
from tracer.optim import UpdateRecord

HEALTHY = [name for name in BUILTIN_NAMES if name not in PROBLEM_NAMES]

# What `gradstep check` must find in each scenario built to misbehave: the problem kinds, and
# the (kind, node name) that pins the problem down.
EXPECTED = {
    "vanishing-sigmoid": ({"vanishing-gradient"}, ("vanishing-gradient", "h1")),
    "exploding": ({"exploding-gradient"}, ("exploding-gradient", "h1")),
    "dead-relu": ({"dead-relu"}, ("dead-relu", "h1")),
    "nan-log": ({"nonfinite-value", "nonfinite-gradient"}, ("nonfinite-value", "log_not_p")),
    "unused-param": ({"unused-param"}, ("unused-param", "b2")),
    "buggy-custom-op": ({"gradcheck-node", "gradcheck-param"}, ("gradcheck-node", "h1")),
}


def kinds(findings: list[Finding]) -> set[str]:
    return {f.kind for f in findings}


def by_kind(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


def finite_differences(forward, tensor, eps=1e-6):
    """∂forward()/∂tensor by central differences (this file's own reference)."""
    original = tensor.data
    grad = np.zeros_like(original)
    try:
        for idx in np.ndindex(original.shape):
            probe = original.copy()
            probe[idx] += eps
            tensor.data = probe
            up = float(forward().data.item())
            probe[idx] -= 2 * eps
            tensor.data = probe.copy()
            down = float(forward().data.item())
            grad[idx] = (up - down) / (2 * eps)
    finally:
        tensor.data = original
    return grad


# --- the scenarios ------------------------------------------------------------------------------

def test_every_scenario_is_either_healthy_or_a_problem_with_an_expectation():
    assert set(PROBLEM_NAMES) == set(EXPECTED)
    assert {"chain-rule", "micrograd-neuron", "mazur", "cookies", "house-price", "dog-vs-cat",
            "digit-4-vs-9", "xor", "broadcast-bias", "cnn-4-vs-9", "attention-head", "char-rnn",
            "layer-norm"} == set(HEALTHY)


# (attention-head masks later words with −inf before its softmax, as transformers do: no alarm)
@pytest.mark.parametrize("name", HEALTHY)
def test_no_false_alarm_on_a_healthy_scenario(name):
    network = load(name)
    findings = diagnose_network(network)
    assert problems(findings) == [], to_text(findings)
    # the only note a healthy scenario may carry: a gradient that is 0 for a plain reason
    assert kinds(findings) <= {"zero-gradient"}


def test_the_only_note_on_a_healthy_scenario_is_w2_in_micrograd():
    notes = [(name, f.name) for name in HEALTHY for f in diagnose_network(load(name))]
    assert notes == [("micrograd-neuron", "w2")]


@pytest.mark.parametrize("name", PROBLEM_NAMES)
def test_each_problem_scenario_is_diagnosed_with_the_right_kind_at_the_right_node(name):
    network = load(name)
    trace = network.trace()
    findings = diagnose(trace, network.forward, params=network.params)
    expected_kinds, (kind, node_name) = EXPECTED[name]
    assert kinds(problems(findings)) == expected_kinds, to_text(findings)
    (first,) = [f for f in findings if f.kind == kind][:1]
    assert first.name == node_name
    if kind == "unused-param":
        assert first.node is None and first.details["in_graph"] is False
    else:
        assert trace.nodes[first.node].name == node_name


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_every_finding_points_at_a_step_of_its_node(name):
    trace = load(name).trace()
    network = load(name)
    for f in diagnose(trace, network.forward, params=network.params):
        assert f.severity in ("error", "warning", "info") and f.kind in KINDS
        assert f.summary and "\n" not in f.message and len(f.message) > len(f.summary)
        if f.node is None:
            assert f.step is None and f.phase is None
            continue
        if f.phase == "forward":
            assert trace.forward[f.step].node == f.node
        elif f.kind == "zero-gradient":  # where the gradient stops
            assert trace.nodes[trace.backward[f.step].node].name == f.details["blocked_at"]
        else:
            assert trace.backward[f.step].node == f.node


def test_a_finding_is_immutable_plain_data():
    (finding,) = problems(diagnose_network(load("dead-relu")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.kind = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        finding.details["units"] = []  # type: ignore[index]
    json.dumps(to_json([finding]), allow_nan=False)


# --- non-finite values and gradients -------------------------------------------------------------

@pytest.mark.parametrize("build, cause, culprit", [
    (lambda p: (p * Tensor([1.0, 0.0])).log().sum(), "log-of-zero", "log_1"),
    (lambda p: (p * Tensor([1.0, -1.0])).log().sum(), "log-of-negative", "log_1"),
    (lambda p: (p * 2000.0).exp().sum(), "exp-overflow", "exp_1"),
    (lambda p: (Tensor([1.0, 2.0]) / (p - p)).sum(), "division-by-zero", "div_1"),
    (lambda p: ((p - p) ** -1).sum(), "division-by-zero", "pow_1"),
    (lambda p: (p * 1e200 * 1e200).sum(), "overflow", "mul_2"),
], ids=["log0", "log-negative", "exp", "div0", "pow", "overflow"])
def test_the_first_nonfinite_value_is_pinned_with_its_cause(build, cause, culprit):
    p = param([0.5, 0.5], name="p")
    trace = build(p).backward()
    (finding,) = by_kind(diagnose(trace), "nonfinite-value")
    assert finding.name == culprit and finding.severity == "error"
    assert finding.details["cause"] == cause
    assert finding.phase == "forward" and finding.step == trace.find(culprit).id
    # it is the first one: every earlier value is finite
    assert all(np.all(np.isfinite(n.value)) for n in trace.nodes[:finding.node])
    assert not np.all(np.isfinite(trace.nodes[finding.node].value))


def test_nonfinite_data_is_blamed_on_the_data():
    x = Tensor([1.0, np.nan], name="x")
    w = param([0.5, 0.5], name="w")
    (finding,) = by_kind(diagnose((x * w).sum().backward()), "nonfinite-value")
    assert (finding.name, finding.details["cause"]) == ("x", "data")
    assert "[1]" in finding.message


def test_a_gradient_that_becomes_infinite_in_a_finite_forward_pass():
    # √x at x = 0 is 0, but its slope 1/(2√x) is infinite
    x = param([0.0, 4.0], name="x")
    root = x ** 0.5
    root.name = "root"
    trace = root.sum().backward()
    findings = diagnose(trace)
    assert not by_kind(findings, "nonfinite-value")
    (finding,) = by_kind(findings, "nonfinite-gradient")
    assert finding.name == "root" and finding.phase == "backward"
    assert finding.step == trace.backward_step(trace.find("root").id).index
    assert finding.details["cause"] == "local" and finding.details["input"] == "x"
    assert "= inf" in finding.message and "[0]" in finding.message


def test_no_nonfinite_finding_on_a_finite_network():
    w = param([0.5, -0.5], name="w")
    findings = diagnose(((w * Tensor([1.0, 2.0])).exp() + 1).log().sum().backward())
    assert not kinds(findings) & {"nonfinite-value", "nonfinite-gradient"}


def test_nan_log_names_log_of_zero_and_the_fix():
    network = load("nan-log")
    trace = network.trace()
    findings = diagnose(trace, network.forward, params=network.params)
    value, gradient = findings[0], findings[1]
    assert (value.kind, value.name, value.details["cause"]) == (
        "nonfinite-value", "log_not_p", "log-of-zero")
    assert "not_p[3] = 0" in value.message and "bce_with_logits" in value.message
    assert gradient.kind == "nonfinite-gradient" and gradient.details["cause"] == "forward"
    assert not by_kind(findings, "gradcheck-param")  # no gradient check on a NaN loss


# --- vanishing and exploding gradients ---------------------------------------------------------

def test_layers_of_a_scalar_network_follow_its_neurons():
    trace = load("mazur").trace()
    names = [[trace.nodes[i].name for i in layer.nodes] for layer in layers(trace)]
    assert names == [["out_h1", "out_h2"], ["out_o1", "out_o2"]]
    params = [sorted(trace.nodes[i].name for i in layer.params) for layer in layers(trace)]
    assert params == [["w1", "w2", "w3", "w4"], ["w5", "w6", "w7", "w8"]]
    first = layers(trace)[0]
    grads = np.array([trace.find(n).grad.item() for n in ("out_h1", "out_h2")])
    assert first.size == pytest.approx(np.sqrt(np.mean(grads ** 2)))
    assert first.norm == pytest.approx(np.linalg.norm(grads))


def test_layers_of_a_vectorised_network_are_its_activations():
    trace = load("xor").trace()
    assert [[trace.nodes[i].name for i in ly.nodes] for ly in layers(trace)] == [["h1"],
                                                                                  ["yhat"]]
    assert [[trace.nodes[i].name for i in ly.params] for ly in layers(trace)] == [
        ["W1", "b1"], ["W2", "b2"]]
    assert layers(load("house-price").trace()) == ()  # no activation, no layers


def sigmoid_chain(depth, weight=1.0):
    ws = [param(weight, name=f"w{k}") for k in range(depth)]

    def forward():
        h = Tensor(1.0, name="x")
        for w in ws:
            h = (w * h).sigmoid()
        return (h - 0.2) ** 2

    return forward


def test_a_deep_sigmoid_chain_vanishes_and_a_shallow_one_does_not():
    deep = sigmoid_chain(8)
    trace = deep().backward()
    (finding,) = by_kind(diagnose(trace), "vanishing-gradient")
    assert finding.node == layers(trace)[0].nodes[0] and finding.details["farthest_layer"] == 1
    stack = layers(trace)
    assert finding.details["ratio"] == pytest.approx(stack[-1].size / stack[0].size)
    assert finding.details["ratio"] >= THRESHOLDS.vanishing_ratio
    shallow = sigmoid_chain(3)
    assert not by_kind(diagnose(shallow().backward()), "vanishing-gradient")
    # the threshold decides
    assert not by_kind(diagnose(trace, thresholds=Thresholds(vanishing_ratio=1e12)),
                       "vanishing-gradient")


def test_large_weights_explode_and_modest_ones_do_not():
    def chain(weight):
        ws = [param(weight, name=f"w{k}") for k in range(7)]

        def forward():
            h = Tensor(1e-6, name="x")
            for w in ws:
                h = (w * h).tanh()
            return (h - 0.3) ** 2

        return forward().backward()

    (finding,) = by_kind(diagnose(chain(4.0)), "exploding-gradient")
    assert finding.details["ratio"] <= 1 / THRESHOLDS.exploding_ratio
    assert finding.name == "tanh_1"
    assert not by_kind(diagnose(chain(1.0)), "exploding-gradient")


def test_a_huge_parameter_gradient_explodes_without_layers():
    w = param([0.1, 0.2], name="w")
    x = Tensor([2000.0, 3000.0], name="sqft_and_dollars")  # unscaled features

    def forward():
        return mse(x @ w, Tensor(5.0))

    (finding,) = by_kind(diagnose(forward().backward()), "exploding-gradient")
    assert finding.name == "w" and finding.details["layers"] == []
    assert finding.details["param_gradient_rms"]["w"] >= THRESHOLDS.exploding_gradient
    x.data = x.data / 1000.0
    assert not by_kind(diagnose(forward().backward()), "exploding-gradient")


# --- dead and saturated units ------------------------------------------------------------------

def relu_layer(bias):
    X = Tensor([[1.0, 0.5], [0.2, -0.3], [0.7, 0.9]], name="X")
    W = param([[0.5, -0.4, 0.3], [0.2, -0.6, 0.1]], name="W")
    b = param(bias, name="b")
    h = (X @ W + b).relu()
    h.name = "h"
    return h.sum().backward()


def test_a_relu_unit_dead_for_the_whole_batch_is_found():
    trace = relu_layer([0.1, -2.0, 0.2])
    h = trace.find("h").id
    assert dead_units(trace, h) == [(1,)]
    (finding,) = by_kind(diagnose(trace), "dead-relu")
    assert finding.node == h and finding.details["units"] == [[1]]
    assert finding.details["examples"] == 3 and "column 1 of h" in finding.message
    np.testing.assert_array_equal(trace.find("W").grad[:, 1], 0.0)  # what it costs


def test_a_relu_unit_zero_for_some_examples_only_is_alive():
    trace = relu_layer([0.1, 0.2, -0.32])  # units 1 and 2 are 0 for some rows, not all
    h = trace.find("h").value
    assert 0 < np.count_nonzero(h[:, 1]) < 3 and 0 < np.count_nonzero(h[:, 2]) < 3
    assert dead_units(trace, trace.find("h").id) == []
    assert not by_kind(diagnose(trace), "dead-relu")


def test_a_scalar_relu_at_zero_is_one_dead_unit():
    w = param(-1.5, name="w")
    r = (w * 2.0).relu()
    r.name = "r"
    trace = (r + w).backward()
    assert dead_units(trace, trace.find("r").id) == [()]
    (finding,) = by_kind(diagnose(trace), "dead-relu")
    assert finding.name == "r" and "the one example" in finding.message


def test_a_saturated_tanh_is_found_and_a_sigmoid_into_bce_is_not():
    x = Tensor([[5.0, 0.1], [6.0, -0.2]], name="x")
    w = param([[2.0, 0.0], [0.0, 1.0]], name="w")
    h = (x @ w).tanh()
    h.name = "h"
    trace = h.sum().backward()
    assert saturated_units(trace, h_id := trace.find("h").id) == [(0,)]
    (finding,) = by_kind(diagnose(trace), "saturated")
    assert finding.node == h_id and finding.details["units"] == [[0]]
    assert finding.details["slope_max"] < THRESHOLDS.saturated_slope

    score = param([9.0, -9.5], name="score")
    p = score.sigmoid()
    p.name = "p"
    trace = bce(p, Tensor([1.0, 0.0])).backward()
    assert saturated_units(trace, trace.find("p").id) == [()]
    assert not by_kind(diagnose(trace), "saturated")  # bce cancels the flat slope
    trace = (p - Tensor([1.0, 0.0])).sum().backward()
    assert by_kind(diagnose(trace), "saturated")  # without bce it does not


# --- unused parameters and zero gradients -----------------------------------------------------

def test_an_unused_parameter_and_a_zero_gradient_are_told_apart():
    used = param([0.7, -0.2], name="used")
    blocked = param(1.5, name="blocked")
    forgotten = param([0.0], name="forgotten")
    x = Tensor([1.0, 2.0], name="x")
    zero = Tensor(0.0, name="zero")

    def forward():
        return (used * x).sum() + blocked * zero

    findings = diagnose(forward().backward(), forward, params=[used, blocked, forgotten])
    (unused,) = by_kind(findings, "unused-param")
    (stuck,) = by_kind(findings, "zero-gradient")
    assert (unused.name, unused.node, unused.severity) == ("forgotten", None, "warning")
    assert (stuck.name, stuck.severity, stuck.details["blocked_at"]) == ("blocked", "info",
                                                                        "mul_2")
    assert "zero = 0" in stuck.message and "not unused" in stuck.message
    assert problems(findings) == [unused]


def test_a_parameter_reaching_the_loss_only_as_a_label_is_unused():
    scores = param([[1.0, -1.0], [0.5, 0.2]], name="scores")
    target = param([1.0, 0.0], name="target")  # a param by mistake, used as class labels
    trace = cross_entropy(scores, target).backward()
    (finding,) = by_kind(diagnose(trace), "unused-param")
    assert finding.name == "target" and finding.details["in_graph"] is True
    assert "only as a label" in finding.summary


def test_micrograd_w2_has_a_zero_gradient_because_x2_is_zero():
    network = load("micrograd-neuron")
    trace = network.trace()
    (note,) = diagnose(trace, network.forward, params=network.params)
    assert (note.kind, note.name, note.severity) == ("zero-gradient", "w2", "info")
    assert note.details["blocked_at"] == "x2w2" and "x2 = 0" in note.message
    assert not note.is_problem


def test_zero_gradients_behind_a_dead_relu_are_blocked_at_the_relu():
    w = param(-1.0, name="w")
    r = (w * 3.0).relu()
    r.name = "r"
    trace = (r * 2.0).backward()
    (note,) = by_kind(diagnose(trace), "zero-gradient")
    assert note.name == "w" and note.details["blocked_at"] == "r"
    assert "dead-relu" in note.message


def test_no_unused_or_zero_findings_on_a_network_that_uses_everything():
    (w1, b1, w2), forward = mlp()
    findings = diagnose(forward().backward(), forward, params=[w1, b1, w2])
    assert not kinds(findings) & {"unused-param", "zero-gradient"}


# --- gradient checks --------------------------------------------------------------------------


def test_every_node_of_a_correct_network_passes_its_check():
    _, forward = mlp()
    trace = forward().backward()
    checked = [c for n in trace.nodes for c in node_checks(trace, n.id)]
    assert len(checked) >= 6 and all(c.ok for c in checked)
    assert not kinds(diagnose(trace, forward)) & {"gradcheck-node", "gradcheck-param"}


def test_the_buggy_custom_op_is_pinned_to_its_node_and_the_params_it_feeds():
    network = load("buggy-custom-op")
    trace = network.trace()
    findings = diagnose(trace, network.forward, params=network.params)
    (node,) = by_kind(findings, "gradcheck-node")
    h1 = trace.find("h1")
    assert node.node == h1.id and node.details["custom"] is True
    z1 = trace.find("z1").value
    true_local = 1.7159 * (2 / 3) * (1 - np.tanh(2 * z1 / 3) ** 2)
    np.testing.assert_allclose(node.details["numeric"], true_local, rtol=1e-6)
    np.testing.assert_allclose(node.details["analytic"], 1.5 * true_local, rtol=1e-9)
    assert "1.5 times the right value everywhere" in node.message
    assert "buggy_custom_op.py, line" in node.message
    params = by_kind(findings, "gradcheck-param")
    assert sorted(f.name for f in params) == ["W1", "b1"]  # W2 and b2 are above the bug
    for f in params:
        tensor = trace.tensors[f.node]
        np.testing.assert_allclose(f.details["numeric"],
                                   finite_differences(network.forward, tensor), rtol=1e-5)
        assert f.severity == "error" and "h1" in f.message


def test_without_the_forward_function_only_the_node_checks_run():
    network = load("buggy-custom-op")
    findings = diagnose(network.trace())
    assert kinds(problems(findings)) == {"gradcheck-node"}


def test_a_relu_kink_and_a_log_near_zero_are_not_gradient_check_failures():
    w = param([0.0, 1.0, -1.0], name="w")  # relu's kink at exactly 0

    def kink():
        return (w.relu() * Tensor([1.0, 2.0, 3.0])).sum()

    assert not kinds(diagnose(kink().backward(), kink)) & {"gradcheck-node", "gradcheck-param"}
    x = param([2e-6, 1e-3, 3e-6], name="x")  # ln bends hard near 0

    def steep():
        return x.log().sum()

    assert not kinds(diagnose(steep().backward(), steep)) & {"gradcheck-node",
                                                              "gradcheck-param"}


def test_diagnosis_after_an_update_checks_the_recorded_values_and_restores_the_params():
    network = load("buggy-custom-op")
    before = [(f.kind, f.node, f.details.get("error")) for f in diagnose_network(network)]
    cycle = network.cycle()  # moves the parameters
    moved = {n.name: network.trace().find(n.name).value.copy() for n in cycle.trace.params}
    after = diagnose(cycle.trace, network.forward, params=network.params)
    assert [(f.kind, f.node, f.details.get("error")) for f in after] == before
    for name, value in moved.items():  # the network is left where the update put it
        np.testing.assert_array_equal(network.trace().find(name).value, value)


# --- conditional breakpoints -------------------------------------------------------------------

def stops(trace, condition, records):
    """Positions where ``condition`` stops, by running a Stepper from the start each time."""
    stepper = Stepper(records)
    found = []
    while stepper.run_until(lambda r: condition(trace, r)):
        found.append(stepper.position)
    return found


def test_break_on_nonfinite_stops_at_the_first_nan_forward_and_backward():
    trace = load("nan-log").trace()
    condition = break_on_nonfinite()
    forward_stops = stops(trace, condition, trace.forward)
    assert trace.nodes[forward_stops[0]].name == "log_not_p"
    backward_stops = stops(trace, condition, trace.backward)
    assert trace.nodes[trace.backward[backward_stops[0]].node].name == "not_y·log_not_p"
    healthy = load("mazur").trace()
    assert stops(healthy, condition, healthy.forward + healthy.backward) == []


def test_break_on_gradient_above_a_threshold():
    trace = load("exploding").trace()
    condition = break_on_gradient_above(100.0)
    hits = stops(trace, condition, trace.backward)
    expected = [s.index for s in trace.backward if np.max(np.abs(s.upstream)) > 100.0]
    assert hits == expected and hits
    assert all(np.max(np.abs(trace.backward[k].upstream)) > 100 for k in hits)
    assert stops(trace, break_on_gradient_above(1e9), trace.backward) == []
    assert not condition(trace, trace.forward[0])  # forward steps carry no gradient
    with pytest.raises(ValueError, match="threshold"):
        break_on_gradient_above(-1.0)


def test_break_on_gradcheck_failure_stops_only_at_the_wrong_op():
    trace = load("buggy-custom-op").trace()
    condition = break_on_gradcheck_failure()
    hits = stops(trace, condition, trace.backward)
    assert [trace.nodes[trace.backward[k].node].name for k in hits] == ["h1"]
    healthy = load("xor").trace()
    assert stops(healthy, condition, healthy.backward) == []


def test_break_on_dead_unit_stops_at_the_dead_relu_both_ways():
    trace = load("dead-relu").trace()
    condition = break_on_dead_unit()
    h1 = trace.find("h1").id
    assert [trace.forward[k].node for k in stops(trace, condition, trace.forward)] == [h1]
    assert [trace.backward[k].node for k in stops(trace, condition, trace.backward)] == [h1]
    assert stops(load("dog-vs-cat").trace(), condition, load("dog-vs-cat").trace().forward) == []
    saturated = load("exploding")
    saturated.cycle()  # the exploded update saturates the first tanh layers
    after = saturated.trace()
    assert stops(after, condition, after.forward) == []
    assert stops(after, break_on_dead_unit(saturated=True), after.forward)


def test_conditions_never_stop_at_update_records_and_have_labels():
    trace = load("nan-log").trace()
    record = UpdateRecord("w", np.zeros(2), np.full(2, np.nan), np.zeros(2), np.zeros(2), {})
    for condition in (break_on_nonfinite(), break_on_gradient_above(0.0),
                      break_on_gradcheck_failure(), break_on_dead_unit(True)):
        assert condition(trace, record) is False and condition(trace, None) is False
        assert condition.name and condition.label


# --- text, JSON and the docs ------------------------------------------------------------------

@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_findings_render_as_text_and_strict_json(name):
    findings = diagnose_network(load(name))
    data = json.loads(json.dumps(to_json(findings), allow_nan=False))
    assert [d["kind"] for d in data] == [f.kind for f in findings]
    assert all(set(d) == {"kind", "severity", "node", "name", "phase", "step", "summary",
                          "message", "details"} for d in data)
    text = to_text(findings, name)
    assert text.startswith(name) and text.rstrip().endswith(verdict(findings))
    for f in findings:
        assert f.kind in text


def test_verdict_counts_problems_and_notes():
    assert verdict([]) == "No problems found."
    findings = diagnose_network(load("micrograd-neuron"))
    assert verdict(findings) == "No problems found. (1 note.)"
    assert verdict(diagnose_network(load("nan-log"))) == "2 problems: 2 errors."


def test_the_docs_document_every_kind_and_threshold():
    body = doc_page("check.md")
    for kind in KINDS:
        assert f"`{kind}`" in body, kind
    for value in ("1000", "0.001", "1e-5"):
        assert value in body
    custom_ops = doc_page("custom-ops.md")
    assert "class " in custom_ops and "CustomOp" in custom_ops and ".apply(" in custom_ops
    documented = Thresholds(vanishing_ratio=1000, exploding_ratio=1000, exploding_gradient=1000,
                            saturated_slope=0.001, tolerance=1e-5)
    assert documented == THRESHOLDS
