"""Hugging Face's layouts, one table per family (gpt2, llama, qwen3): tensor names and `config.json`.

GPT-2 first (its own functions: its weights need transposing and splitting), then
Llama and Qwen3 (`BLOCK_NAMES`: a name for a name, nothing to transpose).  No other
file names a Hugging Face tensor.

Facts of that layout (as published by `transformers`' GPT2Model):
- names: `wte`, `wpe`, `h.{i}.ln_1`, `h.{i}.attn.c_attn` (query, key and value
  side by side), `h.{i}.attn.c_proj`, `h.{i}.ln_2`, `h.{i}.mlp.c_fc`,
  `h.{i}.mlp.c_proj`, `ln_f`, optionally prefixed by `transformer.`, plus
  `lm_head.weight` (tied to `wte`) and non-weight buffers `attn.bias`/`attn.masked_bias`;
- its linears are `Conv1D`, storing weights as (in, out): the transpose of
  torch's `nn.Linear`.

Facts of the Llama and Qwen3 layouts (transformers' LlamaForCausalLM, Qwen3ForCausalLM):
`model.embed_tokens`, `model.layers.{i}.input_layernorm`, `self_attn.{q,k,v,o}_proj`
(Qwen3 also `self_attn.q_norm`, `self_attn.k_norm`, RMSNorms over head_dim),
`post_attention_layernorm`, `mlp.{gate,up,down}_proj`, `model.norm`, `lm_head`
(absent or equal to the embedding when tied); nn.Linear's (out, in) as ours; rotary
positions by "rotate half", as `model/rope.py`.

A leaf: `checkpoint.py` reads these files and `huggingface.py` writes them, both through
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


# ---- Llama and Qwen3 -------------------------------------------------------------

FAMILY_OF_ARCHITECTURE = {"GPT2LMHeadModel": "gpt2", "LlamaForCausalLM": "llama", "Qwen3ForCausalLM": "qwen3"}
ARCHITECTURE_OF_FAMILY = {family: name for name, family in FAMILY_OF_ARCHITECTURE.items()}
MODEL_TYPE = {"gpt2": "gpt2", "llama": "llama", "qwen3": "qwen3"}

# PocketLLM name -> Hugging Face name, outside the blocks
TOP_NAMES = {"tok_emb.weight": "model.embed_tokens.weight", "final_norm.weight": "model.norm.weight",
             "out_head.weight": "lm_head.weight"}
# PocketLLM name in block i (trf_blocks.{i}.) -> Hugging Face name in layer i (model.layers.{i}.)
LLAMA_BLOCK = {
    "norm1.weight": "input_layernorm.weight",
    "attn.W_query.weight": "self_attn.q_proj.weight",
    "attn.W_key.weight": "self_attn.k_proj.weight",
    "attn.W_value.weight": "self_attn.v_proj.weight",
    "attn.out_proj.weight": "self_attn.o_proj.weight",
    "norm2.weight": "post_attention_layernorm.weight",
    "ffn.gate.weight": "mlp.gate_proj.weight",
    "ffn.up.weight": "mlp.up_proj.weight",
    "ffn.down.weight": "mlp.down_proj.weight",
}
QWEN3_BLOCK = {**LLAMA_BLOCK, "attn.q_norm.weight": "self_attn.q_norm.weight",
               "attn.k_norm.weight": "self_attn.k_norm.weight"}
BLOCK_NAMES = {"llama": LLAMA_BLOCK, "qwen3": QWEN3_BLOCK}
# Tensors a Hugging Face file may hold that are not weights (older files kept RoPE's frequencies).
NOT_WEIGHTS = ("rotary_emb.inv_freq",)


def family_of_config(hf: dict, source: str = "config.json") -> str:
    """gpt2 / llama / qwen3 from a Hugging Face config.json's `architectures` (or `model_type`)."""
    names = hf.get("architectures") or []
    for name in names if isinstance(names, list) else []:
        if name in FAMILY_OF_ARCHITECTURE:
            return FAMILY_OF_ARCHITECTURE[name]
    if hf.get("model_type") in MODEL_TYPE.values():
        return hf["model_type"]
    raise PocketLLMError("{source} describes {names}; PocketLLM opens {known}.", code="hf.unknown_architecture",
                         source=source, names=", ".join(map(str, names))[:200] or repr(hf.get("model_type"))[:60],
                         known=", ".join(FAMILY_OF_ARCHITECTURE))


def name_table(cfg) -> dict[str, str]:
    """Every PocketLLM tensor name of a Llama/Qwen3 model of `cfg` -> its Hugging Face name
    (the head's only when it is not tied)."""
    table = {k: v for k, v in TOP_NAMES.items() if k != "out_head.weight" or not cfg.tie_embeddings}
    for i in range(cfg.num_layers):
        for ours, theirs in BLOCK_NAMES[cfg.arch].items():
            table[f"trf_blocks.{i}.{ours}"] = f"model.layers.{i}.{theirs}"
    return table


