"""The benchmark's contenders compute the same cycle: gradstep's loss, gradients (∂L/∂X too) and
updated weights on the three benchmark MLPs agree with hand-written numpy, the lean engine and,
where it is installed, PyTorch autograd. (Timing is the benchmarks' job, never a test's.)"""

from __future__ import annotations

import pytest

from benchmarks.contenders import PROBLEMS, GradstepMLP, LeanMLP, NumpyMLP, TorchMLP, verify


@pytest.mark.parametrize("key", sorted(PROBLEMS))
def test_gradstep_matches_numpy_and_the_lean_engine(key):
    p = PROBLEMS[key]()
    verify(p, [NumpyMLP(p, input_grad=True), GradstepMLP(p), LeanMLP(p)])


@pytest.mark.parametrize("key", sorted(PROBLEMS))
def test_gradstep_matches_pytorch(key):
    pytest.importorskip("torch", reason="PyTorch is not installed (CI installs torch==2.13.0)")
    p = PROBLEMS[key]()
    verify(p, [TorchMLP(p), GradstepMLP(p)])


def test_verify_catches_a_contender_that_computes_something_else():
    p = PROBLEMS["demo"]()
    wrong = NumpyMLP(p)
    wrong.p = PROBLEMS["demo"]().__class__(**{**p.__dict__, "lr": p.lr * 2})  # another update
    with pytest.raises(AssertionError, match="updated"):
        verify(p, [NumpyMLP(p), wrong])


def test_the_lean_engine_with_records_keeps_as_many_records_as_gradstep_on_the_demo():
    # profiling.py's "lean engine + gradstep's records" row is only a fair floor if it records
    # the same things: a node, a backward step and an input edge each, and an update each.
    p = PROBLEMS["demo"]()
    lean, gradstep = LeanMLP(p, record=True), GradstepMLP(p)
    lean.cycle()
    gradstep.cycle()
    (nodes, steps), updates = lean.recorded
    trace = gradstep.recorded
    # 41 nodes; a backward step for each but the four leaves no parameter is upstream of (the
    # data X, the targets y, the SVM loss's constant 1 and its regularisation factor ALPHA)
    assert len(nodes) == len(trace.nodes) == 41
    assert len(steps) == len(trace.backward) == 41 - 4
    assert sum(len(s[4]) for s in steps) == sum(len(s.inputs) for s in trace.backward) == 52
    assert len(updates) == len(gradstep.updates) == 6
    arrays = [a for s in steps for e in s[4] for a in (e[3], e[7])] + [u[4] for u in updates]
    assert not any(a.flags.writeable for a in arrays)  # read-only, as gradstep's records
