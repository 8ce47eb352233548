"""Build a :class:`~tracer.Network` from a checked :class:`~scenarios.tomlfile.MlpSpec`.

Layer ``k`` computes ``z{k} = h{k-1} @ W{k} + b{k}`` and ``h{k} = activation(z{k})`` with the
whole batch at once, so the graph has a handful of readable nodes per layer (``XW1``, ``z1``,
``h1``, …, ``yhat``, ``loss``) however many rows the data has.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np

from tracer import Network, Tensor, Trace, make_optimizer, param
from tracer.explain import short
from tracer.functional import LOSS_FUNCTIONS

from .tomlfile import MlpSpec

__all__ = ["build_mlp", "chain_params", "dense", "initial_weights", "named", "neuron_chain"]

def initial_weights(spec: MlpSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(W, b)`` per layer: the explicit values where given, else drawn from the scheme.

    Biases start at zero unless given. ``xavier``: uniform in ±√(6/(fan_in+fan_out));
    ``he``: normal with std √(2/fan_in); ``normal``: normal with std ``spec.std``; ``zeros``.
    """
    rng = np.random.default_rng(spec.seed)
    weights = []
    for k, (fan_in, fan_out) in enumerate(pairwise(spec.layers), 1):
        shape = (fan_in, fan_out)
        if spec.scheme == "xavier":
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            drawn = rng.uniform(-limit, limit, shape)
        elif spec.scheme == "he":
            drawn = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        elif spec.scheme == "normal":
            drawn = rng.normal(0.0, spec.std, shape)
        else:
            drawn = np.zeros(shape)
        weights.append((spec.given.get(f"W{k}", drawn), spec.given.get(f"b{k}", np.zeros(fan_out))))
    return weights


def named(tensor: Tensor, name: str) -> Tensor:
    """``tensor``, after giving it ``name`` (the label the debugger shows for its node)."""
    tensor.name = name
    return tensor


def dense(h: Tensor, w: Tensor, b: Tensor, k: int,
          activation: str | Callable[[Tensor], Tensor] = "identity") -> Tensor:
    """Layer ``k``: ``z{k} = h @ w + b``, then ``h{k} = activation(z{k})``, nodes named so.

    The product is named after ``h`` (``XW1``, ``h1W2``, …). ``activation`` is a Tensor method
    name (``"tanh"``, ``"relu"``, …), a function of a tensor (a custom op's ``apply``), or
    ``"identity"`` for none, in which case the result is ``z{k}``.
    """
    z = named(named(h @ w, f"{h.name}W{k}") + b, f"z{k}")
    if activation == "identity":
        return z
    out = getattr(z, activation)() if isinstance(activation, str) else activation(z)
    return named(out, f"h{k}")


def chain_params(weight: float, depth: int) -> tuple[list[Tensor], list[Tensor]]:
    """Parameters for :func:`neuron_chain`: weights ``w1``… all ``weight``, biases ``b1``… all 0."""
    weights = [param(weight, name=f"w{k}") for k in range(1, depth + 1)]
    biases = [param(0.0, name=f"b{k}") for k in range(1, depth + 1)]
    return weights, biases


def neuron_chain(x: Tensor, target: Tensor, weights: list[Tensor], biases: list[Tensor],
                 activation: str) -> Tensor:
    """The squared miss of a chain of one-neuron layers, ``h_k = activation(w_k·h_(k-1) + b_k)``.

    Nodes are named ``w1·x``, ``z1``, ``h1``, ``w2·h1``, …, ``miss`` and ``loss``.
    """
    h = x
    for k, (w, b) in enumerate(zip(weights, biases, strict=True), 1):
        product = named(w * h, f"w{k}·h{k - 1}" if k > 1 else "w1·x")
        h = named(getattr(named(product + b, f"z{k}"), activation)(), f"h{k}")
    return named(named(h - target, "miss") ** 2, "loss")


def build_mlp(spec: MlpSpec, name: str, source: str) -> Network:
    """The network ``spec`` describes, with fresh parameters.

    Parameters
    ----------
    spec
        A checked TOML network.
    name
        The network's name (usually the file's stem).
    source
        The TOML file, shown by the debugger.
    """
    params = []
    for k, (w, b) in enumerate(initial_weights(spec), 1):
        params += [param(w, name=f"W{k}"), param(b, name=f"b{k}")]
    x = Tensor(spec.inputs, name="X")
    y = Tensor(spec.targets, name="y")
    output = "scores" if spec.loss == "cross_entropy" else "yhat"

    def forward() -> Tensor:
        h = x
        for k, activation in enumerate(spec.activations, 1):
            h = dense(h, params[2 * k - 2], params[2 * k - 1], k, activation)
        return named(LOSS_FUNCTIONS[spec.loss](named(h, output), y), "loss")

    def prediction(trace: Trace) -> str:
        out = trace.find(output).value
        if spec.loss == "cross_entropy":
            return (f"predicts classes {short(np.argmax(out, axis=-1))} for labels "
                    f"{short(spec.targets)}")
        return f"predicts {short(out)} for targets {short(spec.targets)}"

    optimizer = make_optimizer(spec.optimizer, spec.lr, **spec.options)
    return Network(forward=forward, name=name, title=spec.title, description=spec.description,
                   optimizer=optimizer, params=params, source=source, prediction_text=prediction)
