"""Gradient flow: the network's activation layers, and gradients that vanish or explode on the
way back through them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import explain
from ..record import Trace
from .findings import Finding, Thresholds, finite, listing, make_finding, root_mean_square, sig

# --- layers: vanishing and exploding gradients --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layer:
    """Activation nodes at one depth, numbered from 1 at the input side.

    ``size`` is the root mean square of their gradients ∂L/∂activation and ``norm`` their
    Euclidean norm; ``params`` are the parameters that feed this layer's activations first.
    """

    number: int
    nodes: tuple[int, ...]
    size: float
    norm: float
    params: tuple[int, ...]



def _depths(trace: Trace) -> dict[int, int]:
    """The largest number of activations strictly after each node on a path to the loss."""
    depth = {trace.root: 0}
    for step in trace.backward:  # reverse topological: a node's consumers come first
        if step.node not in depth:
            continue
        through = depth[step.node] + (trace.role(step.node) == "activation")
        for r in step.inputs:
            if r.differentiable:
                depth[r.node] = max(depth.get(r.node, 0), through)
    return depth


def layers(trace: Trace) -> tuple[Layer, ...]:
    """The network's activation layers, from the input side (layer 1) to the loss."""
    depth = _depths(trace)
    activations = [n for n in trace.nodes if trace.role(n.id) == "activation" and n.id in depth]
    if not activations:
        return ()
    deepest = max(depth[n.id] for n in activations)
    # One pass each to bucket activations and parameters by depth: a network of scalars has as
    # many layers as neurons, so a pass per layer would be quadratic.
    by_depth: dict[int, list[int]] = {}
    for n in activations:
        by_depth.setdefault(depth[n.id], []).append(n.id)
    params_at: dict[int, list[int]] = {}
    for p in trace.params:
        if p.id in depth:
            params_at.setdefault(depth[p.id], []).append(p.id)
    out = []
    for d in sorted(by_depth, reverse=True):
        nodes = tuple(by_depth[d])
        grads = [trace.nodes[i].grad for i in nodes]
        size = root_mean_square(grads)
        norm = size * float(np.sqrt(sum(g.size for g in grads)))
        out.append(Layer(deepest - d + 1, nodes, size, norm, tuple(params_at.get(d + 1, ()))))
    return tuple(out)


def _shallow_slopes(trace: Trace, stack: tuple[Layer, ...]) -> str:
    """A sentence on the layers' activations whose slope is at most a fraction (a sigmoid's
    0.25): each such layer multiplies the gradient by a small number."""
    ops = {trace.op(i) for ly in stack for i in ly.nodes}
    shallow = sorted((op.name, op.peak_slope) for op in ops
                     if op is not None and op.peak_slope is not None and op.peak_slope < 1)
    return "".join(f" A {name}'s slope is at most {peak:g}, so every {name} layer multiplies the "
                   f"gradient by a small number." for name, peak in shallow)


def gradient_flow(trace: Trace, limits: Thresholds) -> list[Finding]:
    if not all(finite(n.grad) for n in trace.nodes):
        return []
    found = []
    stack = layers(trace)
    names = {n.id: n.name for n in trace.nodes}
    per_param = {p.name: root_mean_square([p.grad]) for p in trace.params}
    details = {"layers": [{"layer": ly.number, "nodes": [names[i] for i in ly.nodes],
                           "gradient_rms": ly.size, "gradient_norm": ly.norm,
                           "params": [names[i] for i in ly.params]} for ly in stack],
               "param_gradient_rms": per_param,
               "param_gradient_norm": {p.name: per_param[p.name] * float(np.sqrt(p.grad.size))
                                       for p in trace.params}}
    ratio_kind = None
    if len(stack) >= 2 and stack[0].size > 0 and stack[-1].size > 0:
        far, near = stack[0], stack[-1]
        ratio = near.size / far.size
        steps = near.number - far.number
        far_name, near_name = names[far.nodes[0]], names[near.nodes[0]]
        sizes = (f"∂L/∂{near_name} has a typical size (root mean square) of "
                 f"{sig(near.size)} at layer {near.number}, nearest the loss, and "
                 f"∂L/∂{far_name} {sig(far.size)} at layer 1")
        starved = [f"{names[i]} ({sig(per_param[names[i]])})" for i in far.params]
        feeding = (f" The parameters feeding layer 1 get gradients of that size: "
                   f"{listing(starved)}." if starved else "")
        common = dict(details, ratio=ratio, nearest_layer=near.number, farthest_layer=1)
        if ratio >= limits.vanishing_ratio:
            ratio_kind = "vanishing"
            factor = ratio ** (-1 / steps)
            slope = _shallow_slopes(trace, stack)
            found.append(make_finding(
                "vanishing-gradient", "warning", trace, far.nodes[0], "backward",
                f"the gradient shrinks ×{sig(ratio, 2)} from layer {near.number} "
                f"to layer 1 ({far_name})",
                f"The gradient vanishes on its way back: {sizes}, {sig(ratio, 2)} "
                f"times smaller (about ×{sig(factor, 2)} per layer, beyond the "
                f"threshold of ×{explain.number(limits.vanishing_ratio)}).{slope}{feeding} "
                f"Updates barely move the early layers, so they stop learning. Fix: use ReLU "
                f"(or tanh) hidden layers instead of sigmoids, initialise the weights for the "
                f"depth (Xavier or He), or make the network shallower or add skip connections.",
                **common))
        elif 1 / ratio >= limits.exploding_ratio:
            ratio_kind = "exploding"
            factor = ratio ** (-1 / steps)
            found.append(make_finding(
                "exploding-gradient", "warning", trace, far.nodes[0], "backward",
                f"the gradient grows ×{sig(1 / ratio, 2)} from layer {near.number} "
                f"to layer 1 ({far_name})",
                f"The gradient explodes on its way back: {sizes}, {sig(1 / ratio, 2)} "
                f"times larger (about ×{sig(factor, 2)} per layer, beyond the "
                f"threshold of ×{explain.number(limits.exploding_ratio)}): each layer "
                f"multiplies it by its weights, and they are large.{feeding} One update of "
                f"that size throws the early weights far past any good value. Fix: initialise "
                f"smaller weights (about 1/√fan_in, Xavier or He), clip the gradient's norm, "
                f"or lower the learning rate.", **common))
    big = sorted((rms, name) for name, rms in per_param.items()
                 if rms >= limits.exploding_gradient)
    if big and ratio_kind != "exploding":
        rms, name = big[-1]
        node = trace.find(name).id
        listed = listing([f"{n} ({sig(r)})" for r, n in reversed(big)])
        found.append(make_finding(
            "exploding-gradient", "warning", trace, node, "backward",
            f"∂L/∂{name} has a typical size of {sig(rms)}",
            f"The gradients are huge: {listed} {'has' if len(big) == 1 else 'have'} a root "
            f"mean square of at least "
            f"{explain.number(limits.exploding_gradient)}, the threshold. An update of "
            f"learning rate × gradient moves these parameters by that much, far past any good "
            f"value, and the loss jumps. Fix: scale the inputs and targets to around 1, "
            f"initialise smaller weights, clip the gradient's norm, or lower the learning rate.",
            **details))
    return found


