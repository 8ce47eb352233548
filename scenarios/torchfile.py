"""PyTorch network files: a ``.py`` network file whose ``forward()`` returns a torch loss.

The protocol is the Python network file's (``TITLE``, ``DESCRIPTION``, ``story()``, ``LR``,
``OPTIMIZER``), with PyTorch's tensors: each module-level ``nn.Module`` ``VAR`` contributes its
``named_parameters()`` as ``VAR.PATH`` and each module-level leaf tensor with
``requires_grad=True`` itself, under its variable name. ``OPTIMIZER`` is a ``torch.optim``
optimizer over those parameters (or ``"sgd"``, ``"momentum"``, ``"adam"``); without one, SGD
with ``LR``. Recording happens in :mod:`tracer.torch_bridge` (the network is a
:class:`tracer.torch_network.TorchNetwork`); torch is imported only once such a file is loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from tracer import Network, Trace

from .errors import LoadError, fail, user_error
from .time_limit import user_code

INSTALL = "pip install 'gradstep[torch]'"


def uses_torch(namespace: dict[str, Any]) -> bool:
    """Whether the file's module-level names hold PyTorch tensors, modules or an optimizer
    (only asked if the file imported torch, so torch is never imported here)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    kinds = (torch.Tensor, torch.nn.Module, torch.optim.Optimizer)
    return any(isinstance(v, kinds) for k, v in namespace.items() if not k.startswith("_"))


def missing_torch(path: str, line: int | None) -> LoadError:
    """The message for a PyTorch network file opened where torch is not installed."""
    return fail(path, f"this is a PyTorch network file, and PyTorch is not installed here. "
                      f"Install it with {INSTALL} (or pip install torch) and open the file "
                      f"again.", line)


def load_torch(namespace: dict[str, Any], forward: Callable[[], Any], source: str, path: str,
               name: str, lines: dict[str, int], lr: float, **about: Any) -> Network:
    """Build the network of a PyTorch network file whose top level has run in ``namespace``.

    ``about`` holds the :class:`~tracer.Network` fields the file's metadata gave (title,
    description, prediction_text). Raises :class:`LoadError` for anything gradstep cannot record:
    tensors on a GPU, a compiled module, a non-scalar loss, a loss that reaches no parameter,
    an optimizer over other tensors.
    """
    import torch

    from tracer import torch_bridge
    from tracer.torch_network import TorchNetwork


    def error(message: str, line: int | None) -> LoadError:
        return fail(path, message + ".", line)

    def guarded() -> Any:
        try:
            with user_code(path, "inside forward()"):
                return forward()
        except (KeyboardInterrupt, torch_bridge.TorchFileError, LoadError):
            raise
        except BaseException as exc:
            raise user_error(exc, source, path, "inside forward()") from exc

    forward_line = getattr(getattr(forward, "__code__", None), "co_firstlineno", None)
    if hasattr(forward, "_torchdynamo_orig_callable"):
        raise error("forward is compiled with torch.compile; gradstep records PyTorch in eager "
                    "mode only. Remove torch.compile while debugging", forward_line)
    params: dict[str, torch.Tensor] = {}
    inputs: dict[str, torch.Tensor] = {}
    buffers: list[torch.Tensor] = []
    buffer_names: dict[int, str] = {}  # id -> VAR.PATH (model.1.running_mean)
    modules: dict[int, str] = {}
    seen: set[int] = set()
    for variable, value in namespace.items():
        if variable.startswith("_"):
            continue
        line = lines.get(variable)
        if isinstance(value, torch.nn.Module):
            if type(value).__name__ == "OptimizedModule":
                raise error(f"{variable} is compiled with torch.compile; gradstep records "
                            f"PyTorch in eager mode only. Use the module itself while "
                            f"debugging", line)
            for sub, module in value.named_modules():
                modules.setdefault(id(module), f"{variable}.{sub}" if sub else variable)
            for path_name, p in value.named_parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    params[f"{variable}.{path_name}"] = p
            buffers += value.buffers()
            for path_name, b in value.named_buffers():
                buffer_names.setdefault(id(b), f"{variable}.{path_name}")
            tensors = [*value.parameters(), *value.buffers()]
        elif isinstance(value, torch.Tensor):
            if value.requires_grad and value.is_leaf and id(value) not in seen:
                seen.add(id(value))
                params[variable] = value
            elif not value.requires_grad:
                inputs.setdefault(variable, value)
            tensors = [value]
        else:
            continue
        device = next((t.device for t in tensors if t.device.type != "cpu"), None)
        if device is not None:
            raise error(f"{variable} is on the {device} device; gradstep records PyTorch on the "
                        f"CPU. Move the model and the data to the CPU (model.cpu(), or "
                        f"device='cpu' where the tensors are made)", line)
    optimizer = _optimizer(namespace, params, lr, lines, error)
    model = torch_bridge.TorchModel(guarded, path, params, inputs, modules, forward_line,
                                    buffers, error, buffer_names=buffer_names)
    network = TorchNetwork(
        forward=model.probe, name=name, optimizer=optimizer,
        params=list(model.shells.values()), source=path, model=model, **about)
    _check_reach(network.trace(), optimizer, params, forward_line, lines, error)
    return network


def _optimizer(namespace: dict[str, Any], params: dict[str, Any], lr: float,
               lines: dict[str, int], error: Callable[[str, int | None], LoadError]) -> Any:
    import torch

    from tracer.torch_bridge import TorchOptimizer

    choice = namespace.get("OPTIMIZER", "sgd")
    line = lines.get("OPTIMIZER")
    if isinstance(choice, torch.optim.Optimizer):
        ours = {id(p) for p in params.values()}
        for group in choice.param_groups:
            for p in group["params"]:
                if id(p) not in ours:
                    raise error(f"OPTIMIZER holds a tensor of shape {tuple(p.shape)} that is not "
                                f"one of the file's parameters (a module-level nn.Module's "
                                f"parameters or a module-level tensor with requires_grad=True). "
                                f"Build it over those, e.g. torch.optim.Adam(model.parameters())",
                                line)
        return TorchOptimizer(choice, params)
    made = {"sgd": lambda ps: torch.optim.SGD(ps, lr=lr),
            "momentum": lambda ps: torch.optim.SGD(ps, lr=lr, momentum=0.9),
            "adam": lambda ps: torch.optim.Adam(ps, lr=lr)}
    if not isinstance(choice, str) or choice.lower() not in made:
        raise error(f"OPTIMIZER in a PyTorch network file must be a torch.optim optimizer over "
                    f"the file's parameters, or one of 'sgd', 'momentum', 'adam', not "
                    f"{choice!r}", line)
    if not params:
        return TorchOptimizer(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr),
                              params)
    return TorchOptimizer(made[choice.lower()](list(params.values())), params)


def _check_reach(trace: Trace, optimizer: Any, params: dict[str, Any], forward_line: int | None,
                 lines: dict[str, int], error: Callable[[str, int | None], LoadError]) -> None:
    reached = {n.name for n in trace.params}
    if not reached:
        raise error("the loss forward() returns reaches none of the file's trainable parameters "
                    "(module-level nn.Modules' parameters, module-level tensors with "
                    "requires_grad=True). Define the model at module level and use it in "
                    "forward()", forward_line)
    stepped = {id(p) for group in optimizer.torch.param_groups for p in group["params"]}
    if not any(id(params[name]) in stepped for name in reached):
        raise error("OPTIMIZER updates none of the tensors the loss depends on, so training "
                    "would change nothing. Build it over the parameters forward() uses",
                    lines.get("OPTIMIZER"))

