"""How big an array may be to be shown a given way: every size threshold of the displayed text.

One place, so that the inspector, the narration, the handouts and the Jacobians agree on what
"small" means.
"""

from __future__ import annotations

# Explicit Jacobians are built only while they stay this small (output size × input size).
JACOBIAN_LIMIT = 64
# Arrays with at most this many elements are shown in full in the inspector (else a summary).
SMALL = 16
# Arrays with at most this many elements are written out in a sentence or a one-line value.
SHORT = 6
# Arrays with at most this many elements are written inside an equation.
INLINE = 4
# A loss is written with this many significant digits: enough to see one small step's change.
LOSS_DIGITS = 6
