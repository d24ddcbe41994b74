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

fp32 swaps no module: `input_major_weights` only changes where each weight's numbers
sit in memory (`to_precision(model, "fp32")`), so the model stays the plain model.
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


def input_major(linears) -> torch.Tensor | None:
    """The row-major (in, Σ out) matrix whose column blocks are these plain linears' weights,
    transposed; None where their weights are not laid out so (`input_major_weights`)."""
    if not linears or not all(type(m) is nn.Linear for m in linears):
        return None
    first = linears[0].weight
    n_in, width = first.shape[1], sum(m.out_features for m in linears)
    if first.stride() != (1, width):
        return None
    matrix = first.t().as_strided((n_in, width), (width, 1))
    start = 0
    for m in linears:  # each weight must be exactly its block of that one matrix (the same memory)
        block, mine = matrix[:, start:start + m.out_features], m.weight.t()
        if (mine.data_ptr(), mine.shape, mine.stride()) != (block.data_ptr(), block.shape, block.stride()):
            return None
        start += m.out_features
    return matrix


@torch.no_grad()
def _lay_out_input_major(linears: list[nn.Linear]):
    """Give the linears (one input width) weights that are transposed column blocks of one new
    row-major (in, Σ out) matrix: the same values, the old tensors let go."""
    if input_major(linears) is not None:
        return
    ref = linears[0].weight
    matrix = torch.empty(ref.shape[1], sum(m.out_features for m in linears), dtype=ref.dtype, device=ref.device)
    start = 0
    for m in linears:
        view = matrix[:, start:start + m.out_features].t()  # (out, in), as nn.Linear keeps it
        view.copy_(m.weight)
        m.weight = nn.Parameter(view, requires_grad=m.weight.requires_grad)
        start += m.out_features


# Linears of a block that read the same input: one matrix each group, so the decoder makes one call.
SHARED_INPUT = (("attn", MultiHeadAttention.LINEARS[:3]), ("ffn", ("gate", "up")))


@torch.no_grad()
def input_major_weights(model: GPTModel) -> GPTModel:
    """fp32 generation on a CPU: every linear's weight stored input-major (in place; returns the model).

    No module is swapped and no value changes: a weight W (out, in) becomes a transposed view of a
    row-major (in, out) tensor, so the model, its state dict and its forward stay the plain ones and
    nothing is kept twice (training, LoRA or a new vocabulary change what decoding reads).  Why: at
    batch 1 torch's fp32 matmul is MKL's sgemm, which on the AMD EPYC this was measured on reads the
    out-major layout at ~12 GB/s on one core and does not use a second, but streams the input-major
    one at ~19-25 GB/s; and rows of the input can be split between threads (`pocketllm/decoder.py`,
    bench/README.md).  A block's q/k/v (and SwiGLU's gate/up) become column blocks of one matrix,
    run as one matmul.  A head tied to the token embedding stays tied (the embedding reads the
    transposed table: a strided row per token)."""
    for block in model.blocks:
        grouped = set()
        for parent_name, names in SHARED_INPUT:
            parent = getattr(block, parent_name)
            parts = [getattr(parent, n, None) for n in names]
            if all(type(p) is nn.Linear for p in parts):
                _lay_out_input_major(parts)
                grouped.update(id(p) for p in parts)
        for module in list(block.modules()):
            if type(module) is nn.Linear and id(module) not in grouped:
                _lay_out_input_major([module])
    if model.num_classes is None and type(model.out_head) is nn.Linear:
        tied = model.is_tied
        _lay_out_input_major([model.out_head])
        if tied:
            model.tok_emb.weight = model.out_head.weight
    laid_out = {id(m.weight) for m in model.modules() if type(m) is nn.Linear}
    for p in model.parameters():  # the rest (norms, biases, tables) gets memory of its own, so a checkpoint
        if id(p) not in laid_out:  # file mapped into memory (and the weights read through it) is let go
            p.data = p.data.clone()
    release_freed_memory()
    return model


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
