"""Build a :class:`~tracer.Network` from a checked :class:`~scenarios.tomlfile.MlpSpec`.

Layer ``k`` computes ``z{k} = h{k-1} @ W{k} + b{k}`` and ``h{k} = activation(z{k})`` with the
whole batch at once, so the graph has a handful of readable nodes per layer (``XW1``, ``z1``,
``h1``, …, ``yhat``, ``loss``) however many rows the data has.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np

from tracer import Network, Tensor, Trace, bce, cross_entropy, make_optimizer, mse, param
from tracer.explain import short

from .tomlfile import MlpSpec

_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": mse, "bce": bce, "cross_entropy": cross_entropy}


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
        h, h_name = x, "X"
        last = len(spec.activations)
        for k, activation in enumerate(spec.activations, 1):
            w, b = params[2 * k - 2], params[2 * k - 1]
            product = h @ w
            product.name = f"{h_name}W{k}"
            h = product + b
            h.name = h_name = f"z{k}"
            if activation != "identity":
                h = getattr(h, activation)()
                h.name = h_name = f"h{k}"
            if k == last:
                h.name = output
        loss = _LOSSES[spec.loss](h, y)
        loss.name = "loss"
        return loss

    def prediction(trace: Trace) -> str:
        out = trace.find(output).value
        if spec.loss == "cross_entropy":
            return (f"predicts classes {short(np.argmax(out, axis=-1))} for labels "
                    f"{short(spec.targets)}")
        return f"predicts {short(out)} for targets {short(spec.targets)}"

    optimizer = make_optimizer(spec.optimizer, spec.lr, **spec.options)
    return Network(forward=forward, name=name, title=spec.title, description=spec.description,
                   optimizer=optimizer, params=params, source=source, prediction_text=prediction)
