"""One causal self-attention head over a short sentence, predicting each next word.

Written the way a transformer block is: an embedding lookup, query/key/value projections,
scores ``Q @ Kᵀ / √d``, a causal mask of −inf above the diagonal (a word may not look at the
words after it), softmax, the weighted values, and an output projection to next-word scores.
"""

import numpy as np

from tracer import Tensor, nn, param

TITLE = "Attention: which earlier word to look at"
DESCRIPTION = (
    "One causal self-attention head reads \"the cat sat on the mat\" and guesses each next "
    "word. Every word compares its query with the keys of the words before it (later words are "
    "masked with −inf, so softmax gives them 0), and takes the values of the words it looks at. "
    "Step back through the softmax to see the gradient say which earlier word deserves more "
    "attention, and through Q @ Kᵀ to see it reach the query and key weights."
)
LR = 0.5

WORDS = ["the", "cat", "sat", "on", "the", "mat"]
VOCABULARY = sorted(set(WORDS))  # mat, on, sat, the, cat -> indices
D = 4  # the head's width

rng = np.random.default_rng(2024)
tokens = Tensor([VOCABULARY.index(w) for w in WORDS[:-1]], name="tokens")  # the input words
following = Tensor([VOCABULARY.index(w) for w in WORDS[1:]], name="next_words")
causal = Tensor(np.tril(np.ones((len(WORDS) - 1, len(WORDS) - 1))), name="causal")
embedding = param(rng.normal(0, 0.5, (len(VOCABULARY), D)), name="embedding")
Wq = param(rng.normal(0, 0.5, (D, D)), name="Wq")
Wk = param(rng.normal(0, 0.5, (D, D)), name="Wk")
Wv = param(rng.normal(0, 0.5, (D, D)), name="Wv")
Wo = param(rng.normal(0, 0.5, (D, len(VOCABULARY))), name="Wo")


def forward():
    x = nn.embedding(tokens, embedding)
    x.name = "x"
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    q.name, k.name, v.name = "Q", "K", "V"
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(D)
    scores.name = "scores"
    masked = np.where(causal == 1, scores, -np.inf)  # no peeking at later words
    masked.name = "masked"
    attention = masked.softmax(axis=-1)
    attention.name = "attention"
    mixed = attention @ v
    mixed.name = "mixed"
    logits = mixed @ Wo
    logits.name = "logits"
    loss = nn.cross_entropy(logits, following)
    loss.name = "loss"
    return loss


def story(trace):
    attention = trace.find("attention").value
    logits = trace.find("logits").value
    guesses = [VOCABULARY[i] for i in np.argmax(logits, axis=1)]
    right = sum(g == w for g, w in zip(guesses, WORDS[1:], strict=True))
    last = len(WORDS) - 2  # the second "the": which earlier word does it look at most?
    seen = int(np.argmax(attention[last]))
    return (f"guesses {right} of {len(guesses)} next words right; the second \"the\" looks "
            f"most at \"{WORDS[seen]}\" (word {seen + 1}, {attention[last, seen]:.0%})")
