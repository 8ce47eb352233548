"""numpy functions on Tensors record the same ops as the methods; one gradstep does not trace is
a clear error at the user's line; masks get no gradient and say so; shape errors give the rule;
and random shapes (hypothesis) for matmul broadcasting and reductions with keepdims, against
finite differences and PyTorch autograd.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracer
from tests.conftest import central_differences
from tracer import GraphError, Tensor, explain, narrate, param
from tracer.network import Network

RNG = np.random.default_rng(7)


def records(build, *arrays):
    """Trace ``build`` on fresh parameters; the records that must agree, node by node."""
    leaves = [param(a, name=f"x{k}") for k, a in enumerate(arrays)]
    trace = (build(*leaves) * 1.5).sum().backward()
    return [(n.op, n.inputs, n.shape, n.attrs.keys(), n.value.tolist(), n.grad.tolist())
            for n in trace.nodes]


A, B = RNG.uniform(0.5, 2.0, (2, 3)), RNG.uniform(-2, 2, (2, 3))
SAME_RECORDS = [
    ("sqrt", lambda a: np.sqrt(a), lambda a: a.sqrt()),
    ("exp", lambda a: np.exp(a), lambda a: a.exp()),
    ("log", lambda a: np.log(a), lambda a: a.log()),
    ("tanh", lambda a: np.tanh(a), lambda a: a.tanh()),
    ("abs", lambda a: np.abs(a), lambda a: abs(a)),
    ("negative", lambda a: np.negative(a), lambda a: -a),
    ("square", lambda a: np.square(a), lambda a: a ** 2),
    ("power", lambda a: np.power(a, 3), lambda a: a ** 3),
    ("maximum", lambda a: np.maximum(a, 1.0), lambda a: np.maximum(a, 1.0)),
    ("sum", lambda a: np.sum(a, axis=1, keepdims=True), lambda a: a.sum(axis=1, keepdims=True)),
    ("mean", lambda a: np.mean(a, 0), lambda a: a.mean(axis=0)),
    ("max", lambda a: np.max(a, axis=-1), lambda a: a.max(axis=-1)),
    ("amin", lambda a: np.amin(a), lambda a: a.min()),
    ("var", lambda a: np.var(a, axis=1), lambda a: a.var(axis=1)),
    ("std", lambda a: np.std(a), lambda a: a.std()),
    ("matmul", lambda a: np.matmul(a, a.T), lambda a: a @ a.T),
    ("transpose", lambda a: np.transpose(a), lambda a: a.transpose()),
    ("reshape", lambda a: np.reshape(a, (3, -1)), lambda a: a.reshape(3, -1)),
    ("clip", lambda a: np.clip(a, 0.8, 1.5), lambda a: a.clip(0.8, 1.5)),
    ("where", lambda a: np.where(a > 1.0, a, 0.0), lambda a: np.where(a > 1.0, a, 0.0)),
    ("ravel", lambda a: np.ravel(a), lambda a: a.flatten()),
    ("expand_dims", lambda a: np.expand_dims(a, 0), lambda a: a.expand_dims(0)),
    ("stack", lambda a: np.stack([a, 2 * a], axis=-1), lambda a: np.stack([a, 2 * a], -1)),
    ("ndarray + t", lambda a: np.ones(3) + a, lambda a: a.__radd__(np.ones(3))),
    ("less", lambda a: np.less(a, 1.0) * a, lambda a: (a < 1.0) * a),
]


@pytest.mark.parametrize(("name", "function", "method"), SAME_RECORDS,
                         ids=[s[0] for s in SAME_RECORDS])
def test_numpy_function_records_the_same_ops_as_the_method(name, function, method):
    assert records(function, A) == records(method, A)


def test_numpy_binary_functions_record_like_operators():
    for function, operator in ((np.add, "__add__"), (np.subtract, "__sub__"),
                               (np.multiply, "__mul__"), (np.divide, "__truediv__")):
        assert records(function, A, B) == records(
            lambda a, b, op=operator: getattr(a, op)(b), A, B), function.__name__
    assert records(lambda a, b: np.concatenate([a, b], axis=1), A, B) == records(
        lambda a, b: np.concatenate((a, b), 1), A, B)


def _raises_at_this_line(call):
    with pytest.raises(GraphError) as info:
        call()
    frame = info.tb.tb_next  # the lambda, in this file
    return info.value, frame


@pytest.mark.parametrize(("call", "named"), [
    (lambda t: np.cumsum(t), "numpy.cumsum"),
    (lambda t: np.fft.fft(t), "numpy.fft.fft"),
    (lambda t: np.sort(t), "numpy.sort"),
    (lambda t: np.add.reduce(t), "numpy.add.reduce"),
    (lambda t: np.sinh(t), "numpy.sinh"),
    (lambda t: np.exp(t, out=np.empty(3)), "numpy.exp"),
    (lambda t: np.var(t, ddof=1), "numpy.var"),
    (lambda t: np.asarray(t), "numpy.asarray"),
    (lambda t: np.array([t, t]), "numpy.array"),
    (lambda t: np.where(t), "numpy.where"),
], ids=["cumsum", "fft", "sort", "ufunc-reduce", "sinh", "out=", "ddof", "asarray",
        "array-of-tensors", "where-one-argument"])
def test_an_untraced_numpy_function_is_a_clear_error_at_the_users_line(call, named):
    t = param([1.0, -2.0, 3.0], name="t")
    error, frame = _raises_at_this_line(lambda: call(t))
    message = str(error)
    assert named in message
    assert "test_numpy_api.py" in message and error.filename.endswith("test_numpy_api.py")
    assert error.lineno == frame.tb_lineno or f"line {error.lineno}" in message
    assert "CustomOp" in error.advice
    assert not isinstance(error, TypeError)


def test_a_tensor_unpacks_along_its_first_axis():
    qkv = param(np.arange(6.0).reshape(3, 2), name="qkv")
    q, k, v = qkv
    assert [t.op.name for t in (q, k, v)] == ["index"] * 3
    (q * 1.0 + k * 2.0 + v * 3.0).sum().backward()
    np.testing.assert_array_equal(qkv.grad, [[1, 1], [2, 2], [3, 3]])
    assert len(list(param(np.ones((4, 2))))) == 4


def test_stack_of_tensors_is_never_an_object_array():
    h1, h2 = param([1.0, 2.0], name="h1"), param([3.0, 4.0], name="h2")
    stacked = np.stack([h1, h2])
    assert isinstance(stacked, Tensor) and stacked.shape == (2, 2)
    assert stacked.op.name == "stack" and [x.name for x in stacked.inputs] == ["h1", "h2"]


# --- masks and winners say so -----------------------------------------------------------------

def test_a_comparison_is_a_mask_with_no_gradient_and_its_step_says_so():
    x = param([0.5, -1.0, 2.0], name="x")
    threshold = param(0.0, name="threshold")
    mask = x > threshold
    mask.name = "mask"
    loss = (mask * x).sum()
    trace = loss.backward()
    np.testing.assert_array_equal(trace.find("mask").value, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0])  # only through the product
    assert threshold.grad == 0.0
    step = trace.backward_step(trace.find("mask").id)
    assert all(not r.differentiable for r in step.inputs)
    text = explain.chain_rule(trace, step, step.inputs[1])
    assert text == ("threshold gets no gradient (a comparison is a step, flat everywhere, so no "
                    "gradient flows through the mask)")
    cycle = Network(lambda: (mask * x).sum()).cycle()
    words = narrate(cycle, next(m for m in cycle.timeline
                                if m.phase == "backward" and m.record.node == step.node))
    assert "no gradient flows through the mask" in words
    assert "x > threshold" in explain.describe(trace, trace.find("mask"))


def test_max_says_which_element_won_and_ties_share_as_torch_amax():
    x = param([[1.0, 3.0, 3.0], [2.0, 0.5, 0.0]], name="x")
    top = x.max(axis=1)
    top.name = "top"
    trace = top.sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])
    said = explain.detail(trace, trace.find("top"))
    assert said.startswith("the maxima are at (0, 1), (0, 2) and (1, 0): only they get the "
                           "gradient")
    assert "share the gradient evenly, as torch.amax does" in said
    step = trace.backward_step(trace.find("top").id)
    assert said in [line.text for line in explain.backward_lines(trace, step)]


def test_maximum_names_the_winner_and_splits_a_tie():
    a, b = param([1.0, 5.0, 2.0], name="a"), param([1.0, 0.0, 4.0], name="b")
    out = np.maximum(a, b)
    out.name = "m"
    trace = out.sum().backward()
    np.testing.assert_allclose(a.grad, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(b.grad, [0.5, 0.0, 1.0])
    assert explain.detail(trace, trace.find("m")) == (
        "a was the larger at 1 of 3 positions and b at 1; the gradient goes to the larger one; "
        "at 1 tie each gets half, as torch.maximum does")


def test_max_pool_says_where_the_winners_are():
    image = param(np.array([[[[1.0, 9.0, 2.0, 0.0], [3.0, 4.0, 8.0, 8.0],
                              [0.0, 0.0, 1.0, 1.0], [7.0, 0.0, 1.0, 5.0]]]]), name="image")
    pooled = tracer.nn.max_pool2d(image, 2)
    pooled.name = "pooled"
    trace = pooled.sum().backward()
    np.testing.assert_array_equal(image.grad[0, 0], [[0, 1, 0, 0], [0, 0, 1, 0],
                                                     [0, 0, 0, 0], [1, 0, 0, 1]])
    assert "winners are at (0, 1), (1, 2), (3, 0) and (3, 3) of image" in explain.detail(
        trace, trace.find("pooled"))


def test_batched_matmul_sums_the_shared_weights_gradient_over_the_batch_and_says_so():
    x = Tensor(RNG.normal(size=(2, 4, 8)), name="X")
    wq = param(RNG.normal(size=(8, 8)), name="Wq")
    q = x @ wq
    q.name = "Q"
    trace = (q * q).sum().backward()
    step = trace.backward_step(trace.find("Q").id)
    record = next(r for r in step.inputs if r.node == trace.find("Wq").id)
    assert record.reduced_axes == (0,)
    assert record.unreduced.shape == (2, 8, 8)
    np.testing.assert_allclose(record.contribution, record.unreduced.sum(axis=0))
    np.testing.assert_allclose(wq.grad, np.einsum("bni,bnj->ij", x.data, 2 * q.data))
    assert ", summed over axis 0 back to shape (8, 8) (the input was broadcast)" in (
        explain.chain_rule(trace, step, record))
    assert "a batch of 2 matrix products" in explain.detail(trace, trace.find("Q"))


def test_a_transpose_of_3d_says_which_axis_went_where():
    x = param(np.ones((2, 3, 4)), name="x")
    y = x.transpose(0, 2, 1)
    y.name = "y"
    trace = (y * 1.0).sum().backward()
    assert explain.detail(trace, trace.find("y")) == (
        "axis k of y is axis order[k] of x, order = (0, 2, 1): shape (2, 3, 4) becomes "
        "(2, 4, 3), and the gradient goes back through the inverse order (0, 2, 1)")


def test_check_says_why_a_square_root_gave_nan():
    from tracer import diagnose

    x = param([1.0, 4.0], name="x")
    root = np.sqrt(x - 2.0)
    root.name = "root"
    findings = [f for f in diagnose(root.sum().backward()) if f.kind == "nonfinite-value"]
    assert findings and findings[0].name == "root"
    assert findings[0].details["cause"] == "sqrt-of-negative"
    assert "square root of a negative number" in findings[0].message


# --- shape errors give both shapes and the rule ---------------------------------------------

@pytest.mark.parametrize(("build", "expected"), [
    (lambda: param(np.ones((2, 4, 8)), name="X") @ param(np.ones((3, 8)), name="W"),
     ["X (2, 4, 8)", "W (3, 8)", "last axis of the left operand (8)",
      "second-to-last axis of the right operand (3)", "(…, n, k) @ B (…, k, m)"]),
    (lambda: param(np.ones((2, 3, 4)), name="A") @ param(np.ones((5, 4, 2)), name="B"),
     ["A (2, 3, 4)", "B (5, 4, 2)", "batch axes (2,) and (5,)", "do not broadcast"]),
    (lambda: tracer.nn.conv2d(param(np.ones((1, 3, 5, 5)), name="img"),
                              param(np.ones((4, 1, 3, 3)), name="k")),
     ["img (1, 3, 5, 5)", "k (4, 1, 3, 3)", "3 channel(s)", "expects 1",
      "images x (N, C, H, W)"]),
    (lambda: tracer.nn.conv2d(param(np.ones((5, 5)), name="img"), param(np.ones((1, 1, 3, 3)))),
     ["img (5, 5)", "must be 4-D", "(N, C, H, W)"]),
    (lambda: tracer.nn.max_pool2d(param(np.ones((1, 1, 2, 2)), name="small"), 3),
     ["small (1, 1, 2, 2)", "3×3 window does not fit in a 2×2 image"]),
    (lambda: np.stack([param(np.ones(2), name="h1"), param(np.ones(3), name="h2")]),
     ["h1 (2,)", "h2 (3,)", "arrays of the same shape"]),
    (lambda: tracer.nn.layer_norm(param(np.ones((2, 5)), name="x"), 4),
     ["x (2, 5)", "normalized_shape (4,)"]),
    (lambda: param(np.ones((2, 3)), name="x").transpose(1, 0, 2),
     ["x (2, 3)", "a permutation of the array's axes"]),
    (lambda: param(np.ones((2, 3)), name="x").sum(axis=2),
     ["x (2, 3)", "axis=None (all), an axis or a tuple"]),
    (lambda: tracer.cross_entropy(param(np.ones((4, 3)), name="scores"),
                                  Tensor([0, 1, 2], name="labels")),
     ["scores (4, 3)", "labels (3,)", "a class index (…) or a one-hot row"]),
    (lambda: param(np.ones(4), name="v")[5], ["v (4,)", "within each axis's length"]),
])
def test_a_shape_error_gives_both_shapes_and_the_rule(build, expected):
    with pytest.raises(GraphError) as info:
        build()
    message = str(info.value)
    for text in expected:
        assert text in message, f"{text!r} not in {message!r}"
    assert "test_numpy_api.py" in message


# --- random shapes ------------------------------------------------------------------------------

def _torch():
    return pytest.importorskip("torch", reason="PyTorch not installed: the autograd "
                                               "cross-check needs it")


@st.composite
def matmul_shapes(draw):
    """Two operand shapes numpy.matmul accepts: 1-D to 4-D, batch axes broadcast (some 1)."""
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    left = [b if draw(st.booleans()) else 1 for b in batch][draw(st.integers(0, len(batch))):]
    right = [b if draw(st.booleans()) else 1 for b in batch][draw(st.integers(0, len(batch))):]
    a = (k,) if draw(st.booleans()) and not left else (*left, n, k)
    b = (k,) if draw(st.booleans()) and not right else (*right, k, m)
    return a, b


@settings(max_examples=60, deadline=None)
@given(matmul_shapes(), st.integers(0, 2**32 - 1))
def test_matmul_on_random_broadcast_shapes_matches_torch_and_finite_differences(shapes, seed):
    torch = _torch()
    rng = np.random.default_rng(seed)
    a, b = (rng.uniform(-1, 1, s) for s in shapes)
    ta, tb = (param(v) for v in (a, b))
    out = ta @ tb
    weights = np.cos(np.arange(out.data.size)).reshape(out.shape)
    (out * weights).sum().backward()
    xa, xb = (torch.tensor(v, requires_grad=True) for v in (a, b))
    (torch.matmul(xa, xb) * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(out.data, np.matmul(a, b), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ta.grad, xa.grad.numpy(), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(tb.grad, xb.grad.numpy(), rtol=1e-7, atol=1e-12)
    eps = 1e-6
    for k in range(a.size):  # finite differences, one element of a at a time
        up, down = a.copy(), a.copy()
        up.flat[k] += eps
        down.flat[k] -= eps
        numeric = (np.sum(np.matmul(up, b) * weights) - np.sum(np.matmul(down, b) * weights))
        assert ta.grad.flat[k] == pytest.approx(numeric / (2 * eps), rel=1e-6, abs=1e-8)


@st.composite
def reductions(draw):
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=4)))
    axes = draw(st.one_of(st.none(), st.sets(st.integers(0, len(shape) - 1), min_size=1)))
    axis = None if axes is None else (tuple(sorted(axes)) if len(axes) > 1 else axes.pop())
    return (shape, axis, draw(st.booleans()),
            draw(st.sampled_from(["sum", "mean", "max", "min", "var", "std"])))


@settings(max_examples=80, deadline=None)
@given(reductions(), st.integers(0, 2**32 - 1))
def test_reductions_with_keepdims_on_random_shapes_match_torch_and_finite_differences(spec,
                                                                                     seed):
    torch = _torch()
    shape, axis, keepdims, name = spec
    x = np.random.default_rng(seed).uniform(-2, 2, shape)
    t = param(x)
    out = getattr(t, name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    weights = np.cos(np.arange(out.data.size) + 1.0).reshape(out.shape)
    (out * weights).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    dims = tuple(range(len(shape))) if axis is None else axis
    extra = {"correction": 0} if name in ("var", "std") else {}
    torch_name = {"max": "amax", "min": "amin"}.get(name, name)
    result = getattr(tx, torch_name)(dim=dims, keepdim=keepdims, **extra)
    (result * torch.tensor(weights).reshape(result.shape)).sum().backward()
    if name == "std" and np.any(expected == 0):
        return  # one element per group: std 0, whose gradient is inf/nan on both sides
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), rtol=1e-7, atol=1e-12)

    def reference(values):  # numpy's own reduction, weighted as above
        return float(np.sum(getattr(np, name)(values, axis=axis, keepdims=keepdims) * weights))

    (numeric,) = central_differences(reference, [x])
    np.testing.assert_allclose(t.grad, numeric, rtol=1e-5, atol=1e-7)
