"""The benchmark problems, and each contender's full training cycle on them.

A *problem* is an MLP (layer sizes, activation, loss, data, initial weights, learning rate). A
*contender* runs one full cycle on it: forward (traced, for gradstep), backward (recorded, for
gradstep) and a plain SGD update ``W ← W − lr·∂L/∂W``. Every contender computes the same loss
with the same maths; :func:`verify` checks that their losses, gradients and updated parameters
agree before anything is timed, so a benchmark cannot silently time different work.

Contenders: hand-written numpy (no tracing: the floor), PyTorch eager on the CPU (float64, one
thread), micrograd 0.1.0 from PyPI (scalar ``Value`` objects, its own ``micrograd.nn.MLP``) and
gradstep (``tracer.trace`` + ``tracer.SGD``, the work of ``Network.cycle()`` without its re-run
forward for ``loss_after``; that re-run is timed separately as ``Network.cycle()``).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tracer import SGD, Network, Tensor, cross_entropy, mse, param, quiet, trace

ALPHA = 1e-4  # the micrograd demo's L2 regularisation strength

Weights = tuple[tuple[np.ndarray, np.ndarray], ...]


@dataclass(frozen=True)
class Problem:
    """One network, its data and its initial weights (``W`` is ``(fan_in, fan_out)``)."""

    key: str
    title: str
    sizes: tuple[int, ...]
    activation: str  # "relu" or "tanh", on every hidden layer
    last_activation: bool  # also on the output layer
    loss: str  # "svm" (max-margin + L2, as micrograd's demo), "ce" (softmax CE) or "mse"
    X: np.ndarray
    target: np.ndarray  # svm: (n, 1) of ±1; ce: (n,) class indices; mse: (n, out)
    weights: Weights
    lr: float

    @property
    def layers(self) -> int:
        return len(self.weights)

    @property
    def n_params(self) -> int:
        return sum(w.size + b.size for w, b in self.weights)

    def activated(self, k: int) -> bool:
        return k < self.layers - 1 or self.last_activation

    @property
    def loss_text(self) -> str:
        return {"svm": f"SVM max-margin + {ALPHA:g}·L2 (the micrograd demo's loss)",
                "ce": "softmax cross-entropy", "mse": "MSE"}[self.loss]


# --- the three problems -----------------------------------------------------------------------


def make_moons(n: int = 100, noise: float = 0.1, seed: int = 1337) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, like ``sklearn.datasets.make_moons`` (labels 0 and 1)."""
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.vstack([np.column_stack([np.cos(t_out), np.sin(t_out)]),
                   np.column_stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5])])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    X = X + rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(n)
    return X[order], y[order]


def demo_problem() -> Problem:
    """micrograd's demo: MLP 2-16-16-1 on 100 moons, ReLU, max-margin loss + L2, micrograd's
    own initialisation (weights uniform in [−1, 1], biases 0)."""
    X, y = make_moons(100, noise=0.1)
    rng = np.random.default_rng(0)
    sizes = (2, 16, 16, 1)
    weights = tuple((rng.uniform(-1, 1, size=(a, b)), np.zeros(b))
                    for a, b in itertools.pairwise(sizes))
    return Problem("demo", "micrograd demo: MLP 2-16-16-1, 100 points, ReLU", sizes, "relu",
                   False, "svm", X, (2 * y - 1).reshape(-1, 1), weights, lr=0.1)


def _scaled(rng: np.random.Generator, sizes: tuple[int, ...], gain: float) -> Weights:
    return tuple((rng.normal(scale=gain / np.sqrt(a), size=(a, b)), rng.uniform(-0.1, 0.1, b))
                 for a, b in itertools.pairwise(sizes))


def mnist_problem() -> Problem:
    """An MNIST-sized MLP 784-128-10, batch 64, ReLU, softmax cross-entropy (random pixels)."""
    rng = np.random.default_rng(1)
    sizes = (784, 128, 10)
    X = rng.random((64, 784))
    labels = rng.integers(0, 10, size=64).astype(np.float64)
    return Problem("mnist", "MLP 784-128-10, batch 64, ReLU", sizes, "relu", False, "ce", X,
                   labels, _scaled(rng, sizes, np.sqrt(2.0)), lr=0.05)


