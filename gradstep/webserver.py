"""textual-serve's web server, made safe to leave running in a classroom.

textual-serve starts one process per browser tab that opens its websocket and trusts every
request. :class:`GuardedServer` adds what a server that runs code on this machine needs:

- the ``Host`` of every request must be the served address (a web page elsewhere cannot reach
  it by pointing its own name at this machine: DNS rebinding), and a request carrying an
  ``Origin`` must come from the served page itself (another site's script, open in the
  teacher's browser, cannot drive the websocket);
- off the loopback address, a per-run secret token in the page's address (printed at start,
  like Jupyter's), without which there is neither page nor websocket;
- at most ``max_visitors`` debugger processes at once;
- each visitor's process in its own process group, killed with its connection (after a short
  grace to quit on its own), with the server, and with the server's own death (``SIGKILL`` from
  the kernel when its parent dies, on Linux).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hmac
import os
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server

from tracer.printable import printable

__all__ = ["DEFAULT_MAX_VISITORS", "GuardedServer", "ServeError", "listening_socket"]

# About 70 MB and a few seconds of CPU to start per visitor: a class of 30 fits in 2 GB.
DEFAULT_MAX_VISITORS = 30
QUIT_GRACE = 2.0  # seconds a visitor's app has to quit after its connection closed

PR_SET_PDEATHSIG = 1


class ServeError(Exception):
    """The server cannot start (an address that cannot be listened on)."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening, or :class:`ServeError` saying why not."""
    if not 0 < port < 65536:
        raise ServeError(f"--port {port} is not a port number; use one from 1 to 65535 (such "
                         f"as the default, 8000).")
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise ServeError(f"--host {printable(host)!r} is not an address of this machine "
                         f"({exc}); use 127.0.0.1 (the default) or 0.0.0.0.") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = ("another program is already listening there; pick another --port"
                  if exc.errno == 98 else f"{exc.strerror}")
        raise ServeError(f"cannot listen on {printable(host)}:{port}: {reason}.") from None
    return sock


def _die_with_parent() -> None:
    """In the visitor's process, before it runs: its own process group, and SIGKILL when the
    server dies (even killed outright, so that nothing can clean up)."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class _Escaped:
    """A visitor's stderr as textual-serve reads it, control characters escaped: what a
    network file prints must not reach the server's terminal raw."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream

    async def read(self, n: int = -1) -> bytes:
        data = await self.stream.read(n)
        return printable(data.decode("utf-8", "replace")).encode("utf-8")


class VisitorService(AppService):
    """One visitor's debugger process, which never outlives its connection or the server."""

    async def _open_app_process(self, width: int = 80, height: int = 24):
        environment = self._build_environment(width=width, height=height)
        self._process = process = await asyncio.create_subprocess_exec(
            *shlex.split(self.command), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=environment,
            preexec_fn=_die_with_parent)
        self._stdin = process.stdin
        process.stderr = _Escaped(process.stderr)  # textual-serve echoes it on our terminal
        return process

    def kill(self) -> None:
        """Kill the process and anything it started (its whole process group)."""
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        """Ask the app to quit; kill it if it has not within :data:`QUIT_GRACE` seconds (a
        network file stuck in a loop cannot answer)."""
        if self._task is None:
            return
        task, self._task = self._task, None
        await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send_meta({"type": "quit"}), QUIT_GRACE)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), QUIT_GRACE)
        self.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, QUIT_GRACE)


