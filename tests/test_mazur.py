"""Matt Mazur, "A Step by Step Backpropagation Example" (2015): the 2-2-2 sigmoid network.

Every expected number below is typed in from the article, as printed there, and compared at the
precision the article prints it (half a unit in its last digit). Nothing here comes from the
engine. The network: inputs i1 = 0.05, i2 = 0.10; hidden h1, h2 and outputs o1, o2 are sigmoids;
biases b1 = 0.35 (hidden) and b2 = 0.60 (outputs) are constants the article never updates;
E_total = Σ ½(target − out)² with targets 0.01 and 0.99; one SGD step with learning rate 0.5.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tracer import SGD, Network, Tensor, param

INITIAL = {"w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30,
           "w5": 0.40, "w6": 0.45, "w7": 0.50, "w8": 0.55}


def assert_printed(actual: float, printed: str, slack: float = 0.0) -> None:
    """``actual`` rounds to the article's ``printed`` value (within half a unit of its last
    digit, plus ``slack`` where the article itself rounded intermediate results)."""
    exponent = Decimal(printed).as_tuple().exponent
    half_unit = 0.5 * 10.0 ** exponent
    assert abs(float(actual) - float(printed)) <= half_unit * (1 + 1e-9) + slack, (
        f"{float(actual)!r} does not round to the article's {printed}")


class Mazur:
    """The article's network, with its intermediate values named as the article names them."""

    def __init__(self):
        self.i1 = Tensor(0.05, name="i1")
        self.i2 = Tensor(0.10, name="i2")
        self.b1 = Tensor(0.35, name="b1", kind="constant")
        self.b2 = Tensor(0.60, name="b2", kind="constant")
        self.w = {name: param(value, name=name) for name, value in INITIAL.items()}
        self.values: dict[str, Tensor] = {}

    def _named(self, name: str, t: Tensor) -> Tensor:
        t.name = name
        self.values[name] = t
        return t

    def forward(self) -> Tensor:
        w, v = self.w, self._named
        out_h1 = v("out_h1", v("net_h1", w["w1"] * self.i1 + w["w2"] * self.i2 + self.b1)
                   .sigmoid())
        out_h2 = v("out_h2", v("net_h2", w["w3"] * self.i1 + w["w4"] * self.i2 + self.b1)
                   .sigmoid())
        out_o1 = v("out_o1", v("net_o1", w["w5"] * out_h1 + w["w6"] * out_h2 + self.b2)
                   .sigmoid())
        out_o2 = v("out_o2", v("net_o2", w["w7"] * out_h1 + w["w8"] * out_h2 + self.b2)
                   .sigmoid())
        e_o1 = v("E_o1", 0.5 * (0.01 - out_o1) ** 2)
        e_o2 = v("E_o2", 0.5 * (0.99 - out_o2) ** 2)
        return v("E_total", e_o1 + e_o2)


@pytest.fixture(scope="module")
def run():
    """One training cycle of the article's network (computed once for this module)."""
    net = Mazur()
    cycle = Network(net.forward, optimizer=SGD(0.5)).cycle()
    return net, cycle


def step_of(cycle, name):
    trace = cycle.trace
    return trace.backward_step(trace.find(name).id)


def record_to(cycle, consumer: str, name: str):
    """What the backward step of node ``consumer`` sent to node ``name``."""
    (record,) = [r for r in step_of(cycle, consumer).inputs
                 if r.node == cycle.trace.find(name).id]
    return record


def consumer_of(cycle, name: str, weight: str) -> str:
    """The name of the product node ``weight · name`` (e.g. the w5·out_h1 term of net_o1)."""
    trace = cycle.trace
    ids = {trace.find(name).id, trace.find(weight).id}
    (node,) = [n for n in trace.nodes if n.op == "mul" and set(n.inputs) == ids]
    return node.name


# --- the forward pass -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "printed"), [
    ("net_h1", "0.3775"),
    ("out_h1", "0.593269992"),
    ("out_h2", "0.596884378"),
    ("net_o1", "1.105905967"),
    ("out_o1", "0.75136507"),
    ("out_o2", "0.772928465"),
    ("E_o1", "0.274811083"),
    ("E_o2", "0.023560026"),
    ("E_total", "0.298371109"),
])
def test_forward_pass_matches_the_article(run, name, printed):
    _, cycle = run
    assert_printed(cycle.trace.find(name).value, printed)


def test_total_error_is_the_cycle_loss(run):
    _, cycle = run
    assert_printed(cycle.loss, "0.298371109")


