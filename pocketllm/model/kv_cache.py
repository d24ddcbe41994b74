"""The key/value cache that makes generation fast.

Without it every new token re-runs attention over the whole prompt.  With it
each layer keeps the keys and values it has already computed, and a new token
only computes its own.  Each layer's buffer starts as long as the first
append needs and doubles when full (never past the model's context), so a
short generation holds a short cache, and a long one copies each position
only a few times.
"""
from __future__ import annotations

import torch

FIRST_CAPACITY = 64  # positions; the first buffer is at least this long


class LayerCache:
    """One layer's keys and values: (batch, heads, positions, head_dim) each."""

    def __init__(self, max_len: int):
        self.max_len = max_len
        self.length = 0
        self.keys = self.values = None  # allocated on the first append

    def append(self, k: torch.Tensor, v: torch.Tensor):
        """Keep the new keys/values after the ones so far; return all of them."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; asked for {end}")
        if self.keys is None or end > self.keys.shape[2]:
            self._grow(k, min(self.max_len, max(end, 2 * start, FIRST_CAPACITY)))
        self.keys[:, :, start:end] = k
        self.values[:, :, start:end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def _grow(self, like: torch.Tensor, capacity: int):
        b, h, _, d = like.shape
        keys = like.new_empty(b, h, capacity, d)
        values = like.new_empty(b, h, capacity, d)
        if self.length:
            keys[:, :, :self.length] = self.keys[:, :, :self.length]
            values[:, :, :self.length] = self.values[:, :, :self.length]
        self.keys, self.values = keys, values


class KVCache:
    """One `LayerCache` per transformer block; `cache[i]` is block i's."""

    def __init__(self, num_layers: int, max_len: int):
        self.max_len = max_len
        self.layers = [LayerCache(max_len) for _ in range(num_layers)]

    def __getitem__(self, i: int) -> LayerCache:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def length(self) -> int:
        """Positions kept so far (the same in every layer)."""
        return self.layers[0].length

    def reset(self):
        """Start again from position 0 (the buffers are kept and reused)."""
        for layer in self.layers:
            layer.length = 0
