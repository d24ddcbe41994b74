"""OpenAI's GPT-2 weights in and out: import (from a file or the hub) and export to Hugging Face.

The layout itself (tensor names, the transposed Conv1D weights, `config.json`)
is `hf_layout.py`'s; this module moves files.
"""
from __future__ import annotations

from pathlib import Path

from .checkpoint import Checkpoint, load_model
from .errors import PocketLLMError
from .hf_layout import hf_folder_heads
from .hub import hub_reachable

HUB_NAMES = {  # name -> Hugging Face repository
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
}


def export_hf(model, out_dir, *, overwrite: bool = False, tokenizer=None) -> Path:
    """Write `config.json` + `model.safetensors` that the family's Hugging Face class (GPT2LMHeadModel
    for GPT-2) loads, and the tokenizer's files that AutoTokenizer.from_pretrained loads.

    `model` is a Checkpoint (its tokenizer goes along) or a GPTModel (+ `tokenizer=`;
    a GPT-2-sized bare model gets GPT-2's).  The writing is `huggingface.export_hf`'s."""
    from .huggingface import export_hf as export_family
    return export_family(model, out_dir, overwrite=overwrite, tokenizer=tokenizer)


def resolve_source(name_or_path: str, cache_dir=None) -> Path:
    """A local file or folder, or a hub name (`gpt2`, `gpt2-medium`, ...) to download."""
    path = Path(name_or_path)
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                return path / name
        raise PocketLLMError("{path} holds neither model.safetensors nor pytorch_model.bin.",
                             code="gpt2.empty_folder", path=str(path))
    if path.is_file():
        return path
    if name_or_path in HUB_NAMES:
        return download(name_or_path, cache_dir)
    raise PocketLLMError("{name} is neither a file nor a known model name ({known}).",
                         code="gpt2.unknown_source", name=name_or_path, known=", ".join(HUB_NAMES))


def download(name: str, cache_dir=None) -> Path:
    """Fetch `model.safetensors` of an OpenAI GPT-2 size from the Hugging Face hub."""
    repo = HUB_NAMES[name]
    if not hub_reachable():
        raise PocketLLMError(
            "Could not download {name}: huggingface.co cannot be reached (offline?). Download "
            "https://huggingface.co/{repo}/resolve/main/model.safetensors (or pytorch_model.bin) "
            "on a machine with internet, copy it here and pass its path instead.",
            code="gpt2.offline", name=name, repo=repo)
    try:
        from huggingface_hub import hf_hub_download  # optional: only a download needs it
        return Path(hf_hub_download(repo, "model.safetensors", cache_dir=cache_dir))
    except Exception as exc:  # offline, proxy, DNS, HTTP errors all look different
        raise PocketLLMError(
            "Could not download {name} from huggingface.co ({error}). If you are offline, download "
            "https://huggingface.co/{repo}/resolve/main/model.safetensors (or pytorch_model.bin) on "
            "another machine, copy it here and pass its path instead.",
            code="gpt2.download_failed", name=name, error=type(exc).__name__, repo=repo) from None


def import_gpt2(name_or_path: str, *, device="cpu", dtype=None, cache_dir=None) -> Checkpoint:
    """Load OpenAI GPT-2 weights (any size; the shape is read from the tensors)."""
    path = resolve_source(name_or_path, cache_dir)
    num_heads = hf_folder_heads(path)  # a Hugging Face folder says its head count
    ckpt = load_model(path, device=device, dtype=dtype, num_heads=num_heads)
    if ckpt.source != "huggingface-gpt2":
        raise PocketLLMError("{name} is not a Hugging Face GPT-2 file (it is {source}).",
                             code="gpt2.not_hf", name=path.name, source=ckpt.source)
    ckpt.facts = {"imported_from": str(name_or_path)}
    return ckpt
