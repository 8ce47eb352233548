"""Training as a debugger: the record-free fast path, checkpoints and replay, run-until."""

import gc
import math
import tracemalloc
from itertools import pairwise

import numpy as np
import pytest

from gradstep.cli import main
from scenarios import load
from tracer import Adam, Momentum, Network, Tensor, cross_entropy, param
from tracer.training import (
    History,
    parse_until,
    run,
    until_nonfinite,
    until_spike,
)

SCENARIOS = ("xor", "mazur", "house-price", "dead-relu", "exploding", "digit-4-vs-9",
             "broadcast-bias", "vanishing-sigmoid", "cookies")


def record_arrays(cycle):
    """Every array of a cycle's records, in a fixed order (None where a record has none)."""
    out = []
    for node in cycle.trace.nodes:
        out += [node.value, node.grad]
    for step in cycle.trace.backward:
        out.append(step.upstream)
        out += [c for _, c in step.terms]
        for r in step.inputs:
            out += [r.local, r.contribution, r.unreduced, r.grad_before, r.grad_after]
    for u in cycle.updates:
        out += [u.before, u.grad, u.change, u.after, *u.state.values()]
    return out


def assert_same_records(a, b):
    assert a.iteration == b.iteration
    assert (a.loss, a.loss_after) == (b.loss, b.loss_after) or math.isnan(a.loss)
    arrays_a, arrays_b = record_arrays(a), record_arrays(b)
    assert len(arrays_a) == len(arrays_b)
    for x, y in zip(arrays_a, arrays_b, strict=True):
        if x is None:
            assert y is None
        else:
            x, y = np.asarray(x), np.asarray(y)  # (Adam's step count is a number)
            assert x.shape == y.shape and x.tobytes() == y.tobytes()  # bit for bit


def minibatch_mlp(optimizer):
    """A user-style network: a 4-8-3 MLP on a random mini-batch drawn each forward pass from
    numpy's global generator, softmax cross-entropy, the given optimizer."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(32, 4))
    labels = rng.integers(0, 3, size=32)
    W1 = param(rng.normal(0, 0.5, (4, 8)), name="W1")
    b1 = param(np.zeros(8), name="b1")
    W2 = param(rng.normal(0, 0.5, (8, 3)), name="W2")
    b2 = param(np.zeros(3), name="b2")

    def forward():
        pick = np.random.choice(32, size=8, replace=False)
        X = Tensor(data[pick], name="X")
        y = Tensor(labels[pick].astype(float), name="y")
        return cross_entropy((X @ W1 + b1).relu() @ W2 + b2, y)

    np.random.seed(5)
    return Network(forward, optimizer=optimizer, params=[W1, b1, W2, b2])


def params_of(network):
    return sorted((t.name, t._data.tobytes()) for t in network._leaves if t.kind == "param")


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_fast_path_moves_the_parameters_bit_for_bit_as_recorded_cycles_do(name):
    recorded, fast = load(name), load(name)
    for _ in range(6):
        cycle = recorded.cycle()
        before, after = fast.fast_step()
        assert (before, after) == (cycle.loss, cycle.loss_after) or math.isnan(before)
    assert params_of(fast) == params_of(recorded)


@pytest.mark.parametrize("optimizer", [lambda: Adam(0.05), lambda: Momentum(0.1, 0.9)])
def test_the_fast_path_is_exact_with_optimizer_state_and_random_minibatches(optimizer):
    recorded, fast = minibatch_mlp(optimizer()), None
    cycles = [recorded.cycle() for _ in range(8)]
    fast = minibatch_mlp(optimizer())
    losses = [fast.fast_step() for _ in range(8)]
    assert losses == [(c.loss, c.loss_after) for c in cycles]
    assert params_of(fast) == params_of(recorded)


def test_the_fast_path_gives_the_recorded_parameter_gradients_and_skips_the_inputs():
    cycle = minibatch_mlp(Adam(0.05)).cycle()
    fast = minibatch_mlp(Adam(0.05))  # (seeds the mini-batches again)
    fast.fast_step()
    grads = {u.name: u.grad.tobytes() for u in cycle.updates}
    leaves = {t.name: t for t in fast._leaves}
    assert {n: leaves[n].grad.tobytes() for n in grads} == grads
    assert not any(leaves[n].grad.flags.writeable for n in grads)
    # ∂L/∂X and ∂L/∂y lead to no parameter: not computed on the fast path, filled when recorded
    assert leaves["X"].grad is None and leaves["y"].grad is None
    assert cycle.trace.find("X").grad.shape == (8, 4)


def test_one_forward_pass_per_iteration():
    calls = []
    network = load("xor")
    forward = network.forward
    network.forward = lambda: calls.append(1) or forward()
    network.train(10)
    assert len(calls) == 11  # the first iteration's, then one after each update
    network.cycle()
    assert len(calls) == 12


def checkpoint_sizes(make):
    """The bytes of the first checkpoint of ``make()``'s history and of the next one."""
    probe = History(make())
    probe.step()
    first = probe.nbytes
    probe.step()
    return first, probe.nbytes - first


