"""The commands the README's first steps show run as shown: the headless ones are run and their
exit status checked, the ones that open the debugger or a server are parsed and their target
loaded (the debugger itself is tested in the tui tests)."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from gradstep.cli import _normalise, build_parser, main
from scenarios import load
from scenarios.catalog import PROBLEM_NAMES
from tests.docs_pages import ROOT

HEADLESS = ("list", "trace", "check")


def first_steps_commands() -> list[list[str]]:
    """The argument lists of the commands in the README's "First steps" code blocks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for section in re.findall(r"^## First steps.*?(?=^## )", readme, re.S | re.M):
        for block in re.findall(r"^```\n(.*?)^```", section, re.S | re.M):
            for line in block.splitlines():
                command = re.split(r" {2,}", line.strip())[0]  # the comment follows 2+ spaces
                words = shlex.split(command)
                assert words[0] == "gradstep", line
                commands.append(words[1:])
    return commands


COMMANDS = first_steps_commands()


def test_the_first_steps_show_commands_for_both_readers():
    assert len(COMMANDS) >= 8
    assert {"trace", "check", "serve", "export"} <= {c[0] for c in COMMANDS if c}


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c) or "gradstep" for c in COMMANDS])
def test_a_first_steps_command_runs(argv, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the README's paths are relative to the repository
    if ">" in argv:  # `> mazur.md`: the shell's redirection, not gradstep's argument
        argv = argv[:argv.index(">")]
    args = build_parser().parse_args(_normalise(argv))
    if args.command not in HEADLESS:
        for target in args.targets if args.command == "serve" else [args.target]:
            if target is not None:
                load(target)  # raises LoadError for a name or file that does not exist
        return
    expected = 1 if args.command == "check" and args.target in PROBLEM_NAMES else 0
    assert main(argv) == expected
    out = capsys.readouterr().out
    assert out.strip()
    if "markdown" in argv:
        assert out.startswith("# ")
    if "--json" in argv:
        json.loads(out)
