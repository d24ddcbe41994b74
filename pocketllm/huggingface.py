"""Hugging Face model folders in and out, for every family (GPT-2, Llama, Qwen3).

`import_hf(folder)` reads a folder as `save_pretrained` writes it: `config.json` and
`model.safetensors`, or shards (`model-0000x-of-0000n.safetensors`) named by
`model.safetensors.index.json`.  The config is read and bounded first (ModelConfig);
then every shard's header is read and each tensor's name and shape checked against the
model the config describes, before any weight is read; then the shards are read one
by one from their memory maps, each tensor once, into the model's own names (the
family's table in `hf_layout.py`).  A bf16 file stays bf16.

`export_hf(checkpoint, folder)` writes the family's own layout back (`gpt2.py` keeps
GPT-2's `export_hf` as the entry most callers use; both are this one).

The tokenizer: a GPT-2 folder reads text with GPT-2's tokens.  A Llama or Qwen3 folder's
`tokenizer.json` (+ `tokenizer_config.json`: special tokens, chat template) becomes the
checkpoint's `hf` tokenizer (tokenizer/hf_imported.py), checked before it is built and to fit
the embedding's rows; `export-hf` writes those files back.  A folder without `tokenizer.json`
is imported all the same and the result says so (`TOKENIZER_NOT_CARRIED`): such a checkpoint
reads text as GPT-2 does.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .checkpoint import LANGUAGE_MODEL, Checkpoint, build_model
from .config import ModelConfig
from .errors import PocketLLMError
from .files import atomic_write, write_text_atomic
from .hf_layout import (NOT_WEIGHTS, config_from_hf, family_of_config, hf_config_of, hf_to_pocketllm, is_hf_gpt2,
                        name_table, to_hf_tensors)
from .hub import hub_reachable
from .model import GPTModel
from .tokenizer import gpt2_tokenizer, hf_tokenizer_from_json
from .tokenizer.spec_check import MAX_SPEC_CHARS

CONFIG_BYTES = 1 << 20          # a config.json is a few KB
INDEX_BYTES = 64 << 20          # an index names every tensor once (a 70 B model's is ~100 KB)
MAX_SHARDS = 4096
TOKENIZER_CONFIG_BYTES = 4 << 20  # Llama 3's names its 256 added tokens: ~50 KB
TOKENIZER_NOT_CARRIED = ("this folder has no tokenizer.json, so the model's tokenizer.json is not carried: the "
                         "checkpoint reads text as GPT-2 does, which is not this model's reading; "
                         "its logits and ids are right, its text is not")


def _json_file(path: Path, limit: int, what: str):
    if not path.is_file():
        raise PocketLLMError("{folder} has no {name}; a Hugging Face model folder holds config.json and "
                             "model.safetensors (or shards and model.safetensors.index.json).",
                             code="hf.missing_file", folder=str(path.parent), name=path.name)
    size = path.stat().st_size
    if size > limit:
        raise PocketLLMError("{path} is {size:,} bytes; a {what} is never more than {limit:,}.",
                             code="hf.file_too_big", path=str(path), size=size, what=what, limit=limit)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PocketLLMError("{path} is not valid JSON: {detail}.", code="hf.bad_json", path=str(path),
                             detail=str(exc)[:120]) from None
    if not isinstance(data, dict):
        raise PocketLLMError("{path} is not valid JSON: {detail}.", code="hf.bad_json", path=str(path),
                             detail="not a JSON object")
    return data


def weight_files(folder: Path) -> list[Path]:
    """The folder's safetensors files: the index's shards, or model.safetensors."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _json_file(index, INDEX_BYTES, "model.safetensors.index.json").get("weight_map")
        names = sorted(set(weight_map.values())) if isinstance(weight_map, dict) else []
        if not names or len(names) > MAX_SHARDS or not all(
                isinstance(n, str) and n.endswith(".safetensors") and Path(n).name == n for n in names):
            raise PocketLLMError("{path} does not name its shards as files of this folder.", code="hf.bad_index",
                                 path=str(index))
        return [folder / n for n in names]
    single = folder / "model.safetensors"
    if single.is_file():
        return [single]
    raise PocketLLMError("{folder} holds neither model.safetensors nor model.safetensors.index.json "
                         "(PocketLLM reads safetensors weights only).", code="hf.no_weights", folder=str(folder))


