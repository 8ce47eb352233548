"""The 5×5 digits the digit scenarios draw: a 4 and a 9, in ``#`` (ink) and ``.`` (paper)."""

from __future__ import annotations

import numpy as np

FOUR = """
#...#
#...#
#####
....#
....#
"""
NINE = """
#####
#...#
#####
....#
#####
"""


def ink(drawing: str) -> np.ndarray:
    """Where a drawing has ink: a 5×5 boolean array."""
    return np.array([[c == "#" for c in row] for row in drawing.split()])
