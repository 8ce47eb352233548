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
