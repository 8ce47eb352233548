"""A character RNN reading "hello", one letter at a time, guessing the next letter.

The same weights are used at every time step: ``h = tanh(x_t @ Wxh + h @ Whh + bh)``, then the
scores of the next letter ``h @ Why + by``. The scores of the four steps are stacked
(``np.stack``) into one cross-entropy. A weight used at four steps gets four gradients, one per
step, and its gradient is their sum: backpropagation through time.
"""

import numpy as np

from tracer import Tensor, nn, param

TITLE = "Character RNN: one weight, a gradient summed over time"
DESCRIPTION = (
    "A tiny recurrent network reads \"hello\" a letter at a time and guesses each next letter. "
    "The same weights Wxh, Whh and Why are used at all four time steps, so in the backward pass "
    "each of them receives one gradient per step, and its gradient is the sum of the four "
    "(backpropagation through time). Step to Whh to see the sum, and follow the gradient "
    "backwards through the hidden states, shrinking a little at each tanh."
)
LR = 0.3

WORD = "hello"
LETTERS = sorted(set(WORD))  # e, h, l, o
HIDDEN = 3

rng = np.random.default_rng(5)
onehot = np.eye(len(LETTERS))
inputs = [Tensor(onehot[LETTERS.index(c)], name=f"x{t}") for t, c in enumerate(WORD[:-1], 1)]
targets = Tensor([LETTERS.index(c) for c in WORD[1:]], name="next_letters")
Wxh = param(rng.normal(0, 0.5, (len(LETTERS), HIDDEN)), name="Wxh")
Whh = param(rng.normal(0, 0.5, (HIDDEN, HIDDEN)), name="Whh")
bh = param(np.zeros(HIDDEN), name="bh")
Why = param(rng.normal(0, 0.5, (HIDDEN, len(LETTERS))), name="Why")
by = param(np.zeros(len(LETTERS)), name="by")


def forward():
    h = Tensor(np.zeros(HIDDEN), name="h0")
    scores = []
    for t, x in enumerate(inputs, 1):
        h = (x @ Wxh + h @ Whh + bh).tanh()
        h.name = f"h{t}"
        score = h @ Why + by
        score.name = f"scores{t}"
        scores.append(score)
    everything = np.stack(scores)
    everything.name = "scores"
    loss = nn.cross_entropy(everything, targets)
    loss.name = "loss"
    return loss


def story(trace):
    scores = trace.find("scores").value
    guesses = "".join(LETTERS[i] for i in np.argmax(scores, axis=1))
    return f'after "h", "he", "hel", "hell" it guesses "{guesses}"; the word goes on "{WORD[1:]}"'
