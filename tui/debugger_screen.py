"""The main screen: graph, inspector, steps and parameters, driven by the debugger's keys."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, LoadingIndicator, OptionList, Static, TabbedContent, TabPane

from tracer import Network

from .find_screen import FindScreen
from .graph_layout import Layout
from .graph_view import CHIPS, FULL, GraphView, compute_layout, nearest_box
from .help_screen import HelpScreen
from .inspector import Inspector
from .params_panel import ParamsPanel
from .state import Debugger
from .status_bar import StatusBar
from .step_list import StepList

# The legend names the graph's component classes, so it shows exactly the colours in use.
LEGEND = (("current", "graph--current"), ("done", "graph--done"), ("pending", "graph--pending"),
          ("param", "graph--param"), ("input/const", "graph--input"), ("loss", "graph--loss"),
          ("── flow now", "graph--edge-active"), ("● breakpoint", "graph--breakpoint"))


class DebuggerScreen(Screen):
    """Step through one network's forward pass, backward pass and update."""

    CSS_PATH = "debugger_screen.tcss"

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
        Binding("e", "expand", "Expand arrays", show=False),
        Binding("o", "open", "Open…", show=False),
        Binding("question_mark", "help", "Help"),
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
        "update": lambda d: d.can_update,
        "rerun": lambda d: d.update_applied,
    }

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network
        self.debugger: Debugger | None = None
        self.layouts: dict[str, Layout] = {}
        self.zoom = FULL
        self.full_arrays = False
        self._available: tuple[bool, ...] = ()

    def compose(self) -> ComposeResult:
        yield StatusBar(" gradstep │ tracing…", id="status")
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
        yield LoadingIndicator(id="loading")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#main").display = False
        self.prepare()

    # --- preparing (off the UI thread: tracing and laying out a big graph take a while) -------

    @work(thread=True, exclusive=True, group="prepare")
    def prepare(self, next_cycle: bool = False) -> None:
        try:
            debugger = self.debugger or Debugger(self.network)
            if next_cycle:
                debugger.next_iteration()
            layout = self.layouts.get(self.zoom)
            if layout is None or len(layout.boxes) != len(debugger.trace.nodes):
                self.layouts = {}
                layout = compute_layout(debugger, self.zoom)
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
        self.query_one(GraphView).focus()
        self.refresh_view(moved=False)

    def failed(self, exc: Exception) -> None:
        self.query_one("#loading").display = False
        self.query_one(StatusBar).update(f" gradstep │ could not run {self.network.name}")
        self.app.show_error(str(exc))

    # --- keeping every panel in step -----------------------------------------------------------

    def refresh_view(self, moved: bool = True) -> None:
        debugger = self.debugger
        self.query_one(StatusBar).show(debugger)
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
        self._move(lambda d: d.step(1))

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
        layout = self.layouts.get(self.zoom)
        if self.debugger is None or layout is None:
            return
        node = nearest_box(layout.boxes, self.debugger.selected, direction)
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

    def action_expand(self) -> None:
        self.full_arrays = not self.full_arrays
        if self.debugger is not None:
            self.query_one(Inspector).show(self.debugger, self.full_arrays)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.BINDINGS))

    def action_open(self) -> None:
        self.app.open_picker()

    # --- events from the widgets ---------------------------------------------------------------

    def on_graph_view_node_clicked(self, message: GraphView.NodeClicked) -> None:
        self.select(message.node)

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        if message.option_list.id == "steps":
            self._move(lambda d: d.goto(message.option_index))
            self.query_one(GraphView).focus()
