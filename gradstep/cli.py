"""The ``gradstep`` command: open the debugger, list the scenarios, or trace one headlessly.

::

    gradstep                         the debugger, starting at the scenario picker
    gradstep open TARGET             the debugger on a scenario name or a .py/.toml file
    gradstep TARGET                  the same as open
    gradstep list                    the built-in scenarios, one line each
    gradstep trace TARGET            one training cycle as a readable handout
    gradstep trace TARGET --json     the same cycle as JSON (docs/trace-json.md)
    gradstep trace TARGET --steps N --until nan   train; exit 1 if the condition fired
    gradstep check TARGET [--json]   diagnose the gradients; exit 1 if it finds a problem
    gradstep serve [TARGET]          the debugger in a web browser (loopback by default)
    gradstep export TARGET --svg DIR --dot FILE   one SVG per step; the graph as Graphviz DOT

A bad target or network file prints a one-paragraph message on stderr and exits with status 2.
``list`` and ``trace`` never import Textual.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import NoReturn

from scenarios import LoadError, catalog, load
from scenarios.loader import SUFFIXES
from scenarios.time_limit import set_timeout, watch_ctrl_c
from tracer import report
from tracer.training import MAX_STEPS, StopCondition, parse_until

from . import __version__
from . import check as check_command
from . import export as export_command
from . import serve as serve_command
from .common import OutputError, add_command, load_and_run, whole_number, write_stdout
from .progress import training_progress

COMMANDS = ("list", "trace", "check", "open", "serve", "export")
EXIT_CONDITION = 1  # trace --until: a condition fired (check uses 1 for a problem found)
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # Ctrl+C, as a shell reports a process ended by SIGINT

TARGET_HELP = ("a built-in scenario name (see `gradstep list`) or the path of a .py or .toml "
               "network file")


def _until(text: str) -> StopCondition:
    try:
        return parse_until(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``gradstep`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="gradstep",
        description="A terminal step-through debugger for backpropagation. With no command, "
                    "opens the debugger on the scenario picker; `gradstep TARGET` is the same "
                    "as `gradstep open TARGET`.",
        epilog="Exit status: 0 done; 1 a problem found (check) or a --until condition fired "
               "(trace); 2 bad input, with a message on stderr.")
    parser.add_argument("--version", action="version", version=f"gradstep {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    opener = add_command(
        commands, "open", "open the debugger on a scenario or network file",
        "Open the interactive debugger on TARGET, or on the scenario picker when TARGET is left "
        "out. The network is loaded (and checked) first.", TARGET_HELP, optional=True)
    opener.add_argument("--present", action="store_true",
                        help="presenter mode: graph and narration only, projector theme "
                             "(toggle in the app with P)")
    opener.add_argument("--quiz", action="store_true",
                        help="quiz mode: each backward step asks for its gradient first")
    # A visitor's debugger under `gradstep serve`: only the built-ins and these files open.
    opener.add_argument("--served", action="store_true", help=argparse.SUPPRESS)
    opener.add_argument("--serve-file", action="append", default=[], help=argparse.SUPPRESS)

    lister = commands.add_parser(
        "list", help="list the built-in scenarios",
        description="List the built-in scenarios: name and title, one line each.")
    lister.add_argument("-l", "--long", action="store_true",
                        help="also print each scenario's description")

    tracer_ = add_command(
        commands, "trace", "run one training cycle headlessly and print it",
        "Run one training cycle of TARGET (forward pass, backward pass, optimizer step, forward "
        "again) and print it: as a readable handout (text or Markdown), or as JSON for programs.",
        TARGET_HELP)
    form = tracer_.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_const", const="json", dest="format",
                      help="print JSON (the same as --format json)")
    form.add_argument("--format", choices=("text", "markdown", "json"),
                      help="text (the default), markdown (a handout) or json")
    tracer_.add_argument("--steps", type=whole_number(1, MAX_STEPS), metavar="N",
                         help=f"train for N iterations in all (the first is the one shown in "
                              f"full) and add the loss of each iteration; at most "
                              f"{MAX_STEPS:,}")
    tracer_.add_argument("--until", type=_until, action="append", metavar="CONDITION",
                         help="with --steps: stop at the first iteration where CONDITION fires "
                              "and say where: nan (the loss turns NaN or infinite), "
                              "spike[:FACTOR] (an update multiplies the loss by more than "
                              "FACTOR, default 2), grad-above:X (a gradient above X), gradcheck "
                              "(a node fails the gradient check), dead-unit (a dead ReLU unit); "
                              "may be given several times. Exit status 1 when one fired")
    check_command.add_parser(commands, TARGET_HELP)
    serve_command.add_parser(commands, TARGET_HELP)
    export_command.add_parser(commands, TARGET_HELP)
    return parser


def _normalise(argv: list[str]) -> list[str]:
    """``gradstep`` -> ``open``; ``gradstep TARGET`` -> ``open TARGET``; a network file whose
    name starts with ``-`` (``-net.toml``) -> ``./-net.toml``, so it is not read as an option."""
    argv = [f"./{arg}" if arg.startswith("-") and arg.lower().endswith(SUFFIXES) else arg
            for arg in argv]
    if not argv:
        return ["open"]
    if argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version"):
        return ["open", *argv]  # a target, or open's own options (--present, --quiz)
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gradstep`` command line; return the exit status.

    Parameters
    ----------
    argv
        The arguments after the program name. ``None``: ``sys.argv[1:]``, run as the program
        itself, which then also ends the process when done (see :func:`_end_process`).

    Returns
    -------
    int
        0 on success, 1 when ``check`` finds a problem or a ``trace --until`` condition fires,
        2 for bad input (a message has been printed on stderr), 130 when interrupted with
        Ctrl+C; the debugger's own exit status.
    """
    if argv is None:
        watch_ctrl_c()  # a KeyboardInterrupt the network file raises is its error, not Ctrl+C
    status = _run(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        _end_process(status)
    return status


def _run(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(_normalise(argv))
        if getattr(args, "timeout", None) is not None:
            set_timeout(args.timeout)
        return _dispatch(args)
    except LoadError as exc:
        _complain(f"gradstep: {exc}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # Ctrl+C: the user knows; no message, no traceback
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `gradstep trace … | head`: the reader left; that is fine
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OutputError as exc:
        _complain(f"gradstep: {exc}")
        return EXIT_BAD_INPUT


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "list":
        return _list(args.long)
    if args.command == "trace":
        if args.until and args.steps is None:
            print("gradstep: --until needs --steps N (how many iterations to train at most)",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        return _trace(args.target, args.format or "text", args.steps, args.until or ())
    if args.command == "check":
        return check_command.run(args)
    if args.command == "serve":
        return serve_command.run(args)
    if args.command == "export":
        return export_command.run(args)
    served = tuple(args.serve_file) if args.served else None
    return _open(args.target, present=args.present, quiz=args.quiz, served=served)


def _complain(message: str) -> None:
    """Print ``message`` on stderr, if there is a stderr to print on."""
    if sys.stderr is None:  # started with stderr closed (2>&-)
        return
    with contextlib.suppress(OSError, ValueError):
        print(message, file=sys.stderr, flush=True)


def _end_process(status: int) -> NoReturn:
    """Exit now, with ``status``: a thread the network file started (or a forward() stuck in C
    code past its time limit) must not keep the process alive once the command is done."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(status)


def _list(long: bool) -> int:
    scenarios = catalog()
    width = max(len(s.name) for s in scenarios)
    lines = []
    for s in scenarios:
        lines.append(f"{s.name.ljust(width)}  {s.title}")
        if long and s.description:
            lines.append(textwrap.indent(textwrap.fill(s.description, 80), " " * (width + 2)))
    write_stdout("\n".join(lines))
    return 0


def _trace(target: str, form: str, steps: int | None,
           until: Sequence[StopCondition] = ()) -> int:
    # Anything the network file prints goes to stderr, so stdout stays one clean document.
    with contextlib.redirect_stdout(sys.stderr), training_progress(steps) as progress:
        _, result = load_and_run(
            target, lambda network: report.run_report(network, steps, until, progress))
    render = {"json": report.dumps, "markdown": report.to_markdown, "text": report.to_text}[form]
    write_stdout(render(result))
    if result.stop is not None:
        print(f"gradstep: {result.stop.message}", file=sys.stderr)
        return EXIT_CONDITION
    return 0


def _open(target: str | None, present: bool = False, quiz: bool = False,
          served: tuple[str, ...] | None = None) -> int:
    network = load(target) if target is not None else None
    from tui.app import run_app  # imported here so that list and trace never load Textual

    return run_app(network, present=present, quiz=quiz, served=served)
