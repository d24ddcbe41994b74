"""Step 3 — The feed-forward network.

After attention mixes information between tokens, each token is processed on
its own by a small two-layer network: widen to 4 x emb_dim, apply GELU, narrow
back.  GPT-2's GELU is the tanh approximation:

    gelu(x) = 0.5 · x · (1 + tanh(sqrt(2/π) · (x + 0.044715 · x³)))
"""
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, emb_dim: int):
        super().__init__()
        # Index 0 and 2 are the two linears (the seed's checkpoint keys depend on it).
        self.layers = nn.Sequential(
            nn.Linear(emb_dim, 4 * emb_dim),
            nn.GELU(approximate="tanh"),
            nn.Linear(4 * emb_dim, emb_dim),
        )

    def forward(self, x):
        # (batch, tokens, emb_dim) -> (batch, tokens, 4·emb_dim) -> (batch, tokens, emb_dim)
        return self.layers(x)
