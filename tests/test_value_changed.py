"""A leaf's value changed after an op used it is refused, whichever way the array was written;
a value changed before it is used is fine.

Each way is tried on the engine directly (``backward()`` raises ``GraphError``) and in a
network file's ``forward()``, where the first run (which the loader runs but does not trace)
is checked too: the CLI exits 2 naming the value.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradstep.cli import main
from tracer import GraphError, param

# How each way writes into the leaf ``w`` (a param of [1, 2]); ``d`` is ``w.data``, taken
# before the op ran.
WRITES = {
    "item assignment": lambda w, d: w.data.__setitem__(0, 5.0),
    "slice assignment": lambda w, d: w.data.__setitem__(slice(None), [7.0, 8.0]),
    "augmented item": lambda w, d: w.data.__setitem__(0, w.data[0] + 1.0),
    "in-place operator on .data": lambda w, d: d.__imul__(3.0),
    "numpy out=": lambda w, d: np.add(d, 1.0, out=d),
    "np.copyto": lambda w, d: np.copyto(w.data, [3.0, 4.0]),
    "fill": lambda w, d: w.data.fill(9.0),
    "through a view": lambda w, d: d.reshape(2, 1).__setitem__((1, 0), -1.0),
    "a new array for .data": lambda w, d: setattr(w, "data", np.array([6.0, 6.0])),
}

FILE_WRITES = {
    "item assignment": "w.data[0] = 5.0",
    "augmented item": "w.data[0] += 1.0",
    "in-place operator on .data": "d = w.data\n    d *= 3",
    "numpy out=": "np.add(w.data, 1.0, out=w.data)",
    "np.copyto": "np.copyto(w.data, [3.0, 4.0])",
    "fill": "w.data.fill(9.0)",
}


@pytest.mark.parametrize("way", list(WRITES))
def test_a_write_after_use_is_refused_by_the_engine(way):
    w = param([1.0, 2.0], name="w")
    d = w.data
    loss = (w * 2.0).sum()
    WRITES[way](w, d)
    with pytest.raises(GraphError, match="w changed after the forward pass used it"):
        loss.backward()


@pytest.mark.parametrize("way", list(WRITES))
def test_the_same_write_before_use_is_fine(way):
    w = param([1.0, 2.0], name="w")
    d = w.data
    WRITES[way](w, d)
    expected = w.data.copy()
    loss = (w * 2.0).sum()
    loss.backward()
    np.testing.assert_array_equal(w.grad, [2.0, 2.0])
    np.testing.assert_array_equal(w.data, expected)


@pytest.mark.parametrize("way", list(FILE_WRITES))
def test_a_network_file_writing_after_use_exits_2(way, tmp_path, capsys):
    # Even a write that puts back the same value on later runs (the issue's example): the
    # first run changed it after using it, and that run is checked.
    (tmp_path / "net.py").write_text(
        "import numpy as np\nfrom tracer import param\nw = param([1.0, 2.0], name='w')\n"
        f"def forward():\n    out = (w * 2).sum()\n    {FILE_WRITES[way]}\n    return out\n",
        encoding="utf-8")
    assert main(["trace", str(tmp_path / "net.py")]) == 2
    err = capsys.readouterr().err
    assert "net.py" in err and "w changed after the forward pass used it" in err


def test_the_issue_example_setting_the_same_value_each_run_is_refused(tmp_path, capsys):
    (tmp_path / "net.py").write_text(
        "from tracer import param\nw = param([1.0, 2.0], name='w')\n"
        "def forward():\n    out = (w * 2).sum()\n    w.data[0] = 5.0\n    return out\n",
        encoding="utf-8")
    assert main(["trace", str(tmp_path / "net.py")]) == 2
    assert "w changed" in capsys.readouterr().err
