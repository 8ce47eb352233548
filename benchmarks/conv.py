"""Convolution benchmark: a small CNN's recorded cycle against PyTorch's ``F.conv2d`` model.

Run from the repository root::

    python -m benchmarks.conv            # about a minute
    python -m benchmarks.conv --quick    # a few seconds, rough figures

The network: 32 images 1×28×28, a conv2d with 8 kernels 3×3 (and a bias), ReLU, 2×2 max-pool,
flatten, a linear layer to 10 classes, softmax cross-entropy. Timed: forward and backward
(gradstep: traced and recorded, every step; PyTorch: eager autograd, float64, one thread). One
process, contenders interleaved, medians (``benchmarks.engine.measure``). Before timing, the loss
and every gradient are checked to agree (rtol 1e-8).

Goal (issue 13): gradstep within 2× of PyTorch.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import tracer
from tracer import Tensor, nn, param

from .engine import fmt_time, header, measure

GOAL = 2.0
BATCH, SIDE, KERNELS, CLASSES = 32, 28, 8, 10


def problem(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    flat = KERNELS * ((SIDE - 2) // 2) ** 2
    return {"images": rng.uniform(0, 1, (BATCH, 1, SIDE, SIDE)),
            "labels": rng.integers(0, CLASSES, BATCH).astype(np.float64),
            "kernel": rng.normal(0, 0.3, (KERNELS, 1, 3, 3)), "kernel_bias": np.zeros(KERNELS),
            "weight": rng.normal(0, 0.03, (flat, CLASSES)), "bias": np.zeros(CLASSES)}


class Gradstep:
    label = "gradstep (forward traced, backward recorded)"

    def __init__(self, data: dict[str, np.ndarray]):
        self.images, self.labels = Tensor(data["images"], name="X"), Tensor(data["labels"])
        self.params = {k: param(v, name=k) for k, v in data.items()
                       if k not in ("images", "labels")}

    def cycle(self) -> tracer.Trace:
        p = self.params
        with tracer.quiet():
            h = nn.max_pool2d(nn.conv2d(self.images, p["kernel"], p["kernel_bias"]).relu(), 2)
            scores = h.reshape(BATCH, -1) @ p["weight"] + p["bias"]
            loss = nn.cross_entropy(scores, self.labels)
        return loss.backward()

    def grads(self) -> tuple[float, dict[str, np.ndarray]]:
        trace = self.cycle()
        return trace.loss, {k: t.grad for k, t in self.params.items()}


class Torch:
    label = "PyTorch eager (F.conv2d, float64, 1 thread)"

    def __init__(self, data: dict[str, np.ndarray]):
        import torch

        torch.set_num_threads(1)
        self.torch = torch
        self.images = torch.tensor(data["images"])
        self.labels = torch.tensor(data["labels"]).long()
        self.params = {k: torch.tensor(v, requires_grad=True) for k, v in data.items()
                       if k not in ("images", "labels")}

    def cycle(self):
        f, p = self.torch.nn.functional, self.params
        for t in p.values():
            t.grad = None
        h = f.max_pool2d(f.relu(f.conv2d(self.images, p["kernel"], p["kernel_bias"])), 2)
        loss = f.cross_entropy(h.reshape(BATCH, -1) @ p["weight"] + p["bias"], self.labels)
        loss.backward()
        return loss

    def grads(self) -> tuple[float, dict[str, np.ndarray]]:
        loss = self.cycle()
        return loss.item(), {k: t.grad.numpy() for k, t in self.params.items()}


def verify(ours: Gradstep, theirs: Torch) -> None:
    """Both compute the same loss and gradients, or the timing would mean nothing."""
    loss, grads = ours.grads()
    torch_loss, torch_grads = theirs.grads()
    np.testing.assert_allclose(loss, torch_loss, rtol=1e-8)
    for key, grad in grads.items():
        np.testing.assert_allclose(grad, torch_grads[key], rtol=1e-8, atol=1e-12, err_msg=key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.conv", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15, help="timed repeats (default 15)")
    parser.add_argument("--quick", action="store_true", help="5 short repeats: rough figures")
    args = parser.parse_args(argv)
    repeats, min_time = (5, 0.05) if args.quick else (args.repeat, 0.2)
    header()
    data = problem()
    ours, theirs = Gradstep(data), Torch(data)
    verify(ours, theirs)
    nodes = len(ours.cycle().nodes)
    print(f"\n[conv] {BATCH} images 1×{SIDE}×{SIDE}, conv2d {KERNELS}×3×3 + bias, ReLU, max-pool "
          f"2×2, linear to {CLASSES}, cross-entropy; gradstep records {nodes} nodes")
    print("  checked before timing: same loss and gradients (rtol 1e-8)")
    timings = measure({"gradstep": ours.cycle, "torch": theirs.cycle}, repeats, 2, min_time)
    for key, contender in (("torch", theirs), ("gradstep", ours)):
        t = timings[key]
        print(f"  {contender.label:<48}{fmt_time(t.median):>12}  best {fmt_time(min(t.samples))}")
    ratio = timings["gradstep"].median / timings["torch"].median
    print(f"  gradstep/torch = {ratio:.2f}× (goal ≤ {GOAL:g}×) -> "
          f"{'met' if ratio <= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
