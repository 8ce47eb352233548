"""The op table's vector-Jacobian product against what PyTorch's backward sent (torch-vjp-mismatch).

A wrong backward is made the way it happens to a user: an autograd kernel registered for
``aten::tanh`` (as an extension or a patched build would) whose backward forgets to square the
output. The forward stays torch's own tanh, so the bridge maps the call onto the table's tanh,
and PyTorch's backward is compared with the table's derivative. Healthy models, float32 and their
float64 copies, give no finding.
"""

import inspect
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch network files need torch "
                                            "(pip install 'gradstep[torch]')")

from scenarios import load  # noqa: E402
from tests.test_torch_bridge import NETS  # noqa: E402
from tracer.diagnostics import diagnose_network  # noqa: E402
from tracer.diagnostics.torchvjp import mismatches, torch_vjp_findings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RNN = ROOT / "tests" / "torch_nets" / "rnn.py"


class _HalfTanh(torch.autograd.Function):
    """torch's tanh forward; a backward of g·(1 - y) instead of g·(1 - y²)."""

    @staticmethod
    def forward(ctx, x):
        with torch._C._AutoDispatchBelowAutograd():
            y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y)


@pytest.fixture
def wrong_tanh():
    """aten::tanh's autograd kernel replaced for the duration of one test."""
    library = torch.library.Library("aten", "IMPL")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch warns that it overrides a kernel)
        library.impl("tanh", _HalfTanh.apply, "Autograd")
    yield
    library._destroy()
    x = torch.tensor([0.5], requires_grad=True)
    torch.tanh(x).backward()
    assert x.grad.item() == pytest.approx(1 - np.tanh(0.5) ** 2)  # torch's own is back


def test_a_wrong_backward_is_found_in_float32_and_in_the_float64_copy(wrong_tanh):
    network = load(RNN)
    line = next(k for k, text in enumerate(RNN.read_text().splitlines(), 1) if "tanh(" in text)
    for trace, eps in ((network.trace(), np.finfo(np.float32).eps),
                       (network.trace_for_checks(), np.finfo(np.float64).eps)):
        tanhs = [n.id for n in trace.nodes if n.op == "tanh"]
        assert len(tanhs) == 5  # one per time step
        found = torch_vjp_findings(trace)
        assert sorted(f.node for f in found) == tanhs
        for f in found:
            assert f.kind == "torch-vjp-mismatch" and f.severity == "error"
            assert f.details["source"] == f"{RNN}, line {line}"
            assert f.phase == "backward" and f.step == trace.step_of(f.node)
            # the two numbers, against the two derivatives worked out here from the input
            nd = trace.nodes[f.node]
            x = trace.nodes[nd.inputs[0]].value
            e = tuple(f.details["element"])
            g = trace.backward_step(f.node).upstream[e]
            assert f.details["table"] == pytest.approx(g * (1 - np.tanh(x[e]) ** 2), rel=1e-5)
            assert f.details["pytorch"] == pytest.approx(g * (1 - np.tanh(x[e])), rel=1e-5)
            assert f.details["tolerance"] < 1e3 * eps * abs(g)
    kinds = [f.kind for f in diagnose_network(network)]
    assert kinds.count("torch-vjp-mismatch") == 5


@pytest.mark.parametrize("net", sorted(NETS))
def test_no_false_alarm_on_healthy_models(net):
    network = load(NETS[net])
    for trace in (network.trace(), network.trace_for_checks()):
        assert trace.pytorch_vjps(), "the net has ops of the table to compare"
        assert mismatches(trace) == []


def test_a_native_network_has_nothing_to_compare():
    trace = load("mazur").trace()
    assert trace.pytorch_vjps() == () and torch_vjp_findings(trace) == []


# A network file that registers the wrong kernel itself (run by a fresh Python: the kernel stays
# registered for the life of the process that loads it).
WRONG_FILE = ("import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n\n"
              + inspect.getsource(_HalfTanh) + "\n\n"
              "_LIBRARY = torch.library.Library('aten', 'IMPL')\n"
              "_LIBRARY.impl('tanh', _HalfTanh.apply, 'Autograd')\n"
              "torch.manual_seed(0)\n"
              "model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))\n"
              "X, y = torch.randn(6, 3), torch.randn(6, 1)\n\n\n"
              "def forward():\n"
              "    return F.mse_loss(model(X), y)\n")


def test_check_reports_it_with_the_module_and_the_line(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(WRONG_FILE)
    result = subprocess.run([sys.executable, "-m", "gradstep", "check", str(path), "--json"],
                            capture_output=True, text=True, encoding="utf-8", cwd=ROOT,
                            timeout=300)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    found = [f for f in json.loads(result.stdout) if f["kind"] == "torch-vjp-mismatch"]
    assert [f["name"] for f in found] == ["model.1 · tanh"]
    line = next(k for k, text in enumerate(WRONG_FILE.splitlines(), 1) if "model(X)" in text)
    assert found[0]["details"]["source"] == f"{path}, line {line}"
    assert found[0]["details"]["module"] == "model.1"
    assert "the worst element" in found[0]["message"]


async def test_the_diagnostics_panel_lists_it(wrong_tanh):
    from textual.widgets import OptionList

    from tests.test_tui_app import debugger_of
    from tests.test_tui_diagnostics import open_app
    from tui.app import GradstepApp

    app = GradstepApp(load(RNN))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_app(pilot)
        debugger = debugger_of(app)
        shown = [f for f in debugger.findings if f.kind == "torch-vjp-mismatch"]
        assert len(shown) == 5
        listed = app.screen.query_one("#findings", OptionList)
        prompts = [str(listed.get_option_at_index(k).prompt) for k in range(listed.option_count)]
        assert any(shown[0].summary in p for p in prompts)
