"""The recorded graph and the backward step records: order, broadcasting sums, fan-out terms,
idempotent backward, read-only records, and Jacobians.

Expected gradients here are worked out by hand in each test (or by finite differences), never
taken from the engine.
"""

from __future__ import annotations

import gc
import re

import networkx as nx
import numpy as np
import pytest

import tracer
import tracer.record as record
from tracer import SGD, BackwardStep, Stepper, Tensor, param


def node_id(trace, tensor: Tensor) -> int:
    """The node a tensor became in ``trace``."""
    return next(k for k, x in enumerate(trace.tensors) if x is tensor)


def record_for(trace, consumer: int, name: str):
    """The InputGrad a consumer's backward step sent to the node called ``name``."""
    step = trace.backward_step(consumer)
    (record,) = [r for r in step.inputs if r.node == trace.find(name).id]
    return record


def assert_records_equal(a, b):
    """Two step records are equal field by field (arrays compared by value)."""
    assert type(a) is type(b)
    for slot in a.__slots__:
        x, y = getattr(a, slot), getattr(b, slot)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=slot)
        elif isinstance(x, tuple) and x and hasattr(x[0], "__slots__"):
            assert len(x) == len(y)
            for p, q in zip(x, y, strict=True):
                assert_records_equal(p, q)
        elif slot == "terms":
            assert [k for k, _ in x] == [k for k, _ in y]
            for (_, p), (_, q) in zip(x, y, strict=True):
                np.testing.assert_array_equal(p, q)
        else:
            assert x == y, slot


@pytest.fixture
def small_trace():
    """loss = Σ tanh(W @ x + b): a layer with a bias, eight nodes in all."""
    w = param([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]], name="W")
    x = Tensor([1.0, 2.0], name="x")
    b = param([0.01, 0.02, 0.03], name="b")
    return (w @ x + b).tanh().sum().backward()


# --- the graph and the order of the records ---------------------------------------------------

def test_graph_is_a_digraph_in_forward_order_with_edges_from_input_to_output(small_trace):
    t = small_trace
    assert isinstance(t.graph, nx.DiGraph)
    assert list(t.graph.nodes) == [n.id for n in t.nodes] == list(range(len(t.nodes)))
    assert set(t.graph.edges) == {(i, n.id) for n in t.nodes for i in n.inputs}
    for n in t.nodes:
        assert all(i < n.id for i in n.inputs), "inputs must come before the op that uses them"
    assert nx.is_directed_acyclic_graph(t.graph)
    assert t.root == len(t.nodes) - 1 and t.nodes[t.root].kind == "loss"


def test_backward_steps_are_one_per_node_in_reverse_topological_order(small_trace):
    # every node but the input x (no parameter among its ancestors-or-self) has a step
    t = small_trace
    has_step = [n.id for n in t.nodes if n.id == t.root or any(
        t.nodes[a].kind == "param" for a in nx.ancestors(t.graph, n.id) | {n.id})]
    assert [t.nodes[i].name for i in range(len(t.nodes)) if i not in has_step] == ["x"]
    order = [s.node for s in t.backward]
    assert order == list(reversed(has_step))
    assert [s.index for s in t.backward] == list(range(len(t.nodes) - 1))
    for node in has_step:
        assert t.backward_step(node).node == node
    assert t.step_of(t.find("x").id) is None
    # its .grad is still filled: ∂/∂x Σ tanh(W x + b) = Wᵀ (1 − tanh²)
    w, b = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]]), np.array([0.01, 0.02, 0.03])
    slope = 1 - np.tanh(w @ [1.0, 2.0] + b) ** 2
    np.testing.assert_allclose(t.find("x").grad, w.T @ slope, rtol=1e-14)
    assert all(isinstance(s, BackwardStep) for s in t.backward)