def _shapes(path: Path) -> dict[str, tuple]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise PocketLLMError("{name} could not be read ({detail}); it may be truncated.", code="hf.unreadable",
                             name=path.name, detail=str(exc)[:120]) from None


# What a model folder needs from the hub (no PyTorch .bin, no other formats' copies).
HUB_FILES = ["config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer.json",
             "tokenizer_config.json", "generation_config.json"]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def hub_folder(source: str) -> Path | None:
    """A hub name such as `Qwen/Qwen3-0.6B` that is not a local path: its files downloaded (when online)
    into Hugging Face's cache, and that folder.  None when `source` is not such a name."""
    if Path(source).exists() or not _REPO_ID.match(str(source)):
        return None
    if not hub_reachable():
        raise PocketLLMError(
            "Could not download {repo}: huggingface.co cannot be reached (offline?). On a machine with internet "
            "run `huggingface-cli download {repo} --local-dir {name}`, copy the folder {name} here and pass its "
            "path instead.", code="hf.offline", repo=source, name=source.split("/")[1])
    try:
        from huggingface_hub import snapshot_download  # optional: only a download needs it
        return Path(snapshot_download(source, allow_patterns=HUB_FILES))
    except Exception as exc:  # not found, gated, proxy, HTTP errors all look different
        raise PocketLLMError(
            "Could not download {repo} from huggingface.co ({error}). Check the name on huggingface.co, or download "
            "the folder on another machine and pass its path instead.", code="hf.download_failed", repo=source,
            error=type(exc).__name__) from None


def import_hf(source, *, device="cpu", dtype=None) -> Checkpoint:
    """A Checkpoint from a Hugging Face model folder of any family (see the module's docstring), or from a
    hub name (`Qwen/Qwen3-0.6B`) when online."""
    folder = hub_folder(str(source)) or Path(source)
    if not folder.is_dir():
        raise PocketLLMError("{path} is not a folder; give the Hugging Face model folder (config.json and its "
                             "safetensors files).", code="hf.not_folder", path=str(folder))
    hf = _json_file(folder / "config.json", CONFIG_BYTES, "config.json")
    family = family_of_config(hf, str(folder / "config.json"))
    config = ModelConfig.from_dict(config_from_hf(hf, str(folder / "config.json")), source=str(folder / "config.json"))
    files = weight_files(folder)
    shapes = {f: _shapes(f) for f in files}              # headers only: nothing allocated yet
    if family == "gpt2":
        tensors = {}
        for f in files:
            with safe_open(str(f), framework="pt") as opened:
                tensors.update({k: opened.get_tensor(k) for k in opened.keys() if not k.endswith(".attn.bias")
                                and not k.endswith(".attn.masked_bias")})
        if not is_hf_gpt2(tensors):
            raise PocketLLMError("{folder}'s weights do not fit its config.json: {problems}.", code="hf.does_not_fit",
                                 folder=str(folder), problems="missing wte.weight")
        tensors = hf_to_pocketllm(tensors)
        if config.tie_embeddings:
            tensors.pop("out_head.weight", None)
    else:
        tensors = _read_by_table(folder, config, shapes)
    model = build_model(config, tensors, dict(LANGUAGE_MODEL), source=folder.name)
    model.to(device=device, dtype=dtype).eval()
    facts = {"imported_from": str(source), "hf_architecture": hf.get("architectures", [family])[0]}
    tokenizer = gpt2_tokenizer()
    if family != "gpt2":
        tokenizer = folder_tokenizer(folder, config.vocab_size)
        if tokenizer is None:
            facts["tokenizer_note"] = TOKENIZER_NOT_CARRIED
            tokenizer = gpt2_tokenizer()
    ckpt = Checkpoint(model, config, dict(LANGUAGE_MODEL), facts, source=f"huggingface-{family}",
                      tokenizer=tokenizer)
    return ckpt


