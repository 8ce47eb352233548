"""Where gradstep's cycle spends its time, and what changes to the tracer would save.

Run from the repository root::

    python -m benchmarks.profiling                    # demo and mnist problems
    python -m benchmarks.profiling --problem mnist --cycles 200 --pyinstrument

Five views of the same cycle (forward, ``trace``, ``SGD.step``), each on one problem:

1. phases: the user's forward pass (``apply`` per op), the topological sort, the backward loop
   (the ops' own derivative maths vs. the bookkeeping around it: record copies and views, zero
   arrays, record objects), naming, the nodes + ``networkx`` graph, the optimizer;
2. per op type and, for small graphs, per node: forward time, derivative-maths time, bytes held;
3. cProfile's functions by own time (or pyinstrument's call tree with ``--pyinstrument``);
4. unit costs: the per-call cost of each bookkeeping primitive × how often one cycle calls it;
5. what-ifs: the cycle re-timed with tracer functions swapped, one change after another, for
   cheaper ones (patched in this process only; the tracer's files are never touched), to size
   each suggestion; beside them numpy, torch and the floor of any Python engine of this kind
   (``LeanMLP``: the same ops as closures, nothing recorded), and that engine keeping the same
   records as gradstep's trace (what recording costs in an engine built around it).

The probes and what-ifs patch tracer internals by name (``tracer.record._contributions``,
``frozen``, ``shared``, ``np``, ...). A name the tracer no longer has is skipped and
said so, never an error.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import gc
import io
import pstats
import sys
import time
import types
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import tracer.functional
import tracer.ops
import tracer.optim
import tracer.record
import tracer.tensor

from .contenders import PROBLEMS, GradstepMLP, LeanMLP, NumpyMLP, Problem, TorchMLP, verify
from .engine import fmt_time

Change = tuple[object, str, object]  # setattr(module, name, value) for the duration of a run


def _cycle(g: GradstepMLP, marks: dict[str, float] | None = None,
           probe: Probe | None = None) -> None:
    """One cycle, as GradstepMLP.cycle, with the three parts timed into ``marks``."""
    if probe is not None:
        probe.phase = "forward"
    t0 = time.perf_counter()
    with tracer.quiet():
        root = g.forward()
    t1 = time.perf_counter()
    recorded = tracer.record.trace(root)
    t2 = time.perf_counter()
    if probe is not None:
        probe.phase = "optimizer"
    g.optimizer.step([(n.name, recorded.tensors[n.id]) for n in recorded.params])
    t3 = time.perf_counter()
    g.recorded = recorded
    if marks is not None:
        marks["forward"] += t1 - t0
        marks["trace"] += t2 - t1
        marks["optimizer"] += t3 - t2


def available(changes: list[Change]) -> tuple[list[Change], list[str]]:
    """The changes whose target exists in this tracer, and the names of those that do not."""
    ok, missing = [], []
    for obj, name, value in changes:
        if hasattr(obj, name):
            ok.append((obj, name, value))
        else:
            missing.append(f"{getattr(obj, '__name__', obj)}.{name}")
    return ok, missing


@contextlib.contextmanager
def patched(*changes: Change) -> Iterator[None]:
    """Set ``obj.name = value`` for each change, and put the old values back afterwards."""
    old = [(obj, name, getattr(obj, name)) for obj, name, _ in changes]
    try:
        for obj, name, value in changes:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in reversed(old):
            setattr(obj, name, value)


def _numpy_with(**overrides: Any) -> types.ModuleType:
    """A copy of the numpy namespace with some functions swapped (patched into one module)."""
    module = types.ModuleType("numpy_patched")
    module.__dict__.update(np.__dict__)
    module.__dict__.update(overrides)
    return module


# --- 1 and 2: instrumented phases and nodes ---------------------------------------------------


class Probe:
    """Wraps tracer functions to time phases and per-op work (adds ~1 µs per wrapped call)."""

    def __init__(self) -> None:
        self.acc: dict[tuple[str, str], float] = defaultdict(float)  # (phase, what) -> seconds
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.span: dict[str, float] = defaultdict(float)  # trace's sub-phases
        self.fwd_op: dict[str, float] = defaultdict(float)
        self.bwd_op: dict[str, float] = defaultdict(float)
        self.fwd_node: dict[int, float] = {}
        self.bwd_node: dict[int, float] = {}
        self.phase = "forward"
        self.stamp = 0.0
        self.depth = 0  # > 0 inside a wrapped record function: its numpy calls are its own

    def _timed(self, what: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.depth:
                return fn(*args, **kwargs)
            self.depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.acc[self.phase, what] += time.perf_counter() - t0
                self.calls[self.phase, what] += 1
                self.depth -= 1

        return wrapper

    def changes(self) -> list[Change]:
        rec, ten = tracer.record, tracer.tensor
        orig_apply = ten.apply
        orig_topo = getattr(rec, "_walk", None)
        orig_names = getattr(rec, "_names", None)
        orig_grads = getattr(rec, "_contributions", None)

        def apply(op, *operands, **attrs):
            t0 = time.perf_counter()
            out = orig_apply(op, *operands, **attrs)
            dt = time.perf_counter() - t0
            self.fwd_op[op.name] += dt
            self.fwd_node[id(out)] = dt
            return out

        def topological(root, *args, **kwargs):
            t0 = time.perf_counter()
            order = orig_topo(root, *args, **kwargs)
            self.stamp = time.perf_counter()
            self.span["topological sort"] += self.stamp - t0
            self.phase = "backward"
            return order

        def names(order):
            t0 = time.perf_counter()
            self.span["backward"] += t0 - self.stamp
            out = orig_names(order)
            self.span["names"] += time.perf_counter() - t0
            self.phase = "nodes"
            return out

        def input_grads(t, *args):
            t0 = time.perf_counter()
            self.depth += 1
            try:
                out = orig_grads(t, *args)
            finally:
                self.depth -= 1
            dt = time.perf_counter() - t0
            self.acc[self.phase, "op derivative maths (_contributions)"] += dt
            self.bwd_op[t.op.name] += dt
            self.bwd_node[id(t)] = dt
            return out

        changes: list[Change] = [(ten, "apply", apply), (tracer.functional, "apply", apply),
                                 (rec, "_walk", topological), (rec, "_names", names),
                                 (rec, "_contributions", input_grads)]
        for module in (rec, tracer.optim):
            for name, what in (("frozen", "frozen(): arrays made (or checked) read-only"),
                               ("shared", "shared(): leaf values (copied if writable)")):
                if hasattr(module, name):
                    changes.append((module, name, self._timed(what, getattr(module, name))))
        changes.append((rec, "np", _numpy_with(
            broadcast_to=self._timed("np.broadcast_to (locals)", np.broadcast_to))))
        return [c for c in changes if c[2] is not None and hasattr(c[0], c[1])]


def phases(p: Problem, cycles: int) -> None:
    g = GradstepMLP(p)
    for _ in range(5):
        _cycle(g)
    probe = Probe()
    marks: dict[str, float] = defaultdict(float)
    with patched(*probe.changes()):
        for _ in range(cycles):
            probe.fwd_node.clear()  # keyed by id(): only the last cycle's tensors are alive
            probe.bwd_node.clear()
            _cycle(g, marks, probe)
    probed = g.recorded
    plain: dict[str, float] = defaultdict(float)
    gc.collect()
    for _ in range(cycles):
        _cycle(g, plain)
    spans = {
        "forward": marks["forward"],
        "topological sort": probe.span["topological sort"],
        "backward": probe.span["backward"],
        "names": probe.span["names"],
        "nodes": marks["trace"] - sum(probe.span.values()),
        "optimizer": marks["optimizer"],
    }
    titles = {"forward": "forward: building the graph (apply per op)",
              "topological sort": "trace: topological sort and value check",
              "backward": "trace: backward loop (and leaf values before it)",
              "names": "trace: _names", "nodes": "trace: Node records, .grad",
              "optimizer": "optimizer: SGD.step"}
    total = sum(spans.values())
    n = len(g.recorded.nodes)
    print(f"\n[{p.key}] phases of one gradstep cycle ({n} nodes), instrumented, mean of "
          f"{cycles} cycles: {fmt_time(total / cycles)} instrumented, "
          f"{fmt_time(sum(plain.values()) / cycles)} plain")
    for phase, seconds in spans.items():
        share = 100 * seconds / total
        print(f"  {titles[phase]:<66}{fmt_time(seconds / cycles):>10}{share:>6.0f}%")
        parts = {what: s for (ph, what), s in probe.acc.items() if ph == phase}
        if phase == "forward" or not parts:
            continue
        for what, s in sorted(parts.items(), key=lambda kv: -kv[1]):
            count = probe.calls.get((phase, what))
            label = f"  {what}" + (f" ×{count // cycles}" if count else "")
            print(f"  {label:<66}{fmt_time(s / cycles):>10}{100 * s / total:>6.0f}%")
        rest = seconds - sum(parts.values())
        print(f"  {'  the rest (record objects, lists, dicts)':<66}"
              f"{fmt_time(rest / cycles):>10}{100 * rest / total:>6.0f}%")
    numpy = NumpyMLP(p)
    t0 = time.perf_counter()
    for _ in range(cycles):
        numpy.cycle()
    print(f"  for scale: the whole hand-written numpy cycle takes "
          f"{fmt_time((time.perf_counter() - t0) / cycles)}")

    print(f"\n[{p.key}] per op type, mean per cycle: forward (apply) | backward maths "
          f"(_contributions)")
    for op in sorted(set(probe.fwd_op) | set(probe.bwd_op),
                     key=lambda o: -(probe.fwd_op[o] + probe.bwd_op[o])):
        count = sum(1 for nd in g.recorded.nodes if nd.op == op)
        print(f"  {op:<16} ×{count:<4}{fmt_time(probe.fwd_op[op] / cycles):>10} |"
              f"{fmt_time(probe.bwd_op[op] / cycles):>10}")

    if n <= 20:
        print(f"\n[{p.key}] per node (last cycle): forward | backward maths | bytes its records "
              f"allocate (value, gradient, backward step; views of other arrays count 0)")
        rec = probed
        for node in rec.nodes:
            t = rec.tensors[node.id]
            size = _step_bytes(rec.backward_step(node.id)) + sum(
                _owned_bytes(a) for a in (node.value, node.grad))
            fwd, bwd = probe.fwd_node.get(id(t)), probe.bwd_node.get(id(t))
            print(f"  {node.id:>3} {node.name:<16}{node.op:<14}{node.shape!s:<12}"
                  f"{fmt_time(fwd) if fwd else '-':>10} |{fmt_time(bwd) if bwd else '-':>10} |"
                  f"{size / 1024:>9.0f} KiB")


def _step_bytes(step: Any) -> int:
    arrays = [step.upstream, *(c for _, c in step.terms)]
    for ig in step.inputs:
        arrays += [a for a in (ig.local, ig.contribution, ig.unreduced, ig.grad_before,
                               ig.grad_after) if a is not None]
    return sum(_owned_bytes(a) for a in arrays)


def _owned_bytes(a: np.ndarray) -> int:
    """Bytes of memory ``a`` itself allocated (0 for a view of another array)."""
    return a.nbytes if a.base is None else 0


# --- 3: cProfile / pyinstrument ---------------------------------------------------------------


def profile(p: Problem, cycles: int, top: int, use_pyinstrument: bool) -> None:
    g = GradstepMLP(p)
    for _ in range(5):
        _cycle(g)
    if use_pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0001)
        profiler.start()
        for _ in range(cycles):
            _cycle(g)
        profiler.stop()
        print(f"\n[{p.key}] pyinstrument, {cycles} cycles")
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(cycles):
        _cycle(g)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    print(f"\n[{p.key}] cProfile, {cycles} cycles, top {top} functions by own time "
          f"(profiler overhead inflates small functions)")
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    for line in lines[start:]:
        if line.strip():
            print("  " + line.replace("/work/main/", "").replace(sys.prefix, "<venv>"))


# --- 4: unit costs ----------------------------------------------------------------------------


def _best(fn: Callable[[], object], number: int = 2000, repeat: int = 7) -> float:
    """Best-of-``repeat`` seconds per call of ``fn`` (timeit-style, noise-resistant)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def unit_costs(p: Problem) -> None:
    """Per-call costs of the tracer's bookkeeping primitives × how often one cycle calls them:
    the per-node overhead that dominates a small network, independent of machine noise."""
    g = GradstepMLP(p)
    g.cycle()
    rec = g.recorded
    n = len(rec.nodes)
    edges = [ig for s in rec.backward for ig in s.inputs]
    probe = Probe()
    with patched(*probe.changes()):
        _cycle(g, None, probe)

    def calls(what: str) -> int:
        return sum(v for (_, w), v in probe.calls.items() if w.startswith(what))

    shape = max((nd.value.shape for nd in rec.nodes if nd.inputs),
                key=lambda s: int(np.prod(s)))
    read_only = tracer.record.frozen(np.ones(shape))  # the biggest activation's shape
    ig, node = edges[0], rec.nodes[-1]
    record = tracer.record

    rows = [
        ("shared() of a read-only leaf value (no copy)", calls("shared"),
         lambda: tracer.record.shared(read_only)),
        ("frozen() of a read-only array (checks it and its bases)", calls("frozen"),
         lambda: tracer.record.frozen(read_only)),
        ("an InputGrad record (9 fields, keyword helper)", len(edges),
         lambda: record.make_input_grad(
             node=ig.node, position=ig.position, local=ig.local, contribution=ig.contribution,
             unreduced=ig.unreduced, reduced_axes=ig.reduced_axes, grad_before=ig.grad_before,
             grad_after=ig.grad_after, differentiable=True)),
        ("a Node record + a BackwardStep record", n,
         lambda: (record.make_node(id=node.id, name=node.name, op=node.op, kind=node.kind,
                                   inputs=node.inputs, value=node.value, grad=node.grad,
                                   attrs={}),
                  record.make_backward_step(index=0, node=0, upstream=node.grad, terms=(),
                                            inputs=()))),
    ]
    print(f"\n[{p.key}] unit costs (best of 7 × 2000 calls) × calls per cycle ({n} nodes, "
          f"{len(edges)} input edges; array primitives on the biggest activation's shape, "
          f"bigger arrays cost more: see the what-ifs)")
    for label, count, fn in rows:
        each = _best(fn)
        print(f"  {label:<62}{fmt_time(each):>9} ×{count:>4} = {fmt_time(each * count):>9}")


