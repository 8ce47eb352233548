"""The gradstep app: a scenario picker and the debugger screen, nothing more.

Everything shown comes from the tracer's records; this module only decides which screen shows.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.screen import Screen

from scenarios import catalog
from scenarios.loader import LoadError, load
from tracer import Network

from .debugger_screen import DebuggerScreen
from .help_screen import HelpScreen
from .picker_screen import PickerScreen
from .themes import PROJECTOR_DARK, PROJECTOR_LIGHT, THEMES


class GradstepApp(App):
    """Step through backpropagation. Opens on ``network``, or on the picker when it is None."""

    TITLE = "gradstep"
    CSS_PATH = "app.tcss"

    def __init__(self, network: Network | None = None, *, present: bool = False,
                 quiz: bool = False) -> None:
        super().__init__()
        self.network = network
        self.present, self.quiz = present, quiz

    def on_mount(self) -> None:
        for theme in THEMES:
            self.register_theme(theme)
        if self.present:
            self.theme = PROJECTOR_LIGHT.name
        self.push_screen(PickerScreen())
        if self.network is not None:
            self.push_screen(self.debugger_screen(self.network))

    def debugger_screen(self, network: Network) -> DebuggerScreen:
        return DebuggerScreen(network, quiz=self.quiz, present=self.present)

    def open_target(self, target: str) -> str | None:
        """Load a scenario name or file and open the debugger on it; return the error, if any."""
        try:
            network = load(target)
        except LoadError as exc:
            self.show_error(str(exc))
            return str(exc)
        if isinstance(self.screen, DebuggerScreen):
            self.pop_screen()
        self.push_screen(self.debugger_screen(network))
        return None

    def open_picker(self) -> None:
        while isinstance(self.screen, DebuggerScreen):
            self.pop_screen()

    def show_error(self, message: str) -> None:
        self.notify(message, title="could not open", severity="error", timeout=12, markup=False)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(DebuggerScreen.BINDINGS))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for s in catalog():
            yield SystemCommand(f"Scenario: {s.name}", s.title,
                                lambda name=s.name: self.open_target(name))
        yield SystemCommand("Open a file or scenario…", "Back to the scenario picker",
                            self.open_picker)
        if isinstance(screen, DebuggerScreen) and screen.debugger is not None:
            yield SystemCommand("Presenter mode", "Graph and narration only, large (P)",
                                screen.action_present)
            yield SystemCommand("Projector theme, light", "High contrast for a projector",
                                lambda: setattr(self, "theme", PROJECTOR_LIGHT.name))
            yield SystemCommand("Projector theme, dark", "High contrast, dark",
                                lambda: setattr(self, "theme", PROJECTOR_DARK.name))
            yield SystemCommand("Quiz mode", "Ask each gradient before revealing it",
                                screen.action_quiz)
            yield SystemCommand("What if…", "Change a parameter, an input or the learning "
                                "rate and re-run (w)", screen.action_what_if)
            yield SystemCommand("Train N iterations", "Run more iterations and plot the loss (t)",
                                screen.action_train)
            yield SystemCommand("Toggle zoom", "Full boxes or one-line chips", screen.action_zoom)
            for name, label in (("nonfinite", "the first NaN or infinite value or gradient"),
                                ("gradient", "a gradient whose size is above a threshold…"),
                                ("gradcheck", "a node whose backward fails the gradient check"),
                                ("dead", "a dead ReLU unit")):
                yield SystemCommand(f"Break on {label}", "a conditional breakpoint for c and C",
                                    lambda name=name: screen.action_break_on(name))
            yield SystemCommand("Clear conditional breakpoints", "c and C stop only at nodes",
                                screen.action_clear_conditions)
            yield SystemCommand("Diagnostics", "What check found, and where: the Diagnostics tab "
                                "(d)", screen.action_diagnostics)
            yield SystemCommand("Diagnose this graph", "non-finite values, vanishing and "
                                "exploding gradients, dead units, per-node gradient checks",
                                lambda: screen.run_diagnosis(asked=True))
            yield SystemCommand("Check every parameter's gradient",
                                "against finite differences of the whole loss (re-runs the "
                                "network; slow on big ones)",
                                lambda: screen.run_diagnosis(whole_network=True))
            yield SystemCommand("Collapse or open the selected group",
                                "A layer or neuron as one box, or opened up (x)",
                                screen.action_collapse)
            yield SystemCommand("Collapse or open all groups",
                                "Every layer and neuron as one box, or all opened (X)",
                                screen.action_collapse_all)
            yield SystemCommand("Neighbourhood view", "Only the nodes a few hops from the "
                                "current one (v; < and > for fewer or more hops)",
                                screen.action_neighbourhood)
            yield SystemCommand("Toggle minimap", "An overview of the whole graph with the "
                                "window marked (m)", screen.action_minimap)
            yield SystemCommand("Expand arrays", "Show large arrays in full in the inspector",
                                screen.action_expand)
            # Typing a name lists the matching nodes (tui/node_commands.py).
            yield SystemCommand("Go to node…", "Type part of its name here, or press / to find "
                                "it", screen.action_find)


def run_app(network: Network | None = None, *, present: bool = False, quiz: bool = False) -> None:
    """Open the debugger on ``network``, or on the scenario picker when it is ``None``.

    ``present`` starts in presenter mode with the projector theme; ``quiz`` asks for each
    backward step's gradient before revealing it.
    """
    GradstepApp(network, present=present, quiz=quiz).run()
