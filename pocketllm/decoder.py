"""Generation's inner loop: one new token through the model with few torch calls.

`GPTModel.forward` is written to be read: every part is a module called through
`nn.Module.__call__`, heads are split and merged with views, the cache appends
through its methods — about 40 calls per layer.  Generating one token at batch 1
on a CPU, each costs microseconds of Python and dispatch; for gpt2-124M in int8
they added up to a quarter of the step.  `Decoder.step` computes the same
numbers as the model's forward for one token (tests compare the logits) with
about 15 calls per layer: two layer norms, the q/k/v matmul(s), the cache
append, the attention kernel, three more matmuls, GELU and two in-place adds.
Each linear is called through the quickest function for its kind
(`linear_function`): `F.linear` for a plain one, the kernel itself for the
int8 and packed-bf16 swaps.  (int8 decoding: 1.15x faster on 1 thread, 1.4x on
2; bench/README.md.)

Only for generation (eval mode, a language-model head); anything else — or a
model with parts it does not know — runs through the model's own forward.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn
import torch.nn.functional as F

from .model import GPTModel, KVCache, LayerCache, LayerNorm, MultiHeadAttention


def linear_function(module: nn.Module):
    """x (tokens, in) -> module(x) (tokens, out), by the quickest call for the module's kind:
    a swapped-in linear names its kernel (`as_function`), a plain one is `F.linear`, anything
    else (a LoRA layer) is the module itself."""
    if hasattr(module, "as_function"):
        return module.as_function()
    if type(module) is nn.Linear:
        return partial(F.linear, weight=module.weight, bias=module.bias)
    return module


def _norm(norm: LayerNorm):
    return partial(F.layer_norm, normalized_shape=norm.weight.shape, weight=norm.weight, bias=norm.bias,
                   eps=norm.eps)


class _Layer:
    """One transformer block's parts, as plain functions, and its cache."""

    def __init__(self, block, cache: LayerCache):
        attn = block.attn
        self.heads, self.head_dim = attn.num_heads, attn.head_dim
        self.norm1, self.norm2 = _norm(block.norm1), _norm(block.norm2)
        fused = getattr(attn, "qkv", None)
        self.qkv = linear_function(fused) if fused is not None else None
        self.q_k_v = None if fused is not None else [linear_function(m) for m in (attn.W_query, attn.W_key,
                                                                                  attn.W_value)]
        self.out_proj = linear_function(attn.out_proj)
        first, gelu, second = block.ffn.layers
        self.fc1, self.fc2 = linear_function(first), linear_function(second)
        self.gelu = partial(F.gelu, approximate=gelu.approximate)
        self.cache = cache

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """x (1, emb_dim), the residual stream at the new position; updated in place and returned."""
        h = self.norm1(x)
        shape = (1, self.heads, 1, self.head_dim)  # (batch, heads, one position, head_dim)
        if self.qkv is not None:
            q, k, v = self.qkv(h).view(3, *shape).unbind(0)
        else:
            q, k, v = (f(h).view(shape) for f in self.q_k_v)
        keys, values = self.cache.append(k, v)  # (1, heads, positions so far, head_dim)
        # One query sees every cached position: no mask needed.
        out = F.scaled_dot_product_attention(q, keys, values)
        x.add_(self.out_proj(out.view(1, -1)))
        x.add_(self.fc2(self.gelu(self.fc1(self.norm2(x)))))
        return x


class Decoder:
    """Next-token logits, one token at a time, sharing the model's KV cache.

    Fill the cache with the model's own forward (the prompt), then call `step(token)`
    for each new token: it appends the token at position `cache.length` and returns
    the logits (vocab,) for the position after it."""

    def __init__(self, model: GPTModel, cache: KVCache):
        self.cache = cache
        self.tok_emb, self.pos_emb = model.tok_emb.weight, model.pos_emb.weight
        self.layers = [_Layer(block, cache[i]) for i, block in enumerate(model.trf_blocks)]
        self.final_norm = _norm(model.final_norm)
        self.head = linear_function(model.out_head)

    @classmethod
    def for_model(cls, model, cache: KVCache | None) -> "Decoder | None":
        """A Decoder for `model`, or None where the model's forward must run (training mode,
        a classifier, no cache, or parts this loop does not know)."""
        if cache is None or model.training or getattr(model, "num_classes", None) is not None:
            return None
        known = all(isinstance(b.attn, MultiHeadAttention) and isinstance(b.norm1, LayerNorm)
                    and isinstance(b.norm2, LayerNorm) and isinstance(b.ffn.layers[1], nn.GELU)
                    for b in model.trf_blocks)
        return cls(model, cache) if known and isinstance(model.final_norm, LayerNorm) else None

    def step(self, token: int) -> torch.Tensor:
        pos = self.cache.length
        x = (self.tok_emb[token] + self.pos_emb[pos]).view(1, -1)  # (1, emb_dim); dropout is off
        for layer in self.layers:
            x = layer.step(x)
        return self.head(self.final_norm(x))[0]
