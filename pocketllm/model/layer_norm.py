"""Step 1 — Layer normalisation.

Each token's vector is rescaled to mean 0 and variance 1 across its
features, then stretched by a learned `weight` and moved by a learned
`bias`:

    y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias

GPT-2 uses eps = 1e-5 and the biased variance (divide by n, not n - 1).
"""
import torch
from torch import nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # F.layer_norm computes exactly the formula above in one fused kernel.
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)

    @staticmethod
    def by_hand(x, weight, bias, eps=1e-5):
        """The same maths written out, for reading and for tests."""
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + eps) * weight + bias
