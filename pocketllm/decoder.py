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
int8 and packed-bf16 swaps, and for fp32 weights stored input-major
(`to_precision(model, "fp32")`, `speedups.input_major_weights`) a matmul split
over the input's rows, one slice per thread (`split_matmul`).  (int8 decoding:
1.15x faster on 1 thread, 1.4x on 2; bench/README.md.)

The modern parts (Llama, Qwen3) have their step here too: RMSNorm, rotary
positions (the model's own `RoPE`, which keeps the angle of the position it
last turned), QK-norm, grouped-query attention (the kernel's `enable_gqa`: the
cache keeps only the kv heads) and SwiGLU.  Each is chosen when the decoder is
built, so the step runs the same straight path for every family.

Only for generation (eval mode, a language-model head); anything else — or a
model with parts it does not know — runs through the model's own forward.
"""
from __future__ import annotations

from functools import partial

import torch
from torch import nn
import torch.nn.functional as F

from .model import (FeedForward, GPTModel, KVCache, LayerCache, LayerNorm, LearnedPositions, MultiHeadAttention,
                    NoPositions, NoRotation, RMSNorm, RoPE, SwiGLU)
from .speedups import input_major


def split_matmul(matrix: torch.Tensor, bias: torch.Tensor | None):
    """x (1, in) -> x · matrix + bias (1, out), for a row-major (in, out) fp32 matrix on the CPU.

    With n threads the input's rows are cut in n slices and `bmm` multiplies each slice by its
    part of x (MKL runs a batch's matmuls side by side, one per thread), then the n partial
    results are added: one thread streams each part of the weights.  (A single matmul of this
    shape runs on one core here whatever the thread count.)  On one thread: one `addmm`."""
    n_in, n_out = matrix.shape
    threads = torch.get_num_threads()
    chunks = max(c for c in range(1, threads + 1) if n_in % c == 0)
    if chunks == 1:
        return partial(torch.mm, mat2=matrix) if bias is None else partial(torch.addmm, bias, mat2=matrix)
    slices = matrix.view(chunks, n_in // chunks, n_out)
    if bias is None:
        return lambda x: torch.bmm(x.view(chunks, 1, -1), slices).sum(0)
    first = torch.zeros(chunks, 1, n_out, dtype=bias.dtype)  # the bias joins the first slice's sum
    first[0, 0] = bias
    return lambda x: torch.baddbmm(first, x.view(chunks, 1, -1), slices).sum(0)


def input_major_function(linears):
    """x (1, in) -> the linears' outputs side by side (1, Σ out), one split matmul, where their fp32
    weights are one input-major matrix on the CPU; else None."""
    matrix = input_major(linears)
    if matrix is None or matrix.dtype != torch.float32 or matrix.device.type != "cpu":
        return None
    biases = [m.bias for m in linears]
    if any(b is None for b in biases) and not all(b is None for b in biases):
        return None
    return split_matmul(matrix, None if biases[0] is None else torch.cat([b.detach() for b in biases]))


def linear_function(module: nn.Module):
    """x (tokens, in) -> module(x) (tokens, out), by the quickest call for the module's kind:
    a swapped-in linear names its kernel (`as_function`), a plain one is `F.linear`, anything
    else (a LoRA layer) is the module itself."""
    if hasattr(module, "as_function"):
        return module.as_function()
    if type(module) is nn.Linear:
        return input_major_function([module]) or partial(F.linear, weight=module.weight, bias=module.bias)
    return module


def _norm(norm):
    if isinstance(norm, LayerNorm):
        return partial(F.layer_norm, normalized_shape=norm.weight.shape, weight=norm.weight, bias=norm.bias,
                       eps=norm.eps)
    return norm  # RMSNorm: its own forward (float32 inside, as the model's)


def _gelu_network(ffn: FeedForward):
    first, gelu, second = ffn.layers
    fc1, fc2 = linear_function(first), linear_function(second)
    act = partial(F.gelu, approximate=gelu.approximate)
    return lambda h: fc2(act(fc1(h)))


def _swiglu_network(ffn: SwiGLU):
    down = linear_function(ffn.down)
    both = input_major_function([ffn.gate, ffn.up])  # gate and up from one matmul
    if both is not None:
        width = ffn.gate.out_features

        def network(h):
            gate, up = both(h).split(width, -1)
            return down(F.silu(gate) * up)
        return network
    gate, up = linear_function(ffn.gate), linear_function(ffn.up)
    return lambda h: down(F.silu(gate(h)) * up(h))


FEED_FORWARD_STEPS = {FeedForward: _gelu_network, SwiGLU: _swiglu_network}


class _Layer:
    """One transformer block's parts, as plain functions, and its cache."""

    def __init__(self, block, cache: LayerCache):
        attn = block.attn
        self.heads, self.kv_heads, self.head_dim = attn.num_heads, attn.num_kv_heads, attn.head_dim
        self.widths = [self.heads * self.head_dim] + 2 * [self.kv_heads * self.head_dim]
        self.norm1, self.norm2 = _norm(block.norm1), _norm(block.norm2)
        fused = getattr(attn, "qkv", None)
        parts = [attn.get_submodule(n) for n in MultiHeadAttention.LINEARS[:3]] if fused is None else []
        # one matmul: a fused module (bf16, int8), or q/k/v weights laid out as one matrix (fp32)
        self.qkv = linear_function(fused) if fused is not None else input_major_function(parts)
        self.q_k_v = None if self.qkv is not None else [linear_function(p) for p in parts]
        self.out_proj = linear_function(attn.out_proj)
        # QK-norm and RoPE only where the model has them (GPT-2's step stays as it was)
        self.qk_norm = None if isinstance(attn.q_norm, nn.Identity) else (attn.q_norm, attn.k_norm)
        self.rope = None if isinstance(attn.rope, NoRotation) else attn.rope
        self.grouped = self.kv_heads != self.heads
        self.ffn = FEED_FORWARD_STEPS[type(block.ffn)](block.ffn)
        self.cache = cache

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """x (1, emb_dim), the residual stream at the new position; updated in place and returned."""
        h = self.norm1(x)
        shapes = [(1, n, 1, self.head_dim) for n in (self.heads, self.kv_heads, self.kv_heads)]
        if self.qkv is not None:  # (batch, heads, one position, head_dim)
            q, k, v = (part.view(shape) for part, shape in zip(self.qkv(h).split(self.widths, -1), shapes))
        else:
            q, k, v = (f(h).view(shape) for f, shape in zip(self.q_k_v, shapes))
        if self.qk_norm is not None:
            q, k = self.qk_norm[0](q), self.qk_norm[1](k)
        if self.rope is not None:
            pos = self.cache.length
            q, k = self.rope(q, pos), self.rope(k, pos)
        keys, values = self.cache.append(k, v)  # (1, kv_heads, positions so far, head_dim)
        # One query sees every cached position: no mask needed.
        out = F.scaled_dot_product_attention(q, keys, values, enable_gqa=self.grouped)
        x.add_(self.out_proj(out.view(1, -1)))
        x.add_(self.ffn(self.norm2(x)))
        return x


class Decoder:
    """Next-token logits, one token at a time, sharing the model's KV cache.

    Fill the cache with the model's own forward (the prompt), then call `step(token)`
    for each new token: it appends the token at position `cache.length` and returns
    the logits (vocab,) for the position after it."""

    def __init__(self, model: GPTModel, cache: KVCache):
        self.cache = cache
        self.tok_emb = model.tok_emb.weight
        self.pos_emb = model.pos_emb.weight if isinstance(model.pos_emb, LearnedPositions) else None
        self.layers = [_Layer(block, cache[i]) for i, block in enumerate(model.blocks)]
        self.final_norm = _norm(model.final_norm)
        self.head = linear_function(model.out_head)

    @classmethod
    def for_model(cls, model, cache: KVCache | None) -> "Decoder | None":
        """A Decoder for `model`, or None where the model's forward must run (training mode,
        a classifier, no cache, or parts this loop does not know)."""
        if cache is None or model.training or getattr(model, "num_classes", None) is not None:
            return None
        norms = (LayerNorm, RMSNorm)
        known = all(isinstance(b.attn, MultiHeadAttention) and isinstance(b.norm1, norms)
                    and isinstance(b.norm2, norms) and type(b.ffn) in FEED_FORWARD_STEPS
                    and (type(b.ffn) is not FeedForward or isinstance(b.ffn.layers[1], nn.GELU))
                    and isinstance(b.attn.rope, (NoRotation, RoPE))
                    and all(isinstance(n, (nn.Identity, RMSNorm)) for n in (b.attn.q_norm, b.attn.k_norm))
                    for b in model.blocks)
        known = known and isinstance(model.pos_emb, (LearnedPositions, NoPositions))
        return cls(model, cache) if known and isinstance(model.final_norm, norms) else None

    def step(self, token: int) -> torch.Tensor:
        pos = self.cache.length
        if self.pos_emb is not None:
            x = (self.tok_emb[token] + self.pos_emb[pos]).view(1, -1)  # (1, emb_dim); dropout is off
        else:  # rotary positions: they enter in attention (a copy: the step adds into x in place)
            x = self.tok_emb[token].clone(memory_format=torch.contiguous_format).view(1, -1)
        for layer in self.layers:
            x = layer.step(x)
        return self.head(self.final_norm(x))[0]
