"""TUI latency: start to first paint, one step from key press to repaint, graph layout time.

Run: ``python -m benchmarks.tui_steps [--repeat N]``. Everything runs in one process through
Textual's headless test driver at 120×40; figures are medians (the machine is shared and noisy).
The generated graphs are scalar MLP-like networks of about 50, 500, 2,000 and 5,000 nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np

from scenarios import load
from tracer import Network, Tensor, param
from tui.app import GradstepApp
from tui.graph_view import FULL, compute_layout


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


async def measure(network: Network, repeat: int) -> dict[str, float]:
    started = time.perf_counter()
    app = GradstepApp(network)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        first_paint = time.perf_counter() - started
        steps = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            await pilot.press("n")
            await pilot.pause()
            steps.append(time.perf_counter() - t0)
        debugger = app.screen.debugger
    t0 = time.perf_counter()
    compute_layout(debugger, FULL)
    layout = time.perf_counter() - t0
    return {"nodes": len(debugger.trace.nodes), "first_paint": first_paint,
            "step": statistics.median(steps), "layout": layout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="steps timed per graph")
    args = parser.parse_args()
    cases = [("mazur", lambda: load("mazur")), ("xor", lambda: load("xor"))]
    cases += [(f"generated-{n}", lambda n=n: generated(n)) for n in (50, 500, 2000, 5000)]
    print(f"{'graph':<16}{'nodes':>7}{'first paint':>14}{'step (median)':>16}{'layout':>10}")
    for name, make in cases:
        r = asyncio.run(measure(make(), args.repeat))
        print(f"{name:<16}{r['nodes']:>7}{r['first_paint'] * 1e3:>12.0f}ms"
              f"{r['step'] * 1e3:>14.1f}ms{r['layout'] * 1e3:>8.0f}ms")


if __name__ == "__main__":
    main()
