"""The scenario picker: the built-in scenarios with what each teaches, or a file to open.

In a visitor's session of ``gradstep serve`` it lists the built-ins and the files the server
was started with, and has no box to type a path: a visitor cannot name a file on the server.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from scenarios import catalog
from tracer.printable import printable

from .key_bar import KeyBar
from .paged_option_list import PagedOptionList


def scenario_prompt(name: str, title: str) -> Text:
    """One line per scenario, so that a small terminal still lists many; the highlighted one's
    description shows under the list."""
    text = Text()
    text.append(f"{name:<18}", "bold")
    text.append(title)
    return text


class PickerScreen(Screen):
    """Choose a built-in scenario (Enter), or type a network file's path and press Enter.

    ``served``: the files a served session may open (listed after the built-ins), or ``None``
    for the user's own session, which has the path box.
    """

    CSS_PATH = "picker_screen.tcss"
    BINDINGS = [
        Binding("o", "focus_path", "Open a file…"),
        Binding("escape", "focus_list", "Back to the list", show=False),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, served: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.served = served

    def compose(self) -> ComposeResult:
        options = [Option(scenario_prompt(s.name, s.title), id=s.name) for s in catalog()]
        options += [Option(scenario_prompt(printable(Path(path).name, one_line=True),
                                           "a network file this server offers"), id=path)
                    for path in self.served or ()]
        hint = ("Pick a scenario to explore." if self.served is not None else
                "Pick a scenario to explore, or open your own network file (.py or .toml).")
        with Vertical(id="picker"):
            yield Static("gradstep — step through backpropagation, one node at a time",
                         id="picker-title", markup=False)
            yield Static(hint, id="picker-hint", markup=False)
            yield PagedOptionList(*options, id="scenario-list")
            yield Static("", id="picker-description", markup=False)
            if self.served is None:
                yield Input(placeholder="open a file: path/to/network.py or .toml, then Enter",
                            id="path-input")
            yield Static("", id="picker-error", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#scenario-list", PagedOptionList).focus()

    def on_option_list_option_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        found = [s for s in catalog() if s.name == message.option.id]
        self.query_one("#picker-description", Static).update(
            found[0].description if found else "")

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        self.open(message.option.id)

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.value.strip():
            self.open(message.value.strip())

    def open(self, target: str) -> None:
        self.show_error("")
        self.app.open_target(target)

    def show_error(self, message: str) -> None:
        self.query_one("#picker-error", Static).update(message)

    def action_focus_path(self) -> None:
        if self.served is None:
            self.query_one("#path-input", Input).focus()

    def action_focus_list(self) -> None:
        self.query_one("#scenario-list", PagedOptionList).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A served session has no path box: its "Open a file…" key is not shown.
        return not (action == "focus_path" and self.served is not None)