def chain_problem(depth: int = 20, width: int = 32, batch: int = 16) -> Problem:
    """A deep narrow chain: ``depth`` tanh layers of width ``width``, MSE to a random target."""
    rng = np.random.default_rng(2)
    sizes = (width,) * (depth + 1)
    X = rng.normal(size=(batch, width))
    target = rng.uniform(-0.5, 0.5, size=(batch, width))
    return Problem("chain", f"{depth}-layer tanh chain, width {width}, batch {batch}", sizes,
                   "tanh", True, "mse", X, target, _scaled(rng, sizes, 1.0), lr=0.05)


PROBLEMS: dict[str, Callable[[], Problem]] = {
    "demo": demo_problem, "mnist": mnist_problem, "chain": chain_problem}


# --- contenders -------------------------------------------------------------------------------


def _layers(p: Problem, h, ps: list, relu: Callable, tanh: Callable):
    """``h`` through the problem's layers, ``h @ W + b`` and the activation where it has one,
    for the engines whose values support ``@`` and ``+`` (PyTorch, gradstep, the lean one)."""
    for k in range(p.layers):
        h = h @ ps[2 * k] + ps[2 * k + 1]
        if p.activated(k):
            h = relu(h) if p.activation == "relu" else tanh(h)
    return h


def _l2(ps: list):
    """The demo's L2 term ``Σ p²``: one ``(q * q).sum()`` per parameter tensor, added in order."""
    reg = None
    for q in ps:
        term = (q * q).sum()
        reg = term if reg is None else reg + term
    return reg



class Contender:
    """One way of running the cycle. After :meth:`cycle`: :meth:`loss` (before the update),
    :meth:`grads` and :meth:`params` (after the update), as ``[W1, b1, W2, b2, ...]``."""

    label = ""

    def cycle(self) -> None:
        raise NotImplementedError

    def loss(self) -> float:
        raise NotImplementedError

    def grads(self) -> list[np.ndarray]:
        raise NotImplementedError

    def params(self) -> list[np.ndarray]:
        raise NotImplementedError


class NumpyMLP(Contender):
    """The same maths written out by hand: forward, manual backward, in-place SGD. No graph.

    With ``input_grad`` it also computes ∂L/∂X, as gradstep does (every tensor gets a
    ``.grad``): the same gradients, so the same work, one matrix product more than the floor.
    """

    label = "numpy, hand-written (floor)"

    def __init__(self, p: Problem, input_grad: bool = False):
        self.input_grad = input_grad
        if input_grad:
            self.label = "numpy, hand-written, + ∂L/∂X"
        self.X_grad: np.ndarray | None = None
        self.p = p
        self.W = [w.copy() for w, _ in p.weights]
        self.b = [b.copy() for _, b in p.weights]
        self.onehot = np.eye(p.sizes[-1])[p.target.astype(int)] if p.loss == "ce" else None
        self._loss = np.nan
        self._grads: list[np.ndarray] = []

    def cycle(self) -> None:
        p, W, b = self.p, self.W, self.b
        relu = p.activation == "relu"
        h = p.X
        ins, outs = [], []
        for k in range(p.layers):
            ins.append(h)
            h = h @ W[k] + b[k]
            if p.activated(k):
                h = np.maximum(h, 0.0) if relu else np.tanh(h)
            outs.append(h)
        if p.loss == "svm":
            y = p.target
            margin = 1.0 - y * h
            reg = sum(float((w * w).sum() + (c * c).sum()) for w, c in zip(W, b, strict=True))
            loss = np.maximum(margin, 0.0).mean() + ALPHA * reg
            dh = -y * (margin > 0) / margin.size
        elif p.loss == "ce":
            shifted = h - h.max(axis=1, keepdims=True)
            logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            loss = -(self.onehot * logp).sum() / h.shape[0]
            dh = (np.exp(logp) - self.onehot) / h.shape[0]
        else:
            diff = h - p.target
            loss = (diff * diff).mean()
            dh = 2.0 * diff / diff.size
        grads: list[np.ndarray] = [np.empty(0)] * (2 * p.layers)
        for k in range(p.layers - 1, -1, -1):
            if p.activated(k):
                out = outs[k]
                dz = dh * (out > 0) if relu else dh * (1.0 - out * out)
            else:
                dz = dh
            gw = ins[k].T @ dz
            gb = dz.sum(axis=0)
            if p.loss == "svm":
                gw += 2 * ALPHA * W[k]
                gb += 2 * ALPHA * b[k]
            if k or self.input_grad:
                dh = dz @ W[k].T
            grads[2 * k], grads[2 * k + 1] = gw, gb
        for k in range(p.layers):
            W[k] -= p.lr * grads[2 * k]
            b[k] -= p.lr * grads[2 * k + 1]
        self._loss, self._grads = loss, grads
        if self.input_grad:
            self.X_grad = dh

    def loss(self) -> float:
        return float(self._loss)

    def grads(self) -> list[np.ndarray]:
        return self._grads

    def params(self) -> list[np.ndarray]:
        return [a for pair in zip(self.W, self.b, strict=True) for a in pair]


