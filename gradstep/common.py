"""What the ``gradstep`` subcommands share: loading a target and running its code, and the
shape of a subcommand that takes a TARGET."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

from scenarios import LoadError, load
from scenarios.loader import user_code_failure
from tracer import Network

T = TypeVar("T")


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
    """Add subcommand ``name``, taking a TARGET (left out allowed when ``optional``)."""
    parser = commands.add_parser(name, help=help, description=description)
    parser.add_argument("target", nargs="?" if optional else None, metavar="TARGET",
                        help=target_help)
    return parser
