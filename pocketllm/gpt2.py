"""OpenAI's GPT-2 weights in and out, in Hugging Face's layout.

Facts of that layout (as published by `transformers`' GPT2Model):
- names: `wte`, `wpe`, `h.{i}.ln_1`, `h.{i}.attn.c_attn` (query, key and value
  side by side), `h.{i}.attn.c_proj`, `h.{i}.ln_2`, `h.{i}.mlp.c_fc`,
  `h.{i}.mlp.c_proj`, `ln_f`, optionally prefixed by `transformer.`, plus
  `lm_head.weight` (tied to `wte`) and non-weight buffers `attn.bias`/`attn.masked_bias`;
- its linears are `Conv1D`, storing weights as (in, out): the transpose of
  torch's `nn.Linear`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from .checkpoint import Checkpoint, _hf_folder_heads, load_model
from .errors import PocketLLMError
from .files import atomic_write
from .model import GPTModel

HUB_NAMES = {  # name -> Hugging Face repository
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
}


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
        h, p = f"h.{i}.", f"trf_blocks.{i}."
        try:
            w_q, w_k, w_v = sd[h + "attn.c_attn.weight"].chunk(3, dim=1)
            b_q, b_k, b_v = sd[h + "attn.c_attn.bias"].chunk(3, dim=0)
            out.update({
                p + "attn.W_query.weight": w_q.t().contiguous(), p + "attn.W_query.bias": b_q.contiguous(),
                p + "attn.W_key.weight": w_k.t().contiguous(), p + "attn.W_key.bias": b_k.contiguous(),
                p + "attn.W_value.weight": w_v.t().contiguous(), p + "attn.W_value.bias": b_v.contiguous(),
                p + "attn.out_proj.weight": sd[h + "attn.c_proj.weight"].t().contiguous(),
                p + "attn.out_proj.bias": sd[h + "attn.c_proj.bias"],
                p + "ffn.layers.0.weight": sd[h + "mlp.c_fc.weight"].t().contiguous(),
                p + "ffn.layers.0.bias": sd[h + "mlp.c_fc.bias"],
                p + "ffn.layers.2.weight": sd[h + "mlp.c_proj.weight"].t().contiguous(),
                p + "ffn.layers.2.bias": sd[h + "mlp.c_proj.bias"],
                p + "norm1.weight": sd[h + "ln_1.weight"], p + "norm1.bias": sd[h + "ln_1.bias"],
                p + "norm2.weight": sd[h + "ln_2.weight"], p + "norm2.bias": sd[h + "ln_2.bias"],
            })
        except KeyError as exc:
            raise PocketLLMError(f"GPT-2 weights are incomplete: block {i} has no {exc}.") from None
    return out


def pocketllm_to_hf(model: GPTModel) -> dict:
    """PocketLLM tensors in Hugging Face GPT2LMHeadModel's names and (in, out) layout."""
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
        zeros = torch.zeros(d, dtype=sd[p + "attn.W_query.weight"].dtype)
        bias = [sd.get(p + f"attn.{n}.bias", zeros) for n in ("W_query", "W_key", "W_value")]
        out.update({
            h + "attn.c_attn.weight": torch.cat(
                [sd[p + f"attn.{n}.weight"] for n in ("W_query", "W_key", "W_value")], 0).t(),
            h + "attn.c_attn.bias": torch.cat(bias, 0),
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


def hf_config(model: GPTModel, eot_id: int = 50256) -> dict:
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


def export_hf(model, out_dir, *, overwrite: bool = False, tokenizer=None) -> Path:
    """Write `config.json` + `model.safetensors` that GPT2LMHeadModel.from_pretrained loads,
    and the tokenizer's files that AutoTokenizer.from_pretrained loads.

    `model` is a Checkpoint (its tokenizer goes along) or a GPTModel (+ `tokenizer=`;
    a GPT-2-sized bare model gets GPT-2's)."""
    from .generation import model_and_tokenizer
    from .tokenizer.hf_export import write_hf_tokenizer
    model, tokenizer = model_and_tokenizer(model, tokenizer)
    if model.num_classes is not None:
        raise PocketLLMError("Only language models can be exported to the GPT-2 layout; "
                             "this checkpoint is a classifier.")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PocketLLMError(f"{out_dir} is a file; --out_dir must be a folder (new or existing).")
    target = out_dir / "model.safetensors"
    if target.exists() and not overwrite:
        raise PocketLLMError(f"{target} already exists; choose another --out_dir or pass --overwrite.")
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.float() for k, v in pocketllm_to_hf(model).items()}
    atomic_write(target, lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    (out_dir / "config.json").write_text(json.dumps(hf_config(model, tokenizer.eot_id), indent=2) + "\n")
    write_hf_tokenizer(tokenizer, out_dir, model.cfg.context_length)
    return out_dir


def resolve_source(name_or_path: str, cache_dir=None) -> Path:
    """A local file or folder, or a hub name (`gpt2`, `gpt2-medium`, ...) to download."""
    path = Path(name_or_path)
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                return path / name
        raise PocketLLMError(f"{path} holds neither model.safetensors nor pytorch_model.bin.")
    if path.is_file():
        return path
    if name_or_path in HUB_NAMES:
        return download(name_or_path, cache_dir)
    raise PocketLLMError(
        f"{name_or_path} is neither a file nor a known model name ({', '.join(HUB_NAMES)}).")


def _reachable(host: str, timeout: float = 3.0) -> bool:
    """A quick connection test, so offline users get the message at once, not after retries."""
    import socket
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def download(name: str, cache_dir=None) -> Path:
    """Fetch `model.safetensors` of an OpenAI GPT-2 size from the Hugging Face hub."""
    repo = HUB_NAMES[name]
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False") or not _reachable("huggingface.co"):
        raise PocketLLMError(
            f"Could not download {name}: huggingface.co cannot be reached (offline?). Download "
            f"https://huggingface.co/{repo}/resolve/main/model.safetensors (or pytorch_model.bin) "
            f"on a machine with internet, copy it here and pass its path instead.")
    try:
        from huggingface_hub import hf_hub_download
        return Path(hf_hub_download(repo, "model.safetensors", cache_dir=cache_dir))
    except Exception as exc:  # offline, proxy, DNS, HTTP errors all look different
        raise PocketLLMError(
            f"Could not download {name} from huggingface.co ({type(exc).__name__}). If you are "
            f"offline, download https://huggingface.co/{repo}/resolve/main/model.safetensors "
            f"(or pytorch_model.bin) on another machine, copy it here and pass its path instead."
        ) from None


def import_gpt2(name_or_path: str, *, device="cpu", dtype=None, cache_dir=None) -> Checkpoint:
    """Load OpenAI GPT-2 weights (any size; the shape is read from the tensors)."""
    path = resolve_source(name_or_path, cache_dir)
    num_heads = _hf_folder_heads(path)  # a Hugging Face folder says its head count
    ckpt = load_model(path, device=device, dtype=dtype, num_heads=num_heads)
    if ckpt.source != "huggingface-gpt2":
        raise PocketLLMError(f"{path.name} is not a Hugging Face GPT-2 file (it is {ckpt.source}).")
    ckpt.facts = {"imported_from": str(name_or_path)}
    return ckpt
