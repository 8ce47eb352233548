"""Property tests: random expression graphs and random small MLPs, their gradients against
central finite differences (of a numpy forward written here) and against PyTorch autograd.

A random program is a list of instructions over a few scalar and vector leaves. Operands are
drawn from every value computed so far, so values fan out; the loss sums every value (leaves
too) with uneven weights, so each one reaches it. Inputs stay in safe domains: division, log and
fractional powers take ``v·v + 0.5``; examples where relu's input or exp's input would make the
finite differences unreliable are rejected.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tracer
from tracer import Tensor, param

SETTINGS = settings(max_examples=40, deadline=None)
FD_RTOL, FD_ATOL = 1e-5, 1e-6
TORCH_RTOL, TORCH_ATOL = 1e-7, 1e-11
VECTOR = 3


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch not installed: the autograd "
                                               "cross-check needs it")


# --- three interpreters of the same program ---------------------------------------------------

class Rejected(Exception):
    """The example leaves the domain where the comparison is meaningful."""


class NumpyBackend:
    """The reference forward: plain numpy, checking the domain as it goes."""

    def tanh(self, x):
        return np.tanh(x)

    def sigmoid(self, x):
        return 1.0 / (1.0 + np.exp(-x))

    def exp(self, x):
        if np.max(np.abs(x)) > 6:
            raise Rejected("exp input too large for accurate differences")
        return np.exp(x)

    def log(self, x):
        return np.log(x)

    def relu(self, x):
        if np.min(np.abs(x)) < 1e-4:
            raise Rejected("relu input at its kink")
        return np.maximum(x, 0.0)

    def sum(self, x):
        return np.sum(x)

    def mean(self, x):
        return np.mean(x)

    def softmax(self, x):
        e = np.exp(x - np.max(x))
        return e / np.sum(e)


class TracerBackend:
    def __getattr__(self, name):
        return lambda x: getattr(x, name)()


class TorchBackend:
    def __init__(self, torch):
        self.torch = torch

    def __getattr__(self, name):
        if name == "softmax":
            return lambda x: self.torch.softmax(x, dim=-1)
        return lambda x: getattr(x, name)()


UNARY = ["neg", "tanh", "sigmoid", "exp", "log", "relu", "pow2", "pow3", "pow-frac", "sum",
         "mean", "softmax", "index"]
BINARY = ["add", "sub", "mul", "div", "matmul"]
INDEX_KEYS = [0, -1, [0, 0, 1], [2, 1, 1]]
FRACTIONAL_POWERS = [0.5, 1.5, -1.5]


@dataclass(frozen=True)
class Program:
    leaves: tuple[np.ndarray, ...]
    instructions: tuple[tuple[str, int, int, int], ...]  # (op, operand, operand, choice)


def run(program: Program, backend, leaves):
    """Evaluate ``program`` on ``leaves`` with ``backend``; return the scalar loss."""
    values = list(leaves)
    for op, i, j, choice in program.instructions:
        a, b = values[i], values[j]
        vector_a = tuple(a.shape) == (VECTOR,)
        if op == "neg":
            out = -a
        elif op == "pow2":
            out = a**2
        elif op == "pow3":
            out = a**3
        elif op == "pow-frac":
            out = (a * a + 0.5) ** FRACTIONAL_POWERS[choice % 3]
        elif op == "log":
            out = backend.log(a * a + 0.5)
        elif op == "softmax":
            out = backend.softmax(a) if vector_a else backend.tanh(a)
        elif op == "index":
            out = a[INDEX_KEYS[choice % 4]] if vector_a else -a
        elif op in UNARY:
            out = getattr(backend, op)(a)
        elif op == "add":
            out = a + b
        elif op == "sub":
            out = a - b
        elif op == "mul":
            out = a * b
        elif op == "div":
            out = a / (b * b + 0.5)
        elif op == "matmul":
            out = a @ b if vector_a and tuple(b.shape) == (VECTOR,) else a * b
        else:
            raise AssertionError(op)
        values.append(out)
    loss = None
    for k, v in enumerate(values):
        term = backend.sum(v) * float(np.cos(k + 1.0))
        loss = term if loss is None else loss + term
    return loss


leaf_value = st.floats(0.1, 1.5).flatmap(lambda m: st.sampled_from([m, -m]))


@st.composite
def programs(draw) -> Program:
    n_scalars = draw(st.integers(0, 2))
    n_vectors = draw(st.integers(1, 2))
    leaves = [np.array(draw(leaf_value)) for _ in range(n_scalars)]
    leaves += [np.array(draw(st.lists(leaf_value, min_size=VECTOR, max_size=VECTOR)))
               for _ in range(n_vectors)]
    instructions = []
    for k in range(draw(st.integers(1, 7))):
        available = len(leaves) + k
        op = draw(st.sampled_from(UNARY + BINARY))
        instructions.append((op, draw(st.integers(0, available - 1)),
                             draw(st.integers(0, available - 1)), draw(st.integers(0, 11))))
    return Program(tuple(leaves), tuple(instructions))


def reference_loss(program: Program):
    def f(*arrays):
        with np.errstate(over="raise", invalid="raise"):
            return float(run(program, NumpyBackend(), arrays))
    return f


def checked(program: Program) -> None:
    """Reject the example unless the numpy forward stays in the safe domain, even when probed."""
    try:
        value = reference_loss(program)(*program.leaves)
        for k, leaf in enumerate(program.leaves):
            for delta in (1e-5, -1e-5):
                moved = list(program.leaves)
                moved[k] = leaf + delta
                reference_loss(program)(*moved)
    except (Rejected, FloatingPointError):
        assume(False)
    assume(abs(value) < 1e4)


def engine_grads(program: Program):
    leaves = [param(v, name=f"leaf{k}") for k, v in enumerate(program.leaves)]
    loss = run(program, TracerBackend(), leaves)
    loss.backward()
    return float(loss.data), [leaf.grad for leaf in leaves]


@SETTINGS
@given(program=programs())
def test_random_graph_gradients_match_finite_differences(program, fd):
    checked(program)
    loss, grads = engine_grads(program)
    assert loss == pytest.approx(reference_loss(program)(*program.leaves), rel=1e-12, abs=1e-12)
    numeric = fd(reference_loss(program), program.leaves)
    for k, (grad, expected) in enumerate(zip(grads, numeric, strict=True)):
        assert grad.shape == program.leaves[k].shape
        np.testing.assert_allclose(grad, expected, rtol=FD_RTOL, atol=FD_ATOL,
                                   err_msg=f"leaf {k} of {program.instructions}")


@SETTINGS
@given(program=programs())
def test_random_graph_gradients_match_torch_autograd(program, torch):
    checked(program)
    loss, grads = engine_grads(program)
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in program.leaves]
    expected = run(program, TorchBackend(torch), leaves)
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=TORCH_RTOL, abs=TORCH_ATOL)
    for k, (grad, leaf) in enumerate(zip(grads, leaves, strict=True)):
        np.testing.assert_allclose(grad, leaf.grad.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL,
                                   err_msg=f"leaf {k} of {program.instructions}")


# --- random MLPs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class MLP:
    sizes: tuple[int, ...]  # input, hidden..., output
    activations: tuple[str, ...]  # one per hidden layer
    loss: str  # "mse" or "cross_entropy"
    x: np.ndarray
    target: np.ndarray  # regression targets, or class indices
    params: tuple[np.ndarray, ...]  # W1, b1, W2, b2, ...


@st.composite
def mlps(draw) -> MLP:
    sizes = tuple(draw(st.lists(st.integers(1, 5), min_size=2, max_size=4)))
    activations = tuple(draw(st.sampled_from(["tanh", "relu", "sigmoid"]))
                        for _ in sizes[1:-1])
    loss = draw(st.sampled_from(["mse", "cross_entropy"])) if sizes[-1] > 1 else "mse"
    batch = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = []
    for n_in, n_out in itertools.pairwise(sizes):
        params += [rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)), rng.normal(0, 0.3, n_out)]
    x = rng.normal(0, 1, (batch, sizes[0]))
    if loss == "mse":
        target = rng.normal(0, 1, (batch, sizes[-1]))
    else:
        target = rng.integers(0, sizes[-1], batch).astype(float)
    return MLP(sizes, activations, loss, x, target, tuple(params))


NP_ACTIVATIONS = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
                  "relu": lambda z: np.maximum(z, 0.0)}


def mlp_numpy(net: MLP, *params: np.ndarray, check_kinks: bool = False) -> float:
    h = net.x
    for layer in range(len(net.sizes) - 1):
        z = h @ params[2 * layer].T + params[2 * layer + 1]
        if layer < len(net.activations):
            if check_kinks and net.activations[layer] == "relu" and np.min(np.abs(z)) < 1e-4:
                raise Rejected("relu input at its kink")
            h = NP_ACTIVATIONS[net.activations[layer]](z)
        else:
            h = z
    if net.loss == "mse":
        return float(np.mean((h - net.target) ** 2))
    log_p = h - np.max(h, axis=1, keepdims=True)
    log_p = log_p - np.log(np.sum(np.exp(log_p), axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(h)), net.target.astype(int)]))


def mlp_engine(net: MLP):
    params = [param(p, name=f"p{k}") for k, p in enumerate(net.params)]
    h = Tensor(net.x, name="x")
    for layer in range(len(net.sizes) - 1):
        h = h @ params[2 * layer].T + params[2 * layer + 1]
        if layer < len(net.activations):
            h = getattr(h, net.activations[layer])()
    target = Tensor(net.target, name="target")
    loss = tracer.mse(h, target) if net.loss == "mse" else tracer.cross_entropy(h, target)
    loss.backward()
    return float(loss.data), [p.grad for p in params]


def mlp_checked(net: MLP) -> None:
    try:
        mlp_numpy(net, *net.params, check_kinks=True)
    except Rejected:
        assume(False)


@SETTINGS
@given(net=mlps())
def test_random_mlp_gradients_match_finite_differences(net, fd):
    mlp_checked(net)
    loss, grads = mlp_engine(net)
    assert loss == pytest.approx(mlp_numpy(net, *net.params), rel=1e-12)
    numeric = fd(lambda *ps: mlp_numpy(net, *ps), net.params)
    for k, (grad, expected) in enumerate(zip(grads, numeric, strict=True)):
        assert grad.shape == net.params[k].shape
        np.testing.assert_allclose(grad, expected, rtol=FD_RTOL, atol=FD_ATOL,
                                   err_msg=f"param {k} of {net.sizes} {net.activations}")


@SETTINGS
@given(net=mlps())
def test_random_mlp_gradients_match_torch_autograd(net, torch):
    mlp_checked(net)
    loss, grads = mlp_engine(net)
    params = [torch.tensor(p, requires_grad=True) for p in net.params]
    h = torch.tensor(net.x)
    for layer in range(len(net.sizes) - 1):
        h = h @ params[2 * layer].T + params[2 * layer + 1]
        if layer < len(net.activations):
            h = getattr(torch, net.activations[layer])(h)
    functional = torch.nn.functional
    if net.loss == "mse":
        expected = functional.mse_loss(h, torch.tensor(net.target))
    else:
        expected = functional.cross_entropy(h, torch.tensor(net.target).long())
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=TORCH_RTOL, abs=TORCH_ATOL)
    for k, (grad, p) in enumerate(zip(grads, params, strict=True)):
        np.testing.assert_allclose(grad, p.grad.numpy(), rtol=TORCH_RTOL, atol=TORCH_ATOL,
                                   err_msg=f"param {k} of {net.sizes} {net.activations}")