class TorchMLP(Contender):
    """PyTorch eager on the CPU, float64, one intra-op thread; the leanest eager SGD step
    (``p.sub_(p.grad, alpha=lr)`` under ``no_grad``, grads reset to ``None``)."""

    label = "PyTorch eager (f64, 1 thread)"

    def __init__(self, p: Problem):
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(1)
        self.torch, self.F, self.p = torch, F, p
        self.ps = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
                   for w, b in p.weights for a in (w, b)]
        self.X = torch.tensor(p.X, dtype=torch.float64)
        dtype = torch.long if p.loss == "ce" else torch.float64
        self.target = torch.tensor(p.target, dtype=dtype)
        self._loss = None
        self._grads: list = []

    def forward(self):
        torch, p = self.torch, self.p
        h = _layers(p, self.X, self.ps, torch.relu, torch.tanh)
        if p.loss == "svm":
            reg = _l2(self.ps)
            return torch.relu(1 - self.target * h).mean() + ALPHA * reg
        if p.loss == "ce":
            return self.F.cross_entropy(h, self.target)
        return self.F.mse_loss(h, self.target)

    def cycle(self) -> None:
        loss = self.forward()
        loss.backward()
        lr = self.p.lr
        with self.torch.no_grad():
            for q in self.ps:
                q.sub_(q.grad, alpha=lr)
        self._grads = [q.grad for q in self.ps]
        for q in self.ps:
            q.grad = None
        self._loss = loss

    def loss(self) -> float:
        return float(self._loss.item())

    def grads(self) -> list[np.ndarray]:
        return [g.numpy() for g in self._grads]

    def params(self) -> list[np.ndarray]:
        return [q.detach().numpy() for q in self.ps]


