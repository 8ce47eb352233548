"""The command palette's "Go to node: NAME" entries.

The palette builds, sorts and lists every hit its providers give, at each keystroke. A hit per
node was a third of a second per key on a graph of 5,000 nodes, and over a second to open the
palette (every node was listed before anything was typed). This provider lists no node until a
name is typed, then only the best :attr:`NodeCommands.MAX_HITS` matches.
"""

from __future__ import annotations

from functools import partial

from textual.command import Hit, Hits, Provider
from textual.content import Content


class NodeCommands(Provider):
    """Go to a node of the debugger screen's graph by name (:meth:`~tui.state.Debugger.find`).

    The app's own "Go to node…" command says so before anything is typed.
    """

    MAX_HITS = 20

    async def search(self, query: str) -> Hits:
        screen = self.screen
        debugger = getattr(screen, "debugger", None)
        if debugger is None:
            return
        found = debugger.find(query)
        nodes = debugger.trace.nodes
        for rank, k in enumerate(found[:self.MAX_HITS]):
            node = nodes[k]
            yield Hit(1.0 - rank / (2 * self.MAX_HITS), self._display(node.name, query),
                      partial(screen.select, k), text=f"Go to node: {node.name}",
                      help=f"{node.op}, shape {node.shape}")
        if len(found) > self.MAX_HITS:
            more = len(found) - self.MAX_HITS
            yield Hit(0.5, Content(f"Go to node: {more:,} more match, type more of the name"),
                      screen.action_find, help="or press / to find a node")

    def _display(self, name: str, query: str) -> Content:
        """``Go to node: NAME`` with the part of the name that matched highlighted."""
        prefix = "Go to node: "
        content = Content(prefix + name)  # a name is never read as markup
        style = self.match_style or "reverse"
        query = query.strip().lower()
        start = name.lower().find(query)
        if start >= 0:
            return content.stylize(style, len(prefix) + start, len(prefix) + start + len(query))
        at = 0
        for letter in query:  # its letters in order (Debugger.find matched them so)
            at = name.lower().index(letter, at)
            content = content.stylize(style, len(prefix) + at, len(prefix) + at + 1)
            at += 1
        return content
