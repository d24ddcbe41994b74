"""Faster generation by swapping modules of a built model for equivalent ones.

`pocketllm/model/` is the maths, written to be read.  Generating one token at a
time on a CPU is bound by reading the weights and by the cost of each operation,
so for generation (never for training) a model's modules can be replaced, in
place, by ones that compute the same numbers faster:

- `FusedQKVAttention`: queries, keys and values from one (emb, 3·emb) matmul
  instead of three (the weights are moved, not copied: the three linears are gone);
- `PackedLinear`: a bf16 linear whose weight oneDNN has laid out for its kernel
  (used by `to_precision(model, "bf16")` where the CPU has the kernel);
- int8 weights: `pocketllm/quantize.py`.

A swapped model keeps its forward, trace and KV cache; its state dict differs, so
it is for generation only (load the checkpoint again to train or save).
"""
from __future__ import annotations

import ctypes
import gc

import torch
from torch import nn

from .model import GPTModel, MultiHeadAttention


class FusedQKVAttention(MultiHeadAttention):
    """The same attention with q, k and v from one matmul.  Only `project` differs."""

    def __init__(self, attn: MultiHeadAttention):
        nn.Module.__init__(self)  # not MultiHeadAttention's: no q/k/v linears of its own
        self.num_heads, self.num_kv_heads, self.head_dim = attn.num_heads, attn.num_kv_heads, attn.head_dim
        parts = [attn.get_submodule(name) for name in MultiHeadAttention.LINEARS[:3]]
        self.widths = [p.out_features for p in parts]  # queries, keys, values (fewer kv heads: narrower)
        self.qkv = concat_linears(parts)
        for name, module in attn.named_children():  # the norms, the rotation, the kernel, out_proj
            if name not in MultiHeadAttention.LINEARS[:3]:
                setattr(self, name, module)

    def project(self, x: torch.Tensor):
        q, k, v = self.qkv(x).split(self.widths, dim=-1)  # (b, t, heads·head_dim), (b, t, kv_heads·head_dim) ×2
        return self.split_heads(q), self.split_heads(k, self.num_kv_heads), self.split_heads(v, self.num_kv_heads)


@torch.no_grad()
def concat_linears(parts: list[nn.Linear]) -> nn.Linear:
    """One Linear whose output is the parts' outputs side by side."""
    ref = parts[0].weight
    fused = nn.Linear(ref.shape[1], sum(p.out_features for p in parts), bias=parts[0].bias is not None,
                      device="meta")
    fused.weight = nn.Parameter(torch.cat([p.weight for p in parts]), requires_grad=False)
    if parts[0].bias is not None:
        fused.bias = nn.Parameter(torch.cat([p.bias for p in parts]), requires_grad=False)
    return fused


def release_freed_memory():
    """Hand the memory of replaced weights back to the system (glibc keeps freed blocks of a
    few MB in its heap, so after a swap the process would stay as big as before)."""
    gc.collect()  # tensors read from a checkpoint file can hold its memory map through a reference cycle
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def fuse_qkv(model: GPTModel) -> GPTModel:
    """Swap every block's attention for a `FusedQKVAttention` (in place; returns the model)."""
    for block in model.blocks:
        attn = block.attn
        parts = () if isinstance(attn, FusedQKVAttention) else [attn.get_submodule(name)
                                                                for name in MultiHeadAttention.LINEARS[:3]]
        if parts and all(type(p) is nn.Linear for p in parts):  # (not LoRA-wrapped ones)
            block.attn = FusedQKVAttention(attn)
    return model


class PackedLinear(nn.Module):
    """A bf16 linear on oneDNN's pre-packed weight layout (batch-1 decoding is ~2x faster
    than `F.linear` on bf16 tensors, which repacks the weight on every call)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach().to(torch.bfloat16)
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(weight, 1))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().to(torch.bfloat16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).to(torch.bfloat16)
        out = torch.ops.mkldnn._linear_pointwise(flat, self.packed, self.bias, "none", [], "")
        return out.reshape(*x.shape[:-1], self.out_features)

    def as_function(self):
        """x (tokens, in) bf16 -> (tokens, out): the kernel call alone, for `pocketllm/decoder.py`."""
        packed, bias = self.packed, self.bias
        return lambda x: torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


def packed_bf16_available() -> bool:
    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return False
    try:
        PackedLinear(nn.Linear(8, 8))(torch.randn(1, 8))
        return True
    except (RuntimeError, AttributeError):
        return False


def swap_linears(model: GPTModel, make) -> GPTModel:
    """Replace every nn.Linear inside the blocks, and a language model's output head, by
    make(linear), in place.  A head tied to the token embedding gets its own converted copy."""
    for block in model.blocks:
        for parent in block.modules():
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Linear):
                    setattr(parent, name, make(child))
    if model.num_classes is None and isinstance(model.out_head, nn.Linear):
        model.out_head = make(model.out_head)
    return model
