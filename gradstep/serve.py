"""``gradstep serve``: the debugger in a web browser, through textual-serve.

Each visitor's browser tab gets its own process running ``python -m gradstep open TARGET`` (or
the scenario picker), so a class can each step through the same network on their own. Visitors
open the built-in scenarios and the files named on the command line, nothing else (unless
``--allow-any-file``). The server listens on the loopback address unless told otherwise, warns
on stderr when it is reachable from other machines, and then guards the page with a per-run
token; :mod:`gradstep.webserver` checks every request.
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
from scenarios.catalog import find_builtin
from tracer.printable import printable

from .common import add_timeout, whole_number
from .webserver import DEFAULT_MAX_VISITORS

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


def app_command(targets: Sequence[str], options: Sequence[str] = (),
                allow_any_file: bool = False) -> str:
    """The shell command textual-serve runs for each visitor.

    Network files are passed by absolute path (the visitor's process must find them whatever its
    working directory); built-in scenarios by name. One target opens the debugger on it; none or
    several open the picker. Unless ``allow_any_file``, each is also passed as ``--served``: the
    visitor's picker offers only the built-ins and those files, and has no box to type a path.
    ``options`` are ``gradstep open``'s own (``--present``, ``--quiz``).
    """
    resolved = [str(Path(t).resolve()) if find_builtin(t) is None else t for t in targets]
    argv = [sys.executable, "-m", "gradstep", "open", *options]
    if not allow_any_file:
        argv += ["--served", *(arg for path in resolved if find_builtin(path) is None
                               for arg in ("--serve-file", path))]
    if len(resolved) == 1:
        argv.append(resolved[0])
    return shlex.join(argv)


def url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


def warning(host: str, port: int, allow_any_file: bool) -> str:
    """The stderr warning for a server bound to a non-loopback address, or one that lets
    visitors open any file."""
    where = (f"serving on {url(host, port)}, which other machines can reach"
             if not is_loopback(host) else f"serving on {url(host, port)}")
    files = ("and with --allow-any-file a visitor can open any network file this computer can "
             "read: a .py network file is Python code that runs here, as you"
             if allow_any_file else "visitors can open the built-in scenarios and the files "
             "named on the command line, nothing else")
    return (f"gradstep: warning: {where}. Anyone who can connect gets a debugger running on "
            f"this computer, {files}. Serve on a network you trust.")


def serve(targets: Sequence[str] = (), host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          public_url: str | None = None, options: Sequence[str] = (),
          allow_any_file: bool = False, max_visitors: int = DEFAULT_MAX_VISITORS) -> int:
    """Serve the debugger on ``host:port`` until interrupted; return the exit status.

    Parameters
    ----------
    targets
        Scenario names and network files, loaded (and so checked) before serving: a bad one
        raises :class:`scenarios.LoadError` and nothing is served. Visitors may open these and
        the built-in scenarios, nothing else (one target: the debugger opens on it; none or
        several: on the picker).
    host, port
        Where to listen. A non-loopback ``host`` prints :func:`warning` on stderr first, and
        the page's address then carries a secret token (printed).
    public_url
        The address browsers use to reach the server, when it differs from ``host:port``
        (a wildcard host such as ``0.0.0.0``, or a proxy in front).
    options
        ``gradstep open`` options for every visitor's debugger: ``--present``, ``--quiz``.
    allow_any_file
        Let visitors type the path of any network file (the old behaviour; warns).
    max_visitors
        Debugger processes at once (``--max-visitors``).

    Returns
    -------
    int
        0 once the server has stopped (Ctrl+C or SIGTERM); 2 if it could not listen.
    """
    for target in targets:
        load(target)
    from .webserver import GuardedServer, ServeError, listening_socket, new_token

    try:
        sock = listening_socket(host, port)
    except ServeError as exc:
        print(f"gradstep serve: {exc}", file=sys.stderr)
        return 2
    loopback = is_loopback(host)
    if not loopback or allow_any_file:
        print(warning(host, port, allow_any_file), file=sys.stderr)
        if public_url is None and host in ("", "0.0.0.0", "::"):
            print(f"gradstep: the page will tell browsers to connect to {url(host, port)}; pass "
                  f"--public-url http://ADDRESS:{port} with this machine's address so that "
                  f"other machines can.", file=sys.stderr)
    token = None if loopback else new_token()
    address = public_url or url(host, port)
    page = f"{address}/?token={token}" if token else f"{address}/"
    offered = ", ".join(printable(t) for t in targets) or "the scenario picker"
    banner = (f"gradstep: serving {offered} at {page}\n"
              f"gradstep: open that address in a browser (one debugger per tab, at most "
              f"{max_visitors} at once); Ctrl+C stops the server.")
    name = f"gradstep {' '.join(targets)}" if targets else "gradstep"
    server = GuardedServer(app_command(targets, options, allow_any_file), host=host, port=port,
                           title=name, public_url=address, token=token,
                           max_visitors=max_visitors, banner=banner, templates_path=PAGE)
    server.serve(sock=sock)
    return 0


def add_parser(commands: argparse._SubParsersAction, target_help: str) -> None:
    """Add the ``serve`` subcommand to the ``gradstep`` parser's ``commands``."""
    server = commands.add_parser(
        "serve", help="serve the debugger in a web browser",
        description="Serve the debugger over HTTP with textual-serve: each browser tab that "
                    "opens the page gets its own debugger process, on TARGET or on the scenario "
                    "picker. Visitors can open the built-in scenarios and the TARGETs, nothing "
                    "else. Listens on the loopback address unless --host says otherwise (then "
                    "it warns on stderr, and the page's address carries a secret token, printed "
                    "at start). Ctrl+C stops it.")
    server.add_argument("targets", nargs="*", metavar="TARGET",
                        help=f"{target_help}; several may be given")
    server.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}, this machine only; "
                             f"0.0.0.0 for every interface)")
    server.add_argument("--port", type=whole_number(1, 65535), default=DEFAULT_PORT,
                        help=f"port to listen on (default {DEFAULT_PORT})")
    server.add_argument("--public-url", metavar="URL",
                        help="the address browsers should use to reach the server, when it is "
                             "not http://HOST:PORT (a wildcard host, or behind a proxy)")
    server.add_argument("--max-visitors", type=whole_number(1), default=DEFAULT_MAX_VISITORS,
                        metavar="N",
                        help=f"debugger processes at once, one per browser tab (default "
                             f"{DEFAULT_MAX_VISITORS}, about 70 MB each)")
    server.add_argument("--allow-any-file", action="store_true",
                        help="let visitors type the path of any network file on this computer "
                             "(a .py file is code that runs here): only for a network you trust")
    add_timeout(server)
    server.add_argument("--present", action="store_true",
                        help="every visitor's debugger starts in presenter mode")
    server.add_argument("--quiz", action="store_true",
                        help="every visitor's debugger starts in quiz mode: each backward step "
                             "asks for its gradient first")


def run(args: argparse.Namespace) -> int:
    """Run ``gradstep serve`` from parsed arguments."""
    options = [flag for flag, on in (("--present", args.present), ("--quiz", args.quiz)) if on]
    options += ["--timeout", f"{args.timeout:g}"]
    return serve(args.targets, args.host, args.port, args.public_url, options,
                 args.allow_any_file, args.max_visitors)

