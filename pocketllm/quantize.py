"""Int8 weights for faster generation on the CPU, and `to_precision`.

Generating one token reads every weight once, so on a CPU its speed is set by
memory bandwidth and by the matmul kernel.  Storing each linear layer's weights
as int8 (one scale per output row: w ≈ scale · q, q in [-127, 127]) reads a
quarter of fp32's bytes.  The answer changes slightly (about 1-2% relative
error per matmul), so this is an opt-in (`--dtype int8`) for inference only —
training and checkpoints are untouched.  Like the other speed-ups
(`pocketllm/speedups.py`) it swaps modules of a built model.
"""
from __future__ import annotations

import warnings
from functools import partial

import torch
from torch import nn

from .errors import PocketLLMError
from .speedups import (PackedLinear, fuse_qkv, input_major_weights, packed_bf16_available, release_freed_memory,
                       swap_linears)


def _int8_rows(weight: torch.Tensor):
    """(int8 weight, fp32 scale per row) with weight ≈ scale[:, None] · q."""
    w = weight.detach().float()
    scales = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    return torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8), scales


class Int8Linear(nn.Module):
    """y = x · (scale · q)ᵀ + b with int8 q and one scale per output row.

    On x86 CPUs it runs fbgemm's dynamic int8 linear: each call quantizes the
    activations to 8 bits too and multiplies int8 by int8 (VNNI), which at batch 1
    is 2-3x faster than fp32 and about 1.5-2% off per matmul.  Elsewhere it runs
    torch's weight-only kernel (`_weight_int8pack_mm`, bf16 activations)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        qweight, scales = _int8_rows(weight)
        self.out_features = weight.shape[0]
        if FBGEMM:  # the packed weight is the only copy kept
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # quantized tensor types are deprecated, the op is not (yet)
                q = torch._make_per_channel_quantized_tensor(
                    qweight, scales.double(), torch.zeros_like(scales, dtype=torch.long), 0)
            # (a copy of the bias: the packed weight keeps it, and it must not keep the checkpoint's file map)
            self.packed = torch.ops.quantized.linear_prepack(q, None if bias is None else bias.detach().float().clone())
        else:
            self.register_buffer("qweight", qweight)
            self.register_buffer("scales", scales.to(torch.bfloat16))
            self.register_buffer("bias", None if bias is None else bias.detach().to(torch.bfloat16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])                       # (tokens, in)
        if FBGEMM:
            out = torch.ops.quantized.linear_dynamic(flat.float(), self.packed, REDUCE_RANGE)
        else:
            out = torch.ops.aten._weight_int8pack_mm(flat.to(torch.bfloat16).contiguous(), self.qweight,
                                                     self.scales)
            out = out if self.bias is None else out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def as_function(self):
        """x (tokens, in) fp32 -> (tokens, out): the kernel call alone, for `pocketllm/decoder.py`."""
        if FBGEMM:
            return partial(torch.ops.quantized.linear_dynamic, W_prepack=self.packed, reduce_range=REDUCE_RANGE)
        return self

    def int8_weight(self) -> torch.Tensor:
        """The int8 weight (out, in), for inspection and tests."""
        if FBGEMM:
            return torch.ops.quantized.linear_unpack(self.packed)[0].int_repr()
        return self.qweight

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "Int8Linear":
        return cls(linear.weight, linear.bias)


def _has_fbgemm() -> bool:
    try:
        return "fbgemm" in torch.backends.quantized.supported_engines and torch.backends.cpu.get_cpu_capability() in (
            "AVX2", "AVX512")
    except AttributeError:
        return False


def _has_vnni() -> bool:
    """int8 dot products that add up in 32 bits (VNNI): 8-bit activations cannot saturate."""
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


FBGEMM = _has_fbgemm()
# Without VNNI, fbgemm's 8-bit × 8-bit pairs add up in 16 bits and can saturate, so activations
# use 7 bits there; with VNNI they keep all 8.
REDUCE_RANGE = not _has_vnni()


@torch.no_grad()
def quantize_int8(model):
    """Turn a GPTModel into an int8-weight model for generation, in place (also returned).

    Every linear layer, q/k/v fused into one, and the output head (untied from the
    token embedding) get int8 weights; embeddings and norms stay fp32."""
    if model.tok_emb.weight.device.type != "cpu":
        raise PocketLLMError("int8 generation is for the CPU; on a GPU use bf16 (--dtype bf16).",
                             code="quantize.not_cpu")
    model.float().eval()
    fuse_qkv(model)
    swap_linears(model, Int8Linear.from_linear)
    for p in model.parameters():  # embeddings and norms get memory of their own, so a checkpoint file
        p.data = p.data.clone()   # mapped into memory (and the fp32 weights read through it) is let go
    release_freed_memory()
    return model


PRECISIONS = ("fp32", "bf16", "int8")


def to_precision(model, name: str | None):
    """A model for generation (in place, also returned): fp32 (the plain model; on a CPU its weights
    stored input-major, `input_major_weights`), bf16 (half the bytes; q/k/v in one matmul,
    oneDNN-packed linears) or int8 (`quantize_int8`)."""
    if name in (None, "", "fp32", "float32"):
        model.float()
        return input_major_weights(model) if model.tok_emb.weight.device.type == "cpu" else model
    if name in ("bf16", "bfloat16"):
        fuse_qkv(model.to(torch.bfloat16))
        if model.tok_emb.weight.device.type == "cpu" and packed_bf16_available():
            swap_linears(model, PackedLinear)
        release_freed_memory()
        return model
    if name == "int8":
        return quantize_int8(model)
    raise PocketLLMError("Unknown precision {name}; use one of {choices}.", code="quantize.unknown_precision",
                         name=repr(name), choices=", ".join(PRECISIONS))
