"""``gradstep serve``: a real server on a loopback port serves the page; bad input serves nothing;
a non-loopback address gets a warning."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from gradstep.cli import main
from gradstep.serve import app_command, is_loopback, url

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 18.0  # seconds for the server to serve the page and start a visitor's app, in all


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(address: str, deadline: float) -> tuple[int, str]:
    """GET ``address``, retrying while the server starts, until ``deadline`` (monotonic)."""
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(address, timeout=2) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            error = exc
            time.sleep(0.2)
    raise AssertionError(f"no answer from {address} in {DEADLINE} s: {error}")


async def visit(address: str, deadline: float) -> bytes:
    """Open the page's websocket as a browser would; return the visitor's terminal output up to
    the debugger's status bar (its process runs ``gradstep open``), or all of it by
    ``deadline``."""
    seen = b""
    async with aiohttp.ClientSession() as session, session.ws_connect(address) as ws:
        while b"The chain rule at a fork" not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                message = await asyncio.wait_for(ws.receive(), left)
            except TimeoutError:
                break
            if message.type == aiohttp.WSMsgType.BINARY:
                seen += message.data
            elif message.type != aiohttp.WSMsgType.TEXT:
                break  # closed: the visitor's app exited
    return seen


def test_serve_serves_the_page_and_a_debugger_per_visitor_on_a_loopback_port():
    port = free_port()
    deadline = time.monotonic() + DEADLINE
    process = subprocess.Popen(
        [sys.executable, "-m", "gradstep", "serve", "chain-rule", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        status, page = fetch(f"http://127.0.0.1:{port}/", deadline)
        assert process.poll() is None
        assert status == 200
        assert "<html" in page.lower()
        socket_url = f"ws://127.0.0.1:{port}/ws"
        assert socket_url in page  # the browser's way back to the app
        assert "gradstep chain-rule" in page  # the page's title names what it serves
        screen = asyncio.run(visit(f"{socket_url}?width=120&height=40", deadline))
        assert b"The chain rule at a fork" in screen, screen[-500:]
    finally:
        process.terminate()
        try:
            _, err = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    assert "warning" not in err  # loopback: nothing to warn about


class FakeServer:
    """Stands in for the guarded server: records how it was made, serves nothing."""

    made: list[dict] = []

    def __init__(self, command: str, **options) -> None:
        FakeServer.made.append({"command": command, **options})

    def serve(self, sock=None) -> None:
        pass


@pytest.fixture
def fake_server(monkeypatch):
    import gradstep.webserver

    FakeServer.made = []
    monkeypatch.setattr(gradstep.webserver, "GuardedServer", FakeServer)
    monkeypatch.setattr(gradstep.webserver, "listening_socket", lambda host, port: None)
    return FakeServer.made


def visitor_argv(server: dict) -> list[str]:
    """The visitor's ``gradstep`` arguments, after ``python -m gradstep``."""
    command = shlex.split(server["command"])
    assert command[:3] == [sys.executable, "-m", "gradstep"]
    return command[3:]


def test_serve_runs_the_debugger_once_per_visitor_on_loopback_by_default(fake_server, capsys):
    assert main(["serve", "mazur"]) == 0
    [server] = fake_server
    assert server["host"] == "127.0.0.1" and server["port"] == 8000
    assert visitor_argv(server) == ["open", "--timeout", "15", "--served", "mazur"]
    assert server["token"] is None  # loopback: no token needed
    assert "warning" not in capsys.readouterr().err


def test_serve_without_a_target_serves_the_picker(fake_server):
    assert main(["serve", "--port", "8123"]) == 0
    [server] = fake_server
    assert visitor_argv(server) == ["open", "--timeout", "15", "--served"]
    assert server["port"] == 8123 and server["public_url"] == "http://127.0.0.1:8123"


def test_a_network_file_is_served_by_absolute_path(fake_server, tmp_path, monkeypatch):
    folder = tmp_path / "my nets"
    folder.mkdir()
    (folder / "net.py").write_text("from tracer import param\nw = param(2.0, name='w')\n"
                                   "def forward():\n    return w * w\n")
    monkeypatch.chdir(folder)
    assert main(["serve", "net.py"]) == 0
    argv = visitor_argv(fake_server[0])
    assert argv[-3:] == ["--serve-file", str(folder / "net.py"), str(folder / "net.py")]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_a_non_loopback_address_gets_a_warning(fake_server, capsys, host):
    assert main(["serve", "chain-rule", "--host", host, "--port", "8080"]) == 0
    err = capsys.readouterr().err
    assert f"warning: serving on http://{host}:8080" in err
    assert "built-in scenarios and the files named on the command line" in err
    assert fake_server[0]["host"] == host
    token = fake_server[0]["token"]
    assert token and len(token) >= 20  # off loopback the page needs a secret
    assert f"http://{host}:8080/?token={token}" in fake_server[0]["banner"]


def test_a_wildcard_host_is_told_about_public_url(fake_server, capsys):
    assert main(["serve", "--host", "0.0.0.0"]) == 0
    assert "--public-url" in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0", "--public-url", "http://class.example:8000"]) == 0
    assert fake_server[1]["public_url"] == "http://class.example:8000"


def test_a_bad_target_exits_2_before_serving(fake_server, capsys):
    assert main(["serve", "no-such-net"]) == 2
    assert "not a built-in scenario" in capsys.readouterr().err
    assert fake_server == []


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.1", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("::", False), ("", False), ("192.0.2.10", False),
    ("10.0.0.1", False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_urls_bracket_ipv6():
    assert url("127.0.0.1", 80) == "http://127.0.0.1:80"
    assert url("::1", 8000) == "http://[::1]:8000"


def test_app_command_quotes_for_the_shell(tmp_path):
    command = app_command([str(tmp_path / "it's a net.py")])
    assert shlex.split(command)[-1] == str(tmp_path / "it's a net.py")


def test_presenter_and_quiz_modes_reach_every_visitor(fake_server):
    assert main(["serve", "mazur", "--present", "--quiz"]) == 0
    argv = visitor_argv(fake_server[0])
    assert argv == ["open", "--present", "--quiz", "--timeout", "15", "--served", "mazur"]
    # The visitor's command line is one gradstep itself accepts.
    from gradstep.cli import _normalise, build_parser
    args = build_parser().parse_args(_normalise(argv))
    assert args.command == "open" and args.present and args.quiz and args.target == "mazur"
    assert args.served and args.serve_file == []


def test_the_served_page_asks_nothing_of_other_hosts_and_focuses_the_debugger(tmp_path):
    """The real server, in its own process: the page's every URL is on this server, its font
    is served, and the page focuses the terminal as it loads (keys work without a click)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "gradstep", "serve", "chain-rule",
                               "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**os.environ})
    try:
        page = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert page is not None, "the server did not answer"
        urls = re.findall(r'(?:href|src)="([^"]+)"|url\("([^"]+)"\)', page)
        urls = [a or b for a, b in urls]
        assert urls and all(u.startswith(("/", f"http://127.0.0.1:{port}/")) for u in urls), urls
        assert "googleapis" not in page
        font = next(u for u in urls if u.endswith("RobotoMono-VariableFont_wght.ttf"))
        with urllib.request.urlopen(urllib.parse.urljoin(f"http://127.0.0.1:{port}/", font),
                                    timeout=5) as r:
            assert r.status == 200 and len(r.read()) > 10_000
        assert 'querySelector("#terminal textarea")' in page and ".focus()" in page
    finally:
        server.terminate()
        server.wait(timeout=10)
