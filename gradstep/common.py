"""What the ``gradstep`` subcommands share: loading a target and running its code, and the
shape of a subcommand that takes a TARGET."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TypeVar

from scenarios import LoadError, load
from scenarios.loader import user_code_failure
from scenarios.time_limit import DEFAULT_TIMEOUT
from tracer import Network
from tracer.printable import printable

T = TypeVar("T")
MAX_TIMEOUT = 24 * 3600.0


class OutputError(Exception):
    """What a command produced cannot be written (a full disk, a closed stdout, a folder that
    does not exist): a one-paragraph message, exit status 2."""


def write_stdout(text: str) -> None:
    """Write a command's document on stdout (a newline added), control characters escaped.

    Raises
    ------
    BrokenPipeError
        The reader left (``| head``); the caller treats that as done.
    OutputError
        Stdout is closed or cannot be written.
    """
    if sys.stdout is None:
        raise OutputError("standard output is closed, so there is nowhere to print. Run the "
                          "command without closing it (>&-), or redirect it to a file.")
    text = printable(text if text.endswith("\n") else text + "\n")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise OutputError(f"cannot write to standard output ({reason}). Free some space or "
                          f"redirect the output somewhere that can take it.") from None


@contextlib.contextmanager
def user_errors(network: Network) -> Iterator[None]:
    """Turn an exception raised by the network file's own code into a :class:`LoadError`.

    Exceptions that did not pass through the file are gradstep's own, and propagate unchanged.
    """
    try:
        yield
    except LoadError:
        raise
    except Exception as exc:
        failure = user_code_failure(exc, network)
        if failure is None:
            raise
        raise failure from exc


def load_and_run(target: str, action: Callable[[Network], T]) -> tuple[Network, T]:
    """Load ``target`` and return it with ``action(network)``.

    Raises
    ------
    LoadError
        For a bad target, a broken network file, or an error in the file's own code while
        ``action`` runs.
    """
    network = load(target)
    with user_errors(network):
        return network, action(network)


def add_command(commands: argparse._SubParsersAction, name: str, help: str, description: str,
                target_help: str, optional: bool = False) -> argparse.ArgumentParser:
    """Add subcommand ``name``, taking a TARGET (left out allowed when ``optional``) and
    ``--timeout``."""
    parser = commands.add_parser(name, help=help, description=description)
    parser.add_argument("target", nargs="?" if optional else None, metavar="TARGET",
                        help=target_help)
    add_timeout(parser)
    return parser


def add_timeout(parser: argparse.ArgumentParser) -> None:
    """Add ``--timeout SECONDS``: the limit on a network file's top level and each forward()."""
    parser.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"stop a network file whose top level, or one call of its "
                             f"forward(), runs longer than this (default {DEFAULT_TIMEOUT:g})")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0 and at most "
                                         f"{MAX_TIMEOUT:g}, not {text!r}")
    return value


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high`` (no upper bound: None)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            upper = f" to {high:,}" if high is not None else " or more"
            raise argparse.ArgumentTypeError(f"must be a whole number from {low}{upper}, not "
                                             f"{text!r}")
        return value

    return parse
