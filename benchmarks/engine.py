"""Engine benchmarks: gradstep's full cycle against PyTorch, micrograd and hand-written numpy.

Run from the repository root::

    python -m benchmarks.engine            # a few minutes
    python -m benchmarks.engine --quick    # a few seconds, rough figures

One process; every figure is the median over repeats of the time of one full cycle (forward,
traced for gradstep; backward, recorded for gradstep; SGD update), after warm-up, with the
contenders interleaved so that a noisy neighbour hits them all alike. Before timing, each
problem checks that every contender's loss, gradients and updated weights agree.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np

from .contenders import (
    PROBLEMS,
    Contender,
    GradstepMLP,
    MicrogradMLP,
    NumpyMLP,
    Problem,
    TorchMLP,
    verify,
)

BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")

# Goals from issues 2 and 7: (problem, numerator, denominator, "<=" or ">", limit, wording).
GOALS = (
    ("demo", "gradstep", "torch", "<=", 1.0,
     "[demo] gradstep at most PyTorch's time, recording every step"),
    ("demo", "micrograd", "gradstep", ">", 100.0,
     "[demo] gradstep over 100× faster than micrograd"),
    ("mnist", "gradstep", "numpy", "<=", 1.3,
     "[mnist] gradstep within 1.3× of hand-written numpy"),
    ("mnist", "gradstep", "numpy_x", "<=", 1.3,
     "[mnist] the same, numpy computing the same gradients (∂L/∂X too)"),
)


@dataclass
class Timing:
    label: str
    samples: list[float]  # wall-clock (perf_counter) seconds per cycle, one per repeat
    cpu: list[float]  # the same repeats in process CPU time (time.process_time)
    cycles: int  # cycles per repeat

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def iqr(self) -> float:
        if len(self.samples) < 4:
            return max(self.samples) - min(self.samples)
        q = statistics.quantiles(self.samples, n=4)
        return q[2] - q[0]


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if abs(seconds) >= 1e-5:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e6:.2f} µs"


def _cycles_for(fn: Callable[[], None], min_time: float) -> int:
    """How many cycles make one timed repeat last at least ``min_time`` (like timeit.autorange)."""
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    return max(1, math.ceil(min_time / max(once, 1e-9)))


def measure(fns: dict[str, Callable[[], None]], repeats: int, warmup: int,
            min_time: float) -> dict[str, Timing]:
    """Median-of-repeats timing, contenders interleaved (the order rotates every repeat)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    cycles = {key: _cycles_for(fn, min_time) for key, fn in fns.items()}
    samples: dict[str, list[float]] = {key: [] for key in fns}
    cpu: dict[str, list[float]] = {key: [] for key in fns}
    keys = list(fns)
    for r in range(repeats):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            fn, n = fns[key], cycles[key]
            gc.collect()
            c0 = time.process_time()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[key].append((time.perf_counter() - t0) / n)
            cpu[key].append((time.process_time() - c0) / n)
    return {key: Timing(key, samples[key], cpu[key], cycles[key]) for key in fns}


def _optional(make: Callable[[Problem], Contender], p: Problem) -> Contender | None:
    try:
        return make(p)
    except ImportError as exc:
        print(f"  ({make.__name__} skipped: {exc})")
        return None


