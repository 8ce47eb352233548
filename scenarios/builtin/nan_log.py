"""NaN from a hand-written loss: binary cross-entropy taking ln(0).

The classifier is right, and very sure, about its last example: the score is 38, the sigmoid
rounds to exactly 1.0, and the naive loss computes (1 − y)·ln(1 − p) = 0·ln(0) = 0·(−∞) = NaN.
"""

from tracer import Tensor, param

TITLE = "NaN loss: a hand-written cross-entropy takes ln(0)"
DESCRIPTION = (
    "A logistic classifier whose binary cross-entropy is written out by hand as "
    "−mean(y·ln p + (1−y)·ln(1−p)). It is right and very sure about the last example: its score "
    "is 38, the sigmoid rounds to exactly 1, ln(1−p) = ln 0 = −∞ and 0·(−∞) makes the loss and "
    "the weights' gradients NaN. `gradstep check` points at log_not_p; the fix is tracer's "
    "bce_with_logits on the score (or bce on p), which never takes ln 0."
)
LR = 0.1

X = Tensor([[0.5, 1.0], [1.0, 0.5], [2.0, 1.5], [10.0, 7.0]], name="X")
y = Tensor([0.0, 0.0, 1.0, 1.0], name="y")
w = param([2.0, 3.0], name="w")
b = param(-3.0, name="b")


def forward():
    xw = X @ w
    xw.name = "Xw"
    score = xw + b
    score.name = "score"
    p = score.sigmoid()
    p.name = "p"
    log_p = p.log()
    log_p.name = "log_p"
    not_p = 1 - p
    not_p.name = "not_p"
    log_not_p = not_p.log()
    log_not_p.name = "log_not_p"
    not_y = 1 - y
    not_y.name = "not_y"
    yes = y * log_p
    yes.name = "y·log_p"
    no = not_y * log_not_p
    no.name = "not_y·log_not_p"
    total = yes + no
    total.name = "log_likelihood"
    mean = total.mean()
    mean.name = "mean_log_likelihood"
    loss = -mean
    loss.name = "loss"
    return loss


def story(trace):
    p = trace.find("p").value
    return (f"p = [{', '.join(f'{v:.4g}' for v in p)}] for labels [0, 0, 1, 1]; the loss is "
            f"{trace.loss:g}")