def folder_tokenizer(folder: Path, rows: int):
    """The folder's `tokenizer.json` (+ `tokenizer_config.json`, or `chat_template.jinja` for the
    template) as an `hf` tokenizer that fits `rows` embedding rows; None when it has none."""
    if not (folder / "tokenizer.json").is_file():
        return None
    data = _json_file(folder / "tokenizer.json", MAX_SPEC_CHARS, "tokenizer.json")
    config = {}
    if (folder / "tokenizer_config.json").is_file():
        config = _json_file(folder / "tokenizer_config.json", TOKENIZER_CONFIG_BYTES, "tokenizer_config.json")
    template = folder / "chat_template.jinja"  # where newer transformers save the template
    if "chat_template" not in config and template.is_file() and template.stat().st_size <= TOKENIZER_CONFIG_BYTES:
        config = {**config, "chat_template": template.read_text(encoding="utf-8", errors="replace")}
    return hf_tokenizer_from_json(data, config, rows=rows)


def _read_by_table(folder: Path, config: ModelConfig, shapes: dict[Path, dict]) -> dict:
    """A Llama/Qwen3 folder's tensors in PocketLLM's names, read shard by shard once every name
    and shape is known to fit the config."""
    ours_of = {theirs: ours for ours, theirs in name_table(config).items()}
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in GPTModel(config).state_dict().items()}
    if config.tie_embeddings:
        expected.pop("out_head.weight")
    found, problems = {}, []
    for f, names in shapes.items():
        for name, shape in names.items():
            ours = ours_of.get(name)
            if ours is None:
                if not name.endswith(NOT_WEIGHTS) and not (name == "lm_head.weight" and config.tie_embeddings):
                    problems.append(f"unexpected {name}")
                continue
            found[ours] = f
            if shape != expected[ours]:
                problems.append(f"{name}: file {shape}, config {expected[ours]}")
    problems += [f"missing {name}" for ours, name in name_table(config).items() if ours not in found]
    if problems:
        raise PocketLLMError("{folder}'s weights do not fit its config.json: {problems}.", code="hf.does_not_fit",
                             folder=str(folder), problems="; ".join(problems[:4]) + (
                                 f" (and {len(problems) - 4} more)" if len(problems) > 4 else ""))
    tensors = {}
    for f in shapes:
        with safe_open(str(f), framework="pt") as opened:
            for name in opened.keys():
                if name in ours_of and found.get(ours_of[name]) == f:
                    tensors[ours_of[name]] = opened.get_tensor(name)
    return tensors


def export_hf(model, out_dir, *, overwrite: bool = False, tokenizer=None) -> Path:
    """Write `config.json` + `model.safetensors` in the model's family's Hugging Face layout (GPT2LMHeadModel,
    LlamaForCausalLM or Qwen3ForCausalLM), and the tokenizer's files where PocketLLM has the model's
    tokenizer.  `model` is a Checkpoint (its tokenizer goes along) or a GPTModel (+ `tokenizer=`)."""
    from .generation import model_and_tokenizer
    from .tokenizer.hf_export import write_hf_tokenizer
    facts = getattr(model, "facts", {}) or {}
    bare_modern = isinstance(model, GPTModel) and model.cfg.arch != "gpt2"  # (its tokenizer is optional)
    model, tokenizer = model_and_tokenizer(model, tokenizer, required=not bare_modern)
    if model.num_classes is not None:
        raise PocketLLMError("Only language models can be exported to the GPT-2 layout; "
                             "this checkpoint is a classifier.", code="gpt2.export_classifier")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PocketLLMError("{path} is a file; --out_dir must be a folder (new or existing).",
                             code="gpt2.out_dir_is_file", path=str(out_dir))
    target = out_dir / "model.safetensors"
    if target.exists() and not overwrite:
        raise PocketLLMError("{path} already exists; choose another --out_dir or pass --overwrite.",
                             code="gpt2.exists", path=str(target))
    tensors = to_hf_tensors(model)
    if model.cfg.arch == "gpt2":
        tensors = {k: v.float() for k, v in tensors.items()}
    eot = tokenizer.eot_id if tokenizer is not None else None
    bos = getattr(tokenizer, "bos_id", None)
    config = hf_config_of(model, eot if bos is None else bos, eot)  # (refuses what its layout cannot hold, first)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    write_text_atomic(out_dir / "config.json", json.dumps(config, indent=2) + "\n")
    if tokenizer is not None and "tokenizer_note" not in facts:
        if hasattr(tokenizer, "write_hf_files"):  # an imported model's own files (kind hf), template included
            tokenizer.write_hf_files(out_dir, model.cfg.context_length)
        else:
            write_hf_tokenizer(tokenizer, out_dir, model.cfg.context_length)
    return out_dir
