"""Recording a PyTorch model against training it plainly: ``python -m benchmarks.torch_bridge``.

The model is ``examples/torch_cnn.py`` (a 3×3 convolution, ReLU, 2×2 max-pool, flatten, a linear
layer; SGD with momentum). Two contenders, interleaved repeat by repeat in one process, both on
one thread:

- **PyTorch**: one plain training step of the file's model: ``forward()``, ``loss.backward()``,
  ``OPTIMIZER.step()``, ``zero_grad()``.
- **gradstep**: one recorded cycle of the same file, ``Network.cycle()``: the forward pass under
  the recorder, PyTorch's backward with a hook per edge, the trace's records, the optimizer step
  with its records, and the re-run forward for the loss after.

Figures are medians over repeats (each repeat runs enough cycles to last ≥ 50 ms); the ratio is
gradstep's median over PyTorch's. The goal: at most 3×.
"""

from __future__ import annotations

import argparse
import gc
import runpy
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from scenarios import load

CNN = Path(__file__).resolve().parent.parent / "examples" / "torch_cnn.py"


def plain_step(path: Path) -> Callable[[], None]:
    """One training step of the file's model, as PyTorch alone runs it."""
    namespace = runpy.run_path(str(path))
    forward, optimizer = namespace["forward"], namespace["OPTIMIZER"]

    def step() -> None:
        loss = forward()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    return step


def seconds_per_call(run: Callable[[], None], min_time: float) -> float:
    calls, start = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--min-time", type=float, default=0.05)
    args = parser.parse_args()
    torch.set_num_threads(1)
    network = load(CNN)
    contenders = {"PyTorch step": plain_step(CNN), "gradstep cycle": network.cycle}
    for run in contenders.values():  # warm up
        for _ in range(5):
            run()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for k in range(args.repeat):
        for name in names[k % 2:] + names[:k % 2]:  # alternate who goes first
            gc.collect()
            times[name].append(seconds_per_call(contenders[name], args.min_time))
    medians = {name: statistics.median(t) for name, t in times.items()}
    nodes = len(network.trace().nodes)
    print(f"examples/torch_cnn.py ({nodes} nodes), medians of {args.repeat} repeats")
    for name, median in medians.items():
        print(f"  {name:15} {median * 1e6:9.0f} µs   (best {min(times[name]) * 1e6:.0f} µs)")
    ratio = medians["gradstep cycle"] / medians["PyTorch step"]
    print(f"  ratio          {ratio:9.2f}×   (goal: at most 3×)")


if __name__ == "__main__":
    main()
