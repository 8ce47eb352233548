"""``gradstep export``: one SVG per step rendered by the real app, and the graph as DOT."""

from __future__ import annotations

import argparse

import pytest

from gradstep.cli import main
from gradstep.export import parse_size
from scenarios import load
from tests.screen_text import svg_text
from tracer.explain import number, short
from tracer.narration import narrate, title
from tracer.network import Outcome
from tracer.optim import UpdateRecord
from tracer.record import BackwardStep, ForwardStep
from tui.export import file_name, slug


def step_numbers(cycle, moment) -> list[str]:
    """Text that the step's screenshot must show, built here from the step's record."""
    record = moment.record
    trace = cycle.trace
    if isinstance(record, ForwardStep):
        node = trace.nodes[record.node]
        return [f"{node.name} = {short(node.value)}"]
    if isinstance(record, BackwardStep):
        node = trace.nodes[record.node]
        lines = [f"∂L/∂{node.name} = {number(record.upstream.item())}"]
        lines += [f"= {number(r.contribution.item())}" for r in record.inputs]
        return lines
    if isinstance(record, UpdateRecord):
        return [f"update {record.name}", number(record.before.item()),
                number(record.grad.item()), number(record.after.item())]
    assert isinstance(record, Outcome)
    return [f"{number(record.loss_before, 6)} → {number(record.loss_after, 6)}"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``gradstep export chain-rule --svg DIR --dot FILE``, run once for the module's tests."""
    out = tmp_path_factory.mktemp("export")
    svg_dir, dot_file = out / "slides", out / "graph.dot"
    assert main(["export", "chain-rule", "--svg", str(svg_dir), "--dot", str(dot_file)]) == 0
    return svg_dir, dot_file


def test_one_svg_per_step_named_in_order(exported):
    svg_dir, _ = exported
    cycle = load("chain-rule").cycle()
    expected = [file_name(k, title(cycle, m)) for k, m in enumerate(cycle.timeline)]
    assert sorted(p.name for p in svg_dir.iterdir()) == expected
    assert expected[0] == "step-001-forward-x.svg"
    assert expected[4] == "step-005-backward-f.svg"
    assert expected[-1] == f"step-{len(expected):03d}-outcome.svg"
    phases = [name.removesuffix(".svg").split("-")[2] for name in expected]
    assert phases == ["forward"] * 4 + ["backward"] * 4 + ["update"] * 2 + ["outcome"]


def test_each_svg_shows_its_steps_numbers(exported):
    svg_dir, _ = exported
    cycle = load("chain-rule").cycle()  # a fresh load: the same numbers the export showed
    for k, moment in enumerate(cycle.timeline):
        svg = (svg_dir / file_name(k, title(cycle, moment))).read_text(encoding="utf-8")
        assert svg.lstrip().startswith("<svg") and svg.rstrip().endswith("</svg>")
        screen = svg_text(svg)
        for text in step_numbers(cycle, moment):
            assert text in screen, f"step {k + 1} ({title(cycle, moment)}): {text!r} not shown"
        # The window title says which step it is.
        assert f"step&#160;{k + 1}/{len(cycle.timeline)}&#160;" in svg


def test_the_backward_screenshots_differ_in_their_gradients(exported):
    svg_dir, _ = exported
    screens = {p.name: svg_text(p.read_text(encoding="utf-8"))
               for p in svg_dir.glob("step-00[5-8]-backward-*.svg")}
    assert "∂L/∂y = 3" in screens["step-007-backward-y.svg"]
    assert "∂L/∂y = 3" not in screens["step-005-backward-f.svg"]  # not known yet there


def test_the_dot_file_is_written_too(exported):
    _, dot_file = exported
    text = dot_file.read_text(encoding="utf-8")
    assert text.startswith("digraph gradstep {") and text.rstrip().endswith("}")
    assert text.count(" -> ") == 4 and 'label="x\\nparam\\nvalue 3\\ngrad -1"' in text


def test_dot_to_stdout_keeps_stdout_clean(capsys):
    assert main(["export", "mazur", "--dot", "-"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("digraph gradstep {") and out.rstrip().endswith("}")
    assert "43 nodes" in err


def test_a_bad_target_exits_2_and_writes_nothing(tmp_path, capsys):
    assert main(["export", "no-such-net", "--svg", str(tmp_path / "s")]) == 2
    assert "not a built-in scenario" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_export_needs_something_to_write(capsys):
    assert main(["export", "chain-rule"]) == 2
    assert "--svg DIR, --dot FILE, --quiz FILE" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "size"), [("120x40", (120, 40)), ("80X24", (80, 24)),
                                            ("100×30", (100, 30))])
def test_sizes_parse(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["120", "x40", "10x10", "wide", "120x40x2"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="WIDTHxHEIGHT"):
        parse_size(text)


def test_file_names_are_safe_and_ordered():
    assert slug("backward w1·i1") == "backward-w1-i1"
    assert slug("forward diff_o1²") == "forward-diff_o1-p2"
    cycle = load("mazur").cycle()  # steps with different labels never get the same name
    labels = [title(cycle, m) for m in cycle.timeline]
    assert len({slug(label) for label in labels}) == len(set(labels))
    assert slug("··") == "node"
    assert file_name(0, "forward x") == "step-001-forward-x.svg"
    assert file_name(94, "outcome") == "step-095-outcome.svg"


def test_presenter_mode_slides_carry_each_steps_narration(tmp_path):
    network = load("chain-rule")
    cycle = network.cycle()
    words = network.prediction_text(cycle.trace)
    assert main(["export", "chain-rule", "--svg", str(tmp_path), "--present"]) == 0
    for k, moment in enumerate(cycle.timeline):
        screen = svg_text((tmp_path / file_name(k, title(cycle, moment))).read_text("utf-8"))
        flowing = " ".join(screen.split())  # the narration bar wraps its lines
        # The outcome may add the prediction after the update ("Now: ..."): not checked here.
        sentence = narrate(cycle, moment, prediction=words).split(" Now: ")[0]
        assert " ".join(sentence.split()) in flowing, (k, sentence)


def test_presenter_slides_show_the_whole_graph_without_key_bar_or_scrollbars(tmp_path):
    slides = tmp_path / "slides"
    assert main(["export", "house-price", "--svg", str(slides), "--present"]) == 0
    cycle = load("house-price").cycle()
    screens = [svg_text((slides / file_name(k, title(cycle, m))).read_text(encoding="utf-8"))
               for k, m in enumerate(cycle.timeline)]
    names = [n.name for n in cycle.trace.nodes]
    for k, screen in enumerate(screens):
        lines = screen.splitlines()
        assert "Step" not in lines[-1] and "Quit" not in screen  # no key bar
        assert not any(ch in screen for ch in "▁▂▃▄▅▆▇█▊▎▏")  # no scrollbar
        shown = screen.replace("\n", "")
        assert all(name.replace("_", "") in shown.replace("_", "").replace(" ", "")
                   for name in names), f"slide {k + 1} misses a node"
    assert "loss ·" in screens[0].splitlines()[0]  # not computed yet at forward step 1
    n = len(cycle.trace.nodes)
    assert f"loss {number(cycle.loss, 6)}" in screens[n - 1].splitlines()[0]
    backward = screens[n + 1]
    assert "◄" in backward and "►" not in backward  # the gradient flows from output to input
    assert "►" in screens[1]


def test_the_quiz_handout_asks_to_derive_and_answers_on_a_page_of_its_own(tmp_path):
    handout = tmp_path / "quiz.md"
    assert main(["export", "mazur", "--quiz", str(handout)]) == 0
    text = handout.read_text(encoding="utf-8")
    questions, answers = text.split('<div style="page-break-before: always"></div>')
    assert "## Answers" in answers and "## Answers" not in questions
    # out_o1's step: first the local derivative without its value, then the product
    assert "∂out\\_o1/∂net\\_o1 = σ(x)·(1 − σ(x)) = ?" in questions
    assert "0.7414 × 0.1868 = ?" in questions
    local = next(line for line in questions.splitlines() if "∂out\\_o1/∂net\\_o1 = σ" in line)
    number_of = local.split(".")[0]
    # Mazur: σ'(net_o1) = 0.75136507 × (1 − 0.75136507) = 0.1868
    assert f"\n{number_of}. 0.1868\n" in answers
    assert "0.1868" not in local
