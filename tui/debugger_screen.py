"""The main screen: graph, inspector, steps and parameters, driven by the debugger's keys."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import LoadingIndicator, Static, TabbedContent, TabPane

from tracer import Cycle, Network

from .classroom import ClassroomActions
from .diagnosis_actions import DiagnosisActions
from .diagnostics_panel import DiagnosticsPanel
from .find_screen import FindScreen
from .graph_layout import Layout
from .graph_view import GraphView, compute_layout
from .help_screen import HelpScreen
from .inspector import Inspector
from .iteration_list import IterationList
from .key_bar import KeyBar
from .narration_bar import NarrationBar
from .node_commands import NodeCommands
from .panel import DebuggerPanel
from .params_panel import ParamsPanel
from .presenter_views import VIEWS, PresenterViews
from .quiz import Quiz
from .state import Debugger
from .status_bar import StatusBar
from .step_list import StepList
from .training_actions import BUSY_WHILE_TRAINING, TrainingActions
from .training_panel import TrainingPanel
from .views import FIT, ZOOM_NAMES, ZOOMS

# The legend names the graph's component classes, so it shows exactly the colours in use.
LEGEND = (("current", "graph--current"), ("done", "graph--done"), ("pending", "graph--pending"),
          ("param", "graph--param"), ("input/const", "graph--input"), ("loss", "graph--loss"),
          ("── flow now", "graph--edge-active"), ("● breakpoint", "graph--breakpoint"))


class DebuggerScreen(ClassroomActions, DiagnosisActions, TrainingActions, Screen):
    """Step through one network's forward pass, backward pass and update.

    The screen routes events and nothing else: a key or a panel's message changes the
    :class:`~tui.state.Debugger`, then :meth:`moved` (the cursor, selection or breakpoints
    changed) or :meth:`cycle_changed` (another cycle is viewed) lets every
    :class:`~tui.panel.DebuggerPanel` redraw itself from it.
    """

    CSS_PATH = "debugger_screen.tcss"
    COMMANDS = {NodeCommands}  # "Go to node: NAME" in the command palette

    BINDINGS = [
        Binding("n,space,right", "next", "Step"),
        Binding("N,left", "back", "Back"),
        Binding("question_mark", "help", "Help"),  # early: a narrow footer still shows it
        Binding("a", "answer", "Answer"),  # (the quiz's key, shown only in a quiz) early too
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
        Binding("i", "side", "Inspector and tabs: show/hide", show=False),
        Binding("p", "autoplay", "Play/pause"),
        Binding("plus,equals_sign", "pace(0.5)", "Faster", show=False),
        Binding("minus", "pace(2)", "Slower", show=False),
        Binding("P", "present", "Presenter mode", show=False),
        Binding("U", "view('update')", "Update table (again: the graph)", show=False),
        Binding("T", "view('training')", "Loss curve (again: the graph)", show=False),
        Binding("w", "what_if", "What if…", show=False),
        Binding("t", "train", "Train N iterations", show=False),
        Binding("escape", "cancel_training", "Cancel training"),
        Binding("left_square_bracket", "iteration(-1)", "Previous iteration", show=False),
        Binding("right_square_bracket", "iteration(1)", "Next iteration", show=False),
        Binding("s", "screenshot", "Save an SVG screenshot", show=False),
        Binding("o", "open", "Open…", show=False),
        Binding("d", "diagnostics", "Diagnostics", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

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
        "answer": lambda d: d.hidden,
        "what_if": lambda d: d.latest,
        "iteration": lambda d: d.count > 1,
    }

    def __init__(self, network: Network, quiz: bool = False, present: bool = False) -> None:
        super().__init__()
        self.network = network
        self.quiz = quiz
        self.quiz_state = Quiz()
        self.set_class(present, "-present")
        self.debugger: Debugger | None = None
        self.layouts: dict[str, Layout] = {}
        self.zoom = FIT
        self._available: tuple[bool, ...] = ()
        self.training: threading.Event | None = None  # set to cancel the run going on
        self._panels: list[DebuggerPanel] = []
        self._shown_cycle: Cycle | None = None  # the cycle the panels were last told about

    def compose(self) -> ComposeResult:
        yield StatusBar(" gradstep │ tracing…", id="status")
        yield NarrationBar(id="narration")
        with Horizontal(id="main"):
            with Vertical(id="graph-column"):
                yield GraphView(id="graph")
                yield Static(id="legend")
            yield PresenterViews(id="views", initial="update")
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
        yield KeyBar()

    NARROW = 100  # columns; below this the side panel folds away (i brings it back)

    def on_mount(self) -> None:
        self.query_one("#main").display = False
        self._fold_side()
        # Where the graph will be, so that the first layout fits it (on_resize corrects it).
        self.query_one(GraphView).state.size = self._graph_size()
        self.prepare()

    def on_resize(self) -> None:
        if self.query(KeyBar):  # (not while the app closes: the widgets go before the screen)
            self._fold_side()

    def _fold_side(self) -> None:
        """Fold the side panel away in a narrow window, or where the whole graph fits with its
        numbers only without it (i brings it back either way)."""
        narrow = self.app.size.width < self.NARROW
        self.set_class(narrow or self._graph_wants_width(), "-narrow")
        self.query_one(KeyBar).compact = narrow

    def _graph_wants_width(self) -> bool:
        """The fit zoom shows every node with the window's whole width, not with the side
        panel beside it."""
        if self.debugger is None or self.zoom != FIT or self.has_class("-present"):
            return False
        state = self.query_one(GraphView).state
        return (not state.fits(self.debugger, self._graph_size(side=True))
                and state.fits(self.debugger, self._graph_size(side=False)))

    def _graph_size(self, side: bool | None = None) -> tuple[int, int]:
        """The graph's size in cells, worked out from the stylesheet's proportions: with the
        side panel as the screen shows it now, or with it shown (``side``) or not."""
        width, height = self.app.size
        present = self.has_class("-present")
        if side is None:
            side = not present and self.has_class("-narrow") == self.has_class("-side-toggled")
        side_width = min(max(2 * width // 5, 34), 64) if side else 0  # #side: 2fr, 34 to 64
        chrome = 1 + 1 + (8 if present else 3 + 1)  # status, footer, narration (and legend)
        return width - side_width, height - chrome

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
            self.from_worker(self.failed, exc)
            return
        self.from_worker(self.ready, debugger, layout)

    def from_worker(self, method: Callable[..., object], *args: object) -> None:
        """Call ``method`` on the UI thread with what a worker made, unless this screen's
        widgets are gone by then (the screen was left, or the app is closing while the worker
        ran): the result has nowhere to go, and asking for a widget would crash the app."""
        def if_present() -> None:
            if self.is_attached and all(self.query(kind) for kind in
                                        (KeyBar, GraphView, DiagnosticsPanel)):
                method(*args)
        self.app.call_from_thread(if_present)

    def ready(self, debugger: Debugger, layout: Layout) -> None:
        self.debugger = debugger
        self._fold_side()  # the graph resizes, and is laid out again, if the side panel folds
        self.layouts[self.zoom] = layout
        self.query_one("#loading").display = False
        self.query_one("#main").display = True
        graph = self.query_one(GraphView)
        graph.show(debugger, layout, self.zoom)
        legend = Text(" ")
        for label, component in LEGEND:
            legend.append(f" {label} ", graph.get_component_rich_style(component))
        self.query_one("#legend", Static).update(legend)
        self.query_one(GraphView).focus()
        self._panels = [w for w in self.walk_children() if isinstance(w, DebuggerPanel)]
        if debugger.cycle is self._shown_cycle:  # only laid out again (zoom): not re-diagnosed
            self.moved()
        else:
            self.cycle_changed()

    def failed(self, exc: Exception) -> None:
        self.query_one("#loading").display = False
        self.query_one(StatusBar).update(f" gradstep │ could not run {self.network.name}")
        self.app.show_error(str(exc))

    # --- keeping every panel in step: the one refresh path -------------------------------------

    def cycle_changed(self) -> None:
        """Another cycle is viewed: every panel shows it, and it is diagnosed."""
        debugger = self.debugger
        self._shown_cycle = debugger.cycle
        for panel in self._panels:
            panel.cycle_changed(debugger)
        self._moved_on()
        self.run_diagnosis()

    def moved(self) -> None:
        """The cursor, the selection or the breakpoints changed: every panel follows."""
        debugger = self.debugger
        for panel in self._panels:
            panel.moved(debugger)
        self._moved_on()

    def _moved_on(self) -> None:
        """What the screen itself shows of the moment: the parameters tab during the update,
        and which keys apply (the footer)."""
        debugger = self.debugger
        if debugger.moment.stretch == "update":
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
        if action == "cancel_training":
            return self.training is not None
        if self.training is not None and action in BUSY_WHILE_TRAINING:
            return None
        if action == "answer" and not self.quiz:
            return False  # the quiz's key shows in the footer only in a quiz
        available = self._AVAILABLE.get(action)
        return True if available is None or available(self.debugger) else None

    def _move(self, change) -> None:
        if self.debugger is not None:
            change(self.debugger)
            self.moved()

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
            self.notify(f"breakpoint {'set on' if is_set else 'removed from'} {name}",
                        markup=False)
            self.moved()

    def action_select(self, direction: str) -> None:
        if self.debugger is None:
            return
        node = self.query_one(GraphView).neighbour(direction)
        if node is not None:
            self.select(node)

    def select(self, node: int) -> None:
        self.debugger.selected = node
        self.moved()

    def action_jump(self) -> None:
        """Move the cursor to the selected node's step in the current phase."""
        debugger = self.debugger
        if debugger is not None and debugger.current_node is not None:
            position = debugger.position_of(debugger.phase, debugger.selected)
            if position is not None:
                self._move(lambda d: d.goto(position))

    def action_find(self) -> None:
        if self.debugger is not None:
            self.app.push_screen(FindScreen(self.debugger), self._found)

    def _found(self, node: int | None) -> None:
        if node is not None:
            self.select(node)

    def action_zoom(self) -> None:
        if self.debugger is not None:
            self.zoom = ZOOMS[(ZOOMS.index(self.zoom) + 1) % len(ZOOMS)]
            self.notify(f"zoom: {ZOOM_NAMES[self.zoom]} (z for the next)", markup=False)
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

    def action_side(self) -> None:
        self.toggle_class("-side-toggled")

    def action_view(self, name: str) -> None:
        """Show the update table or the loss curve in the graph's place; again, the graph."""
        views = self.query_one(PresenterViews)
        showing = self.has_class("-view") and views.current == name
        self.set_class(not showing, "-view")
        views.current = name
        if self.debugger is not None:
            views.moved(self.debugger)
        self.notify("the graph" if showing else f"{VIEWS[name]} ({name[0].upper()} again: "
                    "the graph)", markup=False)

    def action_expand(self) -> None:
        inspector = self.query_one(Inspector)
        inspector.full = not inspector.full
        if self.debugger is not None:
            inspector.moved(self.debugger)

    def action_screenshot(self) -> None:
        self.app.screenshot()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.BINDINGS))

    def action_open(self) -> None:
        self.app.open_picker()

    # --- messages from the panels -------------------------------------------------------------

    @on(GraphView.NodeClicked)
    def _node_clicked(self, message: GraphView.NodeClicked) -> None:
        self.select(message.node)

    @on(DiagnosticsPanel.FindingChosen)
    def _finding_chosen(self, message: DiagnosticsPanel.FindingChosen) -> None:
        self._move(lambda d: d.go_to_finding(message.finding))
        self.query_one(GraphView).follow(self.debugger.selected)

    @on(IterationList.Chosen)
    def _iteration_chosen(self, message: IterationList.Chosen) -> None:
        self.view_iteration(message.index)

    @on(StepList.Chosen)
    def _step_chosen(self, message: StepList.Chosen) -> None:
        self._move(lambda d: d.goto(message.index))
        self.query_one(GraphView).focus()