# --- the backward pass: output layer -----------------------------------------------------------

def test_upstream_at_out_o1_is_dE_dout_o1(run):
    _, cycle = run
    assert_printed(step_of(cycle, "out_o1").upstream, "0.74136507")


def test_sigmoid_step_of_out_o1_shows_local_derivative_and_product(run):
    _, cycle = run
    record = record_to(cycle, "out_o1", "net_o1")
    assert_printed(record.local, "0.186815602")  # ∂out_o1/∂net_o1 = out(1 − out)
    assert_printed(record.contribution, "0.138498562")  # ∂E/∂net_o1 = δ_o1


def test_w5_step_shows_out_h1_as_local_and_the_article_gradient(run):
    _, cycle = run
    record = record_to(cycle, consumer_of(cycle, "out_h1", "w5"), "w5")
    assert_printed(record.local, "0.593269992")  # ∂net_o1/∂w5 = out_h1
    assert_printed(record.contribution, "0.082167041")
    assert_printed(cycle.trace.find("w5").grad, "0.082167041")


# --- the backward pass: hidden layer -----------------------------------------------------------

def test_out_h1_gradient_is_the_sum_of_its_two_consumers(run):
    _, cycle = run
    step = step_of(cycle, "out_h1")
    by_consumer = {cycle.trace.nodes[k].name: float(c) for k, c in step.terms}
    assert set(by_consumer) == {consumer_of(cycle, "out_h1", "w5"),
                                consumer_of(cycle, "out_h1", "w7")}
    assert_printed(by_consumer[consumer_of(cycle, "out_h1", "w5")], "0.055399425")
    # The article multiplies its rounded δ_o2 = −0.038098237 by w7 = 0.5 and rounds
    # −0.0190491185 away from zero, one unit past the unrounded value.
    assert_printed(by_consumer[consumer_of(cycle, "out_h1", "w7")], "-0.019049119", slack=1e-9)
    assert_printed(step.upstream, "0.036350306")


def test_hidden_sigmoid_local_and_w1_gradient(run):
    _, cycle = run
    assert_printed(record_to(cycle, "out_h1", "net_h1").local, "0.241300709")
    assert_printed(cycle.trace.find("w1").grad, "0.000438568")


# --- the update -----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "printed"), [
    ("w5", "0.35891648"),
    ("w6", "0.408666186"),
    ("w7", "0.511301270"),
    ("w8", "0.561370121"),
    ("w1", "0.149780716"),
    ("w2", "0.19956143"),
    ("w3", "0.24975114"),
    ("w4", "0.29950229"),
])
def test_updated_weights_match_the_article(run, name, printed):
    net, cycle = run
    (update,) = [u for u in cycle.updates if u.name == name]
    assert float(update.before) == INITIAL[name]
    assert_printed(update.after, printed)
    assert_printed(net.w[name].data, printed)
    assert float(update.change) == pytest.approx(-0.5 * float(update.grad), rel=1e-15)


def test_biases_are_constants_that_are_not_updated(run):
    net, cycle = run
    assert sorted(u.name for u in cycle.updates) == sorted(INITIAL)
    assert float(net.b1.data) == 0.35 and float(net.b2.data) == 0.60
    assert cycle.trace.find("b1").kind == "constant"


def test_total_error_after_one_update(run):
    net, cycle = run
    # Independent re-evaluation of the network at the updated weights, in plain Python.
    w = {name: float(t.data) for name, t in net.w.items()}

    def sigmoid(x):
        return 1.0 / (1.0 + math.exp(-x))

    out_h1 = sigmoid(w["w1"] * 0.05 + w["w2"] * 0.10 + 0.35)
    out_h2 = sigmoid(w["w3"] * 0.05 + w["w4"] * 0.10 + 0.35)
    out_o1 = sigmoid(w["w5"] * out_h1 + w["w6"] * out_h2 + 0.60)
    out_o2 = sigmoid(w["w7"] * out_h1 + w["w8"] * out_h2 + 0.60)
    expected = 0.5 * (0.01 - out_o1) ** 2 + 0.5 * (0.99 - out_o2) ** 2
    assert cycle.loss_after == pytest.approx(expected, rel=1e-14)
    # The article reports 0.291027924; an exact evaluation at its own printed weights gives
    # 0.2910277737, so its figure is good to about 1.5e-7 only.
    assert cycle.loss_after == pytest.approx(0.291027924, abs=2e-7)
    assert cycle.loss_after < cycle.loss
