"""The network scenarios written as engineers write them (CNN, attention, RNN, LayerNorm): each
shows what its story says, checked against references computed here.

(The properties every built-in shares, gradients against finite differences, one step lowering
the loss, no false alarm from `gradstep check`, are in test_scenarios.py and
test_diagnostics.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from scenarios import load
from tracer import explain, narrate


def test_cnn_max_pool_sends_each_maps_gradient_to_one_winning_position():
    network = load("cnn-4-vs-9")
    trace = network.trace()
    features = trace.find("features")
    assert features.shape == (2, 2, 3, 3)
    # one 3×3 window per map: exactly one position of each (image, kernel) map gets gradient,
    # the one holding the map's maximum
    for image in range(2):
        for kernel in range(2):
            grad, value = features.grad[image, kernel], features.value[image, kernel]
            assert np.count_nonzero(grad) == 1
            assert np.unravel_index(np.argmax(np.abs(grad)), (3, 3)) == np.unravel_index(
                np.argmax(value), (3, 3))
    winners = [tuple(int(i) for i in w) for w in np.argwhere(features.grad != 0)]
    assert len(winners) == 4
    said = explain.detail(trace, trace.find("pooled"))
    assert f"winners are at {', '.join(map(str, winners[:-1]))} and {winners[-1]} of features" in (
        said)


def test_cnn_kernel_gradient_is_the_images_correlated_with_the_feature_gradient():
    trace = load("cnn-4-vs-9").trace()
    images, upstream = trace.find("images").value, trace.find("features").grad
    expected = np.zeros((2, 1, 3, 3))
    for o in range(2):
        for i in range(3):
            for j in range(3):
                expected[o, 0, i, j] = np.sum(images[:, 0, i:i + 3, j:j + 3] * upstream[:, o])
    conv = trace.backward_step(next(n.id for n in trace.nodes if n.op == "conv2d"))
    assert trace.nodes[conv.node].inputs[0] == trace.find("images").id
    record = next(r for r in conv.inputs if trace.nodes[r.node].name == "kernels")
    np.testing.assert_allclose(record.contribution, expected, rtol=1e-12)
    assert "correlation of images" in explain.detail(trace, trace.nodes[conv.node])


def test_attention_never_looks_at_later_words_and_gets_no_gradient_there():
    trace = load("attention-head").trace()
    attention = trace.find("attention").value
    later = np.triu(np.ones(attention.shape, dtype=bool), 1)
    assert np.all(attention[later] == 0.0)
    np.testing.assert_allclose(attention.sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(trace.find("scores").grad[later] == 0.0)
    # softmax's gradient on each row of scores sums to 0: raising every score of a row
    # together changes no probability
    np.testing.assert_allclose(trace.find("masked").grad.sum(axis=-1), 0.0, atol=1e-15)
    assert np.all(np.isfinite(trace.find("Wq").grad)) and np.any(trace.find("Wq").grad)


def test_rnn_shared_weight_gradient_is_the_sum_over_time_steps():
    network = load("char-rnn")
    cycle = network.cycle()
    trace = cycle.trace
    whh = trace.find("Whh")
    step = trace.backward_step(whh.id)
    assert len(step.terms) == 4  # one gradient per time step
    np.testing.assert_allclose(sum(c for _, c in step.terms), whh.grad, rtol=1e-12)
    words = narrate(cycle, next(m for m in cycle.timeline
                                if m.phase == "backward" and m.record.node == whh.id))
    assert "Whh fed 4 places" in words and "the sum of what each use sent back" in words


def test_layer_norm_input_gradient_rows_sum_to_zero_and_scale_sums_over_the_batch():
    trace = load("layer-norm").trace()
    z, normed = trace.find("z"), trace.find("normed")
    np.testing.assert_allclose(z.grad.sum(axis=1), 0.0, atol=1e-15)
    assert np.max(np.abs(normed.grad.sum(axis=1))) > 1e-3  # what arrived did not sum to 0
    gamma = trace.find("gamma")
    scaled = next(n for n in trace.nodes if gamma.id in n.inputs)
    record = next(r for r in trace.backward_step(scaled.id).inputs if r.node == gamma.id)
    assert record.reduced_axes == (0,)
    layer = next(n for n in trace.nodes if n.op == "layer_norm")
    assert "sum to 0" in explain.describe(trace, layer)


@pytest.mark.parametrize("name", ["cnn-4-vs-9", "attention-head", "char-rnn", "layer-norm"])
def test_a_network_scenario_learns_over_training(name):
    network = load(name)
    first = network.cycle().loss
    for _ in range(60):
        last = network.cycle().loss_after
    assert last < 0.5 * first


def test_the_inspector_shows_a_4d_kernel_as_its_2d_slices_and_summarises_it_folded():
    trace = load("cnn-4-vs-9").trace()
    step = trace.backward_step(trace.find("kernels").id)
    folded = [line.text for line in explain.backward_lines(trace, step)]
    assert any(text.startswith("upstream ∂L/∂kernels = shape (2, 1, 3, 3)  min") for text in folded)
    expanded = [line.text for line in explain.backward_lines(trace, step, full=True)]
    assert "  [0, 0, :, :]" in expanded and "  [1, 0, :, :]" in expanded
    first = expanded.index("  [0, 0, :, :]")
    rows = [r.strip(" []").split() for r in expanded[first + 1:first + 4]]
    np.testing.assert_allclose(np.array(rows, dtype=float),
                               trace.find("kernels").grad[0, 0], rtol=1e-3, atol=1e-4)


def test_narration_tells_the_convolution_and_the_pool_in_words():
    cycle = load("cnn-4-vs-9").cycle()
    trace = cycle.trace
    conv = next(n.id for n in trace.nodes if n.op == "conv2d")
    pooled = trace.find("pooled").id

    def said(node):
        return narrate(cycle, next(m for m in cycle.timeline
                                   if m.phase == "backward" and m.record.node == node))

    assert ("The 3×3 kernel slid over 3×3 positions of 2 images; each weight's gradient adds up "
            "input × upstream gradient over all 18 windows") in said(conv)
    assert "Each 3×3 window sends its gradient to its largest input" in said(pooled)