class MicrogradMLP(Contender):
    """micrograd 0.1.0 (PyPI): its ``nn.MLP`` of scalar ``Value`` objects, the demo's loss code
    verbatim (minus the accuracy), initial weights copied from the problem."""

    label = "micrograd 0.1.0 (scalar Values)"

    def __init__(self, p: Problem):
        if p.loss != "svm" or p.activation != "relu" or p.last_activation:
            raise ValueError("micrograd's MLP has ReLU hidden layers and a linear output only")
        from micrograd.engine import Value
        from micrograd.nn import MLP

        random.seed(1337)
        self.Value, self.p = Value, p
        self.model = MLP(p.sizes[0], list(p.sizes[1:]))
        for layer, (w, b) in zip(self.model.layers, p.weights, strict=True):
            for j, neuron in enumerate(layer.neurons):
                for i, wi in enumerate(neuron.w):
                    wi.data = float(w[i, j])
                neuron.b.data = float(b[j])
        self.rows = p.X.tolist()
        self.ys = [float(v) for v in p.target.ravel()]
        self._loss = None
        self.nodes = 0

    def cycle(self) -> None:
        Value, model = self.Value, self.model
        inputs = [list(map(Value, row)) for row in self.rows]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * si).relu() for yi, si in zip(self.ys, scores, strict=True)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum(q * q for q in model.parameters())
        total_loss = data_loss + reg_loss
        model.zero_grad()
        total_loss.backward()
        for q in model.parameters():
            q.data -= self.p.lr * q.grad
        self._loss = total_loss

    def count_nodes(self) -> int:
        """Values in the last cycle's graph."""
        seen, stack = set(), [self._loss]
        while stack:
            v = stack.pop()
            if id(v) not in seen:
                seen.add(id(v))
                stack.extend(v._prev)
        return len(seen)

    def _layout(self, attr: str) -> list[np.ndarray]:
        out = []
        for layer in self.model.layers:
            out.append(np.array([[getattr(wi, attr) for wi in n.w] for n in layer.neurons],
                                dtype=np.float64).T)
            out.append(np.array([getattr(n.b, attr) for n in layer.neurons], dtype=np.float64))
        return out

    def loss(self) -> float:
        return float(self._loss.data)

    def grads(self) -> list[np.ndarray]:
        return self._layout("grad")

    def params(self) -> list[np.ndarray]:
        return self._layout("data")


class _Lean:
    """A value in :class:`LeanMLP`'s engine: array, gradient, inputs, and a closure that maps
    the upstream gradient to each input's (contribution, local derivative) (micrograd's design
    over numpy arrays; ``local`` is ``None`` for a structural op, as in gradstep's records)."""

    __slots__ = ("back", "data", "grad", "op", "prev")

    def __init__(self, data: np.ndarray, prev: tuple = (), back: Callable | None = None,
                 op: str = "leaf"):
        self.data, self.grad, self.prev, self.back, self.op = data, None, prev, back, op

    def __add__(self, o: _Lean) -> _Lean:
        a, b = self.data, o.data
        return _Lean(a + b, (self, o), lambda g: ((_unbroadcast(g, a.shape), 1.0),
                                                  (_unbroadcast(g, b.shape), 1.0)), "add")

    def __mul__(self, o: _Lean) -> _Lean:
        a, b = self.data, o.data
        return _Lean(a * b, (self, o), lambda g: ((_unbroadcast(g * b, a.shape), b),
                                                  (_unbroadcast(g * a, b.shape), a)), "mul")

    def __matmul__(self, o: _Lean) -> _Lean:
        a, b = self.data, o.data
        return _Lean(a @ b, (self, o), lambda g: ((g @ b.T, None), (a.T @ g, None)), "matmul")

    def _elementwise(self, out: np.ndarray, local: Callable[[], np.ndarray], op: str) -> _Lean:
        def back(g: np.ndarray) -> tuple:
            d = local()
            return ((g * d, d),)

        return _Lean(out, (self,), back, op)

    def relu(self) -> _Lean:
        a = self.data
        return self._elementwise(np.maximum(a, 0.0), lambda: (a > 0).astype(float), "relu")

    def tanh(self) -> _Lean:
        out = np.tanh(self.data)
        return self._elementwise(out, lambda: 1.0 - out * out, "tanh")

    def sum(self) -> _Lean:
        a = self.data
        return _Lean(a.sum(), (self,), lambda g: ((np.full(a.shape, g), None),), "sum")

    def mean(self) -> _Lean:
        a = self.data
        return _Lean(a.mean(), (self,), lambda g: ((np.full(a.shape, g / a.size), None),), "mean")

    def backward(self, record: bool = False, params: tuple[_Lean, ...] = ()) -> tuple | None:
        """Fill ``.grad`` below this value. With ``record``, also keep what gradstep's trace
        keeps, made read-only as gradstep makes it: a record per node (name, op, value,
        gradient), per backward step (upstream, the terms of a fan-in sum; only for the root
        and nodes with one of ``params`` upstream, as gradstep) and per input edge of those
        (local, contribution, gradient before and after); return (nodes, steps)."""
        order: list[_Lean] = []
        seen: set[int] = set()

        def visit(v: _Lean) -> None:
            if id(v) not in seen:
                seen.add(id(v))
                for x in v.prev:
                    visit(x)
                order.append(v)

        visit(self)
        for v in order:
            v.grad = None
        self.grad = np.ones(())
        index = {id(v): i for i, v in enumerate(order)} if record else {}
        terms: list[list] = [[] for _ in order] if record else []
        trained = {id(q) for q in params}
        needs: list[bool] = []  # (inputs come first in order)
        for v in order if record else ():
            needs.append(id(v) in trained or any(needs[index[id(x)]] for x in v.prev))
        if record:
            needs[-1] = True
        steps = []
        for i in range(len(order) - 1, -1, -1):
            v = order[i]
            edges = []
            for pos, (x, (c, local)) in enumerate(
                    zip(v.prev, v.back(v.grad) if v.back else (), strict=True)):
                before = x.grad
                x.grad = after = c if before is None else before + c
                if record and needs[i]:
                    c.setflags(write=False)
                    after.setflags(write=False)
                    if local.__class__ is np.ndarray:
                        local.setflags(write=False)
                    j = index[id(x)]
                    terms[j].append((i, c))
                    edges.append((j, pos, local, c, None, (), before, after, True, needs[j]))
            if record and needs[i]:
                steps.append((len(steps), i, v.grad, tuple(terms[i]), tuple(edges)))
        if not record:
            return None
        counts: dict[str, int] = {}
        nodes = []
        for i, v in enumerate(order):
            k = counts[v.op] = counts.get(v.op, 0) + 1
            nodes.append((i, f"{v.op}_{k}", v.op, v.op,
                          tuple(index[id(x)] for x in v.prev), v.data, v.grad, {}))
        return nodes, steps


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes).reshape(shape) if axes else g


