"""The gradstep command line: list, trace (text, markdown, JSON, --steps), open, help, version.

Most tests call ``gradstep.cli.main`` in-process; a few run ``python -m gradstep`` as a
subprocess to check the real entry point, exit statuses and streams.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import gradstep
from gradstep.cli import main
from scenarios import BUILTIN_NAMES

ROOT = Path(__file__).resolve().parent.parent

MAZUR_NEW = {"w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
             "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradstep", *args], capture_output=True,
                          text=True, encoding="utf-8", cwd=ROOT, timeout=60)


def check_mazur(data: dict) -> None:
    """Matt Mazur's published numbers, in the JSON."""
    assert data["scenario"] == "mazur"
    assert data["optimizer"]["name"] == "sgd" and data["optimizer"]["lr"] == 0.5
    assert data["loss"] == pytest.approx(0.298371109, abs=1e-9)
    assert data["loss_after"] == pytest.approx(0.291027924, abs=2e-7)  # the post rounds
    nodes = {n["name"]: n for n in data["nodes"]}
    assert nodes["out_o1"]["value"] == pytest.approx(0.75136507, abs=1e-8)
    assert nodes["b1"]["kind"] == "constant" and "b1" not in data["params"]
    assert data["params"]["w5"]["grad"] == pytest.approx(0.082167041, abs=1e-9)
    for name, value in MAZUR_NEW.items():
        assert data["params"][name]["value"] != data["params"][name]["new"]
        assert data["params"][name]["new"] == pytest.approx(value, abs=1e-8), name
    step = next(s for s in data["backward"] if s["name"] == "out_o1")
    assert step["upstream"] == pytest.approx(0.74136507, abs=1e-8)  # ∂E/∂out_o1 in the post
    (net,) = step["inputs"]
    assert net["name"] == "net_o1" and net["local"] == pytest.approx(0.186815602, abs=1e-9)


def test_mazur_published_numbers_in_process(capsys):
    assert main(["trace", "mazur", "--json"]) == 0
    check_mazur(json.loads(capsys.readouterr().out))


