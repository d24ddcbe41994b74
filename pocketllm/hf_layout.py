"""Hugging Face's GPT-2 layout: its tensor names and its `config.json`, in one place.

Facts of that layout (as published by `transformers`' GPT2Model):
- names: `wte`, `wpe`, `h.{i}.ln_1`, `h.{i}.attn.c_attn` (query, key and value
  side by side), `h.{i}.attn.c_proj`, `h.{i}.ln_2`, `h.{i}.mlp.c_fc`,
  `h.{i}.mlp.c_proj`, `ln_f`, optionally prefixed by `transformer.`, plus
  `lm_head.weight` (tied to `wte`) and non-weight buffers `attn.bias`/`attn.masked_bias`;
- its linears are `Conv1D`, storing weights as (in, out): the transpose of
  torch's `nn.Linear`.

A leaf: `checkpoint.py` reads these files and `gpt2.py` writes them, both through
this module, which imports neither.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .errors import PocketLLMError

GPT2_EOT_ID = 50256  # <|endoftext|> in OpenAI's vocabulary
QKV = ("W_query", "W_key", "W_value")  # PocketLLM's three projections, in c_attn's order


def is_hf_gpt2(tensors: dict) -> bool:
    return any(k in tensors for k in ("wte.weight", "transformer.wte.weight"))


def hf_to_pocketllm(hf: dict) -> dict:
    """Rename and transpose Hugging Face GPT-2 tensors into PocketLLM's names.

    Works tensor by tensor, so with a memory-mapped source only one layer's
    worth of new memory exists at a time beyond the result.
    """
    sd = {k.removeprefix("transformer."): v for k, v in hf.items()}
    out = {
        "tok_emb.weight": sd["wte.weight"],
        "pos_emb.weight": sd["wpe.weight"],
        "final_norm.weight": sd["ln_f.weight"],
        "final_norm.bias": sd["ln_f.bias"],
    }
    if "lm_head.weight" in sd and not torch.equal(sd["lm_head.weight"], sd["wte.weight"]):
        out["out_head.weight"] = sd["lm_head.weight"]
    layers = 1 + max((int(k.split(".")[1]) for k in sd if k.startswith("h.")), default=-1)
    for i in range(layers):
        try:
            out.update(_block_from_hf(sd, f"h.{i}.", f"trf_blocks.{i}."))
        except KeyError as exc:
            raise PocketLLMError("GPT-2 weights are incomplete: block {block} has no {name}.",
                                 code="gpt2.incomplete", block=i, name=str(exc)) from None
    return out


def _block_from_hf(sd: dict, h: str, p: str) -> dict:
    weights = sd[h + "attn.c_attn.weight"].chunk(3, dim=1)  # (in, 3·out): q, k, v side by side
    biases = sd[h + "attn.c_attn.bias"].chunk(3, dim=0)
    out = {}
    for name, w, b in zip(QKV, weights, biases):
        out[p + f"attn.{name}.weight"] = w.t().contiguous()
        out[p + f"attn.{name}.bias"] = b.contiguous()
    out.update({
        p + "attn.out_proj.weight": sd[h + "attn.c_proj.weight"].t().contiguous(),
        p + "attn.out_proj.bias": sd[h + "attn.c_proj.bias"],
        p + "ffn.layers.0.weight": sd[h + "mlp.c_fc.weight"].t().contiguous(),
        p + "ffn.layers.0.bias": sd[h + "mlp.c_fc.bias"],
        p + "ffn.layers.2.weight": sd[h + "mlp.c_proj.weight"].t().contiguous(),
        p + "ffn.layers.2.bias": sd[h + "mlp.c_proj.bias"],
        p + "norm1.weight": sd[h + "ln_1.weight"], p + "norm1.bias": sd[h + "ln_1.bias"],
        p + "norm2.weight": sd[h + "ln_2.weight"], p + "norm2.bias": sd[h + "ln_2.bias"],
    })
    return out


def pocketllm_to_hf(model) -> dict:
    """A GPTModel's tensors in Hugging Face GPT2LMHeadModel's names and (in, out) layout."""
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    d = model.cfg.emb_dim
    out = {
        "transformer.wte.weight": sd["tok_emb.weight"],
        "transformer.wpe.weight": sd["pos_emb.weight"],
        "transformer.ln_f.weight": sd["final_norm.weight"],
        "transformer.ln_f.bias": sd["final_norm.bias"],
    }
    if not model.is_tied:
        out["lm_head.weight"] = sd["out_head.weight"]
    for i in range(model.cfg.num_layers):
        p, h = f"trf_blocks.{i}.", f"transformer.h.{i}."
        zeros = torch.zeros(d, dtype=sd[p + "attn.W_query.weight"].dtype)  # qkv_bias=False: HF always has one
        out.update({
            h + "attn.c_attn.weight": torch.cat([sd[p + f"attn.{n}.weight"] for n in QKV], 0).t(),
            h + "attn.c_attn.bias": torch.cat([sd.get(p + f"attn.{n}.bias", zeros) for n in QKV], 0),
            h + "attn.c_proj.weight": sd[p + "attn.out_proj.weight"].t(),
            h + "attn.c_proj.bias": sd[p + "attn.out_proj.bias"],
            h + "mlp.c_fc.weight": sd[p + "ffn.layers.0.weight"].t(),
            h + "mlp.c_fc.bias": sd[p + "ffn.layers.0.bias"],
            h + "mlp.c_proj.weight": sd[p + "ffn.layers.2.weight"].t(),
            h + "mlp.c_proj.bias": sd[p + "ffn.layers.2.bias"],
            h + "ln_1.weight": sd[p + "norm1.weight"], h + "ln_1.bias": sd[p + "norm1.bias"],
            h + "ln_2.weight": sd[p + "norm2.weight"], h + "ln_2.bias": sd[p + "norm2.bias"],
        })
    return {k: v.contiguous() for k, v in out.items()}


def hf_config(model, eot_id: int = GPT2_EOT_ID) -> dict:
    """The `config.json` GPT2LMHeadModel.from_pretrained reads for this model."""
    c = model.cfg
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": c.vocab_size, "n_positions": c.context_length, "n_ctx": c.context_length,
        "n_embd": c.emb_dim, "n_layer": c.num_layers, "n_head": c.num_heads, "n_inner": None,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "resid_pdrop": c.drop_rate, "embd_pdrop": c.drop_rate, "attn_pdrop": c.drop_rate,
        "initializer_range": 0.02, "bos_token_id": eot_id, "eos_token_id": eot_id,
        "tie_word_embeddings": model.is_tied, "torch_dtype": "float32",
    }


def hf_folder_heads(path: Path) -> int | None:
    """The head count from a Hugging Face `config.json` beside the weights, if there is one."""
    config_json = Path(path).parent / "config.json"
    try:
        value = json.loads(config_json.read_text(encoding="utf-8")).get("n_head")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value > 0 else None
