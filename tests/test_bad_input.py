"""Bad input of every kind: exit 2 with one paragraph on stderr naming the file, never a
traceback, a hang, raw escape codes or a quiet success.

Each case is a folder of files and a command line; ``{d}`` in it is the folder. Hangs run with
``--timeout 1``, so the table finishes in seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradstep.cli import main

ROOT = Path(__file__).resolve().parent.parent
HEAD = "import os, time\nfrom tracer import param\nw = param([1.0, 2.0], name='w')\n"
TOML = ('[network]\nlayers = [2, 1]\nactivations = ["sigmoid"]\nloss = "mse"\n'
        '[data]\ncsv = "{csv}"\n')
CSV = "a,b,y\n0,1,1\n1,0,0\n"


def py(body: str) -> dict[str, str]:
    return {"net.py": HEAD + body}


def toml_csv(csv_path: str, files: dict[str, str | None] | None = None) -> dict:
    return {"net.toml": TOML.format(csv=csv_path), **(files or {})}


# id: (files, the argument after `trace`/`check` (or a whole command line), what stderr says)
CASES = {
    "module loops forever": (py("while True:\n    pass\n"), "net.py",
                             ["net.py, line ", "stopped it after 1 seconds", "--timeout"]),
    "forward sleeps": (py("def forward():\n    time.sleep(3600)\n    return w.sum()\n"), "net.py",
                       ["net.py, line 5", "inside forward()"]),
    "forward slow only on later calls": (
        py("calls = [0]\ndef forward():\n    calls[0] += 1\n    if calls[0] > 1:\n"
           "        time.sleep(3600)\n    return w.sum()\n"), "net.py",
        ["net.py, line 8", "inside forward()"]),
    "os._exit in forward": (py("def forward():\n    os._exit(0)\n"), "net.py",
                            ["net.py", "os._exit(0)", "must not end the process"]),
    "exception whose __str__ raises": (
        py("class E(Exception):\n    def __str__(self):\n        raise ValueError\n"
           "def forward():\n    raise E()\n"), "net.py",
        ["net.py, line 8", "its message cannot be shown"]),
    "exception of 10 MB with escapes and newlines": (
        py("def forward():\n    raise ValueError('\\x1b[2J' + 'x\\n' * 5_000_000)\n"), "net.py",
        ["net.py, line 5", "\\x1b[2J", "more characters"]),
    "async forward": (py("async def forward():\n    return w.sum()\n"), "net.py",
                      ["net.py", "returned a coroutine"]),
    "graph far over the node limit": (
        py("def forward():\n    out = w.sum()\n    for _ in range(10**6):\n"
           "        out = out + 1.0\n    return out\n"), "net.py",
        ["net.py, line 7", "more than 20,000 nodes", "fewer or narrower layers"]),
    "a FIFO named net.py": ({"net.py": None}, "net.py", ["net.py", "FIFO"]),
    "a link to /dev/zero": ({"net.py": "->/dev/zero"}, "net.py", ["net.py", "device"]),
    "a symlink loop": ({"net.toml": "->net.toml"}, "net.toml", ["net.toml", "symlink loop"]),
    "a file named -net.toml": ({"-net.toml": "title = 'x'\n"}, "-net.toml",
                               ["-net.toml", "[network]"]),
    "toml seed -1": ({"net.toml": TOML.format(csv="data.csv") + "[init]\nseed = -1\n",
                      "data.csv": CSV}, "net.toml", ["net.toml, line 8", "seed", "0 or more"]),
    "toml title with escape codes": (
        {"net.toml": 'title = "\\u001b[2J\\u001b]0;PWNED\\u0007"\n'}, "net.toml",
        ["net.toml", "[network]"]),
    "csv = /etc/passwd": (toml_csv("/etc/passwd"), "net.toml",
                          ["net.toml, line 6", "relative to the TOML file's folder"]),
    "csv = ../../../etc/passwd": (toml_csv("../../../../../../../etc/passwd"), "net.toml",
                                  ["net.toml, line 6", "outside the TOML file's folder"]),
    "csv linked out of the folder": (toml_csv("data.csv", {"data.csv": "->/etc/passwd"}),
                                     "net.toml", ["net.toml, line 6", "outside"]),
    "csv is a FIFO": (toml_csv("data.csv", {"data.csv": None}), "net.toml",
                      ["net.toml, line 6", "FIFO"]),
    "csv with a repeated column": (toml_csv("data.csv", {"data.csv": "a,a,y\n0,1,1\n1,0,0\n"}),
                                   "net.toml", ["data.csv, line 1", "'a' twice"]),
    "csv cell over 131,072 characters": (
        toml_csv("data.csv", {"data.csv": "a,b,y\n0," + "9" * 200_000 + ",1\n"}), "net.toml",
        ["data.csv", "not a CSV file gradstep can read"]),
    "csv header with escape codes, then a missing column": (
        {"net.toml": TOML.format(csv="data.csv") + 'input_columns = ["nope", "b"]\n',
         "data.csv": "\x1b[31ma,b,y\n0,1,1\n"}, "net.toml", ["net.toml", "\\x1b[31ma"]),
    "steps over the maximum": ({}, ["trace", "mazur", "--steps", "1000000000"],
                               ["--steps", "1,000,000"]),
    "dot onto an existing file": ({"houses.csv": CSV}, ["export", "mazur", "--dot",
                                                        "{d}/houses.csv"],
                                  ["houses.csv", "already exists", "--force"]),
    "dot into a missing folder": ({}, ["export", "mazur", "--dot", "{d}/no/such/g.dot"],
                                  ["g.dot", "does not exist"]),
    "svg onto a file": ({"f": "x"}, ["export", "mazur", "--svg", "{d}/f"], ["is a file"]),
    "svg into a folder holding other files": (
        {"slides/notes.txt": "mine"}, ["export", "mazur", "--svg", "{d}/slides"],
        ["notes.txt", "did not write"]),
    "svg with missing parents": ({}, ["export", "mazur", "--svg", "{d}/a/b/c"],
                                 ["does not exist"]),
}


def make(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            os.mkfifo(path)
        elif content.startswith("->"):
            path.symlink_to(content[2:])
        else:
            path.write_text(content, encoding="utf-8")


# A network file is tried with trace and with check; a whole command line once.
RUNS = [(command, case) for case, (_, target, _) in CASES.items()
        for command in (["trace", "check"] if isinstance(target, str) else ["as given"])]


@pytest.mark.parametrize(("command", "case"), RUNS)
def test_bad_input_is_one_clear_paragraph_and_exit_2(command, case, tmp_path, monkeypatch,
                                                      capsys):
    files, target, fragments = CASES[case]
    make(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    argv = ([arg.format(d=tmp_path) for arg in target] if isinstance(target, list)
            else [command, target, "--timeout", "1"])
    status = main(argv) if argv[:2] != ["trace", "mazur"] else _argparse_status(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err and "\x1b" not in err and "\x07" not in err
    message = err.strip()
    if not message.startswith("usage:"):
        assert "\n" not in message, "more than one paragraph"
        assert len(message) < 2_500
    for fragment in fragments:
        assert fragment in message


def _argparse_status(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    return exit_.value.code


def test_nothing_was_overwritten_or_read_outside(tmp_path, monkeypatch, capsys):
    (tmp_path / "houses.csv").write_text(CSV, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["export", "mazur", "--dot", "houses.csv"]) == 2
    assert (tmp_path / "houses.csv").read_text(encoding="utf-8") == CSV
    assert main(["export", "mazur", "--dot", "houses.csv", "--force"]) == 0
    assert (tmp_path / "houses.csv").read_text(encoding="utf-8").startswith("digraph")
    make(tmp_path, toml_csv("/etc/passwd"))
    assert main(["trace", "net.toml"]) == 2
    assert "root" not in capsys.readouterr().err  # never quotes another file's content


def test_svg_export_never_writes_through_a_planted_link(tmp_path, monkeypatch, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    slides = tmp_path / "slides"
    slides.mkdir()
    (slides / "step-001-forward-x.svg").symlink_to(victim)
    assert main(["export", "chain-rule", "--svg", str(slides)]) == 2
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert "did not write" in capsys.readouterr().err


def test_svg_export_replaces_only_its_own_earlier_output(tmp_path, capsys):
    slides = tmp_path / "slides"
    assert main(["export", "chain-rule", "--svg", str(slides)]) == 0
    first = sorted(p.name for p in slides.iterdir())
    assert main(["export", "chain-rule", "--svg", str(slides)]) == 0
    assert sorted(p.name for p in slides.iterdir()) == first


def test_keyboard_interrupt_in_forward_exits_130_quietly(tmp_path, capsys):
    (tmp_path / "net.py").write_text(HEAD + "def forward():\n    raise KeyboardInterrupt\n",
                                     encoding="utf-8")
    assert main(["trace", str(tmp_path / "net.py")]) == 130
    assert capsys.readouterr().err == ""


def test_a_thread_left_running_does_not_keep_the_process_alive(tmp_path):
    (tmp_path / "net.py").write_text(
        HEAD + "import threading\nthreading.Thread(target=lambda: time.sleep(3600)).start()\n"
               "def forward():\n    return w.sum()\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "gradstep", "trace", "net.py", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and '"loss"' in done.stdout


@pytest.mark.parametrize("argv", [["trace", "mazur"], ["check", "mazur"],
                                  ["export", "mazur", "--dot", "-"]])
def test_a_full_stdout_is_a_message_not_a_traceback(argv):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "gradstep", *argv], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "No space left on device" in done.stderr
