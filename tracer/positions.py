"""Positions in an array said in words: where a max won, which window element a pool picked."""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def position_list(mask: Array, limit: int = 6) -> str:
    """The positions where ``mask`` is true: ``"index 2"``, ``"(0, 1) and (2, 3)"``, or, past
    ``limit`` of them, ``"24 positions"``."""
    where = np.argwhere(np.asarray(mask))
    if len(where) > limit:
        return f"{len(where)} positions"
    if mask.ndim == 0:
        return "the only element"
    cells = [str(int(w[0])) if mask.ndim == 1 else str(tuple(int(i) for i in w)) for w in where]
    if mask.ndim == 1 and len(cells) == 1:
        return f"index {cells[0]}"
    return " and ".join([", ".join(cells[:-1]), cells[-1]]) if len(cells) > 1 else cells[0]
