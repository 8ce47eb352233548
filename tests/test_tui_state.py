"""The debugger's cursor, selection and breakpoints, without a terminal."""

import pytest

from scenarios import load
from tracer.training import run
from tui.state import Debugger


@pytest.fixture
def mazur() -> Debugger:
    return Debugger(load("mazur"))


def test_starts_at_the_first_forward_step(mazur):
    assert mazur.phase == "forward" and mazur.position == 0
    assert mazur.current_node == 0 and mazur.selected == 0


def test_timeline_is_forward_then_backward_then_update(mazur):
    n = len(mazur.trace.nodes)
    phases = [m.phase for m in mazur.timeline]
    # no backward step for the 8 nodes no weight is upstream of: i1, i2, b1, b2, target_o1,
    # target_o2 and the two 0.5 factors of E = 0.5·diff²
    back = n - 8
    assert phases == ["forward"] * n + ["backward"] * back + ["update"] * (
        len(phases) - n - back - 1) + ["outcome"]
    assert len(mazur.cycle.updates) == 8  # w1..w8; the biases are constants


def test_step_forward_and_back_returns_the_same_records(mazur):
    before = mazur.moment
    mazur.step(5)
    mazur.step(-5)
    assert mazur.moment is before


def test_node_state_follows_the_phases(mazur):
    last = len(mazur.trace.nodes) - 1
    mazur.goto(3)
    assert mazur.node_state(3).status == "current"
    assert mazur.node_state(2).status == "done" and mazur.node_state(2).value_known
    assert not mazur.node_state(4).value_known
    mazur.goto(mazur.position_of("backward", last))  # the loss's backward step comes first
    assert mazur.node_state(last).grad_known
    assert not mazur.node_state(0).grad_known and mazur.node_state(0).value_known


def test_active_edges_lead_into_the_current_node(mazur):
    loss = mazur.trace.root
    mazur.goto(mazur.position_of("backward", loss))
    assert mazur.active_edges() == {(i, loss) for i in mazur.trace.nodes[loss].inputs}


def test_continue_stops_at_the_end_of_the_phase_then_goes_on(mazur):
    assert mazur.continue_() is False
    assert mazur.position == mazur.phase_bounds("forward")[1]
    mazur.continue_()
    assert mazur.phase == "backward" and mazur.position == mazur.phase_bounds("backward")[1]


def test_continue_stops_at_a_breakpoint_in_either_direction(mazur):
    w5 = mazur.trace.find("w5").id
    mazur.toggle_breakpoint(w5)
    assert mazur.continue_() is True
    assert mazur.current_node == w5 and mazur.phase == "forward"
    mazur.continue_()  # on to the end of the forward phase
    mazur.continue_()  # into the backward phase, where w5's gradient is computed
    assert mazur.phase == "backward" and mazur.current_node == w5
    mazur.goto(mazur.phase_bounds("backward")[1])
    assert mazur.continue_(reverse=True) is True and mazur.current_node == w5


def test_toggle_breakpoint_twice_removes_it(mazur):
    assert mazur.toggle_breakpoint(4) is True
    assert mazur.toggle_breakpoint(4) is False
    assert not mazur.breakpoints


def test_update_only_after_the_backward_pass(mazur):
    assert not mazur.can_update
    mazur.goto(mazur.phase_bounds("backward")[1])
    assert mazur.can_update
    mazur.apply_update()
    assert mazur.update_applied and not mazur.can_update


def test_next_iteration_runs_forward_on_the_updated_weights(mazur):
    first = mazur.cycle
    mazur.apply_update()
    mazur.next_iteration()
    assert mazur.cycle.iteration == 2 and mazur.position == 0
    assert mazur.cycle.loss == pytest.approx(first.loss_after)
    assert mazur.cycle.loss < first.loss
    assert mazur.loss_history()[:2] == [first.loss, mazur.cycle.loss]


def test_find_ranks_the_name_then_prefixes_then_substrings_then_letters_in_order(mazur):
    def names(text):
        return [mazur.trace.nodes[k].name for k in mazur.find(text)]

    assert names("W1") == ["w1", "w1·i1", "w3·i1", "w5·out_h1", "w7·out_h1",  # contain it
                           "weighted_h1", "weighted_o1"]  # w, then 1
    assert names("oh1") == ["out_h1", "w5·out_h1", "w7·out_h1"]
    assert names("no such node") == []


def test_every_iteration_stays_viewable_and_an_old_one_is_the_cycle_that_ran():
    debugger = Debugger(load("xor"))
    debugger.train(40)
    reference = load("xor")
    cycles = [reference.cycle() for _ in range(41)]  # recorded one by one, all kept
    assert debugger.loss_history() == [c.loss for c in cycles] + [cycles[-1].loss_after]
    for index in (0, 17, 40):
        debugger.view(index)
        viewed, ran = debugger.cycle, cycles[index]
        assert viewed.iteration == ran.iteration == index + 1
        assert [u.after.tobytes() for u in viewed.updates] == [u.after.tobytes()
                                                              for u in ran.updates]
        assert [n.grad.tobytes() for n in viewed.trace.nodes] == [n.grad.tobytes()
                                                                  for n in ran.trace.nodes]
    assert debugger.viewing == 40 and debugger.latest


def test_a_cycles_nbytes_is_close_to_what_keeping_it_costs():
    import gc
    import tracemalloc

    network = load("xor")
    network.cycle()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [network.cycle() for _ in range(20)]
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    estimated = sum(c.nbytes for c in kept)
    assert 0.7 < estimated / grown < 1.4


def test_the_viewed_cycle_stays_whole_while_training_goes_on():
    # A training run happens in a worker while an earlier iteration may be on screen.
    debugger = Debugger(load("xor"))
    debugger.train(5)
    debugger.view(1)
    viewed = debugger.cycle
    run(debugger.history, 30)  # as train() does, without moving the view
    assert debugger.cycle is viewed and debugger.trace is viewed.trace
    before, after = debugger.predictions()  # after the update: the next cycle's, not kept
    assert before.startswith("predicts") and after is None
    debugger.step(1)
    assert debugger.position == 1


def test_the_loss_curve_of_a_long_run_is_drawn_from_every_kth_loss():
    debugger = Debugger(load("xor"))
    debugger.train(99)
    assert debugger.loss_curve() == debugger.loss_history()  # all finite
    sampled = debugger.loss_curve(10)
    assert sampled == [*debugger.history.losses[::10], debugger.history.losses_after[-1]]
    assert len(sampled) == 11
