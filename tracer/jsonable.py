"""Numbers and arrays as JSON values, for ``trace --json`` and ``check --json`` alike.

Non-finite numbers (NaN, ±infinity) cannot be JSON numbers: they are written as the strings
``"nan"``, ``"inf"`` and ``"-inf"``, so the output is always valid JSON.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """Numbers and arrays as JSON values: nested lists, non-finite numbers as strings."""
    if isinstance(value, np.ndarray | np.generic):
        value = value.tolist()
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