@pytest.mark.parametrize("thinned", [False, True])
def test_a_replayed_iteration_has_every_record_array_of_the_original(thinned):
    network = load("xor")
    first, later = checkpoint_sizes(lambda: load("xor"))
    interval_budget = first + 8 * later if thinned else None
    history = History(network, **({"budget": interval_budget} if thinned else {}))
    original = {}
    for _ in range(40):
        cycle = history.step(record=True)
        original[cycle.iteration] = cycle
    if interval_budget:
        assert history.interval > 1 and history.nbytes <= interval_budget
    for k in (1, 2, 7, 23, 39, 40):
        assert_same_records(history.replay(k), original[k])
    # ...and replaying moved nothing: the run goes on as if it had not happened
    reference = load("xor")
    for _ in range(41):
        expected = reference.cycle()
    assert_same_records(history.step(record=True), expected)


def test_replay_restores_the_random_state_and_the_optimizers_memory():
    first, _ = checkpoint_sizes(lambda: minibatch_mlp(Adam(0.05)))
    network = minibatch_mlp(Adam(0.05))
    history = History(network, budget=4 * first)  # thinned to every few
    original = {}
    for _ in range(30):
        cycle = history.step(record=True)
        original[cycle.iteration] = cycle
    assert history.interval > 1
    for k in (1, 5, 18, 30):
        assert_same_records(history.cycle(k), original[k])


def test_a_what_if_on_the_latest_iteration_is_what_replaying_it_gives():
    network = load("house-price")
    history = History(network)
    for _ in range(5):
        history.step()
    changed = history.what_if(lr=0.001)
    history.step()
    history._cycles.clear()  # nothing kept: it must be replayed
    assert_same_records(history.cycle(5), changed)


def log_descent():
    """loss = ln w, w = 2, SGD lr 1: w goes 2 → 1.5 → 0.8333 → −0.3667, so iterations 1-3 have
    finite losses (ln 2, ln 1.5, ln 0.8333) and iteration 3's update makes the loss NaN."""
    w = param(2.0, name="w")
    return Network(lambda: w.log(), optimizer=Momentum(1.0, 0.0), params=[w])


def staircase():
    """loss = 10 − w + relu(100·(w − 5.5)), w = 0, SGD lr 1: the gradient is −1 while w < 5.5, so
    w climbs 0, 1, ..., 5 with the loss 10, 9, ..., 5; iteration 6's update takes w to 6 and
    the loss to 4 + 50 = 54, more than twice 5."""
    w = param(0.0, name="w")
    return Network(lambda: 10 - w + ((w - 5.5) * 100).relu(), optimizer=Momentum(1.0, 0.0),
                   params=[w])


def test_run_until_nan_stops_at_the_iteration_whose_update_made_the_loss_nan():
    history = History(log_descent())
    result = run(history, 100, [until_nonfinite()])
    stop = result.stop
    assert result.done == 3 and stop.iteration == 3 and len(history) == 3
    assert history.losses == pytest.approx([math.log(2), math.log(1.5), math.log(5 / 6)])
    assert math.isnan(history.losses_after[-1])
    # every value and gradient of iteration 3 is finite: it shows at the outcome
    assert stop.position == len(stop.cycle.timeline) - 1
    assert stop.message.startswith("stopped at iteration 3, the outcome")


def test_run_until_spike_stops_at_the_known_iteration_and_not_on_a_healthy_run():
    result = run(History(staircase()), 100, [until_spike(2)])
    assert result.stop.iteration == 6 and result.done == 6
    assert (result.stop.cycle.loss, result.stop.cycle.loss_after) == (5.0, 54.0)
    assert run(History(staircase()), 100, [until_spike(20)]).stop is None  # 54/5 < 20
    healthy = run(History(load("xor")), 200, [until_spike(2), until_nonfinite()])
    assert healthy.stop is None and healthy.done == 200 and not healthy.cancelled


def test_run_until_a_conditional_breakpoint_opens_the_step_where_it_shows():
    history = History(staircase())
    # ∂L/∂(w − 5.5) is 0 on the way up and 100 once w passes 5.5 (iteration 7, w = 6)
    result = run(history, 20, [parse_until("grad-above:50")])
    stop = result.stop
    assert stop.iteration == 7
    moment = stop.cycle.timeline[stop.position]
    assert moment.phase == "backward"
    assert np.abs(moment.record.upstream).max() > 50
    assert all(np.abs(m.record.upstream).max() <= 50
               for m in stop.cycle.timeline[:stop.position] if m.phase == "backward")


def test_a_run_can_be_cancelled_and_keeps_what_was_trained():
    asked = []
    history = History(load("xor"))
    result = run(history, 1000, cancelled=lambda: len(asked.append(1) or asked) > 30)
    assert result.cancelled and result.done == 30 and len(history) == 30
    assert history.cycle(30).iteration == 30


