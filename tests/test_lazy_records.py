"""A trace builds its node and step records when they are first read (tracer.record._KeptTrace).

Whenever that is, they must be the records of the pass that was traced: not of the parameters,
inputs or optimizer state as they are by then. Each test reads one copy of a network's records
at once and a twin's only after the network has moved on, and compares them bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from scenarios import load
from tests.test_records import _all_record_arrays
from tracer import Tensor, param, trace


def _arrays(cycle):
    """Every record array of ``cycle`` (nodes, forward and backward steps, updates, the values
    after), labelled, as (label, dtype, shape, bytes)."""
    labelled = list(_all_record_arrays(cycle.trace, cycle.updates))
    labelled += [(f"value after {k}", a) for k, a in enumerate(cycle.values_after or ())]
    return [(label, a.dtype, a.shape, a.tobytes()) for label, a in labelled]


@pytest.mark.parametrize("name", ["mazur", "xor", "attention-head", "char-rnn", "layer-norm",
                                  "cnn-4-vs-9", "micrograd-neuron"])
def test_records_read_after_the_network_trained_on_are_those_of_their_own_cycle(name):
    now, later = load(name), load(name)
    for network in (now, later):
        network.train(2)  # (momentum and Adam have a state by then)
    expected = _arrays(now.cycle())
    first = later.cycle()
    later.cycle()
    later.train(3)
    assert "nodes" not in vars(first.trace) and "backward" not in vars(first.trace)
    assert _arrays(first) == expected


def test_records_read_after_leaves_were_changed_in_place_show_the_values_traced():
    def build():
        w = param([[1.0, -2.0], [0.5, 3.0]], name="w")
        b = param([0.1, -0.2], name="b")
        x = Tensor([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.5]], name="x")
        return w, b, x, ((x @ w + b).tanh() ** 2).mean()

    *_, root = build()
    reference = trace(root)
    expected = [(label, a.tobytes()) for label, a in _all_record_arrays(reference)]
    w, b, x, root = build()
    lazy = trace(root)
    w.data -= 0.1 * w.grad  # in place, before anyone read the records
    b.data += 1.0
    x.data *= 2.0
    assert [(label, a.tobytes()) for label, a in _all_record_arrays(lazy)] == expected


@pytest.mark.parametrize("name", ["micrograd-neuron", "chain-rule", "mazur", "xor", "demo"])
def test_every_record_array_is_a_read_only_float64_array_even_of_one_number(name):
    # Sums and products of 0-d arrays are numpy scalars: a record keeps them as arrays.
    if name == "demo":
        from benchmarks.contenders import GradstepMLP, demo_problem

        network = GradstepMLP(demo_problem()).network()
    else:
        network = load(name)
    cycle = network.cycle()
    labelled = list(_all_record_arrays(cycle.trace, cycle.updates))
    assert any(a.ndim == 0 for _, a in labelled) or name in ("xor", "demo")
    for label, a in labelled:
        assert type(a) is np.ndarray and a.dtype == np.float64, label
        assert not a.flags.writeable, label
    for t in cycle.trace.tensors:
        assert type(t.grad) is np.ndarray and not t.grad.flags.writeable
