"""Training a PyTorch network file: record-free steps, checkpoints, replays, runs that stop.

An iteration nobody looks at is a plain PyTorch training step (tracer.torch_fast); whichever
iterations were recorded, the parameters, the optimizer's memory, the random states and the
losses must be bit for bit what recording every iteration gives, and what PyTorch's own
training loop gives.
"""

import math
import runpy
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="PyTorch network files need torch "
                                            "(pip install 'gradstep[torch]')")

from gradstep.cli import main  # noqa: E402
from scenarios import load  # noqa: E402
from tests.test_training import assert_same_records  # noqa: E402
from tests.test_tui_app import debugger_of, settle  # noqa: E402
from tests.test_tui_training import train_with  # noqa: E402
from tracer.training import History, run, until_nonfinite  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NETS = {
    "mlp": ROOT / "examples" / "torch_mlp.py",  # Adam
    "cnn": ROOT / "examples" / "torch_cnn.py",  # SGD with momentum
    "rnn": ROOT / "tests" / "torch_nets" / "rnn.py",  # a weight used five times
    "dropout": ROOT / "tests" / "torch_nets" / "dropout.py",  # random batches, BatchNorm
}
LOG_DESCENT = ROOT / "tests" / "torch_nets" / "log_descent.py"


def state_of(network):
    """Every parameter and buffer, the optimizer's memory and torch's random state, as bytes."""
    model = network.model
    tensors = [*model.params.values(), *model.buffers]
    tensors += [v for entry in network.optimizer.torch.state.values() for v in entry.values()]
    return [t.detach().numpy().tobytes() for t in tensors] + [
        torch.get_rng_state().numpy().tobytes()]


@pytest.mark.parametrize("net", sorted(NETS))
def test_fast_steps_then_a_recorded_cycle_are_what_recording_every_cycle_gives(net):
    recorded = load(NETS[net])
    cycles = [recorded.cycle() for _ in range(6)]
    expected = state_of(recorded)
    fast = load(NETS[net])
    losses = [fast.fast_step() for _ in range(5)]
    assert losses == [(c.loss, c.loss_after) for c in cycles[:5]]
    assert_same_records(fast.cycle(), cycles[5])
    assert state_of(fast) == expected
    # recorded and fast iterations mixed
    mixed = load(NETS[net])
    for k, cycle in enumerate(cycles):
        if k % 2:
            assert_same_records(mixed.cycle(), cycle)
        else:
            assert mixed.fast_step() == (cycle.loss, cycle.loss_after)
    assert state_of(mixed) == expected


@pytest.mark.parametrize("net", sorted(NETS))
def test_the_fast_path_is_pytorchs_own_training_loop(net):
    namespace = runpy.run_path(str(NETS[net]))
    forward = namespace["forward"]
    optimizer = namespace.get("OPTIMIZER") or torch.optim.SGD(
        [v for v in namespace.values() if isinstance(v, torch.Tensor) and v.requires_grad],
        lr=namespace["LR"])
    expected = []
    for _ in range(8):
        loss = forward()
        expected.append(loss.item())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    expected.append(forward().item())
    network = load(NETS[net])
    assert network.train(8) == expected
    ours = {id(p): p for p in network.model.params.values()}
    theirs = [p for group in optimizer.param_groups for p in group["params"]]
    mine = [p for group in network.optimizer.torch.param_groups for p in group["params"]]
    assert len(theirs) == len(mine) and all(id(p) in ours for p in mine)
    for a, b in zip(mine, theirs, strict=True):
        assert a.detach().numpy().tobytes() == b.detach().numpy().tobytes()


def test_a_replayed_iteration_of_a_pytorch_run_has_every_record_array_of_the_original():
    reference = load(NETS["dropout"])  # (first: the generators are global, its load re-seeds)
    for _ in range(31):
        expected = reference.cycle()
    network = load(NETS["dropout"])
    budget = 4 * network.checkpoint().nbytes
    history = History(network, budget=budget)  # thinned to a checkpoint every few
    original = {}
    for k in range(1, 31):
        cycle = history.step(record=k % 4 == 1 or k == 30)
        if cycle is not None:
            original[k] = cycle
    assert history.interval > 1 and history.nbytes <= budget
    for k, cycle in original.items():
        assert_same_records(history.replay(k), cycle)
    # ...and replaying moved nothing: the run goes on as if it had not happened
    assert_same_records(history.step(record=True), expected)


