"""Memory: what gradstep's recorded trace costs against the forward activations alone.

Run from the repository root (``python -m benchmarks.engine`` runs it too, at the end)::

    python -m benchmarks.memory

On the MLP 784-128-10 with batch 64 (the engine benchmark's ``mnist`` problem), with
``tracemalloc`` (numpy reports its array buffers to it):

* the forward activations: the sum of ``nbytes`` of every intermediate array the forward pass
  computes (each op node's value: matmul, add, relu, ..., loss), not the parameters or the input;
* the peak of memory allocated while the forward pass is built and ``trace()`` records it, and
  what stays allocated while the trace is kept (parameters and inputs existed before: not counted);
* for scale, the peak of the hand-written numpy forward + backward (activations, gradients and
  temporaries, no records), and which record fields hold how many bytes (each buffer counted once,
  under the first field that holds it).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from tracer import trace

from .contenders import GradstepMLP, NumpyMLP, Problem, mnist_problem

GOAL = 2.0  # issue 7: the recorded trace under 2× the forward activations


def _owner(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def held_bytes(recorded: Any) -> dict[str, int]:
    """Bytes of the distinct buffers a trace holds, by the first record field holding each."""
    fields: dict[str, list[np.ndarray]] = {
        "forward values (Node.value)": [n.value for n in recorded.nodes],
        "tensor .data (op results)": [t.data for t in recorded.tensors if t.op is not None],
        "node gradients (Node.grad)": [n.grad for n in recorded.nodes],
        "tensor .grad": [t.grad for t in recorded.tensors if t.grad is not None],
        "backward: upstream": [s.upstream for s in recorded.backward],
        "backward: terms": [c for s in recorded.backward for _, c in s.terms],
        "backward: contribution": [i.contribution for s in recorded.backward for i in s.inputs],
        "backward: local": [i.local for s in recorded.backward for i in s.inputs
                            if i.local is not None],
        "backward: unreduced": [i.unreduced for s in recorded.backward for i in s.inputs
                                if i.unreduced is not None],
        "backward: grad_before": [i.grad_before for s in recorded.backward for i in s.inputs],
        "backward: grad_after": [i.grad_after for s in recorded.backward for i in s.inputs],
    }
    # the leaves' own arrays (parameters, inputs) existed before the trace: not its cost
    seen = {id(_owner(t.data)) for t in recorded.tensors if t.op is None}
    out: dict[str, int] = {}
    for name, arrays in fields.items():
        total = 0
        for a in arrays:
            owner = _owner(a)
            if id(owner) not in seen:
                seen.add(id(owner))
                total += owner.nbytes
        out[name] = total
    return out


def _peak(fn: Callable[[], Any]) -> tuple[Any, int, int]:
    """Run ``fn`` under tracemalloc: (its result, peak bytes, bytes still allocated after)."""
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak, current


def measure(p: Problem | None = None) -> dict[str, Any]:
    p = p or mnist_problem()
    g = GradstepMLP(p)
    g.cycle()  # warm up: imports, caches, first-call allocations
    recorded = trace(g.forward())
    leaves = {"input", "param", "constant"}
    activations = sum(n.value.nbytes for n in recorded.nodes if n.kind not in leaves)
    leaf_bytes = sum(n.value.nbytes for n in recorded.nodes if n.kind in leaves)
    del recorded

    root, forward_peak, _ = _peak(g.forward)
    del root
    recorded, trace_peak, trace_held = _peak(lambda: trace(g.forward()))
    held = held_bytes(recorded)
    del recorded

    numpy = NumpyMLP(p)
    numpy.cycle()
    _, numpy_peak, _ = _peak(numpy.cycle)

    # The same with record changes suggested by benchmarks.profiling, patched in this process
    # only: what-if steps 1-3 (constant locals and the zero grad_before as broadcast views, t.grad
    # sharing the record's read-only array; leaf values still copied), then also the leaf values
    # kept as read-only views instead of copies (what-if step 8).
    from .profiling import _frozen_view, available, patched, tracer, what_if_steps

    suggested = next(changes for label, changes, _ in what_if_steps(g) if label.startswith("3."))
    all_views = suggested + available([(tracer.record, "snapshot", _frozen_view),
                                       (tracer.optim, "snapshot", _frozen_view)])[0]
    variants = {}
    for name, changes in (("suggested (what-if steps 1-3)", suggested),
                          ("same, leaf values as views too", all_views)):
        with patched(*changes):
            trace(g.forward())
            recorded, peak, kept = _peak(lambda: trace(g.forward()))
            variants[name] = (peak, kept, held_bytes(recorded))
            del recorded
    return {"problem": p, "activations": activations, "leaf_bytes": leaf_bytes,
            "forward_peak": forward_peak, "trace_peak": trace_peak, "trace_held": trace_held,
            "numpy_peak": numpy_peak, "held": held, "variants": variants}


def _kib(n: float) -> str:
    return f"{n / 1024:,.0f} KiB"


def report(p: Problem | None = None) -> dict[str, Any]:
    m = measure(p)
    p, act = m["problem"], m["activations"]
    print(f"memory [{p.key}] {p.title} (tracemalloc; parameters + inputs, {_kib(m['leaf_bytes'])}, "
          f"allocated before and not counted)")
    rows = [
        ("forward activations (sum of intermediate arrays' nbytes)", act),
        ("forward pass alone, peak (activations + Tensor objects)", m["forward_peak"]),
        ("hand-written numpy forward + backward + update, peak", m["numpy_peak"]),
        ("gradstep forward + trace(), peak", m["trace_peak"]),
        ("gradstep trace kept (allocated after trace() returns)", m["trace_held"]),
    ]
    for label, value in rows:
        print(f"  {label:<62}{_kib(value):>12}{value / act:>8.2f}×")
    ratio = m["trace_peak"] / act
    print(f"  goal: recorded trace < {GOAL:g}× forward activations -> {ratio:.2f}× "
          f"{'met' if ratio < GOAL else 'NOT met'}")
    grads_needed = sum(w.nbytes + b.nbytes for w, b in p.weights)
    vs_numpy = m["trace_peak"] / m["numpy_peak"]
    print(f"  (any backward pass allocates the parameter gradients, {_kib(grads_needed)} = "
          f"{grads_needed / act:.2f}× the activations: < {GOAL:g}× cannot hold while they count; "
          f"against numpy's own peak the trace is {vs_numpy:.2f}×)")
    for name, (peak, kept, _) in m["variants"].items():
        print(f"  if the tracer's records were lean, {name}: peak {_kib(peak)} = {peak / act:.2f}×"
              f" ({peak / m['numpy_peak']:.2f}× numpy's peak), kept {_kib(kept)}")
    names = list(m["variants"])
    title = "bytes the kept trace holds, by the first field holding each buffer"
    print(f"  {title:<64}{'as is':>19}{'suggested':>19}{'all views':>19}")
    for field, value in m["held"].items():
        cells = [value, *(m["variants"][n][2][field] for n in names)]
        if any(cells):
            print(f"    {field:<62}" + "".join(f"{_kib(c):>12}{c / act:>7.2f}×" for c in cells))
    return m


def main() -> int:
    report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
