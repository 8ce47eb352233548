"""Projector themes for presenter mode: high contrast, light and dark."""

from __future__ import annotations

from textual.theme import Theme

PROJECTOR_LIGHT = Theme(
    name="gradstep-projector",
    primary="#0046b8",
    secondary="#005f73",
    accent="#b3005e",
    warning="#8a4b00",
    error="#c1121f",
    success="#1b6e20",
    foreground="#000000",
    background="#ffffff",
    surface="#f2f2f2",
    panel="#e0e0e0",
    dark=False,
)

PROJECTOR_DARK = Theme(
    name="gradstep-projector-dark",
    primary="#7fb3ff",
    secondary="#7fe0ff",
    accent="#ff7fbf",
    warning="#ffd166",
    error="#ff6b6b",
    success="#8be28b",
    foreground="#ffffff",
    background="#000000",
    surface="#111111",
    panel="#222222",
    dark=True,
)

THEMES = (PROJECTOR_LIGHT, PROJECTOR_DARK)