# --- 5: what-ifs ------------------------------------------------------------------------------


def _zero_view(a: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    """A read-only zero of ``a``'s shape that allocates 8 bytes (a broadcast scalar)."""
    return np.broadcast_to(np.zeros((), dtype=np.float64), np.shape(a))


def _skip_input_grad(inputs: list[Any]) -> Change:
    """MATMUL with its vjp not computing ∂L/∂A when A is an input leaf (a zero view instead),
    to size skipping (or deferring until displayed) the gradient of data nobody trains."""
    matmul = tracer.ops.MATMUL

    def is_input(a: np.ndarray) -> bool:  # the record shares the input's own (private) array
        return any(a is x._data for x in inputs)

    def vjp(g, a, b, out, **attrs):
        if is_input(a):
            a2 = a[None, :] if a.ndim == 1 else a
            b2 = b[:, None] if b.ndim == 1 else b
            g2 = g.reshape(a2.shape[0], b2.shape[1])
            return _zero_view(a), (a2.T @ g2).reshape(b.shape)
        return matmul.vjp(g, a, b, out, **attrs)

    return (tracer.ops, "MATMUL", dataclasses.replace(matmul, vjp=vjp))


def what_if_steps(g: GradstepMLP) -> list[tuple[str, list[Change], list[str]]]:
    """Cumulative changes, each step keeping the ones above it: (label, changes, missing).

    (Earlier what-ifs are in the tracer now: records as NamedTuples, the networkx graph built on
    first use, constant locals and zero gradients as broadcast views, ``.grad`` sharing the
    record's array, leaf values shared instead of copied, one ``np.errstate`` per forward pass
    instead of one per op.)
    """
    steps: list[tuple[str, list[Change]]] = [
        ("as is (working tree)", []),
        ("1. no ∂L/∂X for input leaves in matmul (skip or defer)",
         [_skip_input_grad([g.X, g.target])]),
    ]
    cumulative = []
    merged: dict[tuple[int, str], Change] = {}
    for label, changes in steps:
        ok, missing = available(changes)
        for change in ok:
            merged[id(change[0]), change[1]] = change
        cumulative.append((label, list(merged.values()), missing))
    return cumulative


def what_ifs(p: Problem, rounds: int, min_time: float) -> None:
    g = GradstepMLP(p)
    verify(p, [NumpyMLP(p), LeanMLP(p), LeanMLP(p, record=True)])  # the same gradients
    runs: dict[str, Callable[[], None]] = {"numpy": NumpyMLP(p).cycle, "lean": LeanMLP(p).cycle,
                                           "lean+": LeanMLP(p, record=True).cycle}
    with contextlib.suppress(ImportError):
        runs["torch"] = TorchMLP(p).cycle
    steps = what_if_steps(g)
    for _ in range(5):
        _cycle(g)
        for run in runs.values():
            run()
    reference = GradstepMLP(p)
    reference.cycle()
    for label, changes, _ in steps:  # every variant must still compute the same gradients
        fresh = GradstepMLP(p)
        with patched(*changes):
            fresh.cycle()
            _cycle(g)
        for mine, theirs in zip(fresh.grads(), reference.grads(), strict=True):
            np.testing.assert_allclose(mine, theirs, rtol=1e-12, err_msg=label)
    t0 = time.process_time()
    _cycle(g)
    n = max(1, int(min_time / max(time.process_time() - t0, 1e-6)))
    samples: dict[str, list[float]] = {label: [] for label, _, _ in steps}
    samples.update({key: [] for key in runs})
    for r in range(rounds):
        for label, changes, _ in steps[r % len(steps):] + steps[:r % len(steps)]:
            with patched(*changes):
                _cycle(g)  # warm the patched path
                gc.collect()
                t0 = time.process_time()
                for _ in range(n):
                    _cycle(g)
                samples[label].append((time.process_time() - t0) / n)
        for key, run in runs.items():
            gc.collect()
            t0 = time.process_time()
            for _ in range(n):
                run()
            samples[key].append((time.process_time() - t0) / n)
    # CPU time (time.process_time) and the best round, not wall time and the median: on a shared
    # machine the noise is one-sided (being descheduled or slowed by a neighbour only adds
    # time), so the best of interleaved rounds in CPU time is the steadiest estimate of what a
    # variant itself costs.
    best = {k: min(v) for k, v in samples.items()}
    print(f"\n[{p.key}] what-ifs, cumulative (each keeps the changes above it), patched in this "
          f"process only; CPU time, best of {rounds} interleaved rounds × {n} cycles")
    for key, label in (("numpy", "hand-written numpy (floor)"), ("torch", "PyTorch eager"),
                       ("lean", "lean Python engine, same ops, no records (LeanMLP)"),
                       ("lean+", "the same + gradstep's records, read-only (record=True)")):
        if key in best:
            print(f"  {label:<64}{fmt_time(best[key]):>10}{'':>29}"
                  f"{best[key] / best['numpy']:>5.2f}× numpy")
    previous = base = best[steps[0][0]]
    for label, _, missing in steps:
        step = previous - best[label]
        note = f"  (n/a here: no {', '.join(missing)})" if missing else ""
        print(f"  {label:<64}{fmt_time(best[label]):>10}  step saves {fmt_time(step):>8} "
              f"({100 * step / base:>4.0f}%)  {best[label] / best['numpy']:>5.2f}× numpy{note}")
        previous = best[label]
    if p.key == "mnist":
        _input_gradient_cost(p)


def _input_gradient_cost(p: Problem) -> None:
    """What ∂L/∂X costs on the MNIST net: one extra matmul nobody else computes."""
    rng = np.random.default_rng(0)
    g1 = rng.normal(size=(p.X.shape[0], p.sizes[1]))
    w1 = p.weights[0][0]
    gx = g1 @ w1.T
    matmul = _best(lambda: g1 @ w1.T, number=50)
    print(f"  ∂L/∂X (input leaf, {gx.shape}, {gx.nbytes / 1024:.0f} KiB): its matmul g @ W1ᵀ "
          f"alone takes {fmt_time(matmul)}; torch and numpy skip it (X needs no gradient)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", default="demo,mnist",
                        help=f"comma-separated, from {', '.join(PROBLEMS)} (default demo,mnist)")
    parser.add_argument("--cycles", type=int, default=300, help="cycles per view (default 300)")
    parser.add_argument("--top", type=int, default=25, help="cProfile rows (default 25)")
    parser.add_argument("--rounds", type=int, default=15, help="what-if rounds (default 15)")
    parser.add_argument("--min-time", type=float, default=0.15,
                        help="seconds of each what-if round per variant (default 0.15)")
    parser.add_argument("--pyinstrument", action="store_true",
                        help="pyinstrument's call tree instead of cProfile's table")
    parser.add_argument("--only", default="phases,profile,units,whatifs",
                        help="which views (default phases,profile,units,whatifs)")
    args = parser.parse_args(argv)
    views = {v.strip() for v in args.only.split(",")}
    for key in (k.strip() for k in args.problem.split(",") if k.strip()):
        if key not in PROBLEMS:
            parser.error(f"unknown problem {key!r}; choose from {', '.join(PROBLEMS)}")
        p = PROBLEMS[key]()
        if "phases" in views:
            phases(p, args.cycles)
        if "profile" in views:
            profile(p, args.cycles, args.top, args.pyinstrument)
        if "units" in views:
            unit_costs(p)
        if "whatifs" in views:
            what_ifs(p, args.rounds, args.min_time)
    return 0


if __name__ == "__main__":
    sys.exit(main())
