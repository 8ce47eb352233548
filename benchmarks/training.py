"""Training benchmarks: runs of 1,000 iterations, one recorded cycle, and a long run's memory.

Run from the repository root::

    python -m benchmarks.training            # a few minutes
    python -m benchmarks.training --quick    # rough figures, about a minute

One process; medians over repeats, contenders interleaved (see ``benchmarks/engine.py``).

1. **A training run**: 1,000 iterations of ``xor`` (2-4-1, tanh, sigmoid, BCE) and of the
   micrograd demo MLP (2-16-16-1, 100 points), gradstep's record-free fast path
   (``Network.train``, which keeps each iteration's loss) against PyTorch eager doing the same
   1,000 iterations, with and without reading each loss (``loss.item()``).
2. **One recorded cycle** on the demo: ``Network.cycle()`` (forward, every record, update, the
   next iteration's forward) against one PyTorch step.
3. **784-128-10**: the fast path's iteration against hand-written numpy computing the same
   gradients (∂L/∂X included).
4. **The garbage collector**: a recorded cycle of a 20,000-node scalar network with the
   collector running (as before) and paused while records are built (as ``Network.cycle``
   does now).
5. **A long run's memory**: 10,000 iterations of 784-128-10 in a :class:`tracer.training.History`
   (tracemalloc: what it holds at the end, its peak), then the time to view iterations spread
   over the run (each replayed from its checkpoint).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date

import numpy as np

from .contenders import GradstepMLP, NumpyMLP, TorchMLP, demo_problem, mnist_problem
from .engine import fmt_time, header, measure


def torch_xor():
    """PyTorch eager on the xor scenario's network and data: (step, step reading the loss)."""
    import torch
    import torch.nn.functional as F

    from scenarios import load

    torch.set_num_threads(1)
    xor = load("xor")
    trace = xor.trace()
    X, y = (torch.tensor(trace.find(n).value) for n in ("X", "y"))
    ps = [torch.tensor(trace.find(n).value, requires_grad=True) for n in ("W1", "b1", "W2", "b2")]
    W1, b1, W2, b2 = ps
    lr = xor.optimizer.lr

    def step() -> torch.Tensor:
        loss = F.binary_cross_entropy(torch.sigmoid(torch.tanh(X @ W1 + b1) @ W2 + b2), y)
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p.sub_(p.grad, alpha=lr)
                p.grad = None
        return loss

    return step


def runs(iterations: int, args: argparse.Namespace) -> dict[str, float]:
    """1,000-iteration runs: gradstep's fast path against PyTorch eager."""
    from scenarios import load

    results = {}
    for key in ("xor", "demo"):
        if key == "xor":
            torch_step = torch_xor()
            networks = iter(lambda: load("xor"), None)
        else:
            p = demo_problem()
            torch_step = TorchMLP(p).cycle
            networks = iter(lambda p=p: GradstepMLP(p).network(), None)
        # the same losses first (so no contender does different work)
        check = next(networks)
        ours = check.train(20)
        theirs = []
        if key == "xor":
            twin = torch_xor()
            theirs = [float(twin().item()) for _ in range(20)]
        else:
            twin = TorchMLP(demo_problem())
            for _ in range(20):
                twin.cycle()
                theirs.append(twin.loss())
        np.testing.assert_allclose(ours[:20], theirs, rtol=1e-9)

        def gradstep_run(networks=networks) -> None:
            next(networks).train(iterations)

        def torch_run(step=torch_step) -> None:
            for _ in range(iterations):
                step()

        def torch_run_item(step=torch_step) -> None:
            for _ in range(iterations):
                out = step()
                if out is not None:
                    out.item()

        fns = {"gradstep": gradstep_run, "torch": torch_run}
        if key == "xor":
            fns["torch_item"] = torch_run_item
        timings = measure(fns, args.repeat, 1, 0.0)
        med = {k: t.median for k, t in timings.items()}
        print(f"\n[{key}] {iterations:,} iterations (medians of {args.repeat}; the same losses "
              f"checked first, rtol 1e-9)")
        for k, label in (("gradstep", "gradstep fast path (Network.train)"),
                         ("torch", "PyTorch eager"),
                         ("torch_item", "PyTorch eager + loss.item() each")):
            if k in med:
                best = fmt_time(min(timings[k].samples))
                print(f"  {label:<40}{fmt_time(med[k]):>12}  best {best}")
        print(f"  gradstep/torch {med['gradstep'] / med['torch']:.2f}×" + (
            f"   gradstep/(torch + item) {med['gradstep'] / med['torch_item']:.2f}×"
            if "torch_item" in med else ""))
        results[f"{key}_run"] = med["gradstep"] / med["torch"]
    return results


