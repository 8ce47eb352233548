"""gradstep's engine: record a network's forward pass, step its backward pass, update weights.

>>> from tracer import Tensor, param
>>> w = param([0.5, -0.25], name="w")
>>> x = Tensor([1.0, 2.0], name="x")
>>> loss = (w * x).sum().tanh()     # tanh(0.5 - 0.5) = tanh(0), where tanh's slope is 1
>>> t = loss.backward()
>>> w.grad.tolist()                 # so ∂loss/∂w = x
[1.0, 2.0]
"""

from . import nn
from .custom import CustomOp, CustomOpError
from .diagnostics import Finding, diagnose
from .dot import to_dot
from .functional import bce, bce_with_logits, cross_entropy, mse, softmax
from .gradcheck import check_node, check_params
from .narration import narrate
from .network import Cycle, Moment, Network, NetworkError, Outcome
from .ops import OPS, Op, register
from .optim import SGD, Adam, Momentum, Optimizer, UpdateRecord, make_optimizer
from .record import BackwardStep, ForwardStep, InputGrad, Node, Trace, trace
from .stepper import Stepper
from .tensor import GraphError, Tensor, param, quiet

__all__ = [
    "OPS",
    "SGD",
    "Adam",
    "BackwardStep",
    "CustomOp",
    "CustomOpError",
    "Cycle",
    "Finding",
    "ForwardStep",
    "GraphError",
    "InputGrad",
    "Moment",
    "Momentum",
    "Network",
    "NetworkError",
    "Node",
    "Op",
    "Optimizer",
    "Outcome",
    "Stepper",
    "Tensor",
    "Trace",
    "UpdateRecord",
    "bce",
    "bce_with_logits",
    "check_node",
    "check_params",
    "cross_entropy",
    "diagnose",
    "make_optimizer",
    "mse",
    "narrate",
    "nn",
    "param",
    "quiet",
    "register",
    "softmax",
    "to_dot",
    "trace",
]