def test_nodes_have_user_names_and_numbered_automatic_names(small_trace):
    t = small_trace
    assert {n.name for n in t.nodes if n.kind in ("param", "input")} == {"W", "x", "b"}
    assert [n.op for n in t.nodes if n.kind not in ("param", "input")] == [
        "matmul", "add", "tanh", "sum"]
    for n in t.nodes:
        if n.kind in ("op", "loss"):
            assert re.fullmatch(rf"{n.op}_\d+", n.name), n.name
    assert t.find("W").kind == "param" and t.find("x").kind == "input"
    with pytest.raises(KeyError):
        t.find("no such node")


def test_automatic_names_are_unique_when_an_op_repeats():
    a = param(1.5, name="a")
    t = ((a * 2.0) * (a * 3.0)).backward()
    names = [n.name for n in t.nodes if n.op == "mul"]
    assert len(names) == 3 and len(set(names)) == 3
    assert len({n.name for n in t.nodes if n.kind != "constant"}) == len(
        [n for n in t.nodes if n.kind != "constant"])


def test_forward_steps_carry_each_node_value(small_trace):
    t = small_trace
    assert [f.node for f in t.forward] == list(range(len(t.nodes)))
    w = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]])
    expected = np.tanh(w @ [1.0, 2.0] + [0.01, 0.02, 0.03])
    assert t.loss == pytest.approx(expected.sum(), rel=1e-15)
    tanh_node = next(n for n in t.nodes if n.op == "tanh")
    np.testing.assert_allclose(t.forward[tanh_node.id].value, expected, rtol=1e-15)


def test_upstream_of_root_is_one_and_leaf_steps_have_no_inputs(small_trace):
    t = small_trace
    assert t.backward[0].node == t.root and t.backward[0].upstream == 1.0
    assert t.backward[0].terms == ()
    for n in t.nodes:
        if n.is_leaf and n.kind == "param":
            assert t.backward_step(n.id).inputs == ()
        elif n.is_leaf:  # data: no parameter upstream, no step
            assert t.step_of(n.id) is None


def test_each_input_record_is_upstream_times_local_and_grad_accumulates():
    x = param([0.5, -1.5, 2.0], name="x")
    y = param([1.5, 0.25, -0.75], name="y")
    t = (x * y).tanh().sum().backward()
    tanh_id = next(n.id for n in t.nodes if n.op == "tanh")
    mul_id = next(n.id for n in t.nodes if n.op == "mul")
    upstream = 1.0 - np.tanh(x.data * y.data) ** 2  # ∂Σtanh(m)/∂m
    step = t.backward_step(mul_id)
    np.testing.assert_allclose(step.upstream, upstream, rtol=1e-15)
    rx = record_for(t, mul_id, "x")
    np.testing.assert_array_equal(rx.local, y.data)  # ∂(x·y)/∂x = y
    np.testing.assert_allclose(rx.contribution, upstream * y.data, rtol=1e-15)
    np.testing.assert_array_equal(rx.grad_before, 0.0)
    np.testing.assert_array_equal(rx.grad_after, rx.contribution)
    assert rx.position == 0 and rx.reduced_axes == () and rx.unreduced is None
    assert record_for(t, tanh_id, t.nodes[mul_id].name).position == 0


# --- broadcasting: the sum back to each operand's shape ---------------------------------------

def test_bias_gradient_is_summed_over_the_batch_axis():
    h = param([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], name="h")
    b = param([0.1, 0.2, 0.3], name="b")
    scale = Tensor([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]], name="scale")
    t = ((h + b) * scale).sum().backward()
    add_id = next(n.id for n in t.nodes if n.op == "add")
    rb = record_for(t, add_id, "b")
    assert rb.reduced_axes == (0,)
    np.testing.assert_array_equal(rb.unreduced, scale.data)  # upstream × 1, before the sum
    np.testing.assert_array_equal(rb.contribution, scale.data.sum(axis=0))
    np.testing.assert_array_equal(b.grad, [4.0, -1.75, -0.5])
    rh = record_for(t, add_id, "h")
    assert rh.reduced_axes == () and rh.unreduced is None
    np.testing.assert_array_equal(h.grad, scale.data)


