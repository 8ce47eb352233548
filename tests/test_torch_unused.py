"""A parameter forward() uses but the loss does not depend on: PyTorch's classic "my encoder does
not train". ``check`` says where its values left autograd (``.detach()``, ``.item()``,
``torch.no_grad()``, with the line) instead of "forward() never uses it"."""

import pytest

pytest.importorskip("torch", reason="PyTorch network files need torch "
                                    "(pip install 'gradstep[torch]')")

from scenarios import load
from tracer.diagnostics import diagnose_network

HEAD = '''import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
enc = nn.Linear(4, 8)
head = nn.Linear(8, 2)
spare = nn.Linear(8, 2)
x = torch.randn(16, 4)
y = torch.randint(0, 2, (16,))
OPTIMIZER = torch.optim.SGD([*enc.parameters(), *head.parameters(), *spare.parameters()],
                            lr=0.1)


def forward():
'''
BODIES = {
    "detach": ("    h = torch.relu(enc(x)).detach()\n"
               "    return F.cross_entropy(head(h), y)\n", ".detach()"),
    "no_grad": ("    with torch.no_grad():\n"
                "        h = torch.relu(enc(x))\n"
                "    return F.cross_entropy(head(h), y)\n", "torch.no_grad()"),
    "item": ("    scale = enc(x).abs().mean().item()\n"
             "    return F.cross_entropy(head(torch.relu(x @ torch.ones(4, 8))) * scale, y)\n",
             ".item()"),
    "not used": ("    h = torch.relu(enc(x))\n"
                 "    return F.cross_entropy(head(torch.relu(x @ torch.ones(4, 8))), y)\n", None),
}


def unused(tmp_path, case: str) -> dict[str, str]:
    path = tmp_path / "net.py"
    path.write_text(HEAD + BODIES[case][0])
    return {f.name: f.message for f in diagnose_network(load(path)) if f.kind == "unused-param"}


@pytest.mark.parametrize("case", sorted(BODIES))
def test_the_finding_says_where_a_used_parameter_left_autograd(tmp_path, case):
    found = unused(tmp_path, case)
    assert set(found) == {"enc.weight", "enc.bias", "spare.weight", "spare.bias"}
    lines = (HEAD + BODIES[case][0]).splitlines()
    use = next(k for k, text in enumerate(lines, 1) if "enc(x)" in text)
    how = BODIES[case][1]
    for name in ("enc.weight", "enc.bias"):
        message = found[name]
        assert "never uses it" not in message
        if how == "torch.no_grad()":  # (the line of the call made under it)
            assert f"uses it under torch.no_grad() (at {tmp_path / 'net.py'}, line {use})" \
                in message
        else:
            assert f"enc · linear, at {tmp_path / 'net.py'}, line {use})" in message
        if how is None:
            assert "nothing computed from it reaches the loss" in message
        elif how != "torch.no_grad()":
            assert f"but {how} (at {tmp_path / 'net.py'}, line {use})" in message
    # a layer forward() never calls is still told as one
    assert "forward() never uses it" in found["spare.weight"]
