"""How long a narration takes to read aloud or silently: autoplay waits that long per step."""

from __future__ import annotations

WORDS_PER_SECOND = 3.0  # reading a formula-heavy sentence to a class: about 180 words a minute
SHORTEST = 1.0  # seconds; a step of a few words still gets a beat


def reading_seconds(text: str) -> float:
    """Seconds to read ``text`` at :data:`WORDS_PER_SECOND`, at least :data:`SHORTEST`."""
    return max(SHORTEST, len(text.split()) / WORDS_PER_SECOND)
