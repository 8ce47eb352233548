"""Built-in scenarios and the loader for network files (Python or TOML).

>>> from scenarios import catalog, load
>>> [s.name for s in catalog()][:3]
['chain-rule', 'micrograd-neuron', 'mazur']
>>> network = load("mazur")          # or load("path/to/net.py"), load("net.toml")
>>> round(network.loss(), 9)
0.298371109
"""

from .catalog import BUILTIN_NAMES, ScenarioInfo, catalog
from .errors import LoadError
from .loader import NODE_LIMIT, load, load_file

__all__ = ["BUILTIN_NAMES", "NODE_LIMIT", "LoadError", "ScenarioInfo", "catalog", "load",
           "load_file"]
