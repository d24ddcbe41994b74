"""Step 2 — Causal multi-head self-attention.

Every token asks a question (query) and offers an answer (key, value).  A
token's output is the average of the values of the tokens before it, weighted
by how well its query matches their keys:

    weights = softmax(q · kᵀ / sqrt(head_dim), masked so no token sees the future)
    out     = weights · v

This happens in `num_heads` smaller heads side by side; their outputs are
concatenated and mixed by `out_proj`.

Two modern changes live here too (Step 8):

- Grouped-query attention (Llama, Qwen3), in place of one key/value head per
  query head: `num_kv_heads` key/value heads, each shared by a group of
  num_heads / num_kv_heads query heads.  Generation keeps every key and value of
  every layer (the KV cache); with 8 kv heads for 16 query heads it keeps half,
  and reads half per token, for almost no loss in quality.
- QK-norm (Qwen3): an RMSNorm on each head's queries and keys before the scores.
  Without it a few scores can grow huge in training and the softmax saturates;
  normalising q and k bounds them and lets larger learning rates train stably.

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

from .rope import NoRotation


def causal_mask(t: int, start: int, device=None) -> torch.Tensor:
    """(t, start + t) booleans: True where query i, at position start + i, may see key j."""
    q_pos = torch.arange(start, start + t, device=device)[:, None]
    k_pos = torch.arange(start + t, device=device)[None, :]
    return k_pos <= q_pos


def attention_weights(q: torch.Tensor, k: torch.Tensor, start: int = 0) -> torch.Tensor:
    """The formula written out: q (b, heads, t, head_dim), k (b, kv_heads, start + t, head_dim)
    -> weights (b, heads, t, start + t), each row a distribution over the visible keys.
    With fewer kv heads, each serves its group of query heads (repeated for the formula)."""
    k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)  # (b, heads, start + t, head_dim)
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
        # q: (b, heads, t, head_dim); k, v: (b, kv_heads, start + t, head_dim)
        t = q.shape[2]
        # A fresh sequence (start 0) uses the kernel's own triangle; after cached positions the
        # mask is shifted; one new token may see every cached one, so it needs none.
        mask = None if start == 0 or t == 1 else causal_mask(t, start, q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=start == 0,
                                              dropout_p=self.drop_rate if self.training else 0.0,
                                              enable_gqa=k.shape[1] != q.shape[1])


class MultiHeadAttention(nn.Module):
    """Causal multi-head attention; GPT-2's with the defaults.

    `num_kv_heads` < num_heads: grouped-query attention; `head_dim`: each head's width when
    it is not emb_dim / num_heads (Qwen3); `out_bias`: a bias on `out_proj`; `rope`: how
    queries and keys learn their positions (`rope.RoPE`; GPT-2's came with the embedding);
    `qk_norm`: a norm class for each head's queries and keys (Qwen3's RMSNorm)."""

    LINEARS = ("W_query", "W_key", "W_value", "out_proj")  # the projections, by name (LoRA's targets)

    def __init__(self, emb_dim: int, num_heads: int, drop_rate: float, qkv_bias: bool, *,
                 num_kv_heads: int | None = None, head_dim: int | None = None, out_bias: bool = True,
                 rope: nn.Module | None = None, qk_norm=None):
        super().__init__()
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads or num_heads
        self.head_dim = head_dim or emb_dim // num_heads
        q_width, kv_width = num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        self.W_query = nn.Linear(emb_dim, q_width, bias=qkv_bias)
        self.W_key = nn.Linear(emb_dim, kv_width, bias=qkv_bias)
        self.W_value = nn.Linear(emb_dim, kv_width, bias=qkv_bias)
        self.q_norm = qk_norm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = qk_norm(self.head_dim) if qk_norm else nn.Identity()
        self.rope = rope if rope is not None else NoRotation()
        self.attend = CausalAttention(drop_rate)
        self.out_proj = nn.Linear(q_width, emb_dim, bias=out_bias)

    def split_heads(self, x: torch.Tensor, heads: int | None = None) -> torch.Tensor:
        b, t, _ = x.shape  # (b, t, heads·head_dim) -> (b, heads, t, head_dim)
        return x.view(b, t, heads or self.num_heads, self.head_dim).transpose(1, 2)

    def project(self, x: torch.Tensor):
        """Queries (b, heads, t, head_dim), keys and values (b, kv_heads, t, head_dim) of x (b, t, emb_dim)."""
        return (self.split_heads(self.W_query(x)), self.split_heads(self.W_key(x), self.num_kv_heads),
                self.split_heads(self.W_value(x), self.num_kv_heads))

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        b, t, _ = x.shape                            # (b, t, emb_dim)
        start = cache.length if cache is not None else 0
        q, k, v = self.project(x)                    # (b, heads, t, head_dim), (b, kv_heads, t, head_dim) ×2
        q, k = self.q_norm(q), self.k_norm(k)        # QK-norm (Qwen3), or as they are
        q, k = self.rope(q, start), self.rope(k, start)  # rotary positions, or as they are (GPT-2)
        if cache is not None:                        # generation: the earlier positions are kept
            k, v = cache.append(k, v)                # (b, kv_heads, start + t, head_dim)
        out = self.attend(q, k, v, start)            # (b, heads, t, head_dim)
        out = out.transpose(1, 2).reshape(b, t, -1)  # heads back side by side: (b, t, heads·head_dim)
        return self.out_proj(out)
