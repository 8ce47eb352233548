"""tracer.explain: number formatting, the chain-rule line with its numbers, gradient sums at a
fan-out, and aligned arrays. Expected numbers are computed here, independently of the engine."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracer import Tensor, cross_entropy, param
from tracer.explain import array_lines, chain_rule, expression, gradient_sum, number

NUMBER = r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?"


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# --- number() ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "text"), [
    (0.74136507, "0.7414"),
    (-0.019, "-0.019"),
    (1.2e-05, "1.2e-05"),
    (0.0, "0"),
    (-0.0, "0"),
    (2.0, "2"),
    (-3.5, "-3.5"),
    (float("nan"), "nan"),
    (float("inf"), "inf"),
    (float("-inf"), "-inf"),
])
def test_number_formats_documented_examples(value, text):
    assert number(value) == text


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
       .filter(lambda x: x == 0 or abs(x) > 1e-300))
def test_number_reads_back_to_four_significant_digits_or_three_in_e_notation(x):
    text = number(x)
    digits = 3 if "e" in text else 4
    assert float(text) == pytest.approx(x, rel=5.001 * 10.0 ** -digits, abs=0.0)
    mantissa = text.split("e")[0]
    assert not ("." in mantissa and mantissa.endswith("0")), f"trailing zero in {text}"
    assert len(text) <= 12


def test_number_accepts_numpy_scalars_and_zero_dimensional_arrays():
    assert number(np.float64(0.5)) == number(np.array(0.5)) == "0.5"


# --- chain_rule() -------------------------------------------------------------------------------

def scalar_neuron():
    """loss = ½(0.01 − σ(w·x + b))² with every value a scalar; names as in the article."""
    w = param(0.4, name="w")
    x = Tensor(0.59327, name="x")
    b = Tensor(0.6, name="b", kind="constant")
    net = w * x + b
    net.name = "net"
    out = net.sigmoid()
    out.name = "out"
    trace = (0.5 * (0.01 - out) ** 2).backward()
    return trace


def test_chain_rule_for_a_scalar_step_shows_upstream_times_local_equals_product():
    trace = scalar_neuron()
    step = trace.backward_step(trace.find("out").id)
    (record,) = step.inputs
    text = chain_rule(trace, step, record)

    out = sigmoid(0.4 * 0.59327 + 0.6)
    upstream, local = out - 0.01, out * (1 - out)
    assert text.startswith("∂L/∂net = ∂L/∂out × ∂out/∂net = ")
    match = re.search(rf"= ({NUMBER}) × ({NUMBER}) = ({NUMBER})$", text)
    assert match, text
    shown = [float(g) for g in match.groups()]
    for value, expected in zip(shown, (upstream, local, upstream * local), strict=True):
        assert value == pytest.approx(expected, rel=5e-4)
    assert text.endswith(f"= {number(upstream)} × {number(local)} = {number(upstream * local)}")
    assert text.count("×") == 2 and "⊙" not in text


def test_chain_rule_for_a_broadcast_input_says_which_axis_was_summed():
    h = param([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], name="h")
    b = param([0.5, -0.5], name="bias")
    total = h + b
    total.name = "total"
    trace = (total * total).sum().backward()
    step = trace.backward_step(trace.find("total").id)
    (record,) = [r for r in step.inputs if r.node == trace.find("bias").id]
    text = chain_rule(trace, step, record)
    assert text.startswith("∂L/∂bias")
    assert "summed over axis 0" in text and "(2,)" in text


def test_chain_rule_says_a_label_gets_no_gradient():
    trace = cross_entropy(param([0.2, 0.9], name="z"), Tensor(1.0, name="label")).backward()
    step = trace.backward[0]
    (record,) = [r for r in step.inputs if not r.differentiable]
    text = chain_rule(trace, step, record)
    assert "label" in text and "no gradient" in text


# --- gradient_sum() ---------------------------------------------------------------------------

def test_gradient_sum_at_a_fan_out_lists_each_term_and_the_total():
    x = param(0.5, name="x")
    up = x * 3.0
    up.name = "tripled"
    down = x * -2.0
    down.name = "doubled_negated"
    trace = (up.tanh() + down.sigmoid()).backward()
    step = trace.backward_step(trace.find("x").id)
    text = gradient_sum(trace, step)
    assert text is not None

    tripled_term = 3.0 * (1 - math.tanh(1.5) ** 2)
    s = sigmoid(-1.0)
    negated_term = -2.0 * s * (1 - s)
    total = tripled_term + negated_term
    assert text.startswith(f"∂L/∂x = {number(total)} = ")
    assert number(tripled_term) in text
    assert f"({number(negated_term)})" in text  # a negative term sits in parentheses
    assert "tripled" in text and "doubled_negated" in text
    terms = re.findall(rf"\(?({NUMBER})\)?", text.split(" = ", 2)[2].split("(from")[0])
    assert sorted(float(t) for t in terms) == pytest.approx(
        sorted([tripled_term, negated_term]), rel=5e-4)


def test_gradient_sum_is_none_where_a_value_feeds_one_place():
    trace = scalar_neuron()
    assert gradient_sum(trace, trace.backward_step(trace.find("out").id)) is None


# --- array_lines() ----------------------------------------------------------------------------

def test_array_lines_aligns_matrix_columns():
    a = np.array([[1.0, -22.5, 0.003], [-1000.25, 2.0, 7.0], [0.5, 0.0, -0.25]])
    lines = array_lines(a)
    assert len(lines) == 3
    assert len({len(line) for line in lines}) == 1
    cells = [re.findall(NUMBER, line) for line in lines]
    for row, values in zip(cells, a, strict=True):
        assert [float(c) for c in row] == pytest.approx(list(values), rel=5e-4)
    # each column's right edge is at the same character position on every line
    for j in range(a.shape[1]):
        ends = {[m.end() for m in re.finditer(NUMBER, line)][j] for line in lines}
        assert len(ends) == 1, f"column {j} is ragged: {lines}"


def test_array_lines_shows_a_vector_as_one_row_and_a_scalar_as_a_number():
    (row,) = array_lines(np.array([0.25, -4.0, 1e-5]))
    assert [float(c) for c in re.findall(NUMBER, row)] == pytest.approx([0.25, -4.0, 1e-5])
    assert array_lines(np.array(0.125)) == [number(0.125)]


def test_array_lines_summarises_a_large_array_unless_asked_for_all_of_it():
    a = np.arange(40.0).reshape(8, 5)
    (summary,) = array_lines(a)
    assert "(8, 5)" in summary and number(39.0) in summary
    assert len(array_lines(a, full=True)) == 8


# --- expression() -----------------------------------------------------------------------------

def test_expression_names_the_inputs_of_a_node():
    trace = scalar_neuron()
    mul = trace.nodes[trace.find("net").inputs[0]]
    assert expression(trace, mul) == f"{mul.name} = w · x"


# --- one view of an edge, one way to write a loss change -------------------------------------


def test_edge_view_of_an_elementwise_a_structural_and_a_label_edge():
    from tracer.edges import EdgeView

    w = param([[0.5, -1.0], [2.0, 0.25]], name="W")
    x = Tensor([1.0, 3.0], name="x")
    h = (w @ x).tanh()
    labels = Tensor([1.0], name="labels")
    t = cross_entropy(h.reshape(1, 2), labels).backward()
    tanh = t.backward_step(t.find("tanh_1").id)
    edge = EdgeView(t, tanh, tanh.inputs[0])
    z = np.array([0.5 - 3.0, 2.0 + 0.75])
    assert edge.kind == "elementwise" and edge.jacobian is None
    np.testing.assert_allclose(edge.factor, 1 - np.tanh(z) ** 2, rtol=1e-12)
    np.testing.assert_allclose(edge.product, tanh.upstream * (1 - np.tanh(z) ** 2), rtol=1e-12)
    matmul = t.backward_step(t.find("matmul_1").id)
    to_x = EdgeView(t, matmul, next(r for r in matmul.inputs if r.node == t.find("x").id))
    assert to_x.kind == "structural" and to_x.local is None
    np.testing.assert_array_equal(to_x.jacobian, w.data)  # ∂(Wx)/∂x = W
    assert to_x.factor is None  # the upstream is a vector: no single row to write
    ce = t.backward_step(t.root)
    assert EdgeView(t, ce, ce.inputs[1]).kind == "label"


def test_a_scalar_outputs_jacobian_is_written_as_one_row_in_the_inputs_shape():
    from tracer.edges import EdgeView

    v = param([1.0, -2.0, 4.0], name="v")
    t = v.sum().backward()
    step = t.backward_step(t.root)
    edge = EdgeView(t, step, step.inputs[0])
    assert edge.kind == "structural"
    np.testing.assert_array_equal(edge.factor, [1.0, 1.0, 1.0])
    assert edge.inline and edge.scalar


def test_a_loss_change_is_written_one_way():
    from tracer.explain import loss_change, loss_value

    assert loss_change(0.29837110876, 0.2910279) == "loss 0.298371 → 0.291028"
    assert loss_change(0.29837110876) == "loss 0.298371"
    assert loss_value(12.5) == "12.5" and loss_value(2.0 / 3.0) == "0.666667"