def run_problem(p: Problem, args: argparse.Namespace) -> dict[str, float]:
    """Verify, time and print one problem; return the medians keyed by contender."""
    print(f"\n[{p.key}] {p.title}; {p.loss_text}; {p.n_params:,} parameters")
    contenders: dict[str, Contender] = {"numpy": NumpyMLP(p),
                                        "numpy_x": NumpyMLP(p, input_grad=True)}
    torch_c = _optional(TorchMLP, p)
    if torch_c is not None:
        contenders["torch"] = torch_c
    gradstep = GradstepMLP(p)
    contenders["gradstep"] = gradstep
    micro = _optional(MicrogradMLP, p) if p.key == "demo" and not args.no_micrograd else None
    if micro is not None:
        contenders["micrograd"] = micro
    verify(p, list(contenders.values()))
    nodes = len(gradstep.recorded.nodes)
    checked = ", ".join(dict.fromkeys(c.label.split(" (")[0].split(",")[0]
                                      for c in contenders.values()))
    print(f"  checked before timing: same loss, gradients (∂L/∂X too, where computed) and updated "
          f"weights ({checked}; "
          f"rtol 1e-8)")
    print(f"  gradstep records {nodes} graph nodes, {nodes} forward and {nodes} backward steps "
          f"and {len(gradstep.updates)} update records per cycle")
    if micro is not None:
        print(f"  micrograd builds {micro.count_nodes():,} Value nodes per cycle")

    network = gradstep.network()
    fns: dict[str, Callable[[], None]] = {k: c.cycle for k, c in contenders.items()
                                          if k != "micrograd"}
    fns["network"] = network.cycle
    timings = measure(fns, args.repeat, args.warmup, args.min_time)
    if micro is not None:
        timings.update(measure({"micrograd": micro.cycle}, args.micrograd_repeat, 1, 0.0))
    labels = {k: c.label for k, c in contenders.items()}
    labels["network"] = "gradstep Network.cycle() (+ re-run forward)"

    print(f"  {'contender':<46}{'median/cycle':>13}{'IQR':>10}{'best':>10}{'CPU median':>12}"
          f"{'repeats×cycles':>16}")
    for key in ("numpy", "numpy_x", "torch", "gradstep", "network", "micrograd"):
        if key in timings:
            t = timings[key]
            print(f"  {labels[key]:<46}{fmt_time(t.median):>13}{fmt_time(t.iqr):>10}"
                  f"{fmt_time(min(t.samples)):>10}{fmt_time(t.cpu_median):>12}"
                  f"{f'{len(t.samples)}×{t.cycles}':>16}")
    med = {k: t.median for k, t in timings.items()}
    cpu = {k: t.cpu_median for k, t in timings.items()}
    ratios = [("gradstep/torch", "gradstep", "torch"), ("gradstep/numpy", "gradstep", "numpy"),
              ("gradstep/numpy+∂X", "gradstep", "numpy_x"),
              ("micrograd/gradstep", "micrograd", "gradstep"),
              ("Network.cycle/numpy", "network", "numpy")]
    for title, m in (("ratios of medians", med), ("same on CPU time", cpu)):
        shown = [f"{name} {m[a] / m[b]:.2f}×" for name, a, b in ratios if a in m and b in m]
        print(f"  {title}: " + "   ".join(shown))
    if p.key == "mnist":
        print("  (micrograd skipped here: ~100k-weight layers as scalar Values would take minutes "
              "per cycle)")
    return med


def blas_threads() -> int | None:
    """OpenBLAS's thread count as numpy's bundled OpenBLAS reports it (None if unknown)."""
    import ctypes
    import glob

    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*")
    for path in glob.glob(libs):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"):
            fn = getattr(lib, name, None)
            if fn is not None:
                return int(fn())
    return None


def header() -> None:
    try:
        import torch

        torch_text = f"torch {torch.__version__} (set_num_threads(1), float64)"
    except ImportError:
        torch_text = "torch not installed"
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    blas_env = " ".join(f"{v}={os.environ.get(v, 'unset')}" for v in BLAS_VARS)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    print(f"gradstep engine benchmarks, {date.today().isoformat()}, {cpu}, "
          f"{os.cpu_count()} CPUs")
    threads = blas_threads()
    print(f"Python {platform.python_version()}, numpy {np.__version__} "
          f"({blas.get('name', '?')} {blas.get('version', '')}, "
          f"{threads if threads is not None else '?'} thread(s)), {torch_text}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"environment: {blas_env}; load average {load}")
    print("figures: median time of one full cycle (forward [traced], backward [recorded], SGD "
          "update) over repeats, after warm-up; contenders interleaved; shared machine, so read "
          "the ratios more than the absolute times")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15, help="timed repeats (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up cycles (default 3)")
    parser.add_argument("--min-time", type=float, default=0.05,
                        help="seconds each timed repeat lasts at least (default 0.05)")
    parser.add_argument("--micrograd-repeat", type=int, default=5,
                        help="timed micrograd cycles (default 5; each takes 1-2 s)")
    parser.add_argument("--quick", action="store_true",
                        help="5 repeats of ≥10 ms, 1 micrograd cycle: rough figures in seconds")
    parser.add_argument("--only", default=",".join(PROBLEMS),
                        help=f"comma-separated problems (default {','.join(PROBLEMS)})")
    parser.add_argument("--no-micrograd", action="store_true", help="skip micrograd")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory benchmark")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.warmup, args.min_time, args.micrograd_repeat = 5, 1, 0.01, 1
    keys = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in PROBLEMS]
    if unknown:
        parser.error(f"unknown problem(s) {', '.join(unknown)}; choose from {', '.join(PROBLEMS)}")

    header()
    medians = {k: run_problem(PROBLEMS[k](), args) for k in keys}

    memory = None
    if not args.no_memory:
        from .memory import report

        print()
        memory = report()

    print("\ngoals")
    for key, a, b, op, limit, text in GOALS:
        med = medians.get(key, {})
        if a not in med or b not in med:
            print(f"  {text}: not measured")
            continue
        ratio = med[a] / med[b]
        met = ratio <= limit if op == "<=" else ratio > limit
        print(f"  {text}: {a}/{b} = {ratio:.2f}× -> {'met' if met else 'NOT met'}")
    if memory is not None:
        from .memory import GOAL

        ratio = memory["trace_peak"] / memory["activations"]
        print(f"  [mnist] recorded trace under {GOAL:g}× the forward activations: "
              f"{ratio:.2f}× -> {'met' if ratio < GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
