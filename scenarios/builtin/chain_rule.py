"""The smallest fork: f = x·y + x. The input x feeds two places, so its gradient is a sum."""

from tracer import param

TITLE = "The chain rule at a fork"
DESCRIPTION = (
    "The smallest circuit where one value feeds two places: f = x·y + x. The gradient reaching x "
    "is the sum of what each path sends back, y from the product and 1 from the sum, so "
    "df/dx = y + 1 = -2 + 1 = -1. Gradient descent here minimises f itself."
)
LR = 0.1

x = param(3.0, name="x")
y = param(-2.0, name="y")


def forward():
    xy = x * y
    xy.name = "xy"
    f = xy + x
    f.name = "f"
    return f


def story(trace):
    x_node, y_node = trace.find("x"), trace.find("y")
    return (f"f = {trace.loss:g}; df/dx = {x_node.grad.item():g}, the sum of "
            f"y = {y_node.value.item():g} (through xy) and 1 (straight into f)")
