"""Step 2 — Causal multi-head self-attention.

Every token asks a question (query) and offers an answer (key, value).  A
token's output is the average of the values of the tokens before it, weighted
by how well its query matches their keys:

    weights = softmax(q · kᵀ / sqrt(head_dim), masked so no token sees the future)
    out     = weights · v

This happens in `num_heads` smaller heads side by side; their outputs are
concatenated and mixed by `out_proj`.

Two ways compute the same numbers:
- the fast path, `torch.nn.functional.scaled_dot_product_attention`, a fused
  kernel that never materialises the weights (used for training/generation);
- the explicit path, written out, that also returns the weights (used by the
  "look inside" view).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


class MultiHeadAttention(nn.Module):
    def __init__(self, emb_dim: int, num_heads: int, drop_rate: float, qkv_bias: bool):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = emb_dim // num_heads
        self.W_query = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.W_key = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.W_value = nn.Linear(emb_dim, emb_dim, bias=qkv_bias)
        self.out_proj = nn.Linear(emb_dim, emb_dim)
        self.drop_rate = drop_rate
        self.dropout = nn.Dropout(drop_rate)
        self.qkv_int8 = None  # an int8 copy of q/k/v side by side (pocketllm.quantize), inference only

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape  # (batch, tokens, emb) -> (batch, heads, tokens, head_dim)
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x, cache=None, layer: int = 0, need_weights: bool = False):
        b, t, d = x.shape
        if self.qkv_int8 is not None:  # set by pocketllm.quantize for int8 generation
            q, k, v = self.qkv_int8(x).chunk(3, dim=-1)
        elif cache is not None and not torch.is_grad_enabled():
            q, k, v = self.fused_qkv(x)  # generation: same numbers, one matmul instead of three
        else:
            q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        start = 0
        if cache is not None:
            start = cache.length
            k, v = cache.store(layer, k, v)

        weights = None
        if need_weights:
            out, weights = explicit_attention(q, k, v, start, self.dropout)
        else:
            dropout = self.drop_rate if self.training else 0.0
            if t == 1:  # one new token may look at every cached one: no mask needed
                out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
            elif start == 0:
                out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
            else:
                out = F.scaled_dot_product_attention(
                    q, k, v, attn_mask=causal_mask(t, start, q.device), dropout_p=dropout)

        out = out.transpose(1, 2).reshape(b, t, d)  # heads back side by side
        out = self.out_proj(out)
        return (out, weights) if need_weights else out

    # ---- inference-only speed-up ------------------------------------------
    # Generating one token is bound by reading the weights and by per-operation
    # overhead, so during generation the three projections run as one matmul on
    # a concatenated copy of their weights.  The copy is rebuilt whenever a
    # weight is replaced or changed in place (tracked by tensor version), so it
    # never goes stale after training.  The plain code path above is the maths.
    def train(self, mode: bool = True):
        # A fused optimizer (AdamW(fused=True)) updates weights in place without bumping
        # their version, so the copy is also dropped whenever the model changes mode —
        # the trainer switches to eval for samples and back to train after.
        self._fused_key = None
        return super().train(mode)

    def fused_qkv(self, x):
        parts = [self.W_query, self.W_key, self.W_value]
        tensors = [p.weight for p in parts] + [p.bias for p in parts if p.bias is not None]
        key = tuple((id(t), t._version, t.dtype, t.device) for t in tensors)
        if getattr(self, "_fused_key", None) != key:
            with torch.no_grad():
                weight = torch.cat([p.weight for p in parts]).contiguous()
                bias = torch.cat([p.bias for p in parts]) if parts[0].bias is not None else None
            self._fused, self._fused_key = (weight, bias), key
        return F.linear(x, *self._fused).chunk(3, dim=-1)


def causal_mask(t: int, start: int, device) -> torch.Tensor:
    """True where query i (at position start+i) may attend key j (j <= start+i)."""
    q_pos = torch.arange(start, start + t, device=device)[:, None]
    k_pos = torch.arange(start + t, device=device)[None, :]
    return k_pos <= q_pos


def explicit_attention(q, k, v, start: int = 0, dropout: nn.Module | None = None):
    """Attention written out; returns (output, weights of shape (b, heads, t, s))."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = causal_mask(q.shape[2], start, q.device)
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1).to(q.dtype)
    used = dropout(weights) if dropout is not None else weights
    return used @ v, weights
