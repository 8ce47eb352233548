"""Cookies too dry: backpropagate into the recipe, not the model.

The model (how much each cup of an ingredient adds to dryness, on a 0-10 scale) is fixed; the
recipe amounts are the parameters. Their gradients say which way to change the recipe.
"""

from tracer import Tensor, param

TITLE = "Drier than planned: fix the cookie recipe"
DESCRIPTION = (
    "A linear model of cookie dryness (0-10) from cups of flour, butter and sugar; the batch "
    "came out at 7 and we want 4. The model is fixed and the recipe is what gets gradients: "
    "flour's is positive (use less), butter's negative (use more), sugar's small."
)
LR = 0.02

flour = param(3.0, name="flour")
butter = param(1.0, name="butter")
sugar = param(1.5, name="sugar")

# The fixed model: dryness points per cup, and the dryness of the other ingredients.
EFFECTS = {"flour": 1.5, "butter": -2.0, "sugar": 0.4}
base = Tensor(3.9, name="base", kind="constant")
target = Tensor(4.0, name="target")


def dryness_from(cups):
    """``effect · cups``: how much dryness this many cups of the ingredient adds."""
    effect = Tensor(EFFECTS[cups.name], name=f"{cups.name}_effect", kind="constant")
    term = effect * cups
    term.name = f"from_{cups.name}"
    return term


def forward():
    with_flour = base + dryness_from(flour)
    with_flour.name = "base+flour"
    with_butter = with_flour + dryness_from(butter)
    with_butter.name = "base+flour+butter"
    dryness = with_butter + dryness_from(sugar)
    dryness.name = "dryness"
    miss = dryness - target
    miss.name = "too_dry_by"
    loss = miss ** 2
    loss.name = "loss"
    return loss


def story(trace):
    amounts = {name: trace.find(name).value.item() for name in EFFECTS}
    return (f"dryness {trace.find('dryness').value.item():.1f} (want 4.0) with "
            f"{amounts['flour']:.2f} cups flour, {amounts['butter']:.2f} butter, "
            f"{amounts['sugar']:.2f} sugar")
