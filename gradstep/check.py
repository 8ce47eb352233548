"""``gradstep check TARGET [--json]``: diagnose a network's gradients headlessly.

Loads TARGET, traces one forward and backward pass at its starting parameters (no update), runs
:func:`tracer.diagnostics.diagnose_network` (with the forward function, so every parameter is
checked against the whole loss, and a one-step probe of the optimizer) and prints the findings:
as text, or with ``--json`` as a JSON list (docs/check.md documents its fields). Exits 0 when it
found no problem (notes do not count), 1 when it found one, and 2 on bad input (through the same
error path as ``trace``). Never imports Textual.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from tracer import diagnostics

from .common import add_command, load_and_run, write_stdout

EXIT_CLEAN = 0
EXIT_PROBLEMS = 1


def add_parser(commands: argparse._SubParsersAction, target_help: str) -> None:
    """Add the ``check`` subcommand to ``gradstep``'s subparsers."""
    checker = add_command(
        commands, "check", "diagnose a network's gradients (exit 1 if it finds a problem)",
        "Trace TARGET once at its starting parameters and look for what goes wrong with its "
        "gradients: NaN or infinite values and gradients that reach the loss, weights gone NaN, "
        "a backward that disagrees with finite differences (per node, and every parameter "
        "against the whole loss), a loss summed over the batch, a parameter with one value per "
        "example, an update that overshoots, vanishing or exploding gradients, dead ReLUs, "
        "saturated sigmoids and tanhs, parameters the loss does not depend on, and zero "
        "gradients. Exits 0 when it finds no problem, 1 when it finds one, 2 on bad input.",
        target_help)
    checker.add_argument("--json", action="store_true",
                         help="print the findings as a JSON list (see docs/check.md)")


def findings_for(target: str) -> tuple[str, list[diagnostics.Finding]]:
    """Load ``target`` and diagnose it; return a heading for it and the findings.

    Raises
    ------
    LoadError
        For a bad target, a broken network file, or an error in the file's own code (its
        ``forward()``, or a custom op's derivative) while checking.
    """
    network, findings = load_and_run(target, diagnostics.diagnose_network)
    heading = network.name if network.title in ("", network.name) else (
        f"{network.name}: {network.title}")
    return heading, findings


def run(args: argparse.Namespace) -> int:
    """Run ``gradstep check``; return the exit status (bad input raises :class:`LoadError`)."""
    # Anything the network file prints goes to stderr, so stdout stays one clean document.
    with contextlib.redirect_stdout(sys.stderr):
        heading, findings = findings_for(args.target)
    if args.json:
        text = json.dumps(diagnostics.to_json(findings), indent=2, ensure_ascii=False,
                          allow_nan=False) + "\n"
    else:
        text = diagnostics.to_text(findings, heading)
    write_stdout(text)
    return EXIT_PROBLEMS if diagnostics.problems(findings) else EXIT_CLEAN