def test_column_plus_row_sums_each_operand_over_the_other_axis():
    col = param([[1.0], [2.0], [3.0]], name="col")
    row = param([[10.0, 20.0]], name="row")
    up = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    outer = col * row
    t = (outer * Tensor(up, name="up")).sum().backward()
    rc, rr = record_for(t, node_id(t, outer), "col"), record_for(t, node_id(t, outer), "row")
    assert rc.reduced_axes == (1,) and rr.reduced_axes == (0,)
    np.testing.assert_array_equal(rc.unreduced, up * [[10.0, 20.0]])
    np.testing.assert_array_equal(rr.unreduced, up * [[1.0], [2.0], [3.0]])
    # ∂/∂colᵢ = Σⱼ upᵢⱼ·rowⱼ ; ∂/∂rowⱼ = Σᵢ upᵢⱼ·colᵢ
    np.testing.assert_array_equal(col.grad, [[50.0], [110.0], [170.0]])
    np.testing.assert_array_equal(row.grad, [[22.0, 28.0]])
    assert col.grad.shape == (3, 1) and row.grad.shape == (1, 2)


def test_scalar_times_matrix_sums_over_every_axis():
    s = param(3.0, name="s")
    m = param([[1.0, 2.0], [3.0, 4.0]], name="m")
    scaled = s * m
    t = scaled.sum().backward()
    rs = record_for(t, node_id(t, scaled), "s")
    assert rs.reduced_axes == (0, 1)
    np.testing.assert_array_equal(rs.unreduced, m.data)
    assert s.grad.shape == () and s.grad == 10.0
    np.testing.assert_array_equal(m.grad, np.full((2, 2), 3.0))


# --- fan-out: one value feeding several consumers ---------------------------------------------

def test_fan_out_terms_sum_to_upstream_term_by_term_in_processing_order():
    x = param(0.3, name="x")
    a = x * 2.0
    b = x.tanh()
    c = x * 3.0
    loss = a * 5.0 + b * 7.0 + c
    t = loss.backward()
    xs = t.backward_step(t.find("x").id)
    consumers = [k for k, _ in xs.terms]
    ids = {"a": node_id(t, a), "b": node_id(t, b), "c": node_id(t, c)}
    assert sorted(consumers) == sorted(ids.values())
    # consumers are processed in backward order (decreasing node id), and terms follow it
    processed = [s.node for s in t.backward if s.node in ids.values()]
    assert consumers == processed
    by_consumer = dict(xs.terms)
    assert by_consumer[ids["a"]] == pytest.approx(5.0 * 2.0)
    assert by_consumer[ids["b"]] == pytest.approx(7.0 * (1 - np.tanh(0.3) ** 2), rel=1e-15)
    assert by_consumer[ids["c"]] == pytest.approx(3.0)
    assert float(xs.upstream) == pytest.approx(sum(float(c) for _, c in xs.terms), rel=1e-15)
    assert float(x.grad) == pytest.approx(10.0 + 7.0 * (1 - np.tanh(0.3) ** 2) + 3.0, rel=1e-15)
    # each term is exactly the contribution recorded at its consumer, and the running sum shows
    running = 0.0
    for consumer, term in xs.terms:
        rec = record_for(t, consumer, "x")
        np.testing.assert_array_equal(rec.contribution, term)
        assert rec.grad_before == pytest.approx(running)
        running += float(term)
        assert rec.grad_after == pytest.approx(running)


def test_same_tensor_as_both_inputs_gets_both_contributions():
    x = param([1.5, -2.0], name="x")
    t = (x * x).sum().backward()
    step = t.backward_step(t.find("x").id)
    mul_step = t.backward_step(next(n.id for n in t.nodes if n.op == "mul"))
    assert [r.node for r in mul_step.inputs] == [t.find("x").id] * 2
    assert [r.position for r in mul_step.inputs] == [0, 1]
    assert len(step.terms) == 2
    for _, term in step.terms:
        np.testing.assert_array_equal(term, x.data)
    np.testing.assert_array_equal(x.grad, 2 * x.data)
    np.testing.assert_array_equal(mul_step.inputs[1].grad_before, x.data)
    np.testing.assert_array_equal(mul_step.inputs[1].grad_after, 2 * x.data)


