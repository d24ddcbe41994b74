"""Step 4 — The transformer block.

GPT-2 normalises *before* each sub-layer (pre-LayerNorm) and adds the result
back onto the residual stream:

    x = x + dropout(attention(norm1(x)))
    x = x + dropout(feed_forward(norm2(x)))

Llama and Qwen3 keep this shape and swap parts: RMSNorm for LayerNorm, SwiGLU for
the GELU network, grouped-query attention with rotary positions (and QK-norm).
The block takes the parts its config names from the tables below.
"""
import torch
from torch import nn

from .attention import MultiHeadAttention
from .feed_forward import FeedForward, SwiGLU
from .layer_norm import LayerNorm
from .rms_norm import RMSNorm

NORMS = {"layernorm": LayerNorm, "rmsnorm": RMSNorm}
FEED_FORWARDS = {"gelu": FeedForward, "swiglu": SwiGLU}


class TransformerBlock(nn.Module):
    def __init__(self, cfg, rope: nn.Module | None = None):
        super().__init__()
        norm = NORMS[getattr(cfg, "norm", "layernorm")]
        eps = getattr(cfg, "norm_eps", 1e-5)
        self.norm1 = norm(cfg.emb_dim, eps)
        self.attn = MultiHeadAttention(
            cfg.emb_dim, cfg.num_heads, cfg.drop_rate, cfg.qkv_bias, num_kv_heads=getattr(cfg, "num_kv_heads", 0),
            head_dim=getattr(cfg, "head_dim", 0), out_bias=getattr(cfg, "bias", True), rope=rope,
            qk_norm=(lambda dim: RMSNorm(dim, eps)) if getattr(cfg, "qk_norm", False) else None)
        self.norm2 = norm(cfg.emb_dim, eps)
        self.ffn = FEED_FORWARDS[getattr(cfg, "mlp", "gelu")](cfg.emb_dim, getattr(cfg, "hidden_dim", 0) or None,
                                                              bias=getattr(cfg, "bias", True))
        self.drop_resid = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        # x: (batch, tokens, emb_dim) in and out
        x = x + self.drop_resid(self.attn(self.norm1(x), cache))
        x = x + self.drop_resid(self.ffn(self.norm2(x)))
        return x
