"""One house, one linear model, one step: a price prediction that is too low gets closer.

Features are scaled so that one gradient step is safe: size in thousands of square feet,
bedrooms as a count, age in decades. Prices are in units of $100k.
"""

from tracer import Tensor, mse, param

TITLE = "House price: a prediction that is too low"
DESCRIPTION = (
    "A linear model predicts a house's price from its size, bedrooms and age, and says $420k "
    "for a house that sold for $500k. The mean squared error's gradient is negative at the "
    "prediction, so gradient descent raises every weight in proportion to its feature, and one "
    "update moves the prediction to $472k. Units: prices in $100k (price 4.2 is $420k, "
    "true_price 5 is $500k); the features are size in 1,000 sq ft, bedrooms, and age in decades "
    "(features [2, 3, 1.5] is 2,000 sq ft, 3 bedrooms, 15 years old)."
)
LR = 0.02

# 2,000 sq ft, 3 bedrooms, 15 years old.
features = Tensor([2.0, 3.0, 1.5], name="features")
weights = param([1.5, 0.3, -0.4], name="weights")  # $100k per 1,000 sq ft, per bedroom, per decade
bias = param(0.9, name="bias")
true_price = Tensor(5.0, name="true_price")


def forward():
    weighted = features @ weights
    weighted.name = "weighted_sum"
    price = weighted + bias
    price.name = "price"
    loss = mse(price, true_price)
    loss.name = "loss"
    return loss


def story(trace):
    price = trace.find("price").value.item()
    return (f"predicted ${price * 100:.0f}k for a 2,000 sq ft, 3-bedroom, 15-year-old house; "
            f"it sold for $500k")