def test_repeated_scalar_index_adds_both_picks():
    w = param([0.5, -1.0, 2.0], name="w")
    (w[0] + w[0]).backward()
    np.testing.assert_array_equal(w.grad, [2.0, 0.0, 0.0])


# --- backward(): idempotent, complete, scalar only --------------------------------------------

def test_backward_twice_gives_the_same_gradients_not_double():
    w = param([[0.2, -0.4], [0.6, 0.1]], name="w")
    x = Tensor([1.0, -1.0], name="x")
    hidden = (w @ x).sigmoid()
    loss = (hidden * hidden).sum()
    loss.backward()
    first = {name: t.grad.copy() for name, t in (("w", w), ("hidden", hidden), ("x", x))}
    loss.backward()
    for name, t in (("w", w), ("hidden", hidden), ("x", x)):
        np.testing.assert_array_equal(t.grad, first[name], err_msg=name)
    np.testing.assert_allclose(hidden.grad, 2 * hidden.data, rtol=1e-15)


def test_backward_fills_grad_on_interior_nodes_and_the_root():
    a = Tensor(-4.0, name="a")
    w = param([[0.15, 0.25]], name="W1")
    y = (a * w + 1).tanh()
    loss = y.sum()
    trace = loss.backward()
    assert isinstance(trace, tracer.Trace)
    assert loss.grad == 1.0
    np.testing.assert_array_equal(y.grad, [[1.0, 1.0]])
    pre = y.inputs[0]
    np.testing.assert_allclose(pre.grad, 1 - np.tanh(-4.0 * w.data + 1) ** 2, rtol=1e-15)
    np.testing.assert_allclose(w.grad, -4.0 * pre.grad, rtol=1e-15)
    assert a.grad.shape == () and a.grad == pytest.approx(float(np.sum(pre.grad * w.data)))
    for t in (a, w, y, pre, loss):
        assert t.grad.dtype == np.float64 and t.grad.shape == t.data.shape


def test_non_scalar_backward_raises_a_clear_value_error():
    v = param([1.0, 2.0, 3.0], name="v")
    with pytest.raises(ValueError, match=r"scalar.*\(3,\)"):
        (v * 2).backward()


def test_backward_from_a_one_element_vector_works_and_reports_its_loss():
    v = param([2.0], name="v")
    trace = (v * v).backward()
    np.testing.assert_array_equal(v.grad, [4.0])
    assert trace.loss == 4.0


# --- records are read-only and stay as recorded ---------------------------------------------

def _all_record_arrays(t, updates=()):
    for n in t.nodes:
        yield f"node {n.name} value", n.value
        yield f"node {n.name} grad", n.grad
    for f in t.forward:
        yield f"forward {f.index}", f.value
    for s in t.backward:
        yield f"step {s.index} upstream", s.upstream
        for k, term in s.terms:
            yield f"step {s.index} term from {k}", term
        for r in s.inputs:
            for slot in ("local", "contribution", "unreduced", "grad_before", "grad_after"):
                if getattr(r, slot) is not None:
                    yield f"step {s.index} input {r.position} {slot}", getattr(r, slot)
    for u in updates:
        for slot in ("before", "grad", "change", "after"):
            yield f"update {u.name} {slot}", getattr(u, slot)
        for key, value in u.state.items():
            yield f"update {u.name} state {key}", value


def _broadcast_trace():
    w = param([[0.5, -0.5], [0.25, 1.0]], name="w")
    b = param([0.1, -0.1], name="b")
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], name="x")
    h = (x @ w.T + b).tanh()
    return w, b, x, (h * h).mean().backward()


def test_every_record_array_is_read_only():
    *_, t = _broadcast_trace()
    arrays = list(_all_record_arrays(t))
    assert len(arrays) > 20
    for label, array in arrays:
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0.0
        assert not array.flags.writeable, label


