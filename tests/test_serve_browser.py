"""``gradstep serve`` in a real browser: headless Chromium, driven over the DevTools Protocol.

The page must show the debugger, take keys at once (no click first) and ask nothing of any host
but the server (an offline classroom has no Google Fonts). Skips where Chromium is not
installed (CI). Set ``GRADSTEP_SCREENSHOTS=DIR`` to keep the screenshots for looking at.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import aiohttp
import pytest

from tests.test_serve import ROOT, free_port

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
                None)
DEADLINE = 60.0  # seconds for the whole visit, server and browser start included
TITLE = "Matt Mazur's worked example"  # in the debugger's header
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[0-9=>@-Z\\-_])")
SIZES = ((1280, 800), (800, 500))

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (chromium on PATH) to drive a real browser")


@contextlib.contextmanager
def started(argv: list[str]):
    """Run ``argv`` in its own process group; end the whole group afterwards."""
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Browser:
    """One page of a Chromium over the DevTools Protocol: commands, and the URLs it requested."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.answers: dict[int, asyncio.Future] = {}
        self.requested: list[str] = []
        self.received = bytearray()  # the terminal's output, as the page's websocket got it
        self.sent: list[str] = []  # what the page sent the server: keys, sizes
        self.reader = asyncio.ensure_future(self.read())

    async def read(self) -> None:
        async for message in self.ws:
            event = json.loads(message.data)
            if "id" in event:
                self.answers.pop(event["id"]).set_result(event)
            elif event.get("method") == "Network.requestWillBeSent":
                self.requested.append(event["params"]["request"]["url"])
            elif event.get("method") == "Network.webSocketCreated":
                self.requested.append(event["params"]["url"])
            elif event.get("method") == "Network.webSocketFrameReceived":
                frame = event["params"]["response"]
                # binary frames (opcode 2) come base64-encoded: the terminal's output
                if frame["opcode"] == 2:
                    self.received += base64.b64decode(frame["payloadData"])
            elif event.get("method") == "Network.webSocketFrameSent":
                self.sent.append(event["params"]["response"]["payloadData"])

    async def send(self, method: str, **params) -> dict:
        number = next(self.ids)
        answer = self.answers[number] = asyncio.get_running_loop().create_future()
        await self.ws.send_json({"id": number, "method": method, "params": params})
        event = await asyncio.wait_for(answer, 20)
        assert "error" not in event, f"{method}: {event['error']}"
        return event["result"]

    async def evaluate(self, expression: str):
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def output(self, since: int = 0) -> str:
        """The terminal's output from byte ``since`` on, as text without escape sequences."""
        return ANSI.sub("", self.received[since:].decode("utf-8", "replace"))

    async def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode((await self.send("Page.captureScreenshot", format="png"))["data"])
        path.write_bytes(data)
        return data

    async def press(self, key: str) -> None:
        """Type one printable key, as a keyboard would, to whatever has the focus."""
        code = f"Key{key.upper()}" if key.isalpha() else ""
        modifiers = 8 if key.isupper() else 0  # Shift
        await self.send("Input.dispatchKeyEvent", type="keyDown", key=key, code=code, text=key,
                        modifiers=modifiers,
                        windowsVirtualKeyCode=ord(key.upper()))
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code,
                        modifiers=modifiers, windowsVirtualKeyCode=ord(key.upper()))


async def until(condition, deadline: float, what: str):
    """Poll the coroutine function ``condition`` until it returns something true."""
    while time.monotonic() < deadline:
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"not in time: {what}")


async def visit(page_url: str, debug_port: int, width: int, height: int, shots: Path,
                deadline: float) -> dict:
    """Open ``page_url`` in a fresh tab of the Chromium on ``debug_port``, wait for the debugger,
    press keys without clicking, and report what the page showed and requested."""
    async with aiohttp.ClientSession() as session:
        async def targets():
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{debug_port}/json/list") as response:
                    return [t for t in await response.json() if t["type"] == "page"]
        target = (await until(targets, deadline, "Chromium's DevTools answered"))[0]
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            browser = Browser(ws)
            try:
                await browser.send("Network.enable")
                await browser.send("Page.enable")
                await browser.send("Emulation.setDeviceMetricsOverride", width=width,
                                   height=height, deviceScaleFactor=1, mobile=False)
                await browser.send("Page.navigate", url=page_url)

                async def debugger_shown():
                    return TITLE in browser.output()
                await until(debugger_shown, deadline, "the page showed the debugger")
                await asyncio.sleep(1.5)  # let the first frame settle
                before = browser.output()
                mark = len(browser.received)
                first = await browser.screenshot(shots / f"serve-{width}x{height}-start.png")
                for key in "nn":
                    await browser.press(key)

                async def stepped():
                    return "step 3/" in browser.output(mark)
                with contextlib.suppress(AssertionError):  # asserted below, after the focus
                    await until(stepped, min(deadline, time.monotonic() + 10), "n, n stepped")
                await asyncio.sleep(0.5)
                after = browser.output(mark)
                second = await browser.screenshot(shots / f"serve-{width}x{height}-after-nn.png")
                await browser.press("G")
                await asyncio.sleep(1.5)
                await browser.screenshot(shots / f"serve-{width}x{height}-after-G.png")
                focused = await browser.evaluate(
                    "document.activeElement && document.activeElement.closest('#terminal') "
                    "!== null")
                return {"before": before, "after": after, "requested": list(browser.requested),
                        "sent": list(browser.sent), "pixels_changed": first != second,
                        "focused": focused, "title": await browser.evaluate("document.title")}
            finally:
                browser.reader.cancel()


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_served_debugger_in_chromium_takes_keys_at_once_and_stays_on_this_machine(
        width, height, tmp_path):
    shots = Path(os.environ.get("GRADSTEP_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + DEADLINE
    port, debug_port = free_port(), free_port()
    profile = tempfile.mkdtemp(prefix="gradstep-chromium-", dir=tmp_path)
    serve = [sys.executable, "-m", "gradstep", "serve", "mazur", "--port", str(port)]
    chromium = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--metrics-recording-only",
                "--remote-debugging-address=127.0.0.1", f"--remote-debugging-port={debug_port}",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
    with started(serve), started(chromium):
        seen = asyncio.run(visit(f"http://127.0.0.1:{port}/", debug_port, width, height,
                                 shots, deadline))

    assert "step 1/" in seen["before"], "the debugger did not open at its first step"
    assert seen["title"] == "gradstep mazur", seen["title"]
    assert seen["focused"], "the debugger's terminal does not have the keyboard focus"
    assert any('"n"' in frame for frame in seen["sent"]), "no key reached the server"
    assert "step 3/" in seen["after"], "n, n did not step the debugger without a click"
    assert seen["pixels_changed"], "n, n changed nothing on the page"
    outside = [u for u in seen["requested"]
               if urllib.parse.urlsplit(u).hostname not in ("127.0.0.1", None)
               and not u.startswith(("data:", "blob:", "about:"))]
    assert not outside, f"the page asked other hosts: {outside}"
    assert any(urllib.parse.urlsplit(u).scheme == "ws" for u in seen["requested"])
