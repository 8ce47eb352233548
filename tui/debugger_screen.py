"""The main screen: graph, inspector, steps and parameters, driven by the debugger's keys."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, LoadingIndicator, OptionList, Static, TabbedContent, TabPane

from tracer import Network, explain
from tracer.diagnostics import (
    Condition,
    break_on_dead_unit,
    break_on_gradcheck_failure,
    break_on_gradient_above,
    break_on_nonfinite,
)
from tracer.narration import narrate

from .diagnostics_panel import DiagnosticsPanel
from .find_screen import FindScreen
from .graph_layout import Layout
from .graph_view import CHIPS, FULL, GraphView, compute_layout
from .help_screen import HelpScreen
from .inspector import Inspector
from .iteration_list import IterationList
from .node_commands import NodeCommands
from .params_panel import ParamsPanel
from .prompt_screen import PromptScreen
from .repaint import TextPanel
from .state import Debugger
from .status_bar import StatusBar
from .step_list import StepList
from .training_panel import TrainingPanel

# The legend names the graph's component classes, so it shows exactly the colours in use.
LEGEND = (("current", "graph--current"), ("done", "graph--done"), ("pending", "graph--pending"),
          ("param", "graph--param"), ("input/const", "graph--input"), ("loss", "graph--loss"),
          ("── flow now", "graph--edge-active"), ("● breakpoint", "graph--breakpoint"))


AUTO_DIAGNOSE_LIMIT = 1500  # nodes; bigger graphs are diagnosed when asked (command palette)

CONDITIONS = {"nonfinite": break_on_nonfinite, "gradcheck": break_on_gradcheck_failure,
              "dead": break_on_dead_unit}


def narration_text(debugger: Debugger) -> str:
    """The narration bar: the current step in plain English (kept back while a quiz asks)."""
    question = debugger.question
    if question is not None:  # the narration would give the answer away: ask instead
        asked = " ".join(line.text for line in question.lines if line.role in ("heading",
                                                                              "equation"))
        return f"Quiz: {asked}  (a: answer, n: reveal)"
    before, after = debugger.predictions()
    return narrate(debugger.cycle, debugger.moment, prediction=before, prediction_after=after)


class NarrationBar(TextPanel, can_focus=False):
    """:func:`narration_text` above the graph.

    Its height comes from tui/debugger_screen.tcss, so a new step repaints the bar alone. A
    narration that needs more lines makes it grow, by at most ``MAX_GROWTH`` lines and to at
    most a quarter of the terminal's height (beyond that it scrolls), and it stays that tall
    until the terminal is resized or presenter mode is toggled: the screen is laid out again
    only the first time a longer narration appears, and on any terminal of ordinary size no
    narration is cut off for someone who cannot scroll it (the bar never takes focus).
    """

    MAX_GROWTH = 4
    _fitted_for: tuple | None = None  # (screen size, presenter mode) the growth is for
    _base = 0  # the stylesheet's height, outer

    def fit(self, lines: int) -> None:
        if not self.outer_size.height:
            return  # not laid out yet
        key = (self.screen.size, self.screen.has_class("-present"))
        if key != self._fitted_for:
            self._fitted_for = key
            if self.styles.min_height is not None:
                self.styles.min_height = None
                self.call_after_refresh(self._wrap)  # again, at the stylesheet's height
                return
        if self.styles.min_height is None:
            self._base = self.outer_size.height
        chrome = self.outer_size.height - self.scrollable_content_region.height
        # at most MAX_GROWTH lines more, and never past a quarter of a small terminal
        limit = max(self._base, min(self._base + self.MAX_GROWTH, self.screen.size.height // 4))
        target = min(lines + chrome, limit)
        if target > self.outer_size.height:
            self.styles.min_height = target


class DebuggerScreen(Screen):
    """Step through one network's forward pass, backward pass and update."""

    CSS_PATH = "debugger_screen.tcss"
    COMMANDS = {NodeCommands}  # "Go to node: NAME" in the command palette

    BINDINGS = [
        Binding("n,space,right", "next", "Step"),
        Binding("N,left", "back", "Back"),
        Binding("c", "continue", "Continue"),
        Binding("C", "reverse_continue", "Rev-continue", show=False),
        Binding("b", "breakpoint", "Breakpoint"),
        Binding("g", "first", "First step", show=False),
        Binding("G", "last", "Last step", show=False),
        Binding("k,up", "select('up')", "Select up", show=False),
        Binding("j,down", "select('down')", "Select down", show=False),
        Binding("h", "select('left')", "Select left", show=False),
        Binding("l", "select('right')", "Select right", show=False),
        Binding("enter", "jump", "Go to the selected node's step", show=False),
        Binding("slash", "find", "Find"),
        Binding("u", "update", "Update"),
        Binding("r", "rerun", "Re-run"),
        Binding("z", "zoom", "Zoom", show=False),
        Binding("x", "collapse", "Collapse/open the selected group", show=False),
        Binding("X", "collapse_all", "Collapse/open all groups", show=False),
        Binding("v", "neighbourhood", "Neighbourhood view", show=False),
        Binding("less_than_sign", "hops(-1)", "Fewer hops", show=False),
        Binding("greater_than_sign", "hops(1)", "More hops", show=False),
        Binding("m", "minimap", "Minimap", show=False),
        Binding("e", "expand", "Expand arrays", show=False),
        Binding("p", "autoplay", "Play/pause"),
        Binding("plus,equals_sign", "pace(0.5)", "Faster", show=False),
        Binding("minus", "pace(2)", "Slower", show=False),
        Binding("P", "present", "Presenter mode", show=False),
        Binding("a", "answer", "Answer (quiz)", show=False),
        Binding("w", "what_if", "What if…", show=False),
        Binding("t", "train", "Train N iterations", show=False),
        Binding("left_square_bracket", "iteration(-1)", "Previous iteration", show=False),
        Binding("right_square_bracket", "iteration(1)", "Next iteration", show=False),
        Binding("s", "screenshot", "Save an SVG screenshot", show=False),
        Binding("o", "open", "Open…", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    PACE_LIMITS = (0.05, 5.0)  # seconds per step for autoplay

    # The debugger's own word on which actions make sense now; the footer greys out the rest.
    _AVAILABLE = {
        "next": lambda d: not d.stepper.at_end,
        "last": lambda d: not d.stepper.at_end,
        "continue": lambda d: not d.stepper.at_end,
        "back": lambda d: not d.stepper.at_start,
        "first": lambda d: not d.stepper.at_start,
        "reverse_continue": lambda d: not d.stepper.at_start,
        "update": lambda d: d.can_update and d.latest,
        "rerun": lambda d: d.update_applied and d.latest,
        "answer": lambda d: d.question is not None and d.question.answer is not None,
        "what_if": lambda d: d.latest,
        "iteration": lambda d: len(d.cycles) - d.kept_from > 1,
    }

    def __init__(self, network: Network, quiz: bool = False, present: bool = False) -> None:
        super().__init__()
        self.network = network
        self.quiz = quiz
        self.set_class(present, "-present")
        self.pace = 1.0
        self.player: Timer | None = None
        self.debugger: Debugger | None = None
        self.layouts: dict[str, Layout] = {}
        self.zoom = FULL
        self.full_arrays = False
        self._available: tuple[bool, ...] = ()

    def compose(self) -> ComposeResult:
        yield StatusBar(" gradstep │ tracing…", id="status")
        yield NarrationBar(id="narration")
        with Horizontal(id="main"):
            with Vertical(id="graph-column"):
                yield GraphView(id="graph")
                yield Static(id="legend")
            with Vertical(id="side"):
                yield Inspector(id="inspector")
                with TabbedContent(id="tabs"):
                    with TabPane("Steps", id="steps-tab"):
                        yield StepList(id="steps")
                    with TabPane("Parameters", id="params-tab"):
                        yield ParamsPanel(id="params")
                    with TabPane("Training", id="training-tab"):
                        yield TrainingPanel(id="training")
                    with TabPane("Diagnostics", id="diagnostics-tab"):
                        yield DiagnosticsPanel(id="diagnostics")
        yield LoadingIndicator(id="loading")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#main").display = False
        self.prepare()

    # --- preparing (off the UI thread: tracing and laying out a big graph take a while) -------

    @work(thread=True, exclusive=True, group="prepare")
    def prepare(self, next_cycle: bool = False) -> None:
        try:
            debugger = self.debugger or Debugger(self.network, quiz=self.quiz)
            if next_cycle:
                debugger.next_iteration()
            # The graph's view options (collapsed groups, neighbourhood); it caches layouts.
            layout = compute_layout(debugger, self.zoom, self.query_one(GraphView).state)
        except Exception as exc:  # the user's network code may raise anything
            self.app.call_from_thread(self.failed, exc)
            return
        self.app.call_from_thread(self.ready, debugger, layout)

    def ready(self, debugger: Debugger, layout: Layout) -> None:
        self.debugger = debugger
        self.layouts[self.zoom] = layout
        self.query_one("#loading").display = False
        self.query_one("#main").display = True
        graph = self.query_one(GraphView)
        graph.show(debugger, layout, self.zoom)
        legend = Text(" ")
        for label, component in LEGEND:
            legend.append(f" {label} ", graph.get_component_rich_style(component))
        self.query_one("#legend", Static).update(legend)
        self.query_one(StepList).show(debugger)
        self.query_one(TrainingPanel).show(debugger)
        self.query_one(GraphView).focus()
        self.refresh_view(moved=False)
        self.run_diagnosis()

    def run_diagnosis(self, whole_network: bool = False, asked: bool = False) -> None:
        """Diagnose the viewed cycle in a worker. On a big graph the checks hold Python's GIL
        long enough to make the UI stutter, so there it waits to be asked (palette)."""
        if self.debugger is None:
            return
        if len(self.debugger.trace.nodes) > AUTO_DIAGNOSE_LIMIT and not (asked or whole_network):
            self.query_one(DiagnosticsPanel).waiting(len(self.debugger.trace.nodes))
            return
        self.diagnose_in_background(whole_network)

    @work(thread=True, exclusive=True, group="diagnose")
    def diagnose_in_background(self, whole_network: bool = False) -> None:
        """Diagnose the viewed cycle off the UI thread (the per-node gradient checks take a
        moment on a big graph); ``whole_network`` adds the finite-difference check of every
        parameter, which re-runs the network and so is asked for from the command palette."""
        debugger = self.debugger
        try:
            debugger.diagnose(whole_network)
        except Exception as exc:  # the user's network code may raise anything
            self.app.call_from_thread(self.app.show_error, str(exc))
            return
        self.app.call_from_thread(self.diagnosed, whole_network)

    def diagnosed(self, whole_network: bool = False) -> None:
        debugger = self.debugger
        self.query_one(DiagnosticsPanel).show(debugger)
        problems = [f for f in debugger.findings if f.is_problem]
        tab = self.query_one(TabbedContent).get_tab("diagnostics-tab")
        tab.label = f"Diagnostics ({len(problems)})" if problems else "Diagnostics"
        self.query_one(GraphView).update_state()  # badges
        if problems:
            self.notify(f"{len(problems)} problem(s) found: {problems[0].summary}",
                        title="diagnostics", severity="warning", markup=False)
        elif whole_network:
            self.notify("every parameter's gradient matches finite differences",
                        title="gradient check", markup=False)

    def action_break_on(self, name: str) -> None:
        """Add a conditional breakpoint (see tracer.diagnostics); ``gradient`` asks for a
        threshold first."""
        if self.debugger is None:
            return
        if name == "gradient":
            self.app.push_screen(PromptScreen("Stop where |gradient| is above…",
                                              "a positive number", "10"), self._gradient_above)
            return
        self._add_condition(CONDITIONS[name]())

    def _gradient_above(self, text: str | None) -> None:
        try:
            threshold = float(text or "")
        except ValueError:
            return
        if threshold > 0:
            self._add_condition(break_on_gradient_above(threshold))

    def _add_condition(self, condition: Condition) -> None:
        self.debugger.conditions.append(condition)
        self.notify(f"c now also stops at {condition.label}", markup=False)

    def action_clear_conditions(self) -> None:
        if self.debugger is not None:
            self.debugger.conditions.clear()
            self.notify("conditional breakpoints cleared")

    def failed(self, exc: Exception) -> None:
        self.query_one("#loading").display = False
        self.query_one(StatusBar).update(f" gradstep │ could not run {self.network.name}")
        self.app.show_error(str(exc))

    # --- keeping every panel in step -----------------------------------------------------------

    def refresh_view(self, moved: bool = True) -> None:
        debugger = self.debugger
        self.query_one(StatusBar).show(debugger)
        # A fixed height: new text repaints the bar alone (tui/repaint.py).
        self.query_one(NarrationBar).show_text(narration_text(debugger))
        self.query_one(GraphView).update_state()
        self.query_one(Inspector).show(debugger, self.full_arrays)
        self.query_one(ParamsPanel).show(debugger)
        if moved:
            self.query_one(StepList).moved()
        if debugger.phase == "update":
            self.query_one(TabbedContent).active = "params-tab"
        # Re-rendering the footer is the costliest part of a step: do it only when a key's
        # availability actually changed.
        available = tuple(check(debugger) for check in self._AVAILABLE.values())
        if available != self._available:
            self._available = available
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.debugger is None:
            return action in ("help", "open") or None
        available = self._AVAILABLE.get(action)
        return True if available is None or available(self.debugger) else None

    def _move(self, change) -> None:
        if self.debugger is not None:
            change(self.debugger)
            self.refresh_view()

    # --- actions -------------------------------------------------------------------------------

    def action_next(self) -> None:
        self._move(lambda d: d.next_in_quiz())

    def action_back(self) -> None:
        self._move(lambda d: d.step(-1))

    def action_first(self) -> None:
        self._move(lambda d: d.goto(0))

    def action_last(self) -> None:
        self._move(lambda d: d.goto(len(d.timeline) - 1))

    def action_continue(self) -> None:
        self._move(lambda d: d.continue_())

    def action_reverse_continue(self) -> None:
        self._move(lambda d: d.continue_(reverse=True))

    def action_update(self) -> None:
        self._move(lambda d: d.apply_update())

    def action_rerun(self) -> None:
        if self.debugger is not None:
            self.prepare(next_cycle=True)

    def action_breakpoint(self) -> None:
        if self.debugger is not None:
            is_set = self.debugger.toggle_breakpoint()
            name = self.debugger.trace.nodes[self.debugger.selected].name
            self.notify(f"breakpoint {'set on' if is_set else 'removed from'} {name}")
            self.refresh_view(moved=False)

    def action_select(self, direction: str) -> None:
        if self.debugger is None:
            return
        node = self.query_one(GraphView).neighbour(direction)
        if node is not None:
            self.select(node)

    def select(self, node: int) -> None:
        self.debugger.selected = node
        self.refresh_view(moved=False)

    def action_jump(self) -> None:
        """Move the cursor to the selected node's step in the current phase."""
        debugger = self.debugger
        if debugger is not None and debugger.phase != "update":
            node = debugger.selected
            self._move(lambda d: d.goto(d.position_of(d.phase, node)))

    def action_find(self) -> None:
        if self.debugger is not None:
            self.app.push_screen(FindScreen(self.debugger), self._found)

    def _found(self, node: int | None) -> None:
        if node is not None:
            self.select(node)

    def action_zoom(self) -> None:
        if self.debugger is not None:
            self.zoom = CHIPS if self.zoom == FULL else FULL
            self.prepare()

    # Big graphs: collapsing groups, the neighbourhood view, the minimap (tui/graph_view.py).

    def _graph_says(self, change) -> None:
        if self.debugger is not None:
            self.notify(change(self.query_one(GraphView)), markup=False)

    def action_collapse(self) -> None:
        self._graph_says(GraphView.toggle_group)

    def action_collapse_all(self) -> None:
        self._graph_says(GraphView.toggle_all)

    def action_neighbourhood(self) -> None:
        self._graph_says(GraphView.toggle_neighbourhood)

    def action_hops(self, delta: int) -> None:
        self._graph_says(lambda graph: graph.change_hops(delta))

    def action_minimap(self) -> None:
        self._graph_says(GraphView.toggle_minimap)

    def action_expand(self) -> None:
        self.full_arrays = not self.full_arrays
        if self.debugger is not None:
            self.query_one(Inspector).show(self.debugger, self.full_arrays)

    # --- classroom: autoplay, presenter mode, quiz, what-ifs, training ---------------------------

    def action_autoplay(self) -> None:
        if self.player is not None:
            self.stop_autoplay()
        elif self.debugger is not None and not self.debugger.stepper.at_end:
            self.player = self.set_interval(self.pace, self.autoplay_tick)
            self.notify(f"autoplay: a step every {self.pace:g} s (+/- to change, p to pause)")

    def stop_autoplay(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.player = None

    def autoplay_tick(self) -> None:
        """One autoplay step; pause at a breakpoint and at the end of each phase."""
        debugger = self.debugger
        if debugger is None or debugger.stepper.at_end:
            self.stop_autoplay()
            return
        phase = debugger.phase
        self._move(lambda d: d.next_in_quiz())
        end_of_phase = debugger.position == debugger.phase_bounds(phase)[1]
        if end_of_phase or debugger.current_node in debugger.breakpoints or debugger.hidden:
            self.stop_autoplay()

    def action_pace(self, factor: float) -> None:
        low, high = self.PACE_LIMITS
        self.pace = min(max(self.pace * factor, low), high)
        if self.player is not None:
            self.stop_autoplay()
            self.action_autoplay()
        else:
            self.notify(f"autoplay pace: a step every {self.pace:g} s")

    def action_present(self) -> None:
        self.toggle_class("-present")

    def action_quiz(self) -> None:
        self.quiz = not self.quiz
        if self.debugger is not None:
            self.debugger.quiz = self.quiz
            self.refresh_view(moved=False)
        self.notify("quiz mode " + ("on: each gradient is asked before it is shown"
                                    if self.quiz else "off"))

    def action_answer(self) -> None:
        question = self.debugger.question if self.debugger else None
        if question is None or question.answer is None:
            return

        def graded(text: str | None) -> None:
            if text is not None and text.strip():
                right, message = explain.grade(text, question.answer)
                self.notify(message, severity="information" if right else "warning")
                self._move(lambda d: d.reveal())

        self.app.push_screen(PromptScreen("Your answer", "a number; checked to 1%"), graded)

    def action_what_if(self) -> None:
        debugger = self.debugger
        if debugger is None or not debugger.latest:
            return
        node = debugger.trace.nodes[debugger.selected]
        if node.inputs:
            value = f"lr = {debugger.network.optimizer.lr:g}"
        else:
            value = f"{node.name} = {explain.literal(node.value)}"
        self.app.push_screen(PromptScreen(
            "What if…", "NAME = VALUE for a parameter or input (arrays as [..]), or lr = VALUE; "
            "the passes re-run from this iteration's start", value), self._what_if)

    def _what_if(self, text: str | None) -> None:
        if not text:
            return
        try:
            name, value = explain.parse_assignment(text)
            values, lr = ({}, value) if name == "lr" else ({name: value}, None)
            before = self.debugger.what_if(values, lr)
        except (KeyError, ValueError, TypeError) as exc:
            self.notify(str(exc).strip("'\""), title="what-if", severity="error", markup=False)
            return
        except Exception as exc:  # the user's network code may raise anything
            self.app.show_error(str(exc))
            return
        self.query_one(StepList).show(self.debugger)
        self.query_one(TrainingPanel).show(self.debugger)
        self.refresh_view(moved=False)
        self.run_diagnosis()
        after = self.debugger.cycle.loss
        self.notify(f"{text}: loss {explain.number(before, 6)} → {explain.number(after, 6)}",
                    title="what-if", markup=False)

    def action_train(self) -> None:
        if self.debugger is not None:
            self.app.push_screen(PromptScreen("Train how many iterations?", "1 to 10000", "50"),
                                 self._train)

    def _train(self, text: str | None) -> None:
        try:
            iterations = int(text or "")
        except ValueError:
            return
        if 1 <= iterations <= 10_000:
            self.run_training(iterations)

    @work(thread=True, exclusive=True, group="prepare")
    def run_training(self, iterations: int) -> None:
        try:
            self.debugger.train(iterations)
        except Exception as exc:  # the user's network code may raise anything
            self.app.call_from_thread(self.app.show_error, str(exc))
        self.app.call_from_thread(self.iterations_changed)

    def iterations_changed(self) -> None:
        self.query_one(StepList).show(self.debugger)
        self.query_one(TrainingPanel).show(self.debugger)
        self.query_one(TabbedContent).active = "training-tab"
        self.refresh_view(moved=False)
        self.run_diagnosis()

    def action_iteration(self, delta: int) -> None:
        if self.debugger is not None:
            self.view_iteration(self.debugger.viewing + delta)

    def view_iteration(self, index: int) -> None:
        try:
            self.debugger.view(index)
        except ValueError as exc:  # its records were let go
            self.notify(str(exc), markup=False, severity="warning")
            return
        self.iterations_changed()

    def action_screenshot(self) -> None:
        self.app.screenshot()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.BINDINGS))

    def action_open(self) -> None:
        self.app.open_picker()

    # --- events from the widgets ---------------------------------------------------------------

    def on_graph_view_node_clicked(self, message: GraphView.NodeClicked) -> None:
        self.select(message.node)

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        if message.option_list.id == "findings":
            finding = self.debugger.findings[message.option_index]
            self._move(lambda d: d.go_to_finding(finding))
            self.query_one(GraphView).follow(self.debugger.selected)

    def on_iteration_list_chosen(self, message: IterationList.Chosen) -> None:
        self.view_iteration(message.index)

    def on_step_list_chosen(self, message: StepList.Chosen) -> None:
        self._move(lambda d: d.goto(message.index))
        self.query_one(GraphView).focus()