def test_mazur_published_numbers_through_python_m_gradstep():
    result = run("trace", "mazur", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    check_mazur(json.loads(result.stdout))


def test_bad_input_through_python_m_gradstep_exits_2_without_traceback(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def forward():\n    return 1 +\n", encoding="utf-8")
    result = run("trace", str(broken))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert f"{broken}, line 2: Python syntax error" in result.stderr


def test_list_and_trace_do_not_import_textual():
    code = ("import sys\nfrom gradstep.cli import main\n"
            "assert main(['list']) == 0 and main(['trace', 'chain-rule', '--json']) == 0\n"
            "assert not [m for m in sys.modules if m == 'textual' or m.startswith('tui')]\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr


def test_list_prints_every_scenario_on_one_line(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(BUILTIN_NAMES)
    assert "Matt Mazur's worked example" in lines[BUILTIN_NAMES.index("mazur")]


def test_list_long_adds_descriptions(capsys):
    assert main(["list", "--long"]) == 0
    assert "published weights" in capsys.readouterr().out


def test_trace_text_is_a_handout(capsys):
    assert main(["trace", "mazur"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mazur: Matt Mazur's worked example\n")
    assert "∂L/∂net_o1 = ∂L/∂out_o1 × ∂out_o1/∂net_o1 = 0.7414 × 0.1868 = 0.1385" in out
    assert "∂L/∂out_h1 = 0.03635 = (-0.01905) + 0.0554" in out  # the sum where out_h1 forks
    assert "w5     0.4    0.082167     -0.0410835    0.358916" in out  # the update table
    assert "loss 0.298371 → 0.291028  (-0.00734, lower)" in out


def test_trace_markdown_is_a_handout(capsys):
    assert main(["trace", "house-price", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# house-price: House price")
    assert "## Backward pass: the chain rule, step by step" in out
    assert "| param | value | gradient | change | new |" in out
    assert "| bias | 0.9 | -1.6 | 0.032 | 0.932 |" in out
    assert "prediction after: predicted $472k" in out


def test_trace_steps_adds_the_loss_per_iteration(capsys):
    assert main(["trace", "xor", "--json", "--steps", "200"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["steps"] == 200 and len(data["losses"]) == 201
    assert data["losses"][0] == data["loss"] and data["losses"][1] == data["loss_after"]
    assert data["losses"][-1] < 0.05 < data["losses"][0]
    assert main(["trace", "xor", "--steps", "200"]) == 0
    out = capsys.readouterr().out
    assert "Training: 200 iterations" in out and "predicts [0.0" in out


@pytest.mark.parametrize("argv", [["trace", "xor", "--steps", "0"],
                                  ["trace", "xor", "--format", "html"],
                                  ["trace", "xor", "--json", "--format", "text"],
                                  ["trace"], ["frobnicate", "--now"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage: gradstep" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["list", "--help"], ["trace", "--help"],
                                  ["open", "--help"]])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    assert "usage: gradstep" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"gradstep {gradstep.__version__}"


@pytest.fixture
def opened(monkeypatch):
    """Replace the TUI's entry point; record what it was asked to open."""
    import tui.app

    calls = []
    def run_app(network=None, **options):
        calls.append((network, options))
        return 0

    monkeypatch.setattr(tui.app, "run_app", run_app)
    return calls


@pytest.mark.parametrize("argv", [["open", "cookies"], ["cookies"]])
def test_open_loads_then_starts_the_tui(argv, opened):
    assert main(argv) == 0
    ((network, options),) = opened
    assert network.name == "cookies" and network.iteration == 0
    assert options == {"present": False, "quiz": False, "served": None}


def test_no_arguments_opens_the_picker(opened):
    assert main([]) == 0
    assert opened == [(None, {"present": False, "quiz": False, "served": None})]


@pytest.mark.parametrize("argv", [["--present", "mazur"], ["open", "mazur", "--present"],
                                  ["mazur", "--present", "--quiz"]])
def test_presenter_and_quiz_flags_reach_the_tui(argv, opened):
    assert main(argv) == 0
    ((network, options),) = opened
    assert network.name == "mazur" and options["present"]
    assert options["quiz"] == ("--quiz" in argv)


def test_open_with_a_bad_target_exits_2_before_the_tui(opened, capsys):
    assert main(["open", "missing-file.py"]) == 2
    assert main(["mazr"]) == 2
    assert opened == []
    err = capsys.readouterr().err
    assert "missing-file.py" in err and "Did you mean mazur" in err


def test_output_of_the_network_file_goes_to_stderr(tmp_path, capsys):
    (tmp_path / "chatty.py").write_text(
        "from tracer import param\nprint('hello from the file')\nw = param(2.0)\n"
        "def forward():\n    print('forward!')\n    return w * w\n", encoding="utf-8")
    assert main(["trace", str(tmp_path / "chatty.py"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["loss"] == 4.0
    assert "hello from the file" in err and "forward!" in err


def test_a_failing_custom_op_in_the_network_file_is_reported_with_its_line(tmp_path, capsys):
    import tracer.ops

    (tmp_path / "custom.py").write_text(
        "import numpy as np\n"
        "from tracer import param, register\n"
        "from tracer.ops import Op\n"
        "from tracer.tensor import apply\n\n"
        "def broken_vjp(g, x, out):\n"
        "    raise ArithmeticError('my derivative is not done yet')\n\n"
        "CUBE = register(Op('gradstep_test_cube', lambda x: x ** 3, ('3x²',), 'cubes {x}',\n"
        "                   vjp=broken_vjp, letters=('x',)))\n"
        "w = param(2.0, name='w')\n\n"
        "def forward():\n    return apply(CUBE, w)\n", encoding="utf-8")
    try:
        assert main(["trace", str(tmp_path / "custom.py")]) == 2
    finally:
        tracer.ops.OPS.pop("gradstep_test_cube", None)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{tmp_path / 'custom.py'}, line 7: ArithmeticError during the backward pass" in err
    assert "my derivative is not done yet" in err


def test_a_forward_that_changes_a_param_after_using_it_is_refused_with_exit_2(tmp_path, capsys):
    (tmp_path / "sneaky.py").write_text(
        "from tracer import Tensor, param\n"
        "w = param([1.0, 2.0], name='w')\n"
        "x = Tensor([3.0, 4.0], name='x')\n\n"
        "def forward():\n"
        "    loss = (w * x).sum()\n"
        "    w.data += 1.0  # after the op used it: its gradient would not be w's\n"
        "    return loss\n", encoding="utf-8")
    assert main(["trace", str(tmp_path / "sneaky.py")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{tmp_path / 'sneaky.py'}: a value changed under the trace" in err
    assert "w changed after the forward pass used it" in err
    assert "Change values before the forward pass" in err
