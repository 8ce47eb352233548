"""PyTorch network files: gradstep's records of a PyTorch model against PyTorch's own run.

Each network is run twice: loaded by gradstep (which records its forward and backward pass and
steps its optimizer) and run plainly by PyTorch here (forward, backward, optimizer step,
forward). The loss, every parameter's gradient and new value, and the loss after must agree.
"""

import runpy
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch network files need torch "
                                            "(pip install 'gradstep[torch]')")

from scenarios import load  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NETS = {
    "mlp": ROOT / "examples" / "torch_mlp.py",
    "cnn": ROOT / "examples" / "torch_cnn.py",
    "rnn": ROOT / "tests" / "torch_nets" / "rnn.py",
    "attention": ROOT / "tests" / "torch_nets" / "attention.py",
    "embedding": ROOT / "tests" / "torch_nets" / "embedding.py",
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
    for name, new in expected["new"].items():
        np.testing.assert_array_equal(updates[name].after, new, err_msg=name)


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
