"""Step 6 — RMSNorm (Llama, Qwen3), in place of LayerNorm.

LayerNorm moves each token's vector to mean 0, scales it to variance 1, then
stretches and shifts it (`weight`, `bias`).  RMSNorm keeps only the scaling:
it divides by the root of the mean square, with no mean taken away and no bias:

    y = x / sqrt(mean(x²) + eps) · weight

Why: centring turned out not to matter for training (Zhang & Sennrich, 2019),
and dropping it leaves one reduction instead of two and half the parameters.
Llama and Qwen3 compute it in float32 even when the model runs in bf16, then
multiply by the weight in the model's own precision; so do we.
"""
import torch
from torch import nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (..., dim) -> (..., dim); F.rms_norm is the formula above in one kernel.
        return F.rms_norm(x.float(), x.shape[-1:], eps=self.eps).to(x.dtype) * self.weight

    @staticmethod
    def by_hand(x, weight, eps=1e-6):
        """The same maths written out, for reading and for tests."""
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight
