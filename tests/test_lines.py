"""The line of a native op named by the whole-loss check's bisection: captured on demand by one
more forward pass (tracer/lines.py), and silently absent when forward() is not deterministic."""

import inspect
import itertools

from tracer import param
from tracer.diagnostics import diagnose
from tracer.lines import lines_of
from tracer.record import Trace
from tracer.tensor import capturing_lines


def _doubled_below(trace: Trace, name: str) -> Trace:
    """``trace`` as if the backward of the consumer of ``name`` had sent it twice its gradient
    (every node up to ``name`` doubled): the per-node check cannot see it, the whole loss can."""
    last = trace.find(name).id
    nodes = tuple(n._replace(grad=n.grad * 2) if n.id <= last else n for n in trace.nodes)
    return Trace(nodes, trace.backward, trace.tensors, trace.root)


def _bisection_text(trace: Trace, forward) -> str:
    found = [f for f in diagnose(trace, forward) if f.kind == "gradcheck-param"]
    assert len(found) == 1, [f.kind for f in diagnose(trace, forward)]
    return found[0].message


def test_the_bisection_names_the_line_of_the_native_op_whose_backward_is_wrong():
    w = param(0.7, name="w")

    def forward():
        a = (w * 1.5).tanh()
        a.name = "a"
        b = a * a
        b.name = "b"
        c = b.sigmoid()  # <- the op the bisection names
        c.name = "c"
        return c * 2.0

    source, first = inspect.getsourcelines(forward)
    line = first + next(i for i, text in enumerate(source) if "<- the op" in text)
    trace = _doubled_below(forward().backward(), "b")
    text = _bisection_text(trace, forward)
    assert f"the backward of c (sigmoid, at test_lines.py, line {line}) sends b" in text
    assert w.data.item() == 0.7  # the extra forward pass changed nothing


def test_a_forward_whose_op_count_changes_gives_no_line_and_no_error():
    w = param(0.7, name="w")
    calls = itertools.count()

    def forward():
        b = w * w
        b.name = "b"
        for _ in range(next(calls)):  # each call one more op than the last (worth nothing)
            b = b + 0.0
        c = b.sigmoid()
        c.name = "c"
        return c * 2.0

    trace = forward().backward()
    assert lines_of(trace, forward) is None  # (this call built one op more)
    text = _bisection_text(_doubled_below(trace, "b"), forward)
    assert "the backward of c (sigmoid) sends b" in text


def test_without_capture_no_op_records_a_line():
    w = param(0.5, name="w")
    with capturing_lines() as lines:
        inside = w * 3.0
    outside = w * 3.0
    assert lines[inside._run][0] == __file__
    assert outside._run not in lines


def test_capture_adds_no_work_to_an_op_when_it_is_off():
    """Read apply(): it reads the same two context variables as before capture existed, and
    finds a frame only inside the op-budget branch, which an op takes only when the budget is
    crossed or capture is on (stop_at is then -1)."""
    import ast
    import textwrap

    from tracer import tensor

    tree = ast.parse(textwrap.dedent(inspect.getsource(tensor.apply)))
    gets = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute) and n.func.attr == "get"
            and isinstance(n.func.value, ast.Name)]
    assert sorted(n.func.value.id for n in gets) == ["_QUIET", "_STOP_AT"]
    budget = next(n for n in ast.walk(tree) if isinstance(n, ast.If)
                  and ast.unparse(n.test) == "out._run >= stop_at")
    frames = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
              and ast.unparse(n.func) == "_user_frame"]
    inside = [n for n in ast.walk(budget) if isinstance(n, ast.Call)
              and ast.unparse(n.func) == "_user_frame"]
    assert frames and frames == inside
