"""What a served session refuses: a typed path, another site's page, a wrong host, a missing
token, one visitor too many; and a visitor's process never outlives its connection.

The server is the real one (:class:`gradstep.webserver.GuardedServer`) on 127.0.0.1, driven by a
real aiohttp client; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from gradstep.webserver import QUIT_GRACE, GuardedServer
from tests.test_tui_training import wait_for
from tui.app import NOT_SERVED, GradstepApp
from tui.debugger_screen import DebuggerScreen
from tui.picker_screen import PickerScreen

TIMEOUT = aiohttp.ClientTimeout(total=10)
TOKEN = "s3cret-token-for-the-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def running(command: str, token: str | None = TOKEN, max_visitors: int = 5):
    """A guarded server on 127.0.0.1 running ``command`` per visitor; yields it."""
    port = free_port()
    server = GuardedServer(command, host="127.0.0.1", port=port,
                           public_url=f"http://127.0.0.1:{port}", title="test", token=token,
                           max_visitors=max_visitors, banner="")
    runner = web.AppRunner(await server._make_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield server
    finally:
        await runner.cleanup()
        for service in list(server.visitors):
            service.kill()


def base(server: GuardedServer) -> str:
    return f"http://127.0.0.1:{server.port}"


SLEEPER = f"{sys.executable} -c 'import time; time.sleep(60)'"  # a visitor's app that is stuck


async def test_the_page_needs_the_token_and_names_its_websocket_with_it():
    async with running(SLEEPER) as server, aiohttp.ClientSession(timeout=TIMEOUT) as client:
        async with client.get(base(server) + "/") as response:
            assert response.status == 403
            assert "token" in await response.text()
        async with client.get(base(server) + "/?token=wrong") as response:
            assert response.status == 403
        async with client.get(base(server) + f"/?token={TOKEN}") as response:
            assert response.status == 200
            assert f"ws://127.0.0.1:{server.port}/ws/{TOKEN}" in await response.text()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(f"ws://127.0.0.1:{server.port}/ws")  # no token: no socket
        assert refused.value.status == 404


async def test_another_site_and_another_host_name_are_refused():
    async with running(SLEEPER) as server, aiohttp.ClientSession(timeout=TIMEOUT) as client:
        socket_url = f"ws://127.0.0.1:{server.port}/ws/{TOKEN}"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(socket_url, headers={"Origin": "http://evil.example"})
        assert refused.value.status == 403
        assert server.visitors == set()  # no process was started for it
        async with client.get(base(server) + f"/?token={TOKEN}",
                              headers={"Host": "evil.example"}) as response:
            assert response.status == 421  # DNS rebinding: the name is not the served one
        async with client.get(base(server) + f"/?token={TOKEN}",
                              headers={"Origin": "http://evil.example"}) as response:
            assert response.status == 403
        own = {"Origin": base(server)}
        async with client.get(base(server) + f"/?token={TOKEN}", headers=own) as response:
            assert response.status == 200  # the served page itself is fine
        async with client.ws_connect(socket_url, headers=own) as ws:
            assert not ws.closed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone, only not yet reaped
        return stat.read().split(") ")[-1][0] != "Z"


async def test_a_stuck_visitor_process_dies_with_its_connection_and_the_cap_holds():
    async with running(SLEEPER, max_visitors=1) as server, \
            aiohttp.ClientSession(timeout=TIMEOUT) as client:
        socket_url = f"ws://127.0.0.1:{server.port}/ws/{TOKEN}"
        ws = await client.ws_connect(socket_url)
        for _ in range(100):
            if server.visitors and next(iter(server.visitors))._process is not None:
                break
            await asyncio.sleep(0.05)
        [service] = server.visitors
        pid = service._process.pid
        assert _alive(pid)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(socket_url)  # one visitor too many
        assert refused.value.status == 503
        await ws.close()
        deadline = time.monotonic() + 2 * QUIT_GRACE + 3
        while _alive(pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not _alive(pid), "the visitor's process outlived its connection"
        assert server.visitors == set()


async def test_a_served_session_has_no_path_box_and_refuses_a_typed_path(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    offered = tmp_path / "offered.py"
    offered.write_text("from tracer import param\nw = param(3.0, name='w')\n"
                       "def forward():\n    return w * w\n", encoding="utf-8")
    app = GradstepApp(served=(str(offered),))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        assert not picker.query("#path-input")  # nothing to type a path into
        await pilot.press("o", *"../evil.py")  # typed anyway: goes nowhere
        await pilot.pause()
        assert app.screen is picker and not app.screen.query("Input")
        app.open_target(str(evil))  # and asked for directly
        await app.workers.wait_for_complete()
        # (under load the refusal can take more than one frame to show)
        await wait_for(pilot, lambda: NOT_SERVED in str(
            picker.query_one("#picker-error").render()))
        assert not marker.exists()  # its code never ran
        app.open_target(str(tmp_path))  # a directory: no listing, the same answer
        await pilot.pause()
        assert "It holds" not in str(picker.query_one("#picker-error").render())
        options = [o.id for o in picker.query_one("#scenario-list").options]
        assert str(offered) in options and "mazur" in options
        app.open_target(str(offered))
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: isinstance(app.screen, DebuggerScreen))
        assert app.screen.network.name == "offered"


async def test_a_malformed_host_or_origin_is_refused_not_an_error():
    async with running(SLEEPER) as server, aiohttp.ClientSession(timeout=TIMEOUT) as client:
        for headers, status in (({"Host": "127.0.0.1:notaport"}, 421),
                                ({"Origin": "http://127.0.0.1:99999999"}, 403),
                                ({"Origin": "null"}, 403)):
            async with client.get(base(server) + f"/?token={TOKEN}",
                                  headers=headers) as response:
                assert response.status == status, headers


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(p) for p in children.read().split()]


async def test_ctrl_c_stops_the_server_at_once_and_its_visitors_with_it():
    import signal
    import subprocess

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gradstep", "serve", "chain-rule", "--port",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as client:
            deadline = time.monotonic() + 20
            while True:  # until it listens
                try:
                    ws = await client.ws_connect(f"ws://127.0.0.1:{port}/ws?width=80&height=24")
                    break
                except aiohttp.ClientConnectionError:
                    assert time.monotonic() < deadline, "the server did not start"
                    await asyncio.sleep(0.2)
            while not _children(server.pid) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            [visitor] = _children(server.pid)
            server.send_signal(signal.SIGINT)
            stopped = time.monotonic()
            await asyncio.to_thread(server.wait, 20)
            assert time.monotonic() - stopped < QUIT_GRACE + 3
            assert server.returncode == 0
            await asyncio.sleep(0.5)
            assert not _alive(visitor), "a visitor's process outlived the server"
            await ws.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
