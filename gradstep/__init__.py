"""gradstep: a terminal step-through debugger for backpropagation (the command-line front end).

The engine is :mod:`tracer`, the built-in scenarios and the network-file loader are
:mod:`scenarios`, and the interactive debugger is :mod:`tui`.
"""

from importlib import metadata

try:
    __version__ = metadata.version("gradstep")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