class LeanMLP(Contender):
    """The floor of a Python engine over numpy: micrograd's design (each op a closure that
    returns its inputs' gradients) on arrays, the same ops as gradstep's, with nothing named
    or checked, and with ``record`` false nothing recorded. Not a tool anyone could debug
    with; it sizes what gradstep's records, names and checks cost beyond the engine itself,
    and (``record``) what keeping the same records costs in an engine built for it."""

    label = "lean Python engine, no records"

    def __init__(self, p: Problem, record: bool = False):
        self.record = record
        if record:
            self.label = "lean Python engine + gradstep's records"
        self.recorded: tuple | None = None
        self.p = p
        self.ps = [_Lean(a.copy()) for pair in p.weights for a in pair]
        self.X = _Lean(p.X)
        self.onehot = np.eye(p.sizes[-1])[p.target.astype(int)] if p.loss == "ce" else None
        self._loss = np.nan

    def _loss_node(self, h: _Lean) -> _Lean:
        p, z = self.p, h.data
        if p.loss == "svm":  # op for op as gradstep's: mul, add, relu, mean
            data = (_Lean(np.ones(())) + _Lean(-p.target) * h).relu().mean()
            reg = _l2(self.ps)
            return data + _Lean(np.array(ALPHA)) * reg
        if p.loss == "ce":
            shifted = z - z.max(axis=1, keepdims=True)
            logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            rows = z.shape[0]
            return _Lean(np.asarray(-(self.onehot * logp).sum() / rows), (h,),
                         lambda g: (((np.exp(logp) - self.onehot) * (g / rows), None),), "ce")
        diff = z - p.target
        return _Lean(np.asarray((diff * diff).mean()), (h,),
                     lambda g: ((diff * (2.0 * g / diff.size), None),), "mse")

    def cycle(self) -> None:
        p = self.p
        h = _layers(p, self.X, self.ps, _Lean.relu, _Lean.tanh)
        loss = self._loss_node(h)
        recorded = loss.backward(self.record, tuple(self.ps))
        updates = []
        for q in self.ps:
            change = -p.lr * q.grad
            after = q.data + change
            if self.record:
                change.setflags(write=False)
                after.setflags(write=False)
                updates.append(("param", q.data, q.grad, change, after, {}))
            q.data = after
        self.recorded = recorded, updates
        self._loss = float(loss.data)

    def loss(self) -> float:
        return self._loss

    def grads(self) -> list[np.ndarray]:
        return [q.grad for q in self.ps]

    def params(self) -> list[np.ndarray]:
        return [q.data for q in self.ps]


