"""The built-in scenarios, each a network file in the same format users write.

The loader runs them with a fresh namespace each time (never imported as modules), so every
load starts from the published initial weights.
"""
