"""The scenario picker: the built-in scenarios with what each teaches, or a file to open."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from scenarios import catalog


def scenario_prompt(name: str, title: str) -> Text:
    """One line per scenario, so that a small terminal still lists many; the highlighted one's
    description shows under the list."""
    text = Text()
    text.append(f"{name:<18}", "bold")
    text.append(title)
    return text


class PickerScreen(Screen):
    """Choose a built-in scenario (Enter), or type a network file's path and press Enter."""

    CSS_PATH = "picker_screen.tcss"
    BINDINGS = [
        Binding("o", "focus_path", "Open a file…"),
        Binding("escape", "focus_list", "Back to the list", show=False),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static("gradstep — step through backpropagation, one node at a time",
                         id="picker-title", markup=False)
            yield Static("Pick a scenario to explore, or open your own network file (.py or "
                         ".toml).", id="picker-hint", markup=False)
            yield OptionList(*(Option(scenario_prompt(s.name, s.title), id=s.name)
                               for s in catalog()), id="scenario-list")
            yield Static("", id="picker-description", markup=False)
            yield Input(placeholder="open a file: path/to/network.py or .toml, then Enter",
                        id="path-input")
            yield Static("", id="picker-error", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#scenario-list", OptionList).focus()

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
        error = self.app.open_target(target)
        self.query_one("#picker-error", Static).update(error or "")

    def action_focus_path(self) -> None:
        self.query_one("#path-input", Input).focus()

    def action_focus_list(self) -> None:
        self.query_one("#scenario-list", OptionList).focus()
