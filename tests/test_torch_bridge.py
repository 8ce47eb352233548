"""PyTorch network files: gradstep's records of a PyTorch model against PyTorch's own run.

Each network is run twice: loaded by gradstep (which records its forward and backward pass and
steps its optimizer) and run plainly by PyTorch here (forward, backward, optimizer step,
forward). The loss, every parameter's gradient and new value, and the loss after must agree.
"""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch network files need torch "
                                            "(pip install 'gradstep[torch]')")

from scenarios import load  # noqa: E402
from tracer.ops import OPS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NETS_DIR = ROOT / "tests" / "torch_nets"
NETS = {
    "mlp": ROOT / "examples" / "torch_mlp.py",
    "cnn": ROOT / "examples" / "torch_cnn.py",
    "rnn": NETS_DIR / "rnn.py",
    "attention": NETS_DIR / "attention.py",
    "embedding": NETS_DIR / "embedding.py",
    "chunks": NETS_DIR / "chunks.py",
    "activations": NETS_DIR / "activations.py",
    "table_ops": NETS_DIR / "table_ops.py",
    "default_layers": NETS_DIR / "default_layers.py",  # PyTorch's defaults, as table ops
}


def pytorch_run(path: Path) -> dict:
    """The file run by PyTorch alone: loss, gradients, new values, loss after one step."""
    namespace = runpy.run_path(str(path))
    params = {}
    for variable, value in namespace.items():
        if isinstance(value, torch.nn.Module):
            params.update({f"{variable}.{k}": p for k, p in value.named_parameters()})
        elif isinstance(value, torch.Tensor) and value.requires_grad and value.is_leaf:
            params[variable] = value
    optimizer = namespace.get("OPTIMIZER") or torch.optim.SGD(
        list(params.values()), lr=namespace.get("LR", 0.1))
    loss = namespace["forward"]()
    loss.backward()
    grads = {k: p.grad.detach().numpy().copy() for k, p in params.items()}
    optimizer.step()
    with torch.no_grad():
        after = namespace["forward"]().item()
    return {"loss": loss.item(), "grads": grads, "loss_after": after,
            "new": {k: p.detach().numpy().copy() for k, p in params.items()}}


@pytest.mark.parametrize("net", sorted(NETS))
def test_records_agree_with_pytorchs_own_run(net):
    expected = pytorch_run(NETS[net])
    cycle = load(NETS[net]).cycle()
    assert cycle.loss == expected["loss"]
    assert cycle.loss_after == expected["loss_after"]
    recorded = {n.name: n for n in cycle.trace.params}
    assert set(recorded) == set(expected["grads"])
    for name, grad in expected["grads"].items():
        np.testing.assert_allclose(recorded[name].grad, grad, rtol=1e-6, atol=1e-7,
                                   err_msg=name)
    updates = {u.name: u for u in cycle.updates}
    assert {u.node for u in cycle.updates} == {n.id for n in cycle.trace.params}
    for name, new in expected["new"].items():
        np.testing.assert_array_equal(updates[name].after, new, err_msg=name)


def test_a_call_with_several_results_is_a_node_per_result():
    recorded = load(NETS["chunks"]).trace()
    chunks = [n for n in recorded.nodes if n.op == "chunk"]
    assert len(chunks) == 3
    linear = recorded.find("qkv · linear")
    sent = [r.contribution for k in (n.id for n in chunks)
            for r in recorded.backward_step(k).inputs if r.node == linear.id]
    # each result sends back its own third (zeros elsewhere); together, the gradient
    np.testing.assert_allclose(sum(sent), linear.grad, rtol=1e-6)
    for third, c in enumerate(sent):
        np.testing.assert_array_equal(np.delete(c, np.s_[3 * third:3 * third + 3], axis=1), 0)


def test_modern_activations_are_ops_of_the_table():
    recorded = load(NETS["activations"]).trace()
    table = {n.op for n in recorded.nodes if recorded.op(n.id) is OPS.get(n.op)}
    assert {"gelu", "silu", "softplus", "leaky_relu", "log_softmax"} <= table
    leaky = next(n for n in recorded.nodes if n.op == "leaky_relu")
    assert leaky.attrs == {"negative_slope": 0.2}


