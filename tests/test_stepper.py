"""The Stepper: a cursor over recorded steps. Moving it never recomputes anything."""

from __future__ import annotations

import numpy as np
import pytest

from tracer import Stepper, Tensor, param

RECORDS = ["a", "b", "c", "d", "e"]


@pytest.fixture
def stepper():
    return Stepper(RECORDS)


def test_starts_at_the_first_record(stepper):
    assert stepper.position == 0 and stepper.current == "a"
    assert stepper.at_start and not stepper.at_end
    assert len(stepper) == 5


def test_start_position_can_be_given_and_is_clamped():
    assert Stepper(RECORDS, position=3).current == "d"
    assert Stepper(RECORDS, position=-1).current == "e"
    assert Stepper(RECORDS, position=99).current == "e"


def test_next_and_prev_move_one_record_and_stop_at_the_ends(stepper):
    assert [stepper.next() for _ in range(6)] == ["b", "c", "d", "e", "e", "e"]
    assert stepper.at_end
    assert [stepper.prev() for _ in range(6)] == ["d", "c", "b", "a", "a", "a"]
    assert stepper.at_start


def test_goto_first_last_and_negative_positions(stepper):
    assert stepper.goto(2) == "c" and stepper.position == 2
    assert stepper.last() == "e" and stepper.position == 4
    assert stepper.first() == "a" and stepper.position == 0
    assert stepper.goto(-2) == "d"
    assert stepper.goto(-100) == "a"
    assert stepper.goto(100) == "e"


def test_next_then_prev_round_trips_from_every_position(stepper):
    for start in range(1, len(RECORDS) - 1):
        stepper.goto(start)
        stepper.next()
        stepper.prev()
        assert stepper.position == start
        stepper.prev()
        stepper.next()
        assert stepper.position == start


def test_run_until_forward_stops_at_the_first_match_after_the_start(stepper):
    assert stepper.run_until(lambda r: r in ("c", "e")) is True
    assert stepper.current == "c"
    assert stepper.run_until(lambda r: r in ("c", "e")) is True  # does not stick on "c"
    assert stepper.current == "e"


def test_run_until_does_not_test_the_start_record(stepper):
    stepper.goto(2)
    assert stepper.run_until(lambda r: r == "c") is False
    assert stepper.at_end


def test_run_until_stays_at_the_end_when_never_true(stepper):
    stepper.goto(1)
    assert stepper.run_until(lambda r: False) is False
    assert stepper.position == len(RECORDS) - 1


def test_run_until_in_reverse(stepper):
    stepper.last()
    assert stepper.run_until(lambda r: r in ("a", "b", "e"), reverse=True) is True
    assert stepper.current == "b"
    assert stepper.run_until(lambda r: r == "e", reverse=True) is False
    assert stepper.at_start


def test_run_until_from_the_last_record_forward_reports_no_match(stepper):
    stepper.last()
    seen = []
    assert stepper.run_until(lambda r: seen.append(r) or True) is False
    assert seen == [] and stepper.at_end


def test_run_until_forward_then_reverse_returns_to_the_start(stepper):
    stepper.goto(1)
    stepper.run_until(lambda r: r == "d")
    stepper.run_until(lambda r: r == "b", reverse=True)
    assert stepper.position == 1


def test_empty_record_list_is_refused():
    with pytest.raises(ValueError, match="empty"):
        Stepper([])


def test_stepping_back_over_a_real_trace_shows_the_original_records():
    w = param([[0.3, -0.7], [0.2, 0.5]], name="w")
    x = Tensor([1.0, -2.0], name="x")
    h = (w @ x).sigmoid()
    trace = ((h - 0.5) ** 2).sum().backward()
    snapshot = [(s.node, s.upstream.copy(),
                 [(r.node, r.contribution.copy(), r.grad_after.copy()) for r in s.inputs])
                for s in trace.backward]

    stepper = Stepper(trace.backward)
    forward_walk = [stepper.current]
    while not stepper.at_end:
        forward_walk.append(stepper.next())
    backward_walk = [stepper.current]
    while not stepper.at_start:
        backward_walk.append(stepper.prev())

    assert all(a is b for a, b in zip(backward_walk[::-1], forward_walk, strict=True))
    for step, (node, upstream, inputs) in zip(backward_walk[::-1], snapshot, strict=True):
        assert step.node == node
        np.testing.assert_array_equal(step.upstream, upstream)
        for record, (inode, contribution, after) in zip(step.inputs, inputs, strict=True):
            assert record.node == inode
            np.testing.assert_array_equal(record.contribution, contribution)
            np.testing.assert_array_equal(record.grad_after, after)
    # the records are the very same objects: stepping did not rebuild them
    assert all(a is b for a, b in zip(forward_walk, trace.backward, strict=True))


def test_run_until_a_breakpoint_node_in_a_trace():
    w = param([0.5, -0.5], name="w")
    x = Tensor([2.0, 1.0], name="x")
    trace = (w * x).tanh().sum().backward()
    target = trace.find("w").id
    stepper = Stepper(trace.backward)
    assert stepper.run_until(lambda step: step.node == target)
    assert stepper.current.node == target
    np.testing.assert_allclose(stepper.current.upstream,
                               x.data * (1 - np.tanh(w.data * x.data) ** 2), rtol=1e-15)
