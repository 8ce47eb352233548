"""The gradstep app: a scenario picker and the debugger screen, nothing more.

Everything shown comes from the tracer's records; this module only decides which screen shows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import threading
from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.screen import Screen

from scenarios import catalog
from scenarios.catalog import find_builtin
from scenarios.errors import exception_text
from scenarios.loader import LoadError, load
from scenarios.time_limit import timeout
from tracer import Network
from tracer.printable import printable

from .debugger_screen import DebuggerScreen
from .help_screen import HelpScreen
from .picker_screen import PickerScreen
from .themes import PROJECTOR_DARK, PROJECTOR_LIGHT, THEMES

STUCK_GRACE = 3.0  # seconds past the time limit before a load is given up as unstoppable


def stuck_message(target: str) -> str:
    return (f"{printable(target)}: still running after {timeout():g} seconds and gradstep could "
            f"not stop it (it is blocked inside a call such as a long sleep). It is left "
            f"behind; fix the file, or quit with q.")


NOT_SERVED = ("This debugger is served to visitors: it opens the built-in scenarios and the "
              "files it was started with, nothing else. Pick one from the list.")


class GradstepApp(App):
    """Step through backpropagation. Opens on ``network``, or on the picker when it is None."""

    TITLE = "gradstep"
    CSS_PATH = "app.tcss"

    def __init__(self, network: Network | None = None, *, present: bool = False,
                 quiz: bool = False, served: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.network = network
        self.present, self.quiz = present, quiz
        # A visitor's session under `gradstep serve`: only the built-ins and these files open,
        # and nothing is written to the server's disk. None: a session of the user's own.
        self.served = served

    def on_mount(self) -> None:
        for theme in THEMES:
            self.register_theme(theme)
        if self.present:
            self.theme = PROJECTOR_LIGHT.name
        self.push_screen(PickerScreen(self.served))
        if self.network is not None:
            self.push_screen(self.debugger_screen(self.network))

    def debugger_screen(self, network: Network) -> DebuggerScreen:
        return DebuggerScreen(network, quiz=self.quiz, present=self.present)

    def open_target(self, target: str) -> None:
        """Load a scenario name or file in a worker, then open the debugger on it.

        The network file's code runs off the UI thread (under its time limit), so the app stays
        responsive, and can be quit, while it runs. A failure is shown on the picker and as a
        notification. In a served session only the built-ins and the served files open.
        """
        if self.served is not None and find_builtin(target) is None and target not in self.served:
            self.load_failed(NOT_SERVED)
            return
        self.run_worker(self._load(target), group="load", exclusive=True, exit_on_error=False)

    async def _load(self, target: str) -> None:
        # A daemon thread rather than a thread worker: a file stuck inside a C call (a long
        # sleep) past its time limit cannot be stopped, and must not keep the app from quitting.
        done: concurrent.futures.Future[Network] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(load(target))
            except BaseException as exc:  # handed over to the UI thread
                done.set_exception(exc)

        threading.Thread(target=run, name="gradstep-load", daemon=True).start()
        try:
            network = await asyncio.wait_for(asyncio.wrap_future(done), timeout() + STUCK_GRACE)
        except LoadError as exc:
            self.load_failed(str(exc))
        except TimeoutError:
            self.load_failed(stuck_message(target))
        except Exception as exc:  # gradstep's own failure: shown, never a crashed app
            self.load_failed(f"gradstep could not open {printable(target)}: "
                             f"{type(exc).__name__}: {exception_text(exc)}")
        else:
            self.show_network(network)

    def show_network(self, network: Network) -> None:
        if isinstance(self.screen, DebuggerScreen):
            self.pop_screen()
        self.push_screen(self.debugger_screen(network))

    def load_failed(self, message: str) -> None:
        self.show_error(message)
        if isinstance(self.screen, PickerScreen):
            self.screen.show_error(message)

    def screenshot(self) -> None:
        """Save an SVG screenshot: in the working directory, or, in a served session, as a
        download in the visitor's browser (nothing is written to the server's disk)."""
        if self.served is not None:
            svg = self.export_screenshot()
            self.deliver_text(io.StringIO(svg), save_filename="gradstep.svg",
                              mime_type="image/svg+xml")
            return
        try:
            path = self.save_screenshot()
        except OSError as exc:
            self.notify(f"could not save the screenshot here: {exc.strerror or exc}. Start "
                        f"gradstep in a folder you can write to.", severity="error", markup=False)
            return
        self.notify(f"saved {printable(path)}", markup=False)

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


def run_app(network: Network | None = None, *, present: bool = False, quiz: bool = False,
            served: tuple[str, ...] | None = None) -> int:
    """Open the debugger on ``network``, or on the scenario picker when it is ``None``; return
    the app's exit status (1 if it ended on an error), which the process exits with.

    ``present`` starts in presenter mode with the projector theme; ``quiz`` asks for each
    backward step's gradient before revealing it; ``served`` makes it a visitor's session of
    ``gradstep serve`` that opens only the built-ins and these files.
    """
    app = GradstepApp(network, present=present, quiz=quiz, served=served)
    app.run()
    return app.return_code or 0