def test_data_made_from_a_file_variable_is_named_after_it(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(
        "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
        "torch.manual_seed(0)\n"
        "model = nn.Linear(3, 2)\n"
        "x = torch.randn(4, 3)\n"
        "targets = torch.tensor([[0], [1], [1], [0]])\n"
        "def forward():\n"
        "    scores = model(x * torch.tensor(2.0)) * torch.tensor(0.5)\n"
        "    return F.cross_entropy(scores, targets.view(-1).flatten())\n")
    recorded = load(path).trace()
    labels = recorded.nodes[recorded.find("cross_entropy_1").inputs[1]]
    # what it was made from, and by which calls, as ops are named after their module
    assert (labels.name, labels.kind) == ("targets · view · flatten", "constant")
    np.testing.assert_array_equal(labels.value, [0, 1, 1, 0])
    # so is data computed from a file's variable; a number made here is named by its value
    names = {n.name: n.kind for n in recorded.nodes}
    assert names == {"x · mul": "constant", "model.weight": "param", "model.bias": "param",
                     "model · linear": "op", "0.5": "constant", "mul_1": "op",
                     "targets · view · flatten": "constant", "cross_entropy_1": "loss"}


def test_a_files_tensor_changed_between_cycles_shows_its_new_value():
    # (values of the file's tensors are converted again only once they change: in place, or
    # given new data)
    network = load(NETS["cnn"])
    images = network.model.inputs["images"]
    before = network.cycle().trace.find("images").value
    with torch.no_grad():
        images.mul_(2)  # in place
    np.testing.assert_array_equal(network.cycle().trace.find("images").value, 2 * before)
    images.data = images.data * 3  # new data, its version counter untouched
    now = network.cycle().trace.find("images").value
    np.testing.assert_array_equal(now, images.numpy().astype(np.float64))
    np.testing.assert_allclose(now, 6 * before, rtol=1e-6)


def test_each_kind_of_call_is_mapped_onto_the_op_table_once(monkeypatch):
    from tracer import torch_bridge

    decided = []
    decide = torch_bridge._decide
    monkeypatch.setattr(torch_bridge, "_decide", lambda call: decided.append(call.name)
                        or decide(call))
    network = load(NETS["cnn"])
    # the loader's first trace decides each call, once
    assert sorted(decided) == ["conv2d", "cross_entropy", "flatten", "linear", "max_pool2d",
                               "relu"]
    cycles = [network.cycle() for _ in range(3)]
    assert len(decided) == 6  # later cycles reuse the decisions
    network.trace_for_checks()  # the float64 copy: calls of other dtypes, other kinds
    assert len(decided) == 12
    assert all([n.op for n in c.trace.nodes] == [n.op for n in cycles[0].trace.nodes]
               for c in cycles)
    assert {"conv2d_bias", "relu", "max_pool2d", "reshape", "linear", "cross_entropy"} <= {
        n.op for n in cycles[0].trace.nodes}


def test_float32_values_are_the_models_own():
    cycle = load(NETS["mlp"]).cycle()
    linear = cycle.trace.find("model.0 · linear")
    assert np.array_equal(linear.value, linear.value.astype(np.float32))


def test_a_value_used_several_times_shows_each_contribution_and_their_sum():
    recorded = load(NETS["rnn"]).trace()
    whh = recorded.find("Whh")
    terms = recorded.backward_step(whh.id).terms
    assert len(terms) == 5  # one per time step
    assert all(recorded.nodes[k].op == "matmul" for k, _ in terms)
    np.testing.assert_allclose(sum(c for _, c in terms), whh.grad, rtol=1e-6)
    # each contribution is what that matmul sent, in its own backward step
    for k, c in terms:
        sent = [r for r in recorded.backward_step(k).inputs if r.node == whh.id]
        assert len(sent) == 1 and sent[0].contribution is c
    namespace = runpy.run_path(str(NETS["rnn"]))
    namespace["forward"]().backward()
    np.testing.assert_allclose(whh.grad, namespace["Whh"].grad.numpy(), rtol=1e-6)


def test_the_optimizers_state_is_recorded_with_each_update():
    adam = load(NETS["mlp"]).cycle().updates[0]
    assert set(adam.state) == {"step", "exp_avg", "exp_avg_sq"}
    np.testing.assert_allclose(adam.state["exp_avg"], 0.1 * adam.grad, rtol=1e-6)
    momentum = load(NETS["cnn"]).cycle().updates[0]
    np.testing.assert_allclose(momentum.state["momentum_buffer"], momentum.grad, rtol=1e-6)


def test_the_pytorch_twin_of_mazur_agrees_with_the_native_scenario():
    twin, native = load(ROOT / "examples" / "torch_mazur.py").cycle(), load("mazur").cycle()
    # Matt Mazur's published numbers
    assert twin.loss == pytest.approx(0.298371109, abs=1e-9)
    assert twin.loss_after == pytest.approx(0.291027924, abs=1e-6)
    assert len(twin.trace.nodes) == len(native.trace.nodes)
    for a, b in zip(twin.trace.nodes, native.trace.nodes, strict=True):
        # (a module-level tensor is an input: PyTorch has no constant kind)
        assert a.op == b.op or {a.op, b.op} == {"input", "constant"}
        # PyTorch sees 0.5 * x as x.mul(0.5): the same product, operands listed the other way
        assert sorted(a.inputs) == sorted(b.inputs)
        np.testing.assert_allclose(a.value, b.value, rtol=1e-14, err_msg=b.name)
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-14, err_msg=b.name)
    for a, b in zip(twin.trace.backward, native.trace.backward, strict=True):
        np.testing.assert_allclose(a.upstream, b.upstream, rtol=1e-14)
        mine = sorted((r.node, float(r.contribution)) for r in a.inputs)
        theirs = sorted((r.node, float(r.contribution)) for r in b.inputs)
        np.testing.assert_allclose(mine, theirs, rtol=1e-14)
    for a, b in zip(twin.updates, native.updates, strict=True):
        np.testing.assert_allclose([a.before, a.grad, a.after], [b.before, b.grad, b.after],
                                   rtol=1e-14)


