"""Int8 weight-only quantization, for faster generation on the CPU.

Generating one token reads every weight once, so on a CPU its speed is set by
memory bandwidth.  Storing each linear layer's weights as int8 (one scale per
output row: w ≈ scale · q, q in [-127, 127]) reads a quarter of fp32's bytes
and half of bf16's; activations stay bf16.  The answer changes slightly (about
1% relative error per matmul), so this is an opt-in (`--dtype int8`) for
inference only — training and checkpoints are untouched.
"""
from __future__ import annotations

import torch
from torch import nn

from .errors import PocketLLMError


class Int8Linear(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, act_dtype=torch.bfloat16):
        super().__init__()
        w = weight.detach().float()
        scales = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        self.register_buffer("qweight", torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales.to(act_dtype))
        self.register_buffer("bias", None if bias is None else bias.detach().to(act_dtype))

    def forward(self, x):
        flat = x.reshape(-1, x.shape[-1]).to(self.scales.dtype).contiguous()
        out = torch.ops.aten._weight_int8pack_mm(flat, self.qweight, self.scales)
        out = out.reshape(*x.shape[:-1], out.shape[-1])
        return out if self.bias is None else out + self.bias

    @classmethod
    def from_linear(cls, linear: nn.Linear, act_dtype=torch.bfloat16) -> "Int8Linear":
        return cls(linear.weight, linear.bias, act_dtype)


@torch.no_grad()
def quantize_int8(model, act_dtype=torch.bfloat16):
    """Turn a (fp32 or bf16) GPTModel into an int8-weight model for generation, in place."""
    if model.tok_emb.weight.device.type != "cpu":
        raise PocketLLMError("int8 generation is for the CPU; on a GPU use bf16.")
    model.eval()
    for block in model.trf_blocks:
        attn = block.attn
        parts = [attn.W_query, attn.W_key, attn.W_value]
        bias = torch.cat([p.bias for p in parts]) if parts[0].bias is not None else None
        attn.qkv_int8 = Int8Linear(torch.cat([p.weight for p in parts]), bias, act_dtype)
        for p in parts:  # the int8 copy replaces them; keep only a stub to save memory
            p.weight = nn.Parameter(torch.empty(0), requires_grad=False)
            if p.bias is not None:
                p.bias = nn.Parameter(torch.empty(0), requires_grad=False)
        attn.out_proj = Int8Linear.from_linear(attn.out_proj, act_dtype)
        block.ffn.layers[0] = Int8Linear.from_linear(block.ffn.layers[0], act_dtype)
        block.ffn.layers[2] = Int8Linear.from_linear(block.ffn.layers[2], act_dtype)
    if model.num_classes is None:
        model.out_head = Int8Linear.from_linear(model.out_head, act_dtype)  # unties from tok_emb
    model.to(act_dtype)  # embeddings, norms (int8 buffers keep their type)
    model.quantized = "int8"
    return model


PRECISIONS = ("fp32", "bf16", "int8")


def to_precision(model, name: str | None):
    """fp32 (as loaded), bf16 (half the bytes) or int8 (weights only; bf16 activations)."""
    if name in (None, "", "fp32", "float32"):
        return model.float()
    if name in ("bf16", "bfloat16"):
        return model.to(torch.bfloat16)
    if name == "int8":
        return quantize_int8(model.float())
    raise PocketLLMError(f"Unknown precision {name!r}; use one of {', '.join(PRECISIONS)}.")
