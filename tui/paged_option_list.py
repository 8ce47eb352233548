"""``PagedOptionList``: Textual's OptionList, with PageUp and PageDown safe at any height."""

from __future__ import annotations

from textual.widgets import OptionList


class PagedOptionList(OptionList):
    """An :class:`~textual.widgets.OptionList` whose PageUp/PageDown never crash.

    Textual 8's ``OptionList`` lays its options out into lines only when it has room to show
    them; in a terminal of 13 rows or fewer the list may have none, and paging then raises
    ``KeyError`` inside ``_move_page``. With no lines laid out a page is one option.
    """

    def _move_page(self, direction: int) -> None:
        try:
            super()._move_page(direction)
        except (KeyError, IndexError):
            if direction > 0:
                self.action_cursor_down()
            else:
                self.action_cursor_up()
