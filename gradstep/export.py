"""``gradstep export``: a cycle as files for slides and papers.

``--svg DIR`` writes one SVG screenshot of the debugger per step (forward, backward, each
update, the outcome), named in order (``step-001-forward-x.svg``); ``--dot FILE`` writes the
graph as Graphviz DOT (``-`` for stdout). Both may be given at once.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from tracer import Trace
from tracer.dot import to_dot
from tracer.printable import printable
from tracer.quiz import quiz_handout

from .common import add_command, load_and_run, user_errors, write_stdout
from .output_files import StepFolder, check_target, write_new_file

DEFAULT_SIZE = (120, 40)
MIN_SIZE = (40, 12)


def parse_size(text: str) -> tuple[int, int]:
    """``"120x40"`` -> ``(120, 40)``: the terminal size, in cells, that the SVGs show.

    Raises ``argparse.ArgumentTypeError`` for anything else, or a size below 40x12.
    """
    width, _, height = text.lower().replace("×", "x").partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        size = (0, 0)
    if size[0] < MIN_SIZE[0] or size[1] < MIN_SIZE[1]:
        raise argparse.ArgumentTypeError(
            f"must be WIDTHxHEIGHT in cells, at least {MIN_SIZE[0]}x{MIN_SIZE[1]}, such as "
            f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}; not {text!r}")
    return size


def write_dot(trace: Trace, title: str, destination: str, force: bool = False) -> str:
    """Write ``trace`` as DOT to the file ``destination`` (``-``: stdout); return a summary.

    A file that exists is replaced only with ``force`` (see :mod:`gradstep.output_files`).
    """
    text = to_dot(trace, title=title)
    summary = (f"the graph as DOT ({len(trace.nodes)} nodes, {trace.graph.number_of_edges()} "
               f"edges)")
    if destination == "-":
        write_stdout(text)
        return summary
    write_new_file(destination, printable(text), force, "the DOT file")
    return f"wrote {printable(destination, one_line=True)}: {summary}"


def export(target: str, svg: str | None = None, dot: str | None = None,
           size: tuple[int, int] = DEFAULT_SIZE, present: bool = False,
           quiz: str | None = None, force: bool = False) -> int:
    """Load ``target`` and write what was asked for; return the exit status.

    Parameters
    ----------
    target
        A scenario name or network file (a bad one raises :class:`LoadError`).
    svg
        Folder for one SVG per step: new (its parent must exist), empty, or holding only an
        earlier export's step SVGs (replaced).
    dot
        File for the Graphviz DOT source (not one that exists, unless ``force``), or ``-`` for
        stdout.
    size
        Terminal size of the screenshots, ``(width, height)`` in cells.
    present
        Screenshots in presenter mode: the graph and the narration, large.
    quiz
        File for the quiz handout (Markdown: the questions, then the answers on a page of
        their own), or ``-`` for stdout.
    force
        Let ``dot`` and ``quiz`` replace an existing file.

    Returns
    -------
    int
        0 on success, 2 if the debugger could not run the network.

    Raises
    ------
    OutputError
        A destination that would overwrite something, or that cannot be written; the checks
        run before the network does.
    """
    for destination, option in ((dot, "--dot"), (quiz, "--quiz")):
        if destination is not None:
            check_target(destination, force, option)
    folder = StepFolder(svg) if svg is not None else None
    report = sys.stderr if "-" in (dot, quiz) else sys.stdout  # keep piped output clean
    with contextlib.redirect_stdout(sys.stderr):  # the network file's prints
        # checks forward and backward before the app runs them
        network, trace = load_and_run(target, lambda network: network.trace())
    if dot is not None:
        print(write_dot(trace, network.title or network.name, dot, force), file=report)
    if quiz is not None:
        text = quiz_handout(trace, network.title or network.name)
        if quiz == "-":
            write_stdout(text)
        else:
            write_new_file(quiz, printable(text), force, "the quiz handout")
            print(f"wrote {printable(quiz, one_line=True)}: the quiz handout, its answers on a "
                  f"page of their own", file=report)
    if folder is not None:
        from tui.export import export_svgs  # only SVG export needs Textual

        folder.create()
        try:
            with contextlib.redirect_stdout(sys.stderr), user_errors(network):
                shots = export_svgs(network, folder.write, size, present)
        except RuntimeError as exc:
            print(f"gradstep: could not export {printable(target)}: {printable(str(exc))}",
                  file=sys.stderr)
            return 2
        print(f"wrote {len(shots)} SVGs to {printable(svg, one_line=True)}: "
              f"{shots[0].path.name} … {shots[-1].path.name}", file=report)
    return 0


def add_parser(commands: argparse._SubParsersAction, target_help: str) -> None:
    """Add the ``export`` subcommand to the ``gradstep`` parser's ``commands``."""
    exporter = add_command(
        commands, "export", "write a cycle as SVG screenshots (one per step) or Graphviz DOT",
        "Export one training cycle of TARGET for slides: --svg DIR renders the debugger "
        "headlessly and writes one SVG per step (forward, backward, each update, the outcome) "
        "named in order, step-001-forward-x.svg and so on; --dot FILE writes the graph as "
        "Graphviz DOT (nodes with name, op, value and gradient; edges input -> output). Give "
        "either or both.", target_help)
    exporter.add_argument("--svg", metavar="DIR",
                          help="folder for the SVGs: a new one (its parent must exist), an "
                               "empty one, or one holding only an earlier export's SVGs")
    exporter.add_argument("--dot", metavar="FILE",
                          help="file for the DOT source (- for stdout); not one that exists, "
                               "unless --force")
    exporter.add_argument("--force", action="store_true",
                          help="let --dot and --quiz replace a file that already exists")
    exporter.add_argument("--quiz", metavar="FILE",
                          help="file for a quiz handout in Markdown, the answers on a page of "
                               "their own (- for stdout); not one that exists, unless --force")
    exporter.add_argument("--size", type=parse_size, default=DEFAULT_SIZE, metavar="WxH",
                          help=f"terminal size of the screenshots in cells (default "
                               f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]})")
    exporter.add_argument("--present", action="store_true",
                          help="SVGs in presenter mode: the graph and each step's narration, "
                               "in the projector theme")


def run(args: argparse.Namespace) -> int:
    """Run ``gradstep export`` from parsed arguments (``--svg`` or ``--dot`` is required)."""
    if args.svg is None and args.dot is None and args.quiz is None:
        print("gradstep export: say what to write: --svg DIR, --dot FILE, --quiz FILE, or "
              "several", file=sys.stderr)
        return 2
    return export(args.target, args.svg, args.dot, args.size, args.present, args.quiz,
                  args.force)
