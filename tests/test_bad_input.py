"""Bad input of every kind: exit 2 with one paragraph on stderr naming the file, never a
traceback, a hang, raw escape codes or a quiet success.

Each case is a folder of files and a command line; ``{d}`` in it is the folder. The cases that
hang run with ``--timeout 1``, so the table finishes in seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradstep.cli import main
from scenarios import load

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
    "a 9 MB .py file": ({"net.py": "#" * 9 * 2**20 + "\n"}, "net.py",
                        ["net.py", "9.0 MB, more than gradstep reads (8 MB"]),
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
    "quiz onto an existing file": ({"notes.md": "mine"}, ["export", "mazur", "--quiz",
                                                           "{d}/notes.md"],
                                   ["--quiz", "notes.md", "already exists"]),
    "dot into a missing folder": ({}, ["export", "mazur", "--dot", "{d}/no/such/g.dot"],
                                  ["g.dot", "does not exist"]),
    "svg onto a file": ({"f": "x"}, ["export", "mazur", "--svg", "{d}/f"], ["is a file"]),
    "svg into a folder holding other files": (
        {"slides/notes.txt": "mine"}, ["export", "mazur", "--svg", "{d}/slides"],
        ["notes.txt", "did not write"]),
    "svg with missing parents": ({}, ["export", "mazur", "--svg", "{d}/a/b/c"],
                                 ["does not exist"]),
}


HANGS = {"module loops forever", "forward sleeps", "forward slow only on later calls"}


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
            else [command, target, *(["--timeout", "1"] if case in HANGS else [])])
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


def gradstep(*argv: str, cwd: Path, **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gradstep", *argv], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, **options)


def test_ctrl_c_exits_130_quietly_and_a_keyboard_interrupt_raised_by_the_file_is_its_error(
        tmp_path):
    (tmp_path / "raises.py").write_text(HEAD + "def forward():\n    raise KeyboardInterrupt\n",
                                        encoding="utf-8")
    (tmp_path / "slow.py").write_text(
        HEAD + "def forward():\n    open('inside', 'w').close()\n    time.sleep(60)\n",
        encoding="utf-8")
    _, err = gradstep("trace", "raises.py", cwd=tmp_path).communicate(timeout=60)
    assert "raises.py, line 5: the file raised KeyboardInterrupt inside forward()" in err
    slow = gradstep("trace", "slow.py", cwd=tmp_path)
    deadline = time.monotonic() + 30
    while not (tmp_path / "inside").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    slow.send_signal(signal.SIGINT)  # Ctrl+C while forward() runs
    out, err = slow.communicate(timeout=60)
    assert slow.returncode == 130 and err == "" and out == ""


def test_a_thread_left_running_does_not_keep_the_process_alive(tmp_path):
    (tmp_path / "net.py").write_text(
        HEAD + "import threading\nthreading.Thread(target=lambda: time.sleep(3600)).start()\n"
               "def forward():\n    return w.sum()\n", encoding="utf-8")
    done = gradstep("trace", "net.py", "--json", cwd=tmp_path)
    out, _ = done.communicate(timeout=60)
    assert done.returncode == 0 and '"loss"' in out


@pytest.mark.parametrize("argv", [["trace", "mazur"], ["check", "mazur"],
                                  ["export", "mazur", "--dot", "-"]])
def test_a_full_stdout_is_a_message_not_a_traceback(argv):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "gradstep", *argv], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "No space left on device" in done.stderr


def test_text_from_a_file_reaches_no_screen_raw(tmp_path, capsys):
    """Title and tensor names with escape codes: shown as escapes by the CLI, the records
    (which the TUI and the exports draw from) and the DOT export."""
    (tmp_path / "net.py").write_text(
        "from tracer import param\nTITLE = '\\x1b[2J\\x1b]0;PWNED\\x07'\n"
        "w = param([1.0, 2.0], name='w\\x1b[31m')\ndef forward():\n    return (w * 2).sum()\n",
        encoding="utf-8")
    network = load(str(tmp_path / "net.py"))
    assert network.title == "\\x1b[2J\\x1b]0;PWNED\\x07"
    assert "w\\x1b[31m" in [node.name for node in network.trace().nodes]
    for argv in (["trace", "net.py"], ["trace", "net.py", "--format", "markdown"],
                 ["export", "net.py", "--dot", "-"]):
        assert main([argv[0], str(tmp_path / "net.py"), *argv[2:]]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out and "\\x1b[31m" in out


@pytest.mark.parametrize(("body", "said"), [
    ("def forward():\n    while True:\n        pass\n", "line 5: gradstep stopped it after 1"),
    ("def forward():\n    time.sleep(3600)\n", "could not stop it"),
])
async def test_the_app_stays_responsive_while_a_file_hangs_and_says_so(body, said, tmp_path,
                                                                       monkeypatch):
    """The picker loads in the background under the time limit: an endless loop is stopped
    at its line; a call stuck in C is given up on; the app keeps running either way."""
    from scenarios import time_limit
    from tui.app import GradstepApp
    from tui.picker_screen import PickerScreen

    monkeypatch.setattr(time_limit, "_timeout", 1.0)
    (tmp_path / "net.py").write_text(HEAD + body, encoding="utf-8")
    app = GradstepApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.open_target(str(tmp_path / "net.py"))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen) and app.is_running
        assert said in str(app.screen.query_one("#picker-error").render())


async def test_a_screenshot_that_cannot_be_saved_is_a_notice_not_a_crash(monkeypatch):
    from tui.app import GradstepApp

    app = GradstepApp(load("chain-rule"))

    def read_only_folder(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(app, "save_screenshot", read_only_folder)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await pilot.pause()
        assert app.is_running
        assert any("could not save the screenshot" in str(n.message)
                   for n in app._notifications)
