"""Loading network files: the Python protocol, the TOML format, and a clear message for every
mistake (exit status 2 through the CLI, never a traceback)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import scenarios.loader
from gradstep.cli import main
from scenarios import NODE_LIMIT, LoadError, load
from tests.docs_pages import doc_page
from tracer import Adam, Momentum

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

NEURON = """\
from tracer import Tensor, param

w = param([2.0, -3.0, -3.0], name="w")
x = Tensor([-1.0, -2.0], name="x")

def forward():
    return (w[0] * x[0] + w[1] * x[1] + w[2]).sigmoid()
"""

MLP_TOML = """\
[network]
layers = [2, 3, 1]
activations = ["tanh", "sigmoid"]
loss = "bce"

[data]
inputs = [[0, 0], [0, 1], [1, 0], [1, 1]]
targets = [0, 1, 1, 0]
"""

CSV_TOML = """\
[network]
layers = [2, 3, 1]
activations = ["tanh", "sigmoid"]
loss = "bce"

[data]
csv = "data.csv"
"""


def write(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


# (id, files, target, fragments the message must contain, line the error must point at)
BAD_INPUTS = [
    ("missing file", {}, "nothere.py", ["nothere.py", "no such file"], None),
    ("directory", {"nets/a.py": NEURON}, "nets", ["nets", "directory", "a.py"], None),
    ("empty file", {"empty.py": "\n  \n"}, "empty.py", ["empty.py", "empty"], None),
    ("not utf-8", {"latin.py": b"# caf\xe9\nx = 1\n"}, "latin.py",
     ["latin.py", "not UTF-8", "0xe9"], 1),
    ("wrong extension", {"net.txt": "x"}, "net.txt", ["net.txt", ".py", ".toml"], None),
    ("python syntax error", {"syntax.py": "from tracer import param\ndef forward(:\n  pass\n"},
     "syntax.py", ["syntax.py, line 2", "syntax error", "def forward(:"], 2),
    ("exception while importing", {"boom.py": "from tracer import param\nw = param(1.0)\n"
                                              "ratio = 1 / 0\n\ndef forward():\n    return w\n"},
     "boom.py", ["boom.py, line 3", "ZeroDivisionError", "division by zero", "ratio = 1 / 0",
                 "while running the file"], 3),
    ("exception inside forward", {"fwd.py": "from tracer import param\nw = param(1.0)\n\n"
                                            "def forward():\n    out = w * 2\n"
                                            "    return out + missing\n"},
     "fwd.py", ["fwd.py, line 6", "NameError", "missing", "inside forward()"], 6),
    ("no forward", {"noforward.py": "from tracer import param\nw = param(1.0)\n"},
     "noforward.py", ["noforward.py", "no forward()", "def forward():"], None),
    ("forward takes arguments", {"args.py": "from tracer import param\nw = param(1.0)\n"
                                            "def forward(x):\n    return w\n"},
     "args.py", ["args.py, line 3", "no arguments"], 3),
    ("forward returns a non-scalar", {"vec.py": "from tracer import param\n"
                                                "w = param([1.0, 2.0])\n"
                                                "def forward():\n    return w * 2\n"},
     "vec.py", ["vec.py", "shape (2,)", "not a scalar", ".sum()"], 3),
    ("forward returns no tensor", {"num.py": "def forward():\n    return 3.0\n"},
     "num.py", ["num.py", "returned a float", "not a Tensor"], 1),
    ("shape mismatch", {"shapes.py": "from tracer import Tensor, param\n"
                                     "W1 = param([[1.0, 2.0], [3.0, 4.0]])\n"
                                     "x = Tensor([[1.0, 2.0, 3.0]])\n\n"
                                     "def forward():\n    h = x @ W1\n    return h.sum()\n"},
     "shapes.py", ["shapes.py, line 6", "shape mismatch", "matmul", "x (1, 3)", "W1 (2, 2)",
                   "h = x @ W1"], 6),
    ("bad learning rate", {"lr.py": NEURON + "LR = 'fast'\n"}, "lr.py",
     ["lr.py, line 8", "LR must be a positive number"], 8),
    ("toml syntax error", {"bad.toml": "[network]\nlayers = = [2, 1]\n"}, "bad.toml",
     ["bad.toml, line 2", "TOML syntax error", "column"], 2),
    ("toml unclosed array", {"open.toml": "[network]\nlayers = [2, 1\n"}, "open.toml",
     ["open.toml, line 2", "TOML syntax error", "never closed"], 2),
    ("toml unknown key", {"typo.toml": MLP_TOML.replace("activations =", "activation =")},
     "typo.toml", ["typo.toml, line 3", "unknown key 'activation'", "Did you mean 'activations'"],
     3),
    ("toml unknown table", {"table.toml": MLP_TOML.replace("[network]", "[netwrok]")},
     "table.toml", ["unknown key 'netwrok'", "Did you mean 'network'"], 1),
    ("toml wrong type", {"type.toml": MLP_TOML + '\n[optimizer]\nlr = "fast"\n'},
     "type.toml", ["type.toml, line 11", "[optimizer] lr must be a positive number",
                   "the string 'fast'"], 11),
    ("toml wrong type for layers", {"layers.toml": MLP_TOML.replace("[2, 3, 1]", '"2-3-1"')},
     "layers.toml", ["[network] layers must be an array", "the string '2-3-1'"], 2),
    ("toml layer sizes do not fit the data",
     {"fit.toml": MLP_TOML.replace("[2, 3, 1]", "[3, 3, 1]")},
     "fit.toml", ["fit.toml, line 2", "starts with 3 input(s)", "has 2 value(s)",
                  "first layer size 2"], 2),
    ("toml outputs do not fit the targets",
     {"out.toml": MLP_TOML.replace("[2, 3, 1]", "[2, 3, 2]")},
     "out.toml", ["ends with 2 output(s)", "target row has 1 value(s)"], 2),
    ("toml network too large", {"wide.toml": MLP_TOML.replace("[2, 3, 1]", "[2, 100000, 100]")},
     "wide.toml", ["wide.toml, line 2", "10,300,100 weights", "narrower layers"], 2),
    ("toml bce without sigmoid",
     {"act.toml": MLP_TOML.replace('"sigmoid"', '"relu"')},
     "act.toml", ["act.toml, line 3", "'bce' takes probabilities", "sigmoid"], 3),
    ("toml weights of the wrong shape", {"w.toml": MLP_TOML + "\n[init]\nW1 = [[1, 2], [3, 4]]\n"},
     "w.toml", ["w.toml, line 11", "[init] W1 must be 2 × 3", "(2, 2)"], 11),
    ("toml bad batch", {"batch.toml": MLP_TOML + "batch = 9\n"}, "batch.toml",
     ["batch = 9", "has 4 rows"], 9),
    ("csv missing", {"nocsv.toml": CSV_TOML}, "nocsv.toml",
     ["nocsv.toml, line 7", "'data.csv' does not exist", "relative to the TOML file"], 7),
    ("csv ragged", {"r.toml": CSV_TOML, "data.csv": "a,b,y\n0,0,0\n0,1\n1,0,1\n"}, "r.toml",
     ["data.csv, line 3", "2 values but the header has 3 columns"], 3),
    ("csv not numeric", {"t.toml": CSV_TOML, "data.csv": "a,b,y\n0,0,0\n0,yes,1\n"}, "t.toml",
     ["data.csv, line 3", "column 'b'", "'yes'", "not a number"], 3),
    ("csv nan", {"n.toml": CSV_TOML, "data.csv": "a,b,y\n0,0,0\n\n0,NaN,1\n"}, "n.toml",
     ["data.csv, line 4", "column 'b'", "finite"], 4),
    ("toml inline infinity", {"inf.toml": MLP_TOML.replace("[0, 1], [1, 0]", "[0, inf], [1, 0]")},
     "inf.toml", ["inf.toml, line 7", "row 2, value 2 is inf", "finite"], 7),
    ("toml inline ragged", {"rag.toml": MLP_TOML.replace("[0, 1], [1, 0]", "[0, 1, 1], [1, 0]")},
     "rag.toml", ["[data] inputs is ragged", "row 2 has 3 values"], 7),
]


@pytest.mark.parametrize(("files", "target", "fragments", "line"),
                         [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_gets_a_clear_message_and_exit_status_2(tmp_path, monkeypatch, capsys, files,
                                                          target, fragments, line):
    write(tmp_path, files)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LoadError) as caught:
        load(target)
    assert caught.value.line == line
    assert main(["trace", target]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err and err.count("\n") == 1  # one paragraph
    assert err.startswith("gradstep: ")
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def test_a_network_too_large_to_step_through_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(scenarios.loader, "NODE_LIMIT", 1_000)  # the real limit, made quick
    write(tmp_path, {"huge.py": "from tracer import param\nw = param(1.0)\n\n"
                                "def forward():\n    out = w\n    for _ in range(1_200):\n"
                                "        out = out + 1.0\n    return out\n"})
    assert main(["trace", str(tmp_path / "huge.py")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for fragment in ("huge.py", "more than 1,000 nodes", "too many to step through", "smaller",
                     "fewer examples in the batch", "one `X @ W` is a single node"):
        assert fragment in err


def test_the_node_limit_is_generous_and_a_few_thousand_nodes_load(tmp_path):
    assert NODE_LIMIT >= 10_000
    write(tmp_path, {"big.py": "from tracer import param\nw = param(0.5, name='w')\n\n"
                               "def forward():\n    out = w\n    for _ in range(1_000):\n"
                               "        out = out * 0.999 + w\n    return out\n"})
    network = load(tmp_path / "big.py")
    assert len(network.trace().nodes) == 3_001


def test_unknown_scenario_name_lists_the_close_ones(capsys):
    with pytest.raises(LoadError, match="Did you mean mazur"):
        load("mazr")
    assert main(["trace", "dog-vs-cats"]) == 2
    err = capsys.readouterr().err
    assert "dog-vs-cat" in err and "gradstep list" in err and "Traceback" not in err


def test_builtin_names_ignore_case_and_underscores():
    assert load("Digit_4_vs_9").name == "digit-4-vs-9"


def test_errors_on_a_later_forward_pass_name_the_file_and_line(tmp_path):
    write(tmp_path, {"later.py": "from tracer import param\nw = param(1.0, name='w')\n\n"
                                 "def forward():\n"
                                 "    if w.data < 1.0:\n"
                                 "        raise RuntimeError('w fell below 1')\n"
                                 "    return w * w\n"})
    network = load(tmp_path / "later.py")
    with pytest.raises(LoadError, match=r"later.py, line 6: RuntimeError inside forward\(\): "
                                        r"w fell below 1"):
        network.cycle()  # the update moves w below 1; the re-run forward pass fails


def test_python_file_protocol(tmp_path):
    write(tmp_path, {
        "helper.py": "SCALE = 2.0\n",
        "net.py": "from helper import SCALE\n"
                  "from tracer import Momentum, Tensor, param\n"
                  "TITLE = 'Mine'\nDESCRIPTION = '''Two\n   lines.'''\n"
                  "OPTIMIZER = Momentum(lr=0.05, beta=0.5)\n"
                  "weight = param([1.0, 2.0])\nunused = param(3.0)\nx = Tensor([3.0, 4.0])\n"
                  "def forward():\n    return (weight * x * SCALE).sum()\n"
                  "def story(trace):\n    return f'loss {trace.loss:g}'\n"})
    network = load(str(tmp_path / "net.py"))
    assert (network.name, network.title, network.description) == ("net", "Mine", "Two lines.")
    assert isinstance(network.optimizer, Momentum) and network.optimizer.lr == 0.05
    assert [p.name for p in network.params] == ["weight", "unused"]  # named after variables
    trace = network.trace()
    assert trace.find("x").value.tolist() == [3.0, 4.0]
    assert network.prediction_text(trace) == "loss 22"
    cycle = network.cycle()
    assert {u.name for u in cycle.updates} == {"weight", "unused"}


def test_python_file_optimizer_by_name(tmp_path):
    write(tmp_path, {"adam.py": NEURON + "OPTIMIZER = 'adam'\nLR = 0.01\n"})
    optimizer = load(tmp_path / "adam.py").optimizer
    assert isinstance(optimizer, Adam) and optimizer.lr == 0.01


def test_toml_inline_data_builds_a_readable_mlp(tmp_path):
    write(tmp_path, {"mlp.toml": MLP_TOML})
    network = load(tmp_path / "mlp.toml")
    trace = network.trace()
    names = [n.name for n in trace.nodes]
    for name in ("X", "W1", "b1", "XW1", "z1", "h1", "W2", "b2", "h1W2", "yhat", "y", "loss"):
        assert name in names
    assert trace.find("W1").shape == (2, 3) and trace.find("b2").shape == (1,)
    assert trace.find("y").value.shape == (4, 1)
    assert network.title == "mlp" and network.optimizer.name == "sgd"
    assert np.all(trace.find("b1").value == 0)
    limit = np.sqrt(6 / 5)  # xavier, the default scheme
    assert np.all(np.abs(trace.find("W1").value) <= limit)
    assert "predicts" in network.prediction_text(trace)


def test_toml_loads_execute_nothing_and_repeat_exactly(tmp_path):
    write(tmp_path, {"mlp.toml": MLP_TOML + "\n[init]\nseed = 3\nscheme = 'he'\n"})
    first, second = (load(tmp_path / "mlp.toml").trace() for _ in range(2))
    np.testing.assert_array_equal(first.find("W1").value, second.find("W1").value)


def test_toml_csv_columns_batch_explicit_weights_and_optimizer(tmp_path):
    write(tmp_path, {
        "sub/data.csv": "size,noise,rooms,price\n1,9,2,3\n2,9,3,5\n3,9,4,7\n4,9,5,9\n",
        "sub/net.toml": 'title = "Prices"\n[network]\nlayers = [2, 1]\nactivations = ["identity"]\n'
                        '[data]\ncsv = "data.csv"\ninput_columns = ["size", "rooms"]\n'
                        'target_columns = "price"\nbatch = [0, 2]\n'
                        '[init]\nW1 = [[1.0], [0.5]]\nb1 = [0.25]\n'
                        '[optimizer]\nname = "momentum"\nlr = 0.01\nbeta = 0.5\n'})
    network = load(tmp_path / "sub" / "net.toml")
    trace = network.trace()
    assert trace.find("X").value.tolist() == [[1, 2], [3, 4]]
    assert trace.find("y").value.tolist() == [[3], [7]]
    assert trace.find("yhat").value.ravel().tolist() == [2.25, 5.25]
    assert trace.loss == pytest.approx((0.75 ** 2 + 1.75 ** 2) / 2)
    assert isinstance(network.optimizer, Momentum) and network.optimizer.beta == 0.5
    assert network.title == "Prices"


def test_toml_cross_entropy_with_class_labels(tmp_path):
    write(tmp_path, {"cls.toml": '[network]\nlayers = [2, 4, 3]\n'
                                 'activations = ["relu", "identity"]\nloss = "cross_entropy"\n'
                                 '[data]\ninputs = [[0, 1], [1, 0], [1, 1]]\ntargets = [0, 2, 1]\n'
                                 '[init]\nscheme = "normal"\nstd = 0.5\nseed = 1\n'
                                 '[optimizer]\nname = "adam"\nlr = 0.05\n'})
    network = load(tmp_path / "cls.toml")
    trace = network.trace()
    assert trace.find("scores").shape == (3, 3)
    assert trace.find("y").value.tolist() == [0, 2, 1]
    assert "classes" in network.prediction_text(trace)
    losses = network.train(50)
    assert losses[-1] < losses[0]


def test_toml_cross_entropy_refuses_labels_out_of_range(tmp_path):
    write(tmp_path, {"cls.toml": '[network]\nlayers = [2, 2]\nactivations = ["identity"]\n'
                                 'loss = "cross_entropy"\n'
                                 '[data]\ninputs = [[0, 1], [1, 0]]\ntargets = [0, 2]\n'})
    with pytest.raises(LoadError, match=r"one class number per row \(0 to 1\)"):
        load(tmp_path / "cls.toml")


def test_toml_option_of_another_optimizer_is_refused(tmp_path):
    write(tmp_path, {"opt.toml": MLP_TOML + '[optimizer]\nname = "sgd"\nbeta = 0.9\n'})
    with pytest.raises(LoadError, match="does not apply to 'sgd'; it is an option of 'momentum'"):
        load(tmp_path / "opt.toml")


def test_toml_unknown_choice_suggests_the_close_one(tmp_path):
    write(tmp_path, {"act.toml": MLP_TOML.replace('"tanh"', '"tahn"')})
    with pytest.raises(LoadError, match="Did you mean 'tanh'"):
        load(tmp_path / "act.toml")


def test_documented_example_network_file_is_examples_neuron_and_traces(capsys):
    section = doc_page("network-files.md")
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert code == (EXAMPLES / "neuron.py").read_text(encoding="utf-8")
    assert main(["trace", str(EXAMPLES / "neuron.py")]) == 0
    out = capsys.readouterr().out
    assert "Pass or fail" in out and "loss 0.622509 → 0.381007" in out


def test_documented_toml_example_is_examples_xor_and_both_example_tomls_trace(capsys):
    section = doc_page("network-files.md")
    snippet = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    assert tomllib.loads(snippet) == tomllib.loads((EXAMPLES / "xor.toml").read_text())
    xor = load(EXAMPLES / "xor.toml")
    assert xor.loss() == pytest.approx(load("xor").loss())  # the same network as the built-in
    assert main(["trace", str(EXAMPLES / "houses.toml")]) == 0
    assert "Update: adam" in capsys.readouterr().out


def test_docs_document_every_toml_key():
    from scenarios.tomlfile import KEYS

    section = doc_page("network-files.md")
    for table, keys in KEYS.items():
        for key in keys:
            assert f"`{key}`" in section or f"`[{key}]`" in section, (table, key)
