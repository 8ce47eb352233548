"""A complete gradstep network file: one sigmoid neuron that predicts passing an exam.

    gradstep trace examples/neuron.py      the cycle as a readable handout
    gradstep examples/neuron.py            step through it in the debugger
"""

from tracer import Tensor, bce, param

TITLE = "Pass or fail: one sigmoid neuron"
DESCRIPTION = (
    "Hours studied and hours slept predict whether a student passes. The neuron starts out "
    "unsure about everyone; binary cross-entropy's gradient says which weight to raise."
)
LR = 0.5             # learning rate (default 0.1)
OPTIMIZER = "sgd"    # "sgd" (default), "momentum" or "adam"

# Data: one row per student (hours studied, hours slept), and whether each passed.
hours = Tensor([[1.0, 8.0], [2.0, 5.0], [5.0, 7.0], [6.0, 4.0]], name="hours")
passed = Tensor([0.0, 0.0, 1.0, 1.0], name="passed")

# Parameters: module-level, so their values carry over from one update to the next.
w = param([0.1, 0.1], name="w")
b = param(-1.0, name="b")


def forward():
    """Build the graph from the current parameter values; return the scalar to backprop from."""
    weighted = hours @ w
    weighted.name = "weighted"      # names make the debugger readable
    score = weighted + b
    score.name = "score"
    p_pass = score.sigmoid()
    p_pass.name = "p_pass"
    loss = bce(p_pass, passed)
    loss.name = "loss"
    return loss


def story(trace):
    """Optional: words about the prediction, shown beside the loss."""
    chances = ", ".join(f"{p:.0%}" for p in trace.find("p_pass").value)
    return f"P(pass) = {chances} for students who failed, failed, passed, passed"
