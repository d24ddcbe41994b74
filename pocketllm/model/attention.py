"""Step 2 — Causal multi-head self-attention.

Every token asks a question (query) and offers an answer (key, value).  A
token's output is the average of the values of the tokens before it, weighted
by how well its query matches their keys:

    weights = softmax(q · kᵀ / sqrt(head_dim), masked so no token sees the future)
    out     = weights · v

This happens in `num_heads` smaller heads side by side; their outputs are
concatenated and mixed by `out_proj`.

`attention_weights` writes the formula out.  The model itself calls
`scaled_dot_product_attention`, a fused kernel that computes the same numbers
without ever keeping the (tokens × tokens) weights; the "look inside" view gets
them back with a hook on `CausalAttention` (see `GPTModel.trace`).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


def causal_mask(t: int, start: int, device=None) -> torch.Tensor:
    """(t, start + t) booleans: True where query i, at position start + i, may see key j."""
    q_pos = torch.arange(start, start + t, device=device)[:, None]
    k_pos = torch.arange(start + t, device=device)[None, :]
    return k_pos <= q_pos


def attention_weights(q: torch.Tensor, k: torch.Tensor, start: int = 0) -> torch.Tensor:
    """The formula written out: q (b, heads, t, head_dim), k (b, heads, start + t, head_dim)
    -> weights (b, heads, t, start + t), each row a distribution over the visible keys."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~causal_mask(q.shape[2], start, q.device), float("-inf"))
    return torch.softmax(scores.float(), dim=-1).to(q.dtype)


class CausalAttention(nn.Module):
    """softmax(q · kᵀ / sqrt(d), causal) · v, for queries that sit at positions start, start + 1, ...

    No parameters; a module of its own so a hook can watch its inputs (`GPTModel.trace`)."""

    def __init__(self, drop_rate: float):
        super().__init__()
        self.drop_rate = drop_rate

    def forward(self, q, k, v, start: int = 0) -> torch.Tensor:
        # q: (b, heads, t, head_dim); k, v: (b, heads, start + t, head_dim)
        t = q.shape[2]
        # A fresh sequence (start 0) uses the kernel's own triangle; after cached positions the
        # mask is shifted; one new token may see every cached one, so it needs none.
        mask = None if start == 0 or t == 1 else causal_mask(t, start, q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=start == 0,
                                              dropout_p=self.drop_rate if self.training else 0.0)


class MultiHeadAttention(nn.Module):
    def __init__(self, emb_dim: int, num_heads: int, drop_rate: float, qkv_bias: bool):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = emb_dim // num_heads
        self.W_query = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.W_key = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.W_value = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.attend = CausalAttention(drop_rate)
        self.out_proj = nn.Linear(emb_dim, emb_dim)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape  # (b, t, emb_dim) -> (b, heads, t, head_dim)
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def project(self, x: torch.Tensor):
        """Queries, keys and values of x (b, t, emb_dim), each (b, heads, t, head_dim)."""
        return (self.split_heads(self.W_query(x)), self.split_heads(self.W_key(x)),
                self.split_heads(self.W_value(x)))

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        b, t, d = x.shape                            # (b, t, emb_dim)
        q, k, v = self.project(x)                    # each (b, heads, t, head_dim)
        start = 0
        if cache is not None:                        # generation: the earlier positions are kept
            start = cache.length
            k, v = cache.append(k, v)                # (b, heads, start + t, head_dim)
        out = self.attend(q, k, v, start)            # (b, heads, t, head_dim)
        out = out.transpose(1, 2).reshape(b, t, d)   # heads back side by side: (b, t, emb_dim)
        return self.out_proj(out)
