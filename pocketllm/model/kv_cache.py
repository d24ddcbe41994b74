"""The key/value cache that makes generation fast.

Without it every new token re-runs attention over the whole prompt.  With it
each layer keeps the keys and values it has already computed, and a new token
only computes its own.  The buffers are allocated once for the longest
sequence (the model's context), so no tensor grows or is copied per token.
"""
from __future__ import annotations

import torch


class KVCache:
    def __init__(self, num_layers: int, batch: int, num_heads: int, max_len: int,
                 head_dim: int, dtype: torch.dtype, device):
        shape = (batch, num_heads, max_len, head_dim)
        self.keys = [torch.empty(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.values = [torch.empty(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.max_len = max_len
        self.length = 0  # how many positions are filled (the same for every layer)

    def store(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Write the new keys/values after the filled part; return everything so far."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; asked for {end}")
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, n: int):
        self.length += n

    def reset(self):
        self.length = 0
