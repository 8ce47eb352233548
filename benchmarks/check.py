"""``gradstep check`` time against the size of the network: it must grow linearly.

Run: ``python -m benchmarks.check [--repeat N] [--sizes 1000,2000,5000,10000,20000]``. Each size
is a network of scalars (a chain of tanh neurons, each with its own weight and bias: the shape
that makes per-parameter checks quadratic, one parameter per few nodes), diagnosed as
``gradstep check`` does (:func:`tracer.diagnostics.diagnose_network`: node checks, the whole-loss
check of every parameter, the one-step probe and the rest). Figures are medians of ``--repeat``
runs in one process; the last column is the time per node relative to the smallest size (1.0
everywhere is linear; quadratic would grow with the size).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from tracer import Network, Tensor, param
from tracer.diagnostics import diagnose_network


def scalar_chain(nodes: int, seed: int = 0) -> Network:
    """A network of scalars about ``nodes`` nodes big: a chain of tanh neurons, each with its
    own weight and bias, as a loop over Python numbers builds it."""
    rng = np.random.default_rng(seed)
    count = max(1, nodes // 5)
    weights = [param(float(rng.uniform(0.5, 1.5)), name=f"w{k}") for k in range(count)]
    biases = [param(float(rng.uniform(-0.1, 0.1)), name=f"b{k}") for k in range(count)]
    x = Tensor(0.3, name="x")

    def forward():
        h = x
        for w, b in zip(weights, biases, strict=True):
            h = (w * h + b).tanh()
        return (h - 0.5) ** 2

    return Network(forward, name="chain", params=[*weights, *biases])


def measure(nodes: int, repeat: int) -> tuple[int, float, int]:
    """(nodes in the trace, median seconds of a check, parameters checked)."""
    network = scalar_chain(nodes)
    size = len(network.trace().nodes)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        findings = diagnose_network(network)
        times.append(time.perf_counter() - start)
    assert not [f for f in findings if f.kind == "unchecked"], "every parameter is checked"
    return size, statistics.median(times), len(network.params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1000,2000,5000,10000,20000")
    args = parser.parse_args()
    print(f"{'nodes':>7} {'params':>7} {'check s':>8} {'µs/node':>8} {'per node vs first':>18}")
    first = None
    for nodes in (int(s) for s in args.sizes.split(",")):
        size, seconds, params = measure(nodes, args.repeat)
        per_node = seconds / size * 1e6
        first = first or per_node
        print(f"{size:>7} {params:>7} {seconds:>8.2f} {per_node:>8.1f} {per_node / first:>17.2f}×")


if __name__ == "__main__":
    main()