def test_records_do_not_change_when_tensors_are_changed_in_place():
    w, b, x, t = _broadcast_trace()
    snapshot = [(label, a.copy()) for label, a in _all_record_arrays(t)]
    w.data -= 0.1 * w.grad  # a hand-written SGD step, in place
    b.data += 1.0
    x.data *= 2.0
    for tensor in (w, b, x):
        tensor.grad = tensor.grad * 0.0  # zeroing by assignment is how .grad is reset
    for (label, before), (_, now) in zip(snapshot, _all_record_arrays(t), strict=True):
        np.testing.assert_array_equal(now, before, err_msg=label)


def test_writing_into_a_grad_in_place_fails_loudly_instead_of_changing_records():
    w = param([[1.0, 2.0], [3.0, 4.0]], name="w")
    wt = w.T
    t = (wt * Tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    with pytest.raises(ValueError, match="read-only"):
        w.grad[0, 0] = 99.0
    assert wt.grad[0, 0] == 1.0
    assert t.nodes[0].grad[0, 0] == 1.0


def test_tracing_the_same_graph_twice_gives_equal_records():
    *_, first = _broadcast_trace()
    root = first.tensors[first.root]
    second = root.backward()
    assert len(first.backward) == len(second.backward)
    for p, q in zip(first.backward, second.backward, strict=True):
        assert_records_equal(p, q)
    for p, q in zip(first.nodes, second.nodes, strict=True):
        assert_records_equal(p, q)


def test_stepping_a_trace_twice_gives_equal_records():
    *_, t = _broadcast_trace()
    stepper = Stepper(t.backward)
    walks = []
    for _ in range(2):
        seen = [stepper.first()]
        while not stepper.at_end:
            seen.append(stepper.next())
        walks.append(seen)
    assert len(walks[0]) == len(t.backward)
    for p, q in zip(*walks, strict=True):
        assert_records_equal(p, q)


# --- Jacobians ------------------------------------------------------------------------------

def test_jacobian_of_a_structural_op_matches_finite_differences(fd):
    z = param([0.2, -1.0, 0.7], name="z")
    s = z.softmax()
    t = (s * Tensor([1.0, 2.0, 3.0])).sum().backward()
    step = t.backward_step(next(n.id for n in t.nodes if n.op == "softmax"))
    jac = t.jacobian(step, 0)

    def softmax(v):
        e = np.exp(v - v.max())
        return e / e.sum()

    numeric = np.array([fd(lambda v, k=k: softmax(v)[k], [z.data])[0] for k in range(3)])
    np.testing.assert_allclose(jac, numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(step.inputs[0].contribution, step.upstream @ jac, rtol=1e-12)


def test_jacobian_of_an_elementwise_op_is_diagonal_of_its_local():
    x = param([0.3, -0.6], name="x")
    t = x.tanh().sum().backward()
    step = t.backward_step(next(n.id for n in t.nodes if n.op == "tanh"))
    np.testing.assert_allclose(t.jacobian(step, 0), np.diag(1 - np.tanh(x.data) ** 2),
                               rtol=1e-15)


def test_jacobian_is_none_when_too_big_or_for_labels():
    z = param(np.zeros((10, 10)), name="z")
    t = (z.softmax() * 1.0).sum().backward()
    step = t.backward_step(next(n.id for n in t.nodes if n.op == "softmax"))
    assert t.jacobian(step, 0) is None
    logits = param([[0.1, 0.2]], name="logits")
    t2 = tracer.cross_entropy(logits, Tensor([1.0])).backward()
    assert t2.jacobian(t2.backward[0], 1) is None


def test_trace_rejects_a_non_tensor():
    with pytest.raises(TypeError):
        tracer.trace(np.float64(1.0))


def test_records_share_read_only_leaf_arrays_instead_of_copying_them():
    # A leaf nobody has asked for .data keeps a read-only array: the trace records it as is, the
    # optimizer's record shares its new value, and the next trace shares that again.
    w = param([[0.5, -0.5], [0.25, 1.0]], name="w")
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], name="x")
    first = (x @ w).tanh().sum().backward()
    (update,) = SGD(0.1).step([("w", w)])
    second = (x @ w).tanh().sum().backward()
    assert first.find("x").value is second.find("x").value
    assert update.before is first.find("w").value
    assert second.find("w").value is update.after
    np.testing.assert_array_equal(update.after, update.before - 0.1 * first.find("w").grad)


