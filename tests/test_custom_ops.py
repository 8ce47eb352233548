"""Custom ops (tracer.custom): defined in a network file, traced and stepped like built-ins,
their gradients right where the derivative is right (finite differences, PyTorch autograd) and
flagged at their node where it is wrong; every mistake in defining one said with its line."""

from __future__ import annotations

import os
import re
import textwrap

import numpy as np
import pytest

import tracer.ops
from scenarios import LoadError, load, load_file
from tests.docs_pages import doc_page
from tracer import CustomOp, CustomOpError, GraphError, Tensor, check_node, explain, param
from tracer.custom import BUILTIN_OPS, is_custom, origin, snake_case
from tracer.diagnostics import diagnose, headline


@pytest.fixture(autouse=True)
def restore_op_table():
    """Custom ops defined by a test leave the op table as it was."""
    before = dict(tracer.ops.OPS)
    yield
    tracer.ops.OPS.clear()
    tracer.ops.OPS.update(before)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_softplus(local=None):
    """Softplus, ln(1 + eˣ), whose derivative is σ(x) (or ``local``, to plant a bug)."""
    return type("SmoothRelu", (CustomOp,), {  # (softplus by hand: tracer.nn has it built in)
        "formulas": "∂smooth_relu(x)/∂x = σ(x)",
        "sentence": "{out} is a smooth ReLU of {x}",
        "forward": staticmethod(lambda x: np.logaddexp(0.0, x)),
        "local": staticmethod(local or (lambda x, out: sigmoid(x))),
    })


class Cumsum(CustomOp):
    """A structural op: the running sum along the last axis, with a hand-written backward."""

    formulas = ("∂cumsum(x)ⱼ/∂xᵢ = 1 for i ≤ j: ∂L/∂xᵢ = Σⱼ≥ᵢ ∂L/∂outⱼ",)
    sentence = "{out} is the running sum of {x}"

    @staticmethod
    def forward(x):
        return np.cumsum(x, axis=-1)

    @staticmethod
    def backward(g, x, out):
        return (np.flip(np.cumsum(np.flip(g, -1), axis=-1), -1),)


def test_an_elementwise_custom_op_has_finite_difference_gradients(fd):
    softplus = make_softplus()
    w = param([[0.3, -1.2, 2.0], [0.0, 0.7, -0.4]], name="w")
    v = Tensor([[1.0, -2.0, 0.5], [0.3, 0.9, -1.1]], name="v")
    out = softplus.apply(w * v)
    loss = (out * out).sum()
    loss.backward()
    np.testing.assert_allclose(out.data, np.log1p(np.exp(w.data * v.data)), rtol=1e-12)

    def reference(wv):
        return float(np.sum(np.logaddexp(0.0, wv * v.data) ** 2))

    (expected,) = fd(reference, [w.data])
    np.testing.assert_allclose(w.grad, expected, rtol=1e-6, atol=1e-9)


def test_a_structural_custom_op_has_finite_difference_gradients(fd):
    x = param([[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.5, 1.0]], name="x")
    weights = Tensor([[1.0, -2.0, 0.5, 3.0]], name="weights")
    loss = (Cumsum.apply(x).tanh() * weights).sum()
    loss.backward()

    def reference(a):
        return float(np.sum(np.tanh(np.cumsum(a, axis=-1)) * weights.data))

    (expected,) = fd(reference, [x.data])
    np.testing.assert_allclose(x.grad, expected, rtol=1e-6, atol=1e-9)