def recorded_cycle(args: argparse.Namespace) -> dict[str, float]:
    """One recorded cycle on the demo and 784-128-10's fast path against numpy."""
    p = demo_problem()
    network = GradstepMLP(p).network()
    torch_c = TorchMLP(p)
    timings = measure({"cycle": network.cycle, "torch": torch_c.cycle}, args.repeat, 3,
                      args.min_time)
    ratio = timings["cycle"].median / timings["torch"].median
    print(f"\n[demo] one recorded cycle: Network.cycle() {fmt_time(timings['cycle'].median)}, "
          f"PyTorch {fmt_time(timings['torch'].median)}: {ratio:.2f}×")

    m = mnist_problem()
    fast = GradstepMLP(m).network()
    numpy_x = NumpyMLP(m, input_grad=True)
    timings = measure({"fast": fast.fast_step, "numpy_x": numpy_x.cycle}, args.repeat, 3,
                      args.min_time)
    mnist = timings["fast"].median / timings["numpy_x"].median
    print(f"[mnist] one fast-path iteration {fmt_time(timings['fast'].median)}, hand-written "
          f"numpy + ∂L/∂X {fmt_time(timings['numpy_x'].median)}: {mnist:.2f}×")
    return {"demo_cycle": ratio, "mnist_fast": mnist}


def garbage_collector(args: argparse.Namespace, nodes: int = 20_000) -> float:
    """A recorded cycle of a scalar chain of ``nodes`` nodes, collector paused vs running."""
    import tracer.record as record_module
    from tracer import Network, param

    ws = [param(0.5 + 0.001 * k, name=f"w{k}") for k in range(nodes // 3)]

    def forward():
        h = ws[0]
        for w in ws[1:]:
            h = (h * w).tanh()
        return h

    network = Network(forward, params=ws)
    original = record_module.paused_gc

    def with_gc() -> None:  # the cycle as it was: the collector running
        record_module.paused_gc = nullcontext
        try:
            network.cycle()
        finally:
            record_module.paused_gc = original

    timings = measure({"paused": network.cycle, "running": with_gc}, max(3, args.repeat // 3),
                      1, 0.0)
    ratio = timings["running"].median / timings["paused"].median
    print(f"\n[gc] recorded cycle of a {len(network.cycle().trace.nodes):,}-node scalar network: "
          f"collector paused {fmt_time(timings['paused'].median)}, running "
          f"{fmt_time(timings['running'].median)} ({ratio:.2f}×)")
    return ratio


def long_run(iterations: int, views: int = 15) -> dict[str, float]:
    """``iterations`` of 784-128-10 in a History: memory held and peak, time to view."""
    from tracer.training import History, run

    network = GradstepMLP(mnist_problem()).network()
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    history = History(network)
    t0 = time.perf_counter()
    run(history, iterations)
    seconds = time.perf_counter() - t0
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - start
    peak = tracemalloc.get_traced_memory()[1] - start
    tracemalloc.stop()
    rng = np.random.default_rng(0)
    picks = rng.integers(history.first, history.last + 1, size=views)
    times = []
    for k in picks:
        history._cycles.pop(int(k), None)  # not kept: replayed
        t = time.perf_counter()
        history.cycle(int(k))
        times.append(time.perf_counter() - t)
    print(f"\n[long run] {iterations:,} iterations of 784-128-10 in {seconds:.1f} s: held "
          f"{held / 2**20:.0f} MB at the end (checkpoints {history.nbytes / 2**20:.0f} MB, one "
          f"every {history.interval} iterations), peak {peak / 2**20:.0f} MB (tracemalloc)")
    print(f"  viewing an iteration (replayed from its checkpoint), {views} spread over the run: "
          f"median {fmt_time(statistics.median(times))}, slowest {fmt_time(max(times))}")
    return {"held_mb": held / 2**20, "peak_mb": peak / 2**20,
            "view_median": statistics.median(times), "view_max": max(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=11, help="timed repeats (default 11)")
    parser.add_argument("--min-time", type=float, default=0.05)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--long", type=int, default=10_000,
                        help="iterations of the long run (default 10,000; 0 skips it)")
    parser.add_argument("--quick", action="store_true", help="5 repeats, a 2,000-iteration run")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.min_time, args.long = 5, 0.01, min(args.long, 2000)
    header()
    print(f"training benchmarks, {date.today().isoformat()}")
    goals: list[tuple[str, float, float, Callable[[float, float], bool]]] = []
    ratios = runs(args.iterations, args)
    goals += [(f"[{k}] {args.iterations:,}-iteration run at most PyTorch's time",
               ratios[f"{k}_run"], 1.0, float.__le__) for k in ("xor", "demo")]
    ratios = recorded_cycle(args)
    goals.append(("[demo] one recorded cycle at most 1.3× PyTorch", ratios["demo_cycle"], 1.3,
                  float.__le__))
    goals.append(("[mnist] fast path within 1.3× of numpy + ∂L/∂X", ratios["mnist_fast"], 1.3,
                  float.__le__))
    garbage_collector(args)
    if args.long:
        memory = long_run(args.long)
        goals.append((f"[long run] {args.long:,} iterations held in at most 200 MB (MB)",
                      memory["held_mb"], 200, float.__le__))
        goals.append(("[long run] viewing any iteration under 100 ms (slowest, ms)",
                      memory["view_max"] * 1e3, 100, float.__le__))
    print("\ngoals")
    for text, value, limit, ok in goals:
        print(f"  {text}: {value:.2f} -> {'met' if ok(value, limit) else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