def test_the_debuggers_checks_draw_nothing_training_would_see():
    from tui.state import Debugger

    debugger = Debugger(load(NETS["dropout"]))
    debugger.diagnose(whole_network=True)  # float64 records and probes: forward passes
    debugger.train(3)
    debugger.diagnose(whole_network=True)
    debugger.train(3)
    reference = load(NETS["dropout"])
    for _ in range(7):
        expected = reference.cycle()
    assert_same_records(debugger.cycle, expected)


def test_run_until_nan_stops_where_the_update_made_the_loss_nan():
    history = History(load(LOG_DESCENT))
    result = run(history, 100, [until_nonfinite()])
    assert result.done == 3 and result.stop.iteration == 3 and len(history) == 3
    assert history.losses == pytest.approx([math.log(2), math.log(1.5), math.log(5 / 6)])
    assert math.isnan(history.losses_after[-1])
    healthy = History(load(NETS["mlp"]))
    assert run(healthy, 40, [until_nonfinite()]).stop is None and len(healthy) == 40


def test_trace_until_on_a_pytorch_file_exit_codes(capsys):
    assert main(["trace", str(LOG_DESCENT), "--steps", "50", "--until", "nan"]) == 1
    assert "gradstep: stopped at iteration 3" in capsys.readouterr().err
    assert main(["trace", str(NETS["cnn"]), "--steps", "30", "--until", "nan"]) == 0
    assert "stopped" not in capsys.readouterr().err


async def test_t_trains_a_pytorch_file_and_stops_where_the_loss_turns_nan():
    from tui.app import GradstepApp

    app = GradstepApp(load(LOG_DESCENT))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        debugger = debugger_of(app)
        await train_with(pilot, "100")
        assert debugger.count == 3 and debugger.cycle.iteration == 3
        message = next(n.message for n in app._notifications if n.title == "training stopped")
        assert message.startswith("stopped at iteration 3")


def test_a_forward_pass_that_raises_after_an_update(tmp_path):
    """A recorded iteration whose forward pass after the update raises did not happen; on the
    fast path the update stays, its loss after is NaN, and the next iteration raises."""
    path = tmp_path / "fails.py"
    path.write_text("import torch\n"
                    "w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)\n"
                    "LR = 0.1\n"
                    "def forward():\n"
                    "    if w.item() < 1.2:\n"
                    "        raise ValueError('w is too small')\n"
                    "    return w * w\n")
    # SGD on w²: w ← w − 0.1·2w, so w is 2, 1.6, 1.28, then 1.024 after the third update
    ws = [2.0]
    for _ in range(3):
        ws.append(ws[-1] - 0.1 * (2 * ws[-1]))
    network = load(path)
    network.cycle()
    network.cycle()
    for _ in range(2):  # tried again: the same failure, and nothing moved
        with pytest.raises(Exception, match="too small"):
            network.cycle()
        assert network.iteration == network.optimizer.iteration == 2
        assert network.model.params["w"].item() == ws[2]

    history = History(load(path))
    with pytest.raises(Exception, match="too small"):
        run(history, 10)
    assert len(history) == history.network.iteration == 3
    assert math.isnan(history.losses_after[-1])
    assert history.network.model.params["w"].item() == ws[3]


def test_the_recorded_optimizer_state_of_a_float64_model_stays_as_recorded(tmp_path):
    path = tmp_path / "momentum64.py"
    path.write_text("import torch\n"
                    "w = torch.tensor([2.0, 1.0], dtype=torch.float64, requires_grad=True)\n"
                    "OPTIMIZER = torch.optim.SGD([w], lr=0.1, momentum=0.9)\n"
                    "def forward():\n"
                    "    return (w * w).sum()\n")
    network = load(path)
    first = network.cycle()
    for _ in range(3):  # the optimizer updates its momentum buffer in place
        network.cycle()
    # the first step's buffer is its first gradient, 2w = [4, 2]
    assert first.updates[0].state["momentum_buffer"].tolist() == [4.0, 2.0]
