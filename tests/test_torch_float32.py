"""A float32 PyTorch model is diagnosed on its own numbers (an overflow float32 has and float64
would not) and gradient-checked on its float64 copy of the same forward pass, in ``check`` and in
the debugger alike: float32 rounding is no wrong backward."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="PyTorch network files need torch "
                                    "(pip install 'gradstep[torch]')")

from scenarios import load
from tests.test_torch_bridge import check_json
from tracer.diagnostics import problems
from tui.state import Debugger

ROOT = Path(__file__).resolve().parent.parent
NETS_DIR = ROOT / "tests" / "torch_nets"

OVERFLOW = '''import torch

w = torch.full((3,), 30.0, requires_grad=True)
x = torch.tensor([1.0, 2.0, 3.0])


def forward():
    return torch.log(torch.exp(w * x).sum())
'''


def test_the_debugger_checks_a_float32_cycle_on_its_float64_copy():
    # conv bias before BatchNorm: its gradient is 0 in exact arithmetic, float32 noise of 1e-8
    # in PyTorch's backward (before: a gradcheck-node error at the convolution)
    debugger = Debugger(load(NETS_DIR / "bn_cnn.py"))
    assert [f.kind for f in problems(debugger.diagnose(True))] == []
    debugger.train(2)
    assert [f.kind for f in problems(debugger.diagnose(True))] == []


def test_the_debugger_still_finds_a_wrong_backward_in_float32():
    debugger = Debugger(load(NETS_DIR / "wrong_function.py"))
    (finding,) = [f for f in debugger.diagnose(True) if f.kind == "gradcheck-node"]
    assert finding.name == "ScaledTanh_1"
    analytic, numeric = (np.array(finding.details[k]) for k in ("analytic", "numeric"))
    np.testing.assert_allclose(analytic, 1.5 * numeric, rtol=1e-7)  # float64 precision


def test_check_finds_where_float32_overflows(tmp_path):
    path = tmp_path / "overflow.py"
    path.write_text(OVERFLOW)
    status, findings = check_json(path)
    assert status == 1
    first = findings[0]
    assert (first["kind"], first["name"]) == ("nonfinite-value", "exp_1")
    assert "= 90, past 88.72" in first["message"]
    assert "overflows a float32 above x ≈ 88.72" in first["message"]
    # the debugger says the same
    (same,) = [f for f in Debugger(load(path)).diagnose(None) if f.kind == "nonfinite-value"]
    assert same.message == first["message"]