class GradstepMLP(Contender):
    """gradstep, vectorised: ``relu(X @ W1 + b1)`` ... built from ``tracer.Tensor`` ops, then
    ``tracer.trace`` (graph, forward and backward records) and ``tracer.SGD`` (update records)."""

    label = "gradstep (trace + SGD)"

    def __init__(self, p: Problem):
        self.p = p
        self.ps = [param(a, name=f"{'Wb'[i % 2]}{i // 2 + 1}")
                   for i, a in enumerate(a for pair in p.weights for a in pair)]
        self.X = Tensor(p.X, name="X")
        self.target = Tensor(p.target, name="y")
        self.optimizer = SGD(p.lr)
        self.recorded = None

    def forward(self):
        p = self.p
        h = _layers(p, self.X, self.ps, Tensor.relu, Tensor.tanh)
        if p.loss == "svm":
            reg = _l2(self.ps)
            return (1 - self.target * h).relu().mean() + ALPHA * reg
        if p.loss == "ce":
            return cross_entropy(h, self.target)
        return mse(h, self.target)

    def cycle(self) -> None:
        # What Network.cycle() does before its loss_after forward: trace (the forward pass
        # under quiet(), as Network runs it), then update the parameters found in the graph,
        # recording every step.
        with quiet():
            root = self.forward()
        recorded = trace(root)
        self.updates = self.optimizer.step(
            [(n.name, recorded.tensors[n.id]) for n in recorded.params])
        self.recorded = recorded

    def network(self):
        """A ``tracer.Network`` over the same forward function (its own copy of the weights)."""
        twin = GradstepMLP(self.p)
        return Network(twin.forward, name=self.p.key, optimizer=SGD(self.p.lr), params=twin.ps)

    def loss(self) -> float:
        return self.recorded.loss

    def grads(self) -> list[np.ndarray]:
        return [q.grad for q in self.ps]

    def params(self) -> list[np.ndarray]:
        return [q.data for q in self.ps]


def verify(p: Problem, contenders: list[Contender], rtol: float = 1e-8) -> None:
    """Run one cycle of each contender from the same initial weights and check that the loss,
    every gradient and every updated parameter agree with the first contender's, and that
    ∂L/∂X agrees between the contenders that compute it."""
    for c in contenders:
        c.cycle()
    x_grads = [(c.label, c.X_grad if isinstance(c, NumpyMLP) else c.X.grad)
               for c in contenders if getattr(c, "input_grad", False) or isinstance(c, GradstepMLP)]
    for label, x_grad in x_grads[1:]:
        np.testing.assert_allclose(x_grad, x_grads[0][1], rtol=rtol, atol=1e-15,
                                   err_msg=f"[{p.key}] {label} vs {x_grads[0][0]}: ∂L/∂X")
    ref = contenders[0]
    names = [f"{'Wb'[i % 2]}{i // 2 + 1}" for i in range(2 * p.layers)]
    for c in contenders[1:]:
        where = f"[{p.key}] {c.label} vs {ref.label}"
        np.testing.assert_allclose(c.loss(), ref.loss(), rtol=rtol, err_msg=f"{where}: loss")
        for what, mine, theirs in (("∂L/∂", c.grads(), ref.grads()),
                                   ("updated ", c.params(), ref.params())):
            for name, a, b in zip(names, mine, theirs, strict=True):
                np.testing.assert_allclose(
                    a, b, rtol=rtol, atol=1e-12 + rtol * float(np.abs(b).max()),
                    err_msg=f"{where}: {what}{name}")
