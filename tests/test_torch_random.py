"""Random ops in a PyTorch model (dropout): a gradient check runs each again from the random state
it started from, with its inputs laid out as they were, so it draws the mask it drew; and checks
leave torch's generator where it was, so training after a check is training without one."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch network files need torch "
                                            "(pip install 'gradstep[torch]')")

from scenarios import load  # noqa: E402
from tracer.diagnostics import diagnose_network, problems  # noqa: E402

NETS_DIR = Path(__file__).resolve().parent / "torch_nets"
RANDOM_NETS = {
    "transformer_block": NETS_DIR / "transformer_block.py",  # dropout on a transposed layout
    "dropout": NETS_DIR / "dropout.py",  # dropout after BatchNorm, random mini-batches
}


@pytest.mark.parametrize("net", sorted(RANDOM_NETS))
def test_check_finds_nothing_wrong_with_healthy_models_that_use_dropout(net):
    # (before the random state was kept with the call, these gave 15 and 6 false errors)
    assert [f.kind for f in problems(diagnose_network(load(RANDOM_NETS[net])))] == []


def test_dropout_run_again_alone_draws_the_mask_it_drew():
    trace = load(RANDOM_NETS["transformer_block"]).trace_for_checks()
    node = next(n for n in trace.nodes if n.name.endswith("dropout"))
    x = trace.nodes[node.inputs[0]].value
    assert not x.flags.c_contiguous  # (the attention's output: the transpose's layout)
    again = trace.op(node.id).forward(np.ascontiguousarray(x))
    assert np.count_nonzero(node.value == 0) > 0
    np.testing.assert_array_equal(again == 0, node.value == 0)
    np.testing.assert_allclose(again, node.value, rtol=1e-12)


def test_a_check_leaves_torchs_generator_where_it_was():
    checked, plain = (load(RANDOM_NETS["transformer_block"]) for _ in range(2))
    state = torch.get_rng_state()
    diagnose_network(checked)
    assert torch.equal(torch.get_rng_state(), state)
    # the cycle after a check draws the masks it would have drawn without the check
    torch.set_rng_state(state)
    after_check = checked.cycle()
    torch.set_rng_state(state)
    unchecked = plain.cycle()
    assert after_check.trace.loss == unchecked.trace.loss
    assert after_check.loss_after == unchecked.loss_after


WRONG_BESIDE_DROPOUT = '''
import torch
import torch.nn.functional as F


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x  # forgets to square x


torch.manual_seed(0)
W = torch.randn(3, 4, requires_grad=True)
x = torch.randn(5, 3)


def forward():
    h = F.dropout(x @ W, 0.5, training=True)
    return Cube.apply(h).mean()
'''


def test_a_wrong_backward_beside_dropout_is_still_caught(tmp_path):
    path = tmp_path / "wrong_beside_dropout.py"
    path.write_text(WRONG_BESIDE_DROPOUT)
    found = problems(diagnose_network(load(path)))
    nodes = {f.name for f in found if f.kind == "gradcheck-node"}
    assert nodes == {"Cube_1"}, [(f.kind, f.name) for f in found]


def test_the_debugger_checks_a_cycle_as_its_forward_pass_ran():
    """The Diagnostics tab checks the viewed cycle's records against forward() run again: from
    the random state that cycle's forward pass started from, so with its dropout masks (before,
    every parameter of the transformer block got a false gradcheck-param error)."""
    from tui.state import Debugger

    debugger = Debugger(load(RANDOM_NETS["transformer_block"]))
    assert [f.kind for f in problems(debugger.diagnose(True))] == []
    debugger.train(3)
    debugger.view(1)  # an earlier iteration, recorded again from its checkpoint
    assert [f.kind for f in problems(debugger.diagnose(True))] == []
    debugger.view(3)
    assert [f.kind for f in problems(debugger.diagnose(True))] == []
    # and training goes on as if nothing had been checked
    debugger.train(2)
    plain = Debugger(load(RANDOM_NETS["transformer_block"]))
    plain.train(5)
    assert debugger.cycle.trace.loss == plain.cycle.trace.loss
    assert debugger.cycle.loss_after == plain.cycle.loss_after
