"""Step 7 — Rotary position embedding (RoPE; Llama, Qwen3), in place of GPT-2's position table.

GPT-2 adds a learned vector per position to each token's embedding: the model
can only read positions it has a row for (its context), and "3 tokens apart"
must be learned anew at every place in the text.

RoPE adds nothing to the embedding.  Inside attention it turns each query and
each key by an angle proportional to its position: the head's numbers are taken
as pairs (i, i + head_dim/2), and pair j turns by position · θ_j with

    θ_j = rope_theta ^ (-2j / head_dim)        (fast turns for small j, slow for large)

so a query at position m and a key at position n meet with an angle of
(m - n) · θ_j: their score depends on how far apart they are, not on where.
There are no parameters; `rope_theta` sets the longest wavelength (GPT-NeoX's
and Hugging Face's pairing, "rotate half", is the one Llama and Qwen3 weights expect).

Llama 3 stretches the slow wavelengths for long contexts (`rope_scaling`); the
fast ones, which carry local order, are kept.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension: a quarter turn of each pair."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def inverse_frequencies(head_dim: int, theta: float, scaling: tuple | None = None) -> torch.Tensor:
    """θ_j for j = 0 .. head_dim/2 - 1 (float32), stretched as Llama 3 does when `scaling` is
    (factor, low_freq_factor, high_freq_factor, original context)."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    if scaling is None:
        return inv
    factor, low, high, original = scaling
    wavelength = 2 * math.pi / inv
    long, short = original / low, original / high
    stretched = torch.where(wavelength > long, inv / factor, inv)   # slow turns: `factor` times slower
    smooth = (original / wavelength - low) / (high - low)            # in between: a blend of the two
    blended = (1 - smooth) * stretched / factor + smooth * stretched
    between = (wavelength >= short) & (wavelength <= long)
    return torch.where(between, blended, stretched)


class RoPE(nn.Module):
    """Turns queries or keys (b, heads, t, head_dim) at positions start .. start + t - 1.

    No parameters and no buffers: the angles of the positions asked for are computed
    when needed (t × head_dim/2 products), and kept until other positions are asked for,
    so the layers of one forward share them (one RoPE serves every layer)."""

    def __init__(self, head_dim: int, theta: float = 10_000.0, scaling: tuple | None = None):
        super().__init__()
        self.head_dim, self.theta, self.scaling = head_dim, theta, scaling
        self._kept = (None, None, None)

    def angles(self, start: int, t: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of every angle: (t, head_dim) each, the pair's angle in both halves."""
        key, cos, sin = self._kept
        if key != (start, t, device, dtype):
            inv = inverse_frequencies(self.head_dim, self.theta, self.scaling).to(device)
            positions = torch.arange(start, start + t, device=device).float()
            freqs = torch.outer(positions, inv)              # (t, head_dim/2): position · θ_j
            both = torch.cat((freqs, freqs), dim=-1)         # (t, head_dim)
            cos, sin = both.cos().to(dtype), both.sin().to(dtype)
            self._kept = ((start, t, device, dtype), cos, sin)
        return cos, sin

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        cos, sin = self.angles(start, x.shape[-2], x.device, x.dtype)
        return x * cos + rotate_half(x) * sin

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, theta={self.theta:g}" + (f", scaling={self.scaling}" if self.scaling else "")


class NoRotation(nn.Module):
    """GPT-2's attention: positions came in with the embedding, so queries and keys stay as they are."""

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return x


class NoPositions(nn.Module):
    """A rotary model's embedding: positions enter in attention (RoPE), so nothing is added here."""

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return x
