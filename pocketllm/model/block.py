"""Step 4 — The transformer block.

GPT-2 normalises *before* each sub-layer (pre-LayerNorm) and adds the result
back onto the residual stream:

    x = x + dropout(attention(norm1(x)))
    x = x + dropout(feed_forward(norm2(x)))
"""
import torch
from torch import nn

from .attention import MultiHeadAttention
from .feed_forward import FeedForward
from .layer_norm import LayerNorm


class TransformerBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm1 = LayerNorm(cfg.emb_dim)
        self.attn = MultiHeadAttention(cfg.emb_dim, cfg.num_heads, cfg.drop_rate, cfg.qkv_bias)
        self.norm2 = LayerNorm(cfg.emb_dim)
        self.ffn = FeedForward(cfg.emb_dim)
        self.drop_resid = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        # x: (batch, tokens, emb_dim) in and out
        x = x + self.drop_resid(self.attn(self.norm1(x), cache))
        x = x + self.drop_resid(self.ffn(self.norm2(x)))
        return x