@pytest.mark.parametrize("net", sorted(NETS))
async def test_opens_in_the_debugger_and_steps_to_the_end(net):
    from tests.test_tui_app import debugger_of, press, settle
    from tui.app import GradstepApp

    app = GradstepApp(load(NETS[net]))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        await press(pilot, "n", "n")
        assert debugger.position == 2
        await press(pilot, "G")
        assert debugger.stepper.at_end and debugger.update_applied


# --- check ----------------------------------------------------------------------------------------


def check_json(path: Path) -> tuple[int, list]:
    result = subprocess.run([sys.executable, "-m", "gradstep", "check", str(path), "--json"],
                            capture_output=True, text=True, encoding="utf-8", cwd=ROOT,
                            timeout=300)
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def test_check_catches_a_wrong_custom_function():
    path = NETS_DIR / "wrong_function.py"
    status, findings = check_json(path)
    assert status == 1
    node = next(f for f in findings if f["kind"] == "gradcheck-node")
    assert node["severity"] == "error" and node["name"] == "ScaledTanh_1"
    source = path.read_text().splitlines()
    backward = next(k for k, line in enumerate(source, 1) if "def backward" in line)
    assert source[backward - 2].strip() == "@staticmethod"  # where its definition starts
    assert f"{path}, line {backward - 1})" in node["message"]
    assert "1.5 times the right value" in node["message"]
    # finite differences of the op alone: the factor 2/3 the backward forgot
    analytic, numeric = np.array(node["details"]["analytic"]), np.array(node["details"]["numeric"])
    np.testing.assert_allclose(analytic, 1.5 * numeric, rtol=1e-5)


def test_check_points_at_the_log_of_zero_and_its_line():
    path = NETS_DIR / "log_of_zero.py"
    status, findings = check_json(path)
    assert status == 1
    first = findings[0]
    assert first["kind"] == "nonfinite-value" and first["name"] == "log_1"
    line = next(k for k, text in enumerate(path.read_text().splitlines(), 1) if "log(" in text)
    assert first["details"]["source"] == f"{path}, line {line}"
    assert any(f["kind"] == "nonfinite-gradient" for f in findings)


@pytest.mark.parametrize("net", sorted(NETS))
def test_check_finds_nothing_wrong_with_healthy_models(net):
    status, findings = check_json(NETS[net])
    assert status == 0
    assert [f["kind"] for f in findings if f["severity"] != "info"] == []


# --- what gradstep cannot record is said, with the file and line ----------------------------------