def test_custom_ops_match_torch_autograd():
    torch = pytest.importorskip("torch", reason="PyTorch not installed: the autograd "
                                                "cross-check needs it")
    softplus = make_softplus()
    data = np.array([[0.3, -1.2, 2.0], [0.0, 0.7, -4.0]])
    x = param(data, name="x")
    loss = (Cumsum.apply(softplus.apply(x)) ** 2).mean()
    loss.backward()
    tx = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    (torch.cumsum(torch.nn.functional.softplus(tx), dim=-1) ** 2).mean().backward()
    np.testing.assert_allclose(loss.data, ((torch.cumsum(torch.nn.functional.softplus(tx),
                                                         -1) ** 2).mean()).item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_binary_custom_op_sums_a_broadcast_input_back_to_its_shape(fd):
    class Hypot(CustomOp):
        formulas = ("∂√(a²+b²)/∂a = a/out", "∂√(a²+b²)/∂b = b/out")
        sentence = "{out} is the length of ({a}, {b})"

        def forward(a, b):
            return np.hypot(a, b)

        def local(a, b, out):
            return a / out, b / out

    a = param([[3.0, -1.0], [0.5, 2.0], [1.0, 1.0]], name="a")
    b = param([4.0, -2.5], name="b")  # broadcast over the three rows
    trace = Hypot.apply(a, b).sum().backward()
    step = trace.backward_step(trace.find("hypot_1").id)
    assert step.inputs[1].reduced_axes == (0,)
    expected = fd(lambda x, y: float(np.sum(np.hypot(x, y))), [a.data, b.data])
    np.testing.assert_allclose(a.grad, expected[0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(b.grad, expected[1], rtol=1e-6, atol=1e-9)


def test_a_custom_op_is_traced_explained_and_registered_like_a_built_in():
    class Leaky(CustomOp):  # (tracer.nn has a built-in leaky_relu)
        formulas = "∂leaky(x)/∂x = 1 if x > 0 else slope"
        sentence = "{out} keeps {x} where positive and scales it by a small slope elsewhere"
        symbol = "leaky({x}, {slope:g})"

        def forward(x, *, slope):
            return np.where(x > 0, x, slope * x)

        def local(x, out, *, slope):
            return np.where(x > 0, 1.0, slope)

    assert Leaky.op.name == "leaky" and tracer.ops.OPS["leaky"] is Leaky.op
    assert is_custom(Leaky.op) and not is_custom(tracer.ops.MUL)
    assert origin(Leaky.op).startswith(__file__) and origin(tracer.ops.MUL) is None
    z = param([1.5, -2.0], name="z")
    h = Leaky.apply(z, slope=0.1)
    h.name = "h"
    trace = h.sum().backward()
    node = trace.find("h")
    assert node.op == "leaky" and node.attrs == {"slope": 0.1}
    np.testing.assert_allclose(z.grad, [1.0, 0.1])
    assert explain.expression(trace, node) == "h = leaky(z, 0.1)"
    assert explain.describe(trace, node).startswith("h keeps z where positive")
    step = trace.backward_step(node.id)
    (record,) = step.inputs
    assert explain.formula(trace, step, record) == "∂leaky(x)/∂x = 1 if x > 0 else slope"
    assert explain.chain_rule(trace, step, record) == (
        "∂L/∂z = ∂L/∂h ⊙ ∂h/∂z = [1, 1] ⊙ [1, 0.1] = [1, 0.1]")


def test_a_structural_custom_op_shows_its_jacobian():
    x = param([1.0, 2.0, 3.0], name="x")
    trace = Cumsum.apply(x).sum().backward()
    step = trace.backward_step(trace.find("cumsum_1").id)
    np.testing.assert_array_equal(trace.jacobian(step, 0), np.tril(np.ones((3, 3))))


def test_check_node_passes_a_correct_custom_op():
    softplus = make_softplus()
    w = param([0.4, -0.9, 1.3], name="w")
    out = softplus.apply(Cumsum.apply(w))
    trace = (out * out).sum().backward()
    for name in ("smooth_relu_1", "cumsum_1"):
        checks = check_node(trace, trace.find(name).id)
        assert checks and all(c.ok for c in checks), name


@pytest.mark.parametrize("bug, factor", [
    (lambda x, out: -sigmoid(x), -1.0),              # a wrong sign
    (lambda x, out: sigmoid(x) * (1 - sigmoid(x)), None),  # the sigmoid's derivative, not σ
    (lambda x, out: 0.5 * sigmoid(x), 0.5),          # a missing factor
], ids=["wrong-sign", "wrong-formula", "missing-factor"])
def test_a_wrong_local_derivative_is_flagged_at_its_node_with_both_numbers(bug, factor):
    softplus = make_softplus(bug)
    w = param([0.4, -0.9, 1.3], name="w")
    x = Tensor([1.0, 2.0, -1.0], name="x")
    h = softplus.apply(w * x)
    h.name = "h"
    trace = (h.tanh() + w.sigmoid()).sum().backward()
    node = trace.find("h").id
    (check,) = check_node(trace, node)
    assert not check.ok and check.error > check.tolerance
    truth = sigmoid(w.data * x.data)
    np.testing.assert_allclose(check.numeric, trace.backward_step(node).upstream * truth,
                               rtol=1e-6)
    np.testing.assert_allclose(check.analytic, trace.backward_step(node).upstream
                               * bug(w.data * x.data, None), rtol=1e-12)
    for other in trace.nodes:
        if other.id != node and other.kind in ("op", "loss"):
            assert all(c.ok for c in check_node(trace, other.id)), other.name

    findings = [f for f in diagnose(trace) if f.kind == "gradcheck-node"]
    assert [f.node for f in findings] == [node]
    (finding,) = findings
    assert finding.severity == "error" and finding.phase == "backward"
    assert finding.step == trace.backward_step(node).index
    analytic, numeric = finding.details["analytic"], finding.details["numeric"]
    np.testing.assert_allclose(numeric, truth, rtol=1e-6)  # local derivatives, side by side
    np.testing.assert_allclose(analytic, bug(w.data * x.data, None), rtol=1e-12)
    assert explain.short(np.array(analytic)) in finding.message
    assert explain.short(np.array(numeric)) in finding.message
    error = float(f"{finding.details['error']:.3g}")
    assert f"a relative error of {explain.number(error)}" in finding.message
    assert error == pytest.approx(np.max(np.abs(np.subtract(analytic, numeric))
                                         / np.maximum(np.abs(analytic), np.abs(numeric))),
                                  rel=1e-2)
    assert "smooth_relu, a custom op defined at" in finding.message
    if factor == -1.0:
        assert "a flipped sign" in finding.message
    elif factor is not None:
        assert "0.5 times the right value everywhere" in finding.message


def test_a_wrong_structural_backward_is_flagged_at_its_node():
    class ForgetfulCumsum(CustomOp):
        formulas = "∂cumsum(x)ⱼ/∂xᵢ = 1 for i ≤ j"
        sentence = "{out} is the running sum of {x}"

        def forward(x):
            return np.cumsum(x, axis=-1)

        def backward(g, x, out):
            return (g,)  # forgot that xᵢ feeds every later output

    x = param([0.5, -1.0, 2.0], name="x")
    trace = (ForgetfulCumsum.apply(x) ** 2).sum().backward()
    node = trace.find("forgetful_cumsum_1").id
    (check,) = check_node(trace, node)
    assert not check.ok
    (finding,) = [f for f in diagnose(trace) if f.is_problem]
    assert (finding.kind, finding.node) == ("gradcheck-node", node)
    assert finding.details["compared"] == "gradient"


def test_a_network_file_with_a_custom_op_loads_twice(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent('''
        import numpy as np
        from tracer import CustomOp, Tensor, param

        class Cube(CustomOp):
            formulas = "∂x³/∂x = 3x²"
            sentence = "{out} is {x} cubed"

            def forward(x):
                return x ** 3

            def local(x, out):
                return 3 * x ** 2

        w = param([0.5, -1.5], name="w")

        def forward():
            return Cube.apply(w).sum()
        '''), encoding="utf-8")
    first, second = load_file(path), load_file(path)
    assert tracer.ops.OPS["cube"] is second.trace().op(1) is not first.trace().op(1)
    assert is_custom(first.trace().op(1)) and is_custom(second.trace().op(1))  # both remembered
    assert origin(second.trace().op(1)) == f"{path}, line 5"  # the class statement
    for network in (first, second):
        trace = network.trace()
        np.testing.assert_allclose(trace.find("w").grad, [0.75, 6.75])
        assert trace.nodes[trace.root].op == "sum" and trace.nodes[1].op == "cube"
        assert network.cycle().loss_after < trace.loss


def test_the_buggy_custom_op_scenario_loads_twice_and_is_flagged_both_times():
    for _ in range(2):
        network = load("buggy-custom-op")
        trace = network.trace()
        assert trace.op(trace.find("h1").id) is tracer.ops.OPS["scaled_tanh"]
        kinds = {(f.kind, f.name) for f in diagnose(trace, network.forward)}
        assert ("gradcheck-node", "h1") in kinds


# --- mistakes, each said with the function or the line ----------------------------------------

def define(**body):
    return type("Broken", (CustomOp,), body)


FORWARD = staticmethod(lambda x: 2 * x)
LOCAL = staticmethod(lambda x, out: 2.0)


@pytest.mark.parametrize("body, words", [
    ({"formulas": "d", "sentence": "{out}", "local": LOCAL}, "has no forward"),
    ({"formulas": "d", "sentence": "{out}", "forward": FORWARD}, "needs exactly one of local"),
    ({"formulas": "d", "sentence": "{out}", "forward": FORWARD, "local": LOCAL,
      "backward": staticmethod(lambda g, x, out: (g,))}, "not both"),
    ({"formulas": ("a", "b"), "sentence": "{out}", "forward": FORWARD, "local": LOCAL},
     "one text per input"),
    ({"formulas": "d", "sentence": "", "forward": FORWARD, "local": LOCAL}, "sentence must"),
    ({"formulas": "d", "sentence": "{out} doubles {y}", "forward": FORWARD, "local": LOCAL},
     "uses {y}"),
    ({"formulas": "d", "sentence": "{out}", "forward": FORWARD, "local": LOCAL,
      "name": "mul"}, "'mul' is a built-in op"),
    ({"formulas": "d", "sentence": "{out}", "forward": FORWARD, "local": LOCAL,
      "name": "two words"}, "name must be a word"),
    ({"formulas": "d", "sentence": "{out}", "forward": lambda self, x: x, "local": LOCAL},
     "takes 'self' first"),
    ({"formulas": "d", "sentence": "{out}", "forward": FORWARD,
      "local": staticmethod(lambda x: 2.0)}, "must take 2 arguments, `def local(x, out):`"),
    ({"formulas": "d", "sentence": "{out}", "forward": FORWARD,
      "backward": staticmethod(lambda x, out: x)}, "`def backward(g, x, out):`"),
])
def test_defining_a_custom_op_wrongly_says_what_to_fix(body, words):
    with pytest.raises(CustomOpError, match=None) as caught:
        define(**body)
    assert words in str(caught.value)
    assert "custom op Broken" in str(caught.value)
    assert "broken" not in tracer.ops.OPS


def test_builtin_names_are_exactly_the_engines_ops():
    assert {"add", "mul", "relu", "cross_entropy", "matmul"} <= BUILTIN_OPS
    assert snake_case("BuggySoftplus") == "buggy_softplus" and snake_case("MyGELU") == "my_gelu"


@pytest.mark.parametrize("role, function, words", [
    ("local", lambda x, out: (2.0, 3.0), "returned 2 arrays for 1 input"),
    ("local", lambda x, out: np.ones(5), "shape (5,) for ∂out/∂x, which does not fit"),
    ("backward", lambda g, x, out: (np.ones(2),), "shape (2,) for the gradient of x, but x has "
                                                  "shape (3,)"),
    ("backward", lambda g, x, out: ("oops",), "returned str for x"),
], ids=["count", "local-shape", "backward-shape", "not-numbers"])
def test_a_derivative_of_the_wrong_shape_is_caught_where_the_op_is_used(role, function, words):
    op = define(formulas="d", sentence="{out}", forward=FORWARD, **{role: staticmethod(function)})
    with pytest.raises(CustomOpError) as caught:
        op.apply(Tensor([1.0, 2.0, 3.0]))
    message = str(caught.value)
    assert words in message
    assert f"{role} ({__file__}, line " in message  # the function's own line


def test_a_forward_that_returns_a_tensor_is_caught():
    op = define(formulas="d", sentence="{out}", forward=staticmethod(lambda x: Tensor(x)),
                local=LOCAL)
    with pytest.raises(CustomOpError, match="returned a Tensor; it gets plain numpy arrays"):
        op.apply(Tensor([1.0]))


def test_a_custom_op_is_used_through_apply_not_called():
    with pytest.raises(TypeError, match=r"Cumsum.apply\(...\)"):
        Cumsum(Tensor([1.0]))


def test_a_broken_custom_op_in_a_network_file_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(textwrap.dedent('''
        import numpy as np
        from tracer import CustomOp, param

        w = param([1.0, 2.0], name="w")

        class Twice(CustomOp):
            formulas = "∂(2x)/∂x = 2"
            sentence = "{out} doubles {x}"

            def forward(x):
                return 2 * x

            def local(x, out):
                return np.ones(7)

        def forward():
            return Twice.apply(w).sum()
        '''), encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        load_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 18:")  # the line that uses the op
    assert f"local ({path}, line 14)" in message  # and the function at fault
    assert "does not fit the output's shape (2,)" in message and "Traceback" not in message

    path.write_text("from tracer import CustomOp\n\nclass Empty(CustomOp):\n    pass\n",
                    encoding="utf-8")
    with pytest.raises(LoadError) as caught:
        load_file(path)
    assert str(caught.value).startswith(f"{path}, line 3:")
    assert "custom op Empty has no forward" in str(caught.value)


def test_the_documented_example_runs_has_right_gradients_and_its_bug_is_found(tmp_path, fd):
    section = doc_page("custom-ops.md")
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "softplus_net.py"
    path.write_text(code, encoding="utf-8")
    network = load_file(path)
    trace = network.trace()
    assert [trace.nodes[i].op for i in range(len(trace.nodes))].count("smooth_relu") == 1
    x, y, w = (trace.find(n).value for n in ("X", "y", "W"))

    def loss(weights):
        return float(np.mean((np.cumsum(np.logaddexp(0.0, x @ weights), axis=-1) - y) ** 2))

    (expected,) = fd(loss, [w])
    np.testing.assert_allclose(trace.find("W").grad, expected, rtol=1e-6, atol=1e-9)
    assert not [f for f in diagnose(trace, network.forward) if f.is_problem]

    buggy = "return 1.0 / (1.0 + np.exp(x))"
    path.write_text(code.replace("return 1.0 / (1.0 + np.exp(-x))", buggy), encoding="utf-8")
    network = load_file(path)
    findings = [f for f in diagnose(network.trace(), network.forward) if f.is_problem]
    assert [(f.kind, f.name) for f in findings] == [("gradcheck-node", "h"),
                                                    ("gradcheck-param", "W")]
    block = re.search(r"```\n(error gradcheck-node.*?)```", section, re.S).group(1)
    assert block.split("\n", 1)[0] == headline(findings[0])
    message = findings[0].message.replace(f"{tmp_path}{os.sep}", "")
    assert " ".join(block.split("\n", 1)[1].split()) == " ".join(message.split())


def test_a_custom_forward_that_writes_into_its_input_is_told_so_and_changes_nothing():
    class DoubleInPlace(CustomOp):
        formulas = "∂(2x)/∂x = 2"
        sentence = "{out} doubles {x}"

        def forward(x):
            x *= 2.0  # the mistake: the input is the graph's recorded value
            return x

        def local(x, out):
            return np.full_like(x, 2.0)

    w = param([1.0, 2.0], name="w")
    with pytest.raises(GraphError, match="forward wrote into one of its inputs") as caught:
        DoubleInPlace.apply(w)
    assert caught.value.lineno is not None  # the user's line: DoubleInPlace.apply(w)
    assert w.data.tolist() == [1.0, 2.0]