def test_asking_for_a_leafs_data_gives_a_private_writable_copy_that_traces_snapshot():
    w = param([1.0, 2.0], name="w")
    t = (w * w).sum().backward()
    (update,) = SGD(0.5).step([("w", w)])
    data = w.data
    assert data.flags.writeable and data is w.data  # the same array each time it is asked for
    np.testing.assert_array_equal(data, [0.0, 0.0])
    data += 5.0  # writing into it changes the tensor ...
    again = (w * w).sum().backward()
    assert again.find("w").value.tolist() == [5.0, 5.0]
    data += 1.0  # ... but never a record taken before
    assert again.find("w").value.tolist() == [5.0, 5.0]
    assert update.after.tolist() == [0.0, 0.0] and t.find("w").value.tolist() == [1.0, 2.0]


def test_assigning_a_read_only_view_to_data_copies_it():
    base = np.array([1.0, 2.0, 3.0])
    view = base[:2]
    view.flags.writeable = False
    w = param([0.0, 0.0], name="w")
    w.data = view
    t = (w * 2.0).sum().backward()
    base[0] = 100.0  # the view's base may still change
    assert t.find("w").value.tolist() == [1.0, 2.0]


def test_nodes_come_in_the_order_the_code_ran_each_leaf_before_its_first_use():
    # parameters, so that every node gets a backward step
    a, b, x, y = (Tensor(v, name=n, kind="param")
                  for v, n in ((1.0, "a"), (2.0, "b"), (3.0, "x"), (4.0, "y")))
    d = x + y
    d.name = "d"
    c = a * b  # runs second, although e uses it first
    c.name = "c"
    e = c * d
    e.name = "e"
    t = e.backward()
    assert [n.name for n in t.nodes] == ["x", "y", "d", "a", "b", "c", "e"]
    assert [t.nodes[s.node].name for s in t.backward] == ["e", "c", "b", "a", "d", "y", "x"]


def test_shared_constants_cannot_be_made_writable_again():
    # The seed ∂L/∂L = 1 and zero gradients are one number shared by every trace: flipping
    # the flag back (a common "fix" for read-only errors) must not let one trace corrupt others.
    v = Tensor([5.0], name="v")
    t = (v * 1.0).sum().backward()
    with pytest.raises(ValueError):
        t.nodes[t.root].grad.flags.writeable = True


def test_assigning_data_to_an_op_result_keeps_a_read_only_copy():
    x = Tensor([1.0, 2.0], name="x")
    y = x * 10.0
    y.name = "y"
    mine = np.array([10.0, 20.0])
    y.data = mine
    t = (y * y).sum().backward()
    mine[0] = 99.0
    assert t.find("y").value.tolist() == [10.0, 20.0]
    assert not y.data.flags.writeable


def test_an_optimizer_record_keeps_a_copy_of_a_gradient_the_user_assigned():
    w = param([1.0, 2.0], name="w")
    grads = np.array([[0.5, 0.5], [1.0, 1.0]])
    w.grad = grads[0]  # a view of an array the user keeps writing into
    (update,) = SGD(0.1).step([("w", w)])
    grads[0] = 7.0
    assert update.grad.tolist() == [0.5, 0.5] and grads.flags.writeable