BAD = {
    "non-scalar": ("w = torch.ones(3, requires_grad=True)\n"
                   "def forward():\n    return w * 2\n", "not a scalar", 2),
    "no parameter": ("x = torch.ones(3)\n"
                     "def forward():\n    return (x * 2).sum()\n", "no trainable parameter", 2),
    "gpu": ("w = torch.ones(3, device='meta', requires_grad=True)\n"
            "def forward():\n    return w.sum()\n", "Move the model and the data to the CPU", 1),
    "compiled": ("model = torch.compile(torch.nn.Linear(2, 1))\n"
                 "def forward():\n    return model(torch.ones(1, 2)).sum()\n",
                 "eager mode only", 1),
    "in place": ("w = torch.ones(3, requires_grad=True)\n"
                 "def forward():\n    h = w * 2\n    h += 1\n    return h.sum()\n",
                 "changes a tensor in place", 4),
    "optimizer": ("w = torch.ones(3, requires_grad=True)\nv = torch.ones(3, requires_grad=True)\n"
                  "OPTIMIZER = torch.optim.SGD([v], lr=0.1)\n"
                  "def forward():\n    return (w * 2).sum()\n", "updates none of the tensors", 3),
    "foreign optimizer": ("w = torch.ones(3, requires_grad=True)\n"
                          "OPTIMIZER = torch.optim.SGD([torch.ones(2, requires_grad=True)], "
                          "lr=0.1)\ndef forward():\n    return (w * 2).sum()\n",
                          "not one of the file's parameters", 2),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_what_cannot_be_recorded_exits_2_naming_file_and_line(tmp_path, case):
    body, words, line = BAD[case]
    path = tmp_path / "net.py"
    path.write_text("import torch\n" + body)
    result = subprocess.run([sys.executable, "-m", "gradstep", "trace", str(path)],
                            capture_output=True, text=True, encoding="utf-8", cwd=ROOT,
                            timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}, line {line + 1}:" in result.stderr
    assert words in result.stderr


def python(code: str) -> subprocess.CompletedProcess:
    """``code`` run by a fresh Python, as a script importing gradstep would."""
    return subprocess.run([sys.executable, "-c", "import sys\nfrom gradstep.cli import main\n"
                           + code], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_without_torch_a_pytorch_file_says_how_to_install_it():
    result = python(f"sys.modules['torch'] = None\nsys.exit(main(['trace', "
                    f"{str(NETS['mlp'])!r}]))\n")
    assert result.returncode == 2
    assert "pip install 'gradstep[torch]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_other_commands_do_not_import_torch():
    result = python("assert main(['list']) == 0 and main(['trace', 'mazur', '--json']) == 0\n"
                    "assert main(['check', 'buggy-custom-op']) == 1\n"
                    "assert 'torch' not in sys.modules\n")
    assert result.returncode == 0, result.stderr


# --- what-ifs, training, Jacobians ---------------------------------------------------------------


def test_training_follows_pytorchs_own_training():
    namespace = runpy.run_path(str(NETS["mlp"]))
    losses = []
    for _ in range(3):
        loss = namespace["forward"]()
        losses.append(loss.item())
        loss.backward()
        namespace["OPTIMIZER"].step()
        namespace["OPTIMIZER"].zero_grad()
    losses.append(namespace["forward"]().item())
    assert load(NETS["mlp"]).train(3) == losses


def test_a_what_if_reruns_the_cycle_from_where_it_started():
    network = load(NETS["mlp"])
    first = network.cycle()
    network.cycle()  # the parameters and Adam's state move on
    again = network.what_if(first)
    assert again.loss == first.loss and again.loss_after == first.loss_after
    for a, b in zip(again.updates, first.updates, strict=True):
        np.testing.assert_array_equal(a.after, b.after)
    changed = network.what_if(first, {"model.2.bias": [1.0]}, lr=0.01)
    namespace = runpy.run_path(str(NETS["mlp"]))
    with torch.no_grad():
        namespace["model"][2].bias.fill_(1.0)
    assert changed.loss == namespace["forward"]().item()
    assert network.optimizer.lr == 0.01
    with pytest.raises(KeyError):
        network.what_if(first, {"model.0 · linear": np.zeros((8, 4))})


def test_the_jacobian_of_an_op_computed_by_pytorch(tmp_path):
    path = tmp_path / "net.py"
    path.write_text("import torch\nimport torch.nn.functional as F\ntorch.manual_seed(0)\n"
                    "w = torch.randn(3, 2, requires_grad=True)\nx = torch.randn(2, 2)\n"
                    "def forward():\n    return torch.einsum('ij,kj->ik', x, w).sum()\n")
    recorded = load(path).trace()
    linear = next(n for n in recorded.nodes if n.op == "einsum")  # not in the table: PyTorch's
    assert not any(recorded.op(linear.id) is op for op in OPS.values())
    x, w = (recorded.nodes[i] for i in linear.inputs)
    jacobian = recorded.jacobian(recorded.backward_step(linear.id), 1)  # 6 outputs × 6 weights
    expected = torch.autograd.functional.jacobian(
        lambda v: torch.einsum("ij,kj->ik", torch.tensor(x.value), v), torch.tensor(w.value))
    np.testing.assert_allclose(jacobian, expected.reshape(6, 6).numpy())


def test_the_jacobian_of_a_linear_layer_is_the_tables():
    recorded = load(NETS["embedding"]).trace()
    linear = recorded.find("classifier · linear")
    assert recorded.op(linear.id) is OPS["linear"]
    step = recorded.backward_step(linear.id)
    mean, weight, bias = (recorded.nodes[i] for i in linear.inputs)
    jacobian = recorded.jacobian(step, 2)  # ∂out/∂bias: 4 outputs × 2 biases
    expected = torch.autograd.functional.jacobian(
        lambda b: torch.nn.functional.linear(torch.tensor(mean.value), torch.tensor(weight.value),
                                             b), torch.tensor(bias.value))
    np.testing.assert_allclose(jacobian, expected.reshape(4, 2).numpy())
