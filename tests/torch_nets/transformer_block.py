"""A pre-norm transformer block as PyTorch users write it: nn.MultiheadAttention with a causal
mask, LayerNorm, a GELU MLP, dropout on the attention's output (whose layout is a transpose's),
and AdamW over the block and a classifier head."""

import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(1)


class Block(nn.Module):
    def __init__(self, d=8, heads=2):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 16), nn.GELU(), nn.Linear(16, d))
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        h = self.ln1(x)
        steps = x.shape[1]
        mask = torch.triu(torch.ones(steps, steps, dtype=torch.bool), 1)
        a, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False)
        x = x + self.drop(a)
        return x + self.mlp(self.ln2(x))


model = Block()
head = nn.Linear(8, 5)
x = torch.randn(2, 4, 8)
targets = torch.randint(0, 5, (2, 4))
OPTIMIZER = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=1e-2)


def forward():
    logits = head(model(x))
    return F.cross_entropy(logits.view(-1, 5), targets.view(-1))