def config_from_hf(hf: dict, source: str = "config.json") -> dict:
    """ModelConfig's keys from a Hugging Face config.json of any family (`ModelConfig.from_dict` checks
    and bounds them; this module stays a leaf)."""
    family = family_of_config(hf, source)
    if family == "gpt2":
        return {
            "vocab_size": hf.get("vocab_size"), "context_length": hf.get("n_positions", hf.get("n_ctx")),
            "emb_dim": hf.get("n_embd"), "num_heads": hf.get("n_head"), "num_layers": hf.get("n_layer"),
            "drop_rate": 0.0, "qkv_bias": True, "tie_embeddings": hf.get("tie_word_embeddings", True) is not False,
            "norm_eps": hf.get("layer_norm_epsilon", 1e-5)}
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    kind = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) else "?"
    if kind not in ("default", "llama3") or hf.get("attention_bias") or hf.get("mlp_bias") \
            or hf.get("hidden_act", "silu") != "silu" or hf.get("use_sliding_window"):
        raise PocketLLMError("{source}: this {family} model uses a part PocketLLM does not build yet (rope type "
                             "{rope}, attention_bias {bias}, activation {act}, sliding window {window}).",
                             code="hf.unsupported_part", source=source, family=family, rope=str(kind)[:40],
                             bias=hf.get("attention_bias"), act=str(hf.get("hidden_act"))[:40],
                             window=hf.get("use_sliding_window"))
    theta = rope.get("rope_theta", hf.get("rope_theta", 10_000.0)) if isinstance(rope, dict) else None
    values = {
        "arch": family, "vocab_size": hf.get("vocab_size"), "context_length": hf.get("max_position_embeddings"),
        "emb_dim": hf.get("hidden_size"), "num_heads": hf.get("num_attention_heads"),
        "num_kv_heads": hf.get("num_key_value_heads") or hf.get("num_attention_heads"),
        "head_dim": hf.get("head_dim") or 0, "num_layers": hf.get("num_hidden_layers"),
        "hidden_dim": hf.get("intermediate_size"), "drop_rate": 0.0, "rope_theta": theta,
        "norm_eps": hf.get("rms_norm_eps", 1e-6),  # (transformers' default for both)
        "tie_embeddings": bool(hf.get("tie_word_embeddings", False)),
    }
    if kind == "llama3":
        values["rope_scaling"] = {k: rope.get(k) for k in ("factor", "low_freq_factor", "high_freq_factor",
                                                           "original_max_position_embeddings")}
    return values


def hf_family_config(model, bos_id: int | None = None, eos_id: int | None = None) -> dict:
    """The `config.json` LlamaForCausalLM / Qwen3ForCausalLM.from_pretrained reads for this model."""
    c = model.cfg
    if c.qkv_bias or c.bias or c.position != "rope" or c.norm != "rmsnorm" or c.mlp != "swiglu" \
            or c.qk_norm != (c.arch == "qwen3"):
        raise PocketLLMError("This model's parts ({parts}) are not {family}'s, so Hugging Face's {family} layout "
                             "cannot hold it.", code="hf.parts_not_family", family=c.arch,
                             parts=f"{c.position}, {c.norm}, {c.mlp}, qk_norm {c.qk_norm}, bias {c.bias or c.qkv_bias}")
    rope = {"rope_type": "default", "rope_theta": c.rope_theta}
    if c.rope_scaling:
        factor, low, high, original = c.rope_scaling
        rope = {"rope_type": "llama3", "rope_theta": c.rope_theta, "factor": factor, "low_freq_factor": low,
                "high_freq_factor": high, "original_max_position_embeddings": original}
    config = {
        "architectures": [ARCHITECTURE_OF_FAMILY[c.arch]], "model_type": MODEL_TYPE[c.arch],
        "vocab_size": c.vocab_size, "hidden_size": c.emb_dim, "intermediate_size": c.hidden_dim,
        "num_hidden_layers": c.num_layers, "num_attention_heads": c.num_heads,
        "num_key_value_heads": c.num_kv_heads, "head_dim": c.head_dim, "hidden_act": "silu",
        "max_position_embeddings": c.context_length, "rms_norm_eps": c.norm_eps, "rope_theta": c.rope_theta,
        "rope_parameters": rope, "attention_bias": False, "attention_dropout": 0.0,
        "tie_word_embeddings": model.is_tied, "bos_token_id": bos_id, "eos_token_id": eos_id,
        "torch_dtype": str(model.tok_emb.weight.dtype).removeprefix("torch."),
    }
    if c.rope_scaling:
        config["rope_scaling"] = rope
    if c.arch == "llama":
        config["mlp_bias"] = False
    return config


def to_hf_tensors(model) -> dict:
    """A model's tensors in its family's Hugging Face names (and GPT-2's (in, out) layout)."""
    if model.cfg.arch == "gpt2":
        return pocketllm_to_hf(model)
    sd = model.state_dict()
    return {theirs: sd[ours].detach().cpu().contiguous() for ours, theirs in name_table(model.cfg).items()}


def hf_config_of(model, bos_id: int | None, eos_id: int | None) -> dict:
    """The family's config.json for `model`."""
    if model.cfg.arch == "gpt2":
        return hf_config(model, eos_id if eos_id is not None else GPT2_EOT_ID)
    return hf_family_config(model, bos_id, eos_id)
