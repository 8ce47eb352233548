"""``gradstep check TARGET [--json]``: exit 0 when clean, 1 when it finds a problem, 2 on bad
input; the text report and the JSON list."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gradstep.cli import main
from scenarios.catalog import PROBLEM_NAMES

ROOT = Path(__file__).resolve().parent.parent
FIELDS = {"kind", "severity", "node", "name", "phase", "step", "summary", "message", "details"}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradstep", *args], capture_output=True,
                          text=True, encoding="utf-8", cwd=ROOT, timeout=120)


def test_a_healthy_scenario_exits_0(capsys):
    assert main(["check", "mazur"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mazur: Matt Mazur's worked example\n")
    assert out.rstrip().endswith("No problems found.")


def test_notes_do_not_make_a_problem(capsys):
    assert main(["check", "micrograd-neuron"]) == 0
    out = capsys.readouterr().out
    assert "note zero-gradient at w2 (backward step 5)" in out
    assert out.rstrip().endswith("No problems found. (1 note.)")


@pytest.mark.parametrize("name, headline", [
    ("vanishing-sigmoid", "warning vanishing-gradient at h1"),
    ("exploding", "warning exploding-gradient at h1"),
    ("dead-relu", "warning dead-relu at h1 (forward step 6)"),
    ("nan-log", "error nonfinite-value at log_not_p (forward step 10)"),
    ("unused-param", "warning unused-param at b2\n"),
    ("buggy-custom-op", "error gradcheck-node at h1"),
])
def test_each_problem_scenario_exits_1_and_names_its_problem(capsys, name, headline):
    assert name in PROBLEM_NAMES
    assert main(["check", name]) == 1
    out = capsys.readouterr().out
    assert headline in out
    assert "problem" in out.splitlines()[-1]


def test_json_is_a_list_of_findings(capsys):
    assert main(["check", "buggy-custom-op", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and data
    assert all(set(item) == FIELDS for item in data)
    first = data[0]
    assert (first["kind"], first["severity"], first["name"], first["phase"]) == (
        "gradcheck-node", "error", "h1", "backward")
    assert isinstance(first["node"], int) and isinstance(first["step"], int)
    assert first["details"]["compared"] == "local derivative"
    assert len(first["details"]["analytic"]) == len(first["details"]["numeric"]) == 4
    assert main(["check", "house-price", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_json_of_a_nan_loss_is_strict_json_through_python_m_gradstep():
    result = run("check", "nan-log", "--json")
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"JSON has {name}"))
    assert [d["kind"] for d in data] == ["nonfinite-value", "nonfinite-gradient"]
    assert data[0]["details"]["value"] == "-inf"


def test_bad_input_exits_2_like_trace(tmp_path):
    result = run("check", "no-such-scenario")
    assert result.returncode == 2 and result.stdout == ""
    assert "is not a built-in scenario" in result.stderr and "Traceback" not in result.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("def forward():\n    return 1 +\n", encoding="utf-8")
    result = run("check", str(broken))
    assert result.returncode == 2 and result.stdout == ""
    assert f"{broken}, line 2: Python syntax error" in result.stderr


def test_an_error_in_the_files_own_code_while_checking_exits_2(tmp_path, capsys):
    path = tmp_path / "flaky.py"
    path.write_text(textwrap.dedent('''
        from tracer import param

        w = param([1.0, 2.0], name="w")
        calls = []

        def forward():
            calls.append(1)
            if len(calls) > 2:
                raise RuntimeError("the data ran out")
            return (w * w).sum()
        '''), encoding="utf-8")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 10: RuntimeError inside forward(): the data ran out" in err


def test_a_file_that_prints_keeps_stdout_clean(tmp_path, capsys):
    path = tmp_path / "chatty.py"
    path.write_text(textwrap.dedent('''
        from tracer import param

        w = param([1.0, 2.0], name="w")
        print("loading!")

        def forward():
            print("forward!")
            return (w * w).sum()
        '''), encoding="utf-8")
    assert main(["check", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "forward!" in captured.err


def test_check_does_not_import_textual():
    code = ("import sys\nfrom gradstep.cli import main\n"
            "assert main(['check', 'chain-rule']) == 0\n"
            "assert not [m for m in sys.modules if m == 'textual' or m.startswith('tui')]\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr


def test_check_is_in_the_help():
    result = run("--help")
    assert "check" in result.stdout
    result = run("check", "--help")
    assert result.returncode == 0 and "--json" in result.stdout and "exit" in result.stdout.lower()