@pytest.mark.parametrize("text, error", [
    ("nope", "unknown condition"), ("grad-above", "needs a number"),
    ("spike:x", "must be a number"), ("nan:3", "takes no number"), ("spike:0.5", "above 1"),
])
def test_bad_until_conditions_say_what_is_allowed(text, error):
    with pytest.raises(ValueError, match=error):
        parse_until(text)


def mlp(sizes, batch, seed=0):
    rng = np.random.default_rng(seed)
    X = Tensor(rng.normal(size=(batch, sizes[0])), name="X")
    y = Tensor(rng.integers(0, sizes[-1], size=batch).astype(float), name="y")
    layers = [(param(rng.normal(0, 0.05, (a, b)), name=f"W{k}"),
               param(np.zeros(b), name=f"b{k}")) for k, (a, b) in enumerate(pairwise(sizes), 1)]

    def forward():
        h = X
        for k, (w, b) in enumerate(layers):
            h = h @ w + b
            if k < len(layers) - 1:
                h = h.relu()
        return cross_entropy(h, y)

    return Network(forward, params=[p for pair in layers for p in pair])


@pytest.mark.parametrize("make, iterations, budget", [
    # a checkpoint of a 64-32-10 MLP is 21 KB of parameters: one per iteration would be 42 MB
    (lambda: mlp((64, 32, 10), 16), 2000, 2**20),
    # one of xor is 136 bytes of parameters and 2 KB of Python objects, which count too
    (lambda: load("xor"), 3000, 2**17),
])
def test_a_long_run_keeps_its_checkpoints_within_the_budget(make, iterations, budget):
    history = History(make(), budget=budget)
    history.step(record=True)
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    run(history, iterations)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    assert history.nbytes <= budget and history.interval >= 16
    # the checkpoints, the losses (2 floats per iteration) and a few kept cycles' records
    assert grown < budget + iterations * 2 * 32 + 6 * history.cycle(history.last).nbytes
    # a replay re-runs fewer iterations than the interval, wherever it starts: no gap between
    # checkpoints is wider (before, thinning to the nearest of an even grid left gaps of 1.4x)
    kept = sorted(history.checkpoints)
    assert max(b - a for a, b in pairwise(kept)) <= history.interval
    assert history.last - kept[-1] < history.interval


def test_trace_until_exit_codes(capsys):
    assert main(["trace", "xor", "--steps", "50", "--until", "nan"]) == 0
    assert main(["trace", "nan-log", "--steps", "50", "--until", "nan"]) == 1
    err = capsys.readouterr().err
    assert "gradstep: stopped at iteration 1, forward step" in err
    assert main(["trace", "exploding", "--steps", "5", "--until", "spike:3", "--json"]) == 1
    out = capsys.readouterr().out
    assert '"condition": "spike"' in out and '"steps": 1' in out
    assert main(["trace", "xor", "--until", "nan"]) == 2  # needs --steps
    with pytest.raises(SystemExit) as exc:
        main(["trace", "xor", "--steps", "5", "--until", "bogus"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["trace", "xor", "--steps", "1000001"])
    assert exc.value.code == 2


def test_an_iteration_whose_code_raises_did_not_happen_and_the_run_can_go_on():
    w = param(2.0, name="w")
    calls = []

    def forward():
        calls.append(1)
        if len(calls) == 6:  # the forward pass after the fifth update
            raise RuntimeError("the network's own code failed")
        return w * w

    history = History(Network(forward, params=[w]))
    with pytest.raises(RuntimeError):
        run(history, 10)
    assert len(history) == history.network.iteration == 4  # the fifth was undone
    run(history, 3)
    assert len(history) == history.network.iteration == history.last == 7
    expected = 2.0
    for _ in range(7):  # SGD, lr 0.1, on w²: w ← w − 0.1·2w
        expected -= 0.1 * 2 * expected
    assert float(w._data) == expected


def test_progress_is_drawn_on_a_terminal_only_and_for_long_runs(monkeypatch):
    import io

    from gradstep.progress import LONG_RUN, training_progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", io.StringIO())
    with training_progress(10 * LONG_RUN) as progress:
        assert progress is None  # not a terminal: scripts and pipes get nothing extra
    monkeypatch.setattr("sys.stderr", Terminal())
    with training_progress(LONG_RUN - 1) as progress:
        assert progress is None  # short
    with training_progress(LONG_RUN) as progress:
        progress(LONG_RUN, LONG_RUN, 0.5)
    import sys

    assert f"{LONG_RUN}/{LONG_RUN}" in sys.stderr.getvalue()


def test_the_debuggers_checks_do_not_change_what_training_draws():
    from tui.state import Debugger

    # The whole-network checks run forward passes, which draw mini-batches here.
    debugger = Debugger(minibatch_mlp(Momentum(0.1, 0.9)))
    debugger.diagnose(whole_network=True)
    debugger.train(4)
    debugger.diagnose(whole_network=True)
    debugger.train(4)
    reference = minibatch_mlp(Momentum(0.1, 0.9))
    for _ in range(9):
        expected = reference.cycle()
    assert_same_records(debugger.cycle, expected)
