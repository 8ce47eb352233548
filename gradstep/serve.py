"""``gradstep serve``: the debugger in a web browser, through textual-serve.

Each visitor's browser tab gets its own process running ``python -m gradstep open TARGET`` (or
the scenario picker), so a class can each step through the same network on their own. The
server listens on the loopback address unless told otherwise, and warns on stderr when it is
reachable from other machines: a visitor can open any network file the server can read, and a
``.py`` network file is Python code that runs on the server.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from scenarios import load

from .common import add_command

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


# textual-serve's page with a local font (no request leaves the machine) and the keyboard
# focused on the debugger as it opens.
PAGE = Path(__file__).parent / "serve_page"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is reachable only from this machine.

    ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``) are; wildcards
    (``0.0.0.0``, ``::``, ``""``) and other names are not. A name is resolved, and counts as
    loopback only when every address it resolves to is one.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def app_command(target: str | None, options: Sequence[str] = ()) -> str:
    """The shell command textual-serve runs for each visitor.

    A network file is passed by absolute path (the visitor's process must find it whatever its
    working directory); a built-in scenario by name; no target opens the picker. ``options``
    are ``gradstep open``'s own (``--present``, ``--quiz``).
    """
    argv = [sys.executable, "-m", "gradstep", "open", *options]
    if target is not None:
        path = Path(target)
        argv.append(str(path.resolve()) if path.exists() else target)
    return shlex.join(argv)


def url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


def warning(host: str, port: int) -> str:
    """The stderr warning for a server bound to a non-loopback address."""
    return (f"gradstep: warning: serving on {url(host, port)}, which other machines can "
            f"reach. Anyone who can connect gets a debugger running on this computer, and can "
            f"open any network file it can read; a .py network file is Python code that runs "
            f"here. Serve on a network you trust, or use the default --host {DEFAULT_HOST}.")


def serve(target: str | None = None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          public_url: str | None = None, options: Sequence[str] = ()) -> int:
    """Serve the debugger on ``host:port`` until interrupted; return the exit status.

    Parameters
    ----------
    target
        A scenario name or network file, loaded (and so checked) before serving: a bad one
        raises :class:`scenarios.LoadError` and nothing is served. ``None`` serves the picker.
    host, port
        Where to listen. A non-loopback ``host`` prints :func:`warning` on stderr first.
    public_url
        The address browsers use to reach the server, when it differs from ``host:port``
        (a wildcard host such as ``0.0.0.0``, or a proxy in front).
    options
        ``gradstep open`` options for every visitor's debugger: ``--present``, ``--quiz``.

    Returns
    -------
    int
        0 once the server has stopped (Ctrl+C or SIGTERM).
    """
    if target is not None:
        load(target)
    if not is_loopback(host):
        print(warning(host, port), file=sys.stderr)
        if public_url is None and host in ("", "0.0.0.0", "::"):
            print(f"gradstep: the page will tell browsers to connect to {url(host, port)}; pass "
                  f"--public-url http://ADDRESS:{port} with this machine's address so that "
                  f"other machines can.", file=sys.stderr)
    from textual_serve.server import Server  # imported here: only serve needs it

    name = f"gradstep {target}" if target else "gradstep"
    server = Server(app_command(target, options), host=host, port=port, title=name,
                    public_url=public_url or url(host, port), templates_path=PAGE)
    server.serve()
    return 0


def add_parser(commands: argparse._SubParsersAction, target_help: str) -> None:
    """Add the ``serve`` subcommand to the ``gradstep`` parser's ``commands``."""
    server = add_command(
        commands, "serve", "serve the debugger in a web browser",
        "Serve the debugger over HTTP with textual-serve: each browser tab that opens the page "
        "gets its own debugger process, on TARGET or on the scenario picker. Listens on the "
        "loopback address unless --host says otherwise (and then warns on stderr). Ctrl+C stops "
        "it.", target_help, optional=True)
    server.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}, this machine only; "
                             f"0.0.0.0 for every interface)")
    server.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT})")
    server.add_argument("--public-url", metavar="URL",
                        help="the address browsers should use to reach the server, when it is "
                             "not http://HOST:PORT (a wildcard host, or behind a proxy)")
    server.add_argument("--present", action="store_true",
                        help="every visitor's debugger starts in presenter mode")
    server.add_argument("--quiz", action="store_true",
                        help="every visitor's debugger starts in quiz mode: each backward step "
                             "asks for its gradient first")


def run(args: argparse.Namespace) -> int:
    """Run ``gradstep serve`` from parsed arguments."""
    options = [flag for flag, on in (("--present", args.present), ("--quiz", args.quiz)) if on]
    return serve(args.target, args.host, args.port, args.public_url, options)