def test_ops_never_print_numpy_warnings_inside_or_outside_quiet():
    import warnings

    x = Tensor([0.0, -1.0], name="x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would raise here
        outside = x.log()
        with tracer.quiet():
            inside = (x / 0.0).log()
        tracer.trace((outside + inside).sum())
    assert np.isneginf(outside.data[0]) and np.isnan(outside.data[1])
    assert np.isnan(inside.data).all()


def test_quiet_restores_numpys_error_state_and_its_own_flag_even_after_an_error():
    from tracer.tensor import _QUIET

    before = np.geterr()
    with pytest.raises(ZeroDivisionError), tracer.quiet():
        assert np.geterr()["divide"] == "ignore" and _QUIET.get()
        raise ZeroDivisionError
    assert np.geterr() == before and not _QUIET.get()
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        np.log(np.zeros(1))  # outside quiet(), the caller's own numpy settings hold


def test_a_leaf_changed_in_place_between_forward_and_backward_is_refused():
    w = param([1.0, 2.0], name="w")
    loss = (w * Tensor([3.0, 4.0], name="x")).sum()
    w.data -= 0.5  # in place, after the op used it (PyTorch refuses this too)
    with pytest.raises(tracer.GraphError, match="w changed after the forward pass used it") as e:
        loss.backward()
    assert e.value.problem == "a value changed under the trace"
    assert w.grad is None  # nothing was recorded


def test_a_leaf_changed_between_two_of_its_uses_is_refused():
    w = param([1.0, 2.0], name="w")
    first = w * 2.0
    w.data[0] = 5.0
    with pytest.raises(tracer.GraphError, match="w changed between two of its uses"):
        tracer.trace((first + w * 3.0).sum())


def test_an_op_result_given_new_data_after_the_forward_pass_is_refused():
    w = param([1.0, 2.0], name="w")
    h = w * 2.0
    loss = h.sum()
    h.data = [0.0, 0.0]
    with pytest.raises(tracer.GraphError,
                       match="an unnamed mul changed after the forward pass used it"):
        loss.backward()


def test_reading_data_between_forward_and_backward_changes_nothing():
    w = param([1.0, np.nan], name="w")  # NaN equals NaN here: no false alarm
    loss = (w * Tensor([3.0, 4.0])).sum()
    held = w.data  # a writable copy, unchanged
    t = loss.backward()
    np.testing.assert_array_equal(t.find("w").value, [1.0, np.nan])
    assert held.flags.writeable and not t.find("w").value.flags.writeable


def test_a_held_array_perturbed_in_place_between_forward_passes_gives_each_pass_its_value():
    # A hand-written finite difference: the user keeps w.data and perturbs it in place.
    w = param([0.5, -1.0], name="w")
    x = Tensor([2.0, 3.0], name="x")
    held = w.data
    losses = []
    for delta in (1e-6, -1e-6):
        held[0] += delta
        t = ((w * x).tanh()).sum().backward()
        np.testing.assert_array_equal(t.find("w").value, held)  # the value the ops used
        losses.append(t.loss)
        held[0] -= delta
    t = ((w * x).tanh()).sum().backward()
    np.testing.assert_allclose((losses[0] - losses[1]) / 2e-6, w.grad[0], rtol=1e-6)


def test_the_garbage_collector_is_paused_while_a_trace_builds_its_records(monkeypatch):
    seen = []
    names, contributions = record._names, record._contributions

    def watched(function):
        def call(*args):  # (called while the backward pass runs and the records are built)
            seen.append(gc.isenabled())
            return function(*args)
        return call

    monkeypatch.setattr(record, "_names", watched(names))
    monkeypatch.setattr(record, "_contributions", watched(contributions))
    w = param([1.0, 2.0], name="w")
    assert gc.isenabled()
    recorded = (w * w).sum().backward()
    assert seen == [False, False] and gc.isenabled()  # the pass: paused inside, running after
    assert recorded.nodes and recorded.backward  # (the records, built when first read)
    assert seen == [False, False, False] and gc.isenabled()
    gc.disable()
    try:
        assert (w * w).sum().backward().nodes
        assert not gc.isenabled()  # a collector the caller had paused stays paused
    finally:
        gc.enable()
