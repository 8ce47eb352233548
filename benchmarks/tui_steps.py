"""TUI latency: start to first paint, one step from key press to repaint, graph layout time.

Run: ``python -m benchmarks.tui_steps [--repeat N] [--sizes 50,500,2000,5000]``. Everything
runs in one process on Textual's headless driver at 120×40; figures are medians of repeated
runs (the machine is shared and noisy).

What is measured (no Pilot in any timed window: keys go straight to the driver):

- **first paint**: wall time from creating the app to the end of the first frame that draws the
  graph (tracing the network and laying it out, in the app's worker, included).
- **step work**: CPU time of the app's thread from posting a key event (``n``) to the end of
  the frame that repaints for it: key dispatch, the action, every widget's update, the
  compositor, and turning the update into terminal escape sequences (which a headless run would
  otherwise skip, so the benchmark does it to count what a real terminal costs). Measured from
  the first step of the forward pass (``fwd``) and from the middle of the backward pass
  (``bwd``, where gradients appear in the inspector and the parameter table). This is the
  figure the goals (16 ms at 500 nodes, 50 ms at 5,000) apply to.
- **step latency**: wall time for the same window; it also includes Textual's frame timer
  (a repaint waits up to 1/60 s after the handler) and the event-loop hops.
- **jump**: the same as step work for ``G``/``g`` (to the last step and back), the worst case
  for anything proportional to the distance moved.
- **layout**: wall time of laying out the whole graph (every node, full boxes), and of the view
  the app opens on (big graphs open with their layers collapsed).
- **palette**: the command palette (ctrl+p), CPU time as for a step, from the key to the end of
  the frame that shows its list of results: opening it, and then each key of a node's name
  typed into it (the middle node of the trace, five letters at most; median over the keys).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import time

import numpy as np
from textual import events
from textual._compositor import CompositorUpdate
from textual.command import CommandPalette

from scenarios import load
from tracer import Network, Tensor, param
from tui.app import GradstepApp
from tui.graph_view import FULL, compute_layout

try:  # the view the app opens on (collapsed layers for big graphs)
    from tui.graph_view import GraphState
except ImportError:  # pragma: no cover - older tree, for before/after figures
    GraphState = None


def generated(nodes: int, seed: int = 0) -> Network:
    """A scalar network of roughly ``nodes`` nodes: layers of tanh neurons, 4 wide, fully
    connected to the layer before (so it has fan-out everywhere, like a real MLP)."""
    rng = np.random.default_rng(seed)
    width = 4
    per_layer = width * (3 * width + 2)  # weights, products, sums, bias, tanh per neuron
    layers = max(1, nodes // per_layer)
    xs = [Tensor(v, name=f"x{k}") for k, v in enumerate(rng.normal(size=width))]
    weights = [[[param(rng.normal() / 2, name=f"w{k}_{j}_{i}") for i in range(width)]
                for j in range(width)] for k in range(layers)]
    biases = [[param(0.1, name=f"b{k}_{j}") for j in range(width)] for k in range(layers)]

    def forward() -> Tensor:
        h = xs
        for w, b in zip(weights, biases, strict=True):
            h = [sum((wi * hi for wi, hi in zip(w[j], h, strict=True)), b[j]).tanh()
                 for j in range(width)]
        return sum(h[1:], h[0]) * 0.25

    return Network(forward, name=f"generated-{nodes}", title=f"generated ({nodes} nodes)")


class FrameClock:
    """Hooks ``App._display`` (called once per finished frame) to time frames.

    Headless, ``_display`` returns before encoding the update for the terminal; the hook does
    that encoding itself so that a frame costs what it would in a real terminal.
    """

    def __init__(self, app: GradstepApp) -> None:
        self.app = app
        self.frame = asyncio.Event()
        self.wall = self.cpu = 0.0
        self.first_graph: float | None = None
        self.results = asyncio.Event()  # a frame ended after the palette's list changed
        self._listed = False
        original = app._display

        def display(screen, renderable) -> None:
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)
            original(screen, renderable)
            self.wall, self.cpu = time.perf_counter(), time.thread_time()
            if self.first_graph is None and getattr(screen, "debugger", None) is not None:
                self.first_graph = self.wall
            if self._listed:
                self._listed = False
                self.results.set()
            self.frame.set()

        app._display = display
        # The palette shows new results through this method (the hook of an earlier app's
        # clock is replaced, not wrapped again).
        listed = CommandPalette._refresh_command_list
        listed = getattr(listed, "__wrapped__", listed)

        @functools.wraps(listed)
        def refresh_command_list(palette, *args, **kwargs) -> None:
            listed(palette, *args, **kwargs)
            self._listed = True

        CommandPalette._refresh_command_list = refresh_command_list

    def _send(self, key: str) -> tuple[float, float]:
        self.app._driver.send_message(events.Key(key, key if len(key) == 1 else None))
        return time.perf_counter(), time.thread_time()

    async def press(self, key: str) -> tuple[float, float]:
        """Send ``key`` and wait for the frame it causes; return (CPU, wall) seconds."""
        await asyncio.sleep(0.03)  # let any earlier frame and timer settle
        self.frame.clear()
        wall, cpu = self._send(key)
        await asyncio.wait_for(self.frame.wait(), 30)
        return self.cpu - cpu, self.wall - wall

    async def search(self, key: str) -> tuple[float, float]:
        """Send ``key`` to the command palette (or ctrl+p to open it) and wait for the frame
        that shows its results; return (CPU, wall) seconds."""
        await asyncio.sleep(0.03)
        self.results.clear()
        self._listed = False
        wall, cpu = self._send(key)
        while True:  # a long search shows its results in batches: wait for the last one
            await asyncio.wait_for(self.results.wait(), 30)
            self.results.clear()
            palette = self.app.screen
            if not self._listed and all(w.is_finished for w in self.app.workers
                                        if w.node is palette):
                return self.cpu - cpu, self.wall - wall


async def measure(make, repeat: int) -> dict[str, float]:
    network = make()
    started = time.perf_counter()
    app = GradstepApp(network)
    clock = FrameClock(app)
    async with app.run_test(size=(120, 40)) as pilot:
        while clock.first_graph is None:
            await asyncio.sleep(0.005)
        first_paint = clock.first_graph - started
        await app.workers.wait_for_complete()
        await pilot.pause()
        debugger = app.screen.debugger
        # A key past the cycle's end paints nothing, and its frame would never come (xor's
        # cycle is 29 moments long).
        ahead = len(debugger.cycle.timeline) - 1 - debugger.position
        steps = [await clock.press("n") for _ in range(min(repeat, ahead))]
        start, end = debugger.phase_bounds("backward")
        debugger.goto((start + end) // 2)
        app.screen.moved()
        await pilot.pause()
        back = [await clock.press("n") for _ in range(min(repeat, end - debugger.position))]
        jumps = [await clock.press(key) for _ in range(max(2, repeat // 5)) for key in "Gg"]
        name = debugger.trace.nodes[len(debugger.trace.nodes) // 2].name
        opened = [await clock.search("ctrl+p")]
        typed = [await clock.search(letter) for letter in name[:5]]
        await pilot.press("escape")
    t0 = time.perf_counter()
    compute_layout(debugger, FULL)
    layout_full = time.perf_counter() - t0
    layout_view = float("nan")
    if GraphState is not None:
        t0 = time.perf_counter()
        GraphState().layout(debugger, FULL)
        layout_view = time.perf_counter() - t0
    return {"nodes": len(debugger.trace.nodes), "first_paint": first_paint,
            "step": statistics.median(c for c, _ in steps),
            "back": statistics.median(c for c, _ in back),
            "latency": statistics.median(w for _, w in steps + back),
            "jump": statistics.median(c for c, _ in jumps),
            "layout": layout_full, "layout_view": layout_view,
            "palette_open": opened[0][0], "palette_key": statistics.median(c for c, _ in typed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="steps timed per graph")
    parser.add_argument("--runs", type=int, default=3,
                        help="app starts per graph (first paint and layout are their medians)")
    parser.add_argument("--sizes", default="50,500,2000,5000",
                        help="node counts of the generated graphs")
    args = parser.parse_args()
    cases = [("mazur", lambda: load("mazur")), ("xor", lambda: load("xor"))]
    cases += [(f"generated-{n}", lambda n=n: generated(int(n))) for n in args.sizes.split(",")]
    print("Medians. step fwd/bwd and jump: CPU ms of the app's thread from key event to the end "
          "of the repainted frame;\nlatency: wall ms of the same (with Textual's frame timer); "
          "layout: wall ms; palette: CPU ms as for a step,\nto open it and per key typed, to "
          "the frame showing the results (see the module docstring).\n")
    header = (f"{'graph':<16}{'nodes':>6}{'first paint':>13}{'step fwd':>10}{'step bwd':>10}"
              f"{'latency':>9}{'jump':>8}{'layout all':>12}{'layout view':>13}"
              f"{'palette':>9}{'key':>7}")
    print(header)
    for name, make in cases:
        runs = [asyncio.run(measure(make, args.repeat)) for _ in range(args.runs)]
        r = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"{name:<16}{int(r['nodes']):>6}{r['first_paint'] * 1e3:>11.0f}ms"
              f"{r['step'] * 1e3:>8.1f}ms{r['back'] * 1e3:>8.1f}ms{r['latency'] * 1e3:>7.1f}ms"
              f"{r['jump'] * 1e3:>6.1f}ms{r['layout'] * 1e3:>10.0f}ms"
              f"{r['layout_view'] * 1e3:>11.0f}ms{r['palette_open'] * 1e3:>7.0f}ms"
              f"{r['palette_key'] * 1e3:>5.0f}ms", flush=True)


if __name__ == "__main__":
    main()
