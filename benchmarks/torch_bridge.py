"""Recording a PyTorch model against training it plainly: ``python -m benchmarks.torch_bridge``.

Two small CNNs: ``examples/torch_cnn.py`` (a 3×3 convolution, ReLU, 2×2 max-pool, flatten, a
linear layer, on three 6×6 images: PyTorch's arithmetic is negligible, so this is gradstep's
fixed cost per op against PyTorch's) and ``benchmarks/nets/lenet.py`` (LeNet-5's shape on 32
MNIST-sized images). Both use SGD with momentum. Two contenders, interleaved repeat by repeat
in one process, both on one thread:

- **PyTorch**: one plain training step of the file's model: ``forward()``, ``loss.backward()``,
  ``OPTIMIZER.step()``, ``zero_grad()``.
- **gradstep**: one recorded cycle of the same file, ``Network.cycle()``: the forward pass under
  the recorder, PyTorch's backward through the arguments' aliases, the trace's records, the
  optimizer step with its records, and the re-run forward for the loss after.

Figures are medians over repeats of the CPU time per cycle (``time.process_time``; each repeat
runs enough cycles to take ≥ 50 ms of it), which a busy shared machine disturbs far less than
wall time; the ratio is gradstep's median over PyTorch's. The goal: at most 3×.

Then a training run: 1,000 iterations of ``examples/torch_mlp.py`` (2-4-1, Adam) through
gradstep's record-free path (``Network.train(1000)``, which keeps each iteration's loss) against
PyTorch's own loop doing the same 1,000 steps and reading each loss (``loss.item()``), after
checking that both give the same losses bit for bit. The goal: at most 1.1×.
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

ROOT = Path(__file__).resolve().parent.parent
MODELS = (ROOT / "examples" / "torch_cnn.py", ROOT / "benchmarks" / "nets" / "lenet.py")
TRAINED = ROOT / "examples" / "torch_mlp.py"


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
    """CPU time per call (one thread: CPU time is what neighbours on a busy machine steal least
    from)."""
    calls, start = 0, time.process_time()
    while True:
        run()
        calls += 1
        elapsed = time.process_time() - start
        if elapsed >= min_time:
            return elapsed / calls


def compare(path: Path, repeat: int, min_time: float) -> None:
    network = load(path)
    contenders = {"PyTorch step": plain_step(path), "gradstep cycle": network.cycle}
    for run in contenders.values():  # warm up
        for _ in range(5):
            run()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for k in range(repeat):
        for name in names[k % 2:] + names[:k % 2]:  # alternate who goes first
            gc.collect()
            times[name].append(seconds_per_call(contenders[name], min_time))
    medians = {name: statistics.median(t) for name, t in times.items()}
    nodes = len(network.trace().nodes)
    print(f"{path.relative_to(ROOT)} ({nodes} nodes), medians of {repeat} repeats")
    for name, median in medians.items():
        print(f"  {name:15} {median * 1e6:9.0f} µs   (best {min(times[name]) * 1e6:.0f} µs)")
    ratio = medians["gradstep cycle"] / medians["PyTorch step"]
    best = min(times["gradstep cycle"]) / min(times["PyTorch step"])
    print(f"  ratio          {ratio:9.2f}×   (of the best repeats {best:.2f}×; goal: at most 3×)")


def pytorch_loop(path: Path, iterations: int) -> Callable[[], list[float]]:
    """The file's model trained by PyTorch alone: ``iterations`` steps, each loss read, then
    the loss after the last."""
    namespace = runpy.run_path(str(path))
    forward, optimizer = namespace["forward"], namespace["OPTIMIZER"]

    def train() -> list[float]:
        losses = []
        for _ in range(iterations):
            loss = forward()
            losses.append(loss.item())
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        return losses

    return train


def compare_runs(path: Path, repeat: int, iterations: int) -> None:
    network = load(path)
    contenders = {"PyTorch loop": pytorch_loop(path, iterations),
                  "gradstep train": lambda: network.train(iterations)[:-1]}
    first = {name: run() for name, run in contenders.items()}
    assert first["PyTorch loop"] == first["gradstep train"], "the runs' losses differ"
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for k in range(repeat):  # both go on from where they are: the same numbers each repeat
        for name in names[k % 2:] + names[:k % 2]:
            gc.collect()
            start = time.process_time()
            contenders[name]()
            times[name].append(time.process_time() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{path.relative_to(ROOT)}, {iterations:,} training iterations, medians of {repeat} "
          f"repeats")
    for name, median in medians.items():
        print(f"  {name:15} {median * 1e3:9.1f} ms   (best {min(times[name]) * 1e3:.1f} ms)")
    ratio = medians["gradstep train"] / medians["PyTorch loop"]
    best = min(times["gradstep train"]) / min(times["PyTorch loop"])
    print(f"  ratio          {ratio:9.2f}×   (of the best repeats {best:.2f}×; goal: at most "
          f"1.1×)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--min-time", type=float, default=0.05)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--only", choices=("cycle", "train"),
                        help="only the recorded cycles, or only the training run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.only != "train":
        for path in MODELS:
            compare(path, args.repeat, args.min_time)
    if args.only != "cycle":
        compare_runs(TRAINED, args.repeat, args.iterations)


if __name__ == "__main__":
    main()