def _netloc(url: str) -> str:
    """``host:port`` of ``url``, lower case, the port made explicit ('' if it has none)."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is not a number: matches nothing
        return ""
    host = (parts.hostname or "").lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GuardedServer(Server):
    """A textual-serve :class:`~textual_serve.server.Server` that checks who is asking.

    Parameters
    ----------
    command
        The shell command of one visitor's app.
    host, port, public_url, title
        As textual-serve's; ``public_url`` is the address the page and the checks use.
    token
        The secret every request must carry (``?token=…`` for the page; the websocket's path
        has it), or ``None`` for none (loopback).
    max_visitors
        Visitors at once; one more is turned away (HTTP 503) until someone leaves.
    banner
        Printed once the server listens.
    templates_path
        The page's template folder (gradstep's own, see :data:`gradstep.serve.PAGE`).
    """

    def __init__(self, command: str, *, host: str, port: int, public_url: str, title: str,
                 token: str | None, max_visitors: int, banner: str,
                 templates_path: str | os.PathLike[str] = "./templates") -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url,
                         templates_path=templates_path)
        self.token = token
        self.max_visitors = max_visitors
        self.banner = banner
        self.visitors: set[VisitorService] = set()
        self.sockets: set[web.WebSocketResponse] = set()
        self.wildcard = host in ("", "0.0.0.0", "::")
        self.hosts = {_netloc(public_url), _netloc(f"http://{host}:{port}")}
        if host in ("127.0.0.1", "localhost", "::1"):
            self.hosts |= {f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"}

    # --- who may ask -------------------------------------------------------------------------

    def _host_allowed(self, request: web.Request) -> bool:
        if self.wildcard:  # any of this machine's addresses: the token guards it
            return True
        return _netloc(f"http://{request.host}") in self.hosts

    def _origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:  # not sent by a browser's script: not a cross-site request
            return True
        if self.wildcard:
            return _netloc(origin) == _netloc(f"http://{request.host}")
        return _netloc(origin) in self.hosts

    def _token_given(self, given: str | None) -> bool:
        return self.token is None or (given is not None
                                      and hmac.compare_digest(given, self.token))

    @web.middleware
    async def guard(self, request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        if not self._host_allowed(request):
            raise web.HTTPMisdirectedRequest(text="This gradstep server does not answer to "
                                                  "that host name.\n")
        if not self._origin_allowed(request):
            raise web.HTTPForbidden(text="This gradstep server only answers its own page.\n")
        if request.path == "/" and not self._token_given(request.query.get("token")):
            raise web.HTTPForbidden(text="This gradstep server needs the address with its "
                                         "token, as printed where it was started.\n")
        return await handler(request)

    # --- the app: textual-serve's routes, with the token in the websocket's path --------------

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        import aiohttp_jinja2
        import jinja2

        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        socket_path = f"/ws/{self.token}" if self.token else "/ws"
        app.add_routes([
            web.get("/", self.handle_index, name="index"),
            web.get(socket_path, self.handle_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, show_index=False, name="static"),
        ])
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if len(self.visitors) >= self.max_visitors:
            raise web.HTTPServiceUnavailable(
                text=f"This gradstep server already has {self.max_visitors} visitors, its "
                     f"limit (--max-visitors). Try again when someone leaves.\n")
        websocket = web.WebSocketResponse(heartbeat=15)
        width = _size(request.query.get("width"), 80)
        height = _size(request.query.get("height"), 24)
        await websocket.prepare(request)
        self.sockets.add(websocket)
        service = VisitorService(self.command, write_bytes=websocket.send_bytes,
                                 write_str=websocket.send_str, close=websocket.close,
                                 download_manager=self.download_manager, debug=self.debug)
        self.visitors.add(service)
        try:
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except (asyncio.CancelledError, ConnectionError, ValueError, TypeError, KeyError,
                IndexError, AssertionError):
            pass  # the visitor left, or sent something that is not textual's protocol
        finally:
            self.visitors.discard(service)
            self.sockets.discard(websocket)
            await asyncio.shield(service.stop())
            with contextlib.suppress(Exception):
                await websocket.close()
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        print(self.banner, file=sys.stderr, flush=True)

    async def on_shutdown(self, app: web.Application) -> None:
        """Ctrl+C: end every visitor now (the browsers show "Session ended")."""
        for service in list(self.visitors):
            service.kill()
        for websocket in list(self.sockets):
            with contextlib.suppress(Exception):
                await websocket.close(code=WSCloseCode.GOING_AWAY)

    def serve(self, debug: bool = False, sock: socket.socket | None = None) -> None:
        """Serve on ``sock`` (already listening) until Ctrl+C or SIGTERM."""
        self.debug = debug
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_exit)
        try:
            web.run_app(self._make_app(), sock=sock, handle_signals=False, loop=loop,
                        print=lambda *args: None, access_log=None,
                        shutdown_timeout=QUIT_GRACE)
        finally:
            for service in list(self.visitors):
                service.kill()


def _size(text: str | None, default: int) -> int:
    """A terminal width or height from the websocket's query, within sane bounds."""
    try:
        return min(max(int(text or default), 8), 1000)
    except ValueError:
        return default


def new_token() -> str:
    """A per-run secret for the page's address."""
    return secrets.token_urlsafe(18)
