"""tracer.report: the JSON object (validated against tests/schema) and the readable handouts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import networkx as nx
import numpy as np
import pytest

from scenarios import BUILTIN_NAMES, load
from scenarios.catalog import PROBLEM_NAMES
from tracer import Network, Tensor, param
from tracer.explain import number
from tracer.report import dumps, jsonable, run_report, to_json, to_markdown, to_text

SCHEMA = json.loads((Path(__file__).parent / "schema" / "trace.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def validated(text: str) -> dict:
    data = json.loads(text)
    VALIDATOR.validate(data)
    return data


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_every_scenarios_json_matches_the_schema_and_the_records(name):
    report = run_report(load(name))
    data = validated(dumps(report))
    trace = report.cycle.trace
    assert data["scenario"] == name and "steps" not in data
    assert len(data["nodes"]) == len(trace.nodes)
    assert [n["id"] for n in data["nodes"]] == list(range(len(trace.nodes)))
    # a backward step for the root and each node with a parameter among its ancestors-or-self,
    # down the ids; the steps numbered 0, 1, 2, ...
    has_step = [k for k in range(len(trace.nodes)) if k == trace.root or any(
        trace.nodes[a].kind == "param" for a in nx.ancestors(trace.graph, k) | {k})]
    assert [s["node"] for s in data["backward"]] == has_step[::-1]
    assert [s["step"] for s in data["backward"]] == list(range(len(has_step)))
    for step in data["backward"]:
        assert all(i["needs_grad"] == (i["node"] in has_step) for i in step["inputs"])
    for node, record in zip(data["nodes"], trace.nodes, strict=True):
        assert np.shape(node["value"]) == record.shape == tuple(node["shape"])
        np.testing.assert_array_equal(np.asarray(node["grad"], dtype=float), record.grad)
    assert set(data["params"]) == {u.name for u in report.cycle.updates}
    for update in report.cycle.updates:
        entry = data["params"][update.name]
        np.testing.assert_allclose(np.add(np.asarray(entry["value"], dtype=float),
                                          np.asarray(entry["update"], dtype=float)),
                                   np.asarray(entry["new"], dtype=float))  # "nan" -> nan
    if name not in PROBLEM_NAMES:  # some are built not to learn; test_scenarios checks why
        assert data["loss_after"] < data["loss"]


def test_json_with_steps_matches_the_schema():
    data = validated(dumps(run_report(load("house-price"), steps=5)))
    assert data["steps"] == 5 and len(data["losses"]) == 6 and data["stopped"] is None
    assert data["losses"] == sorted(data["losses"], reverse=True)
    assert data["final_prediction"].startswith("predicted $")


def test_json_of_a_run_a_condition_stopped_matches_the_schema_and_says_where():
    from tracer.training import until_nonfinite

    data = validated(dumps(run_report(load("nan-log"), steps=50, until=[until_nonfinite()])))
    stopped = data["stopped"]
    assert data["steps"] == 1 and len(data["losses"]) == 2
    assert stopped["condition"] == "nan" and stopped["iteration"] == 1
    assert stopped["phase"] == "forward"
    # the first value that is not finite, named
    def nonfinite(value) -> bool:  # (JSON writes them as strings)
        return any(x in ("nan", "inf", "-inf") for x in np.ravel(np.array(value, dtype=object)))

    node = data["nodes"][stopped["node"]]
    assert node["name"] == stopped["name"] and nonfinite(node["value"])
    assert not any(nonfinite(n["value"]) for n in data["nodes"][:stopped["node"]])


def test_structural_ops_give_their_jacobian_when_small():
    data = to_json(run_report(load("digit-4-vs-9")))
    (ce,) = [s for s in data["backward"] if s["op"] == "cross_entropy"]
    scores, label = ce["inputs"]
    assert scores["local_kind"] == "jacobian" and np.shape(scores["local"]) == (1, 2)
    assert label["differentiable"] is False and label["local"] is None


def test_non_finite_numbers_are_strings_and_the_json_stays_valid():
    x = param(0.0, name="x")
    network = Network(forward=lambda: x.log(), name="log-zero", params=[x])
    text = dumps(run_report(network))
    assert "NaN" not in text and "Infinity" not in text
    data = validated(text)
    assert data["loss"] == "-inf"
    assert data["params"]["x"]["grad"] == "inf"
    assert data["params"]["x"]["new"] == "-inf"
    assert data["loss_after"] == "nan"


def test_jsonable_keeps_nesting_and_types():
    assert jsonable(np.array([[1.0, np.nan], [np.inf, -np.inf]])) == [[1.0, "nan"],
                                                                      ["inf", "-inf"]]
    assert jsonable(np.float64(2.5)) == 2.5 and jsonable(np.array(3.0)) == 3.0
    assert jsonable([np.int64(1), True, "a", None]) == [1, True, "a", None]


def test_text_handout_has_a_chain_rule_line_per_backward_input():
    report = run_report(load("micrograd-neuron"))
    text = to_text(report)
    trace = report.cycle.trace
    for heading in ("Forward pass (10 nodes)", "Backward pass: the chain rule, step by step",
                    "Update: sgd (lr 0.1)", "Loss before and after the update"):
        assert f"{heading}\n{'-' * len(heading)}" in text
    inputs = sum(len(step.inputs) for step in trace.backward)
    assert sum(line.startswith("  ∂L/∂") and " = ∂L/∂" in line
               for line in text.splitlines()) == inputs
    assert "∂L/∂n = ∂L/∂o × ∂o/∂n = 1 × 0.5 = 0.5" in text
    assert "∂L/∂w1 = ∂L/∂x1w1 × ∂x1w1/∂w1 = 0.5 × 2 = 1" in text
    assert "loss 0.707107 → 0.558997  (-0.148, lower)" in text


def test_large_arrays_get_their_value_after_the_equation():
    text = to_text(run_report(load("xor")))
    assert "∂L/∂h1 = ∂L/∂h1W2 · ∂h1W2/∂h1  → 4×4 |·|=" in text
    assert "summed over axis 0 back to shape (4,)" in text


def test_markdown_handout_uses_headings_fences_and_tables():
    report = run_report(load("chain-rule"), steps=3)
    md = to_markdown(report)
    assert md.startswith("# chain-rule: The chain rule at a fork\n")
    assert "```text\n∂L/∂f = 1: the backward pass starts at the loss\n" in md
    assert "∂L/∂x = -1 = 1 + (-2)  (from f, xy)  ← it fed 2 places, so the gradients add" in md
    assert "| x | 3 | -1 | 0.1 | 3.1 |" in md
    assert "## Training: 3 iterations" in md and "| iteration | loss before it |" in md
    assert md.count("```") % 2 == 0


def test_long_training_is_summarised_in_the_handout():
    text = to_text(run_report(load("xor"), steps=100))
    rows = [line for line in text.splitlines() if line.strip()[:1].isdigit()
            and len(line.split()) == 2]
    assert 15 <= len(rows) <= 22
    assert rows[0].split()[0] == "0" and rows[-1].split()[0] == "100"


def test_run_report_refuses_zero_steps():
    with pytest.raises(ValueError, match="at least 1"):
        run_report(load("chain-rule"), steps=0)


def test_a_network_without_words_reports_none():
    w = param(1.0, name="w")
    data = to_json(run_report(Network(forward=lambda: w * Tensor(2.0), name="bare")))
    assert data["prediction"] is None and data["prediction_after"] is None
    assert data["title"] == "" and data["source"] is None


def test_the_handout_draws_the_digit_and_works_out_the_loss_gradients():
    digit = to_text(run_report(load("digit-4-vs-9")))
    # the 9 of the scenario: a lit ring on top, a stroke down the right, a bar at the bottom
    assert "pixels as a 5×5 picture" in digit
    assert "  ██████████\n  ██······██\n  ██████████\n  ········██\n  ██████████" in digit
    # softmax([2.65, 1.8]) = [0.70057, 0.29943] by hand; minus one-hot(9 = class 1)
    p = 1 / (1 + math.exp(1.8 - 2.65))
    assert (f"softmax(scores) − one-hot(label) = [{number(p)}, {number(1 - p)}] − [0, 1] = "
            f"[{number(p)}, {number(1 - p - 1)}]") in digit
    house = to_text(run_report(load("house-price")))
    assert "∂L/∂price = 2·(price − true_price) = 2·(4.2 − 5) = -1.6" in house
    assert "prices in $100k" in house  # units explained
    assert "/work/" not in house and "/home/" not in house and str(Path.cwd()) not in house
    assert "Source: the built-in scenario house-price" in house


def test_the_handout_has_the_graph_as_a_picture_when_graphviz_is_installed(tmp_path,
                                                                            monkeypatch):
    report = run_report(load("chain-rule"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot anywhere
    assert "install Graphviz" in to_markdown(report) and "install Graphviz" in to_text(report)
    fake = tmp_path / "dot"  # a stand-in that answers the way dot -Tsvg does
    fake.write_text("#!/bin/sh\ncat > /dev/null\necho '<?xml?><svg><g>graph</g></svg>'\n")
    fake.chmod(0o755)
    markdown = to_markdown(report)
    assert "<svg><g>graph</g></svg>" in markdown and "install Graphviz" not in markdown
