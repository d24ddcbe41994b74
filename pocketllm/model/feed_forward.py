"""Step 3 — The feed-forward network.

After attention mixes information between tokens, each token is processed on
its own by a small two-layer network: widen to 4 x emb_dim, apply GELU, narrow
back.  GPT-2's GELU is the tanh approximation:

    gelu(x) = 0.5 · x · (1 + tanh(sqrt(2/π) · (x + 0.044715 · x³)))

Step 9 — SwiGLU (Llama, Qwen3), in place of the GELU network.  Two linears
widen the token side by side; one goes through SiLU (x · sigmoid(x)) and
*gates* the other, number by number, before the third narrows back:

    swiglu(x) = down( silu(gate(x)) · up(x) )

The gate lets the network pass or hold back each hidden feature depending on
the input, which trains to a lower loss for the same compute (Shazeer, 2020).
With three matrices instead of two, the hidden width is about 8/3 · emb_dim
(not 4·) to keep the parameter count the same; real models pick their own.
"""
import torch.nn.functional as F
from torch import nn


class FeedForward(nn.Module):
    LINEARS = ("layers.0", "layers.2")  # the two linears, by name (LoRA's targets)

    def __init__(self, emb_dim: int, hidden_dim: int | None = None, bias: bool = True):
        super().__init__()
        hidden_dim = hidden_dim or 4 * emb_dim
        # Index 0 and 2 are the two linears (the seed's checkpoint keys depend on it).
        self.layers = nn.Sequential(
            nn.Linear(emb_dim, hidden_dim, bias=bias),
            nn.GELU(approximate="tanh"),
            nn.Linear(hidden_dim, emb_dim, bias=bias),
        )

    def forward(self, x):
        # (batch, tokens, emb_dim) -> (batch, tokens, 4·emb_dim) -> (batch, tokens, emb_dim)
        return self.layers(x)


class SwiGLU(nn.Module):
    LINEARS = ("gate", "up", "down")

    def __init__(self, emb_dim: int, hidden_dim: int, bias: bool = False):
        super().__init__()
        self.gate = nn.Linear(emb_dim, hidden_dim, bias=bias)
        self.up = nn.Linear(emb_dim, hidden_dim, bias=bias)
        self.down = nn.Linear(hidden_dim, emb_dim, bias=bias)

    def forward(self, x):
        # (batch, tokens, emb_dim) -> two (batch, tokens, hidden_dim), gated -> (batch, tokens, emb_dim)
        return self.down(F.silu(self.gate(x)) * self.up(x))
