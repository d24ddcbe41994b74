"""Checkpoints: one `.safetensors` file is a whole model.

The file holds the weights, and in its metadata header:
- `config`: the ModelConfig,
- `task`:   what the model is for — {"type": "pretrain"} (a language model),
            {"type": "classify", "labels": [...]} or
            {"type": "instruct", "template": "..."} (the names are `kinds.TaskKind`;
            older files say "language_model" and "classifier", read as the same kinds),
- `facts`:  training facts (steps, tokens seen, last losses, when),
- `tokenizer`: how the model reads text (`Tokenizer.to_spec()`: the kind, and
            for vocabularies trained on a corpus their whole `tokenizer.json`).
            A file without one — older checkpoints, Hugging Face GPT-2 files and
            the seed's `.pth` files — reads text as GPT-2 does.

Writes go to a temp file in the same folder and are renamed into place, so a
crash mid-save never leaves a broken file where a good one stood.

A header is untrusted input: each JSON part is bounded in size and in how deep it nests
before it is parsed, so a crafted file is a damaged checkpoint (listed as such, deletable),
never a RecursionError in every model list.

`load_model` also opens the other files a user may have: Hugging Face GPT-2
weights (`pytorch_model.bin`, `model.safetensors`) and the seed project's
`.pth` state dicts — never by unpickling arbitrary objects.
"""
from __future__ import annotations

import json
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import ModelConfig
from .errors import PocketLLMError
from .files import JSON_DEPTH_LIMIT, atomic_write, json_depth
from .hf_layout import hf_folder_heads, hf_to_pocketllm, is_hf_gpt2
from .kinds import TaskKind, task_kind
from .model import GPTModel
from .tokenizer import Tokenizer, gpt2_tokenizer, tokenizer_from_spec
from .tokenizer.spec_check import MAX_SPEC_CHARS

FORMAT_VERSION = "1"
LANGUAGE_MODEL = {"type": TaskKind.PRETRAIN.value}
# The most characters one JSON part of a header may have (a model's own are a few KB; a
# classifier's labels or a template more; a trained tokenizer's vocabulary is bounded where
# it is read, by how deep it nests here; an imported model's tokenizer.json is ~10 MB: Qwen3's).
HEADER_PART_CHARS = {"config": 64 * 1024, "task": 4 * 2**20, "facts": 4 * 2**20, "tokenizer": MAX_SPEC_CHARS}


@dataclass
class Checkpoint:
    model: GPTModel
    config: ModelConfig
    task: dict = field(default_factory=lambda: dict(LANGUAGE_MODEL))
    facts: dict = field(default_factory=dict)
    path: Path | None = None
    source: str = "pocketllm"  # or "huggingface-gpt2", "seed-pth"
    tokenizer: Tokenizer = field(default_factory=gpt2_tokenizer)

    @property
    def task_type(self) -> str:
        """The TaskKind (a str), whatever spelling the task dict has; an unknown type as it is."""
        name = self.task.get("type", TaskKind.PRETRAIN.value)
        return task_kind(name) or name


# ---- saving ------------------------------------------------------------------

def save_checkpoint(path, model: GPTModel, task: dict | None = None, facts: dict | None = None,
                    *, overwrite: bool = True, tokenizer: Tokenizer | None = None) -> Path:
    path = Path(path)
    if tokenizer is not None:  # None: a bare model, read as GPT-2 by convention (as older files are)
        check_tokenizer_fits(tokenizer, model.cfg, str(path.name))
    if path.suffix != ".safetensors":
        raise PocketLLMError("Checkpoints are saved as .safetensors files; got {name}.",
                             code="checkpoint.not_safetensors", name=path.name)
    if path.exists() and not overwrite:
        raise PocketLLMError("{path} already exists. Choose another --model_path, or pass --overwrite to replace it.",
                             code="checkpoint.exists", path=str(path))
    task = _task_in_house_names(dict(task or LANGUAGE_MODEL))  # files carry only TaskKind names
    facts = dict(facts or {})
    facts.setdefault("saved_at", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    tensors = {}
    for name, tensor in model.state_dict().items():
        if name == "out_head.weight" and model.is_tied:
            continue  # the same tensor as tok_emb.weight; safetensors stores it once
        tensors[name] = tensor.detach().to("cpu").contiguous()
    metadata = {
        "format": "pt",
        "pocketllm": FORMAT_VERSION,
        "config": json.dumps(model.cfg.to_dict()),
        "task": json.dumps(task, ensure_ascii=False),
        "facts": json.dumps(facts, ensure_ascii=False),
    }
    if tokenizer is not None:
        metadata["tokenizer"] = json.dumps(tokenizer.to_spec(), ensure_ascii=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A full disk or a refused permission is told as a PocketLLMError; the old file stays.
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata), fsync=True)
    return path


def check_tokenizer_fits(tokenizer: Tokenizer, config: ModelConfig, source: str = "model"):
    """A trained vocabulary must match the embedding row for row; GPT-2's, or an imported model's
    (kind hf: Qwen3 pads its embedding), may sit in a padded one."""
    fits = (tokenizer.vocab_size == config.vocab_size if tokenizer.kind not in ("gpt2", "hf")
            else tokenizer.vocab_size <= config.vocab_size)
    if not fits:
        raise PocketLLMError(
            "{source}: the {kind} tokenizer has {tokens:,} tokens but the model's embedding has {rows:,} "
            "rows; they must match. The file was changed or put together from different models; save "
            "the model with the tokenizer it was trained with.", code="checkpoint.tokenizer_mismatch",
            source=source, kind=tokenizer.kind, tokens=tokenizer.vocab_size, rows=config.vocab_size)


# ---- reading -----------------------------------------------------------------

class NotACheckpoint(PocketLLMError):
    """A readable .safetensors file that PocketLLM did not write (e.g. a Hugging Face export)."""


def read_header(path) -> dict:
    """Config, task and facts of a PocketLLM checkpoint without loading its weights."""
    path = Path(path)
    meta = _safetensors_metadata(path)
    if meta.get("pocketllm") is None:
        raise NotACheckpoint("{name} is a safetensors file but not a PocketLLM checkpoint.",
                             code="checkpoint.not_pocketllm", name=path.name)
    try:
        config = header_json(path, meta, "config", None)
        if config is None:
            raise KeyError("config")
        ModelConfig.from_dict(config, source=f"{path.name} header")  # O(1): a crafted header is refused here
        spec = header_json(path, meta, "tokenizer", {}) or {"kind": "gpt2"}
        if not isinstance(spec, dict):
            raise ValueError("the tokenizer is not a JSON object")
        task = header_json(path, meta, "task", {}) or dict(LANGUAGE_MODEL)
        facts = header_json(path, meta, "facts", {})
    except PocketLLMError:
        raise  # a config out of bounds says so itself, as load_model does
    except (KeyError, ValueError) as exc:
        raise _damaged_header(path, str(exc)[:120]) from None
    return {
        "config": config,
        "task": _task_in_house_names(task),
        "facts": facts,
        "tokenizer": spec.get("kind", "gpt2"),  # the kind only; load_model builds the tokenizer
    }


def header_json(path: Path, meta: dict, part: str, default):
    """One JSON part of a header (`config`, `task`, `facts`, `tokenizer`), parsed only once its
    size and nesting are known to be sane; `default` when the file has none."""
    text = checked_header_part(path, meta, part)
    return json.loads(text) if text else default


def checked_header_part(path: Path, meta: dict, part: str) -> str | None:
    """The header's JSON text of `part`, refused as damaged when it is too big or nests too deep."""
    text = meta.get(part)
    if not text:
        return text
    limit = HEADER_PART_CHARS.get(part)
    if limit is not None and len(text) > limit:
        raise PocketLLMError("{name} has a damaged PocketLLM header: its {part} is {length:,} characters, more "
                             "than the {limit:,} a checkpoint's ever needs.", code="checkpoint.header_too_big",
                             name=path.name, part=part, length=len(text), limit=limit)
    if json_depth(text) > JSON_DEPTH_LIMIT:
        raise PocketLLMError("{name} has a damaged PocketLLM header: its {part} nests more than {limit} levels "
                             "deep (a checkpoint's nests a few).", code="checkpoint.header_too_deep",
                             name=path.name, part=part, limit=JSON_DEPTH_LIMIT)
    return text


def _damaged_header(path: Path, detail: str) -> PocketLLMError:
    return PocketLLMError("{name} has a damaged PocketLLM header ({detail}).",
                          code="checkpoint.damaged_header", name=path.name, detail=detail)


def _task_in_house_names(task):
    """The task with its kind as `TaskKind` names it, however old the file (see kinds.OLD_NAMES)."""
    if isinstance(task, dict) and task_kind(task.get("type")) is not None:
        return {**task, "type": task_kind(task["type"]).value}
    return task


def _safetensors_metadata(path: Path) -> dict:
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise PocketLLMError(
            "{name} is not a readable .safetensors file ({detail}). It may be truncated "
            "(an unfinished download or copy) or not a checkpoint at all.",
            code="checkpoint.unreadable_safetensors", name=path.name, detail=str(exc)) from None


def load_model(path, *, config=None, device="cpu", dtype: torch.dtype | None = None,
               num_heads: int | None = None) -> Checkpoint:
    """Open any model file PocketLLM understands and return a ready (eval-mode) model.

    `config` (a ModelConfig, preset name or JSON path) is only needed for the
    seed's `.pth` files whose head count cannot be read from the tensor shapes;
    when given for a `.pth` or Hugging Face file, the weights must fit it.
    """
    path = Path(path)
    if path.is_dir():
        raise PocketLLMError(
            "{path} is a folder; give the model file inside it (a .safetensors checkpoint, "
            "pytorch_model.bin or model.safetensors).", code="checkpoint.is_folder", path=str(path))
    if not path.is_file():
        raise PocketLLMError("Model file not found: {path}. Check the path (--model_path).",
                             code="checkpoint.not_found", path=str(path))
    if path.stat().st_size == 0:
        raise PocketLLMError(
            "{path} is empty (0 bytes), so it holds no model; it may be an unfinished download or copy.",
            code="checkpoint.empty", path=str(path))
    if isinstance(config, (str, os.PathLike)):
        config = ModelConfig.load(config)

    if path.suffix == ".safetensors":
        meta = _safetensors_metadata(path)
        if meta.get("pocketllm") is not None:
            ckpt = _load_pocketllm(path, meta)
        else:
            tensors = _read_safetensors(path)
            ckpt = _from_foreign_state_dict(path, tensors, config, num_heads)
    else:
        tensors = _read_pickled_state_dict(path)
        ckpt = _from_foreign_state_dict(path, tensors, config, num_heads)
    ckpt.path = path
    ckpt.model.to(device=device, dtype=dtype).eval()
    return ckpt


def _unreadable(path: Path, exc: Exception) -> PocketLLMError:
    return PocketLLMError("{name} could not be read ({detail}); it may be truncated.",
                          code="checkpoint.unreadable", name=path.name, detail=str(exc))


def _tensor_shapes(path: Path) -> dict[str, tuple]:
    """Names and shapes from the file's header; no tensor is read."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None


def check_shapes(config: ModelConfig, shapes: dict[str, tuple], source: str):
    """The header's config against the tensors' shapes, in O(1) — a crafted header must not
    make us build a model of millions of layers to find out it does not fit."""
    blocks = GPTModel.BLOCKS
    layers = {k.split(".")[1] for k in shapes if k.startswith(blocks + ".")}
    want = {**GPTModel.header_shapes(config), f"{blocks} (layers)": config.num_layers}
    found = {**{k: shapes.get(k) for k in want}, f"{blocks} (layers)": len(layers)}
    wrong = [f"{k}: file {found[k] or 'missing'}, model {want[k]}" for k in want if found[k] != want[k]]
    if wrong:
        raise PocketLLMError("{source}: its header does not describe its weights ({wrong}). "
                             "The file is damaged or was edited; use the file as it was saved.",
                             code="checkpoint.header_mismatch", source=source, wrong="; ".join(wrong))


def _read_safetensors(path: Path) -> dict:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None


def _read_pickled_state_dict(path: Path) -> dict:
    """torch.load with weights_only=True: tensors and plain containers only, no code runs."""
    with open(path, "rb") as fh:
        zipped = fh.read(4) == b"PK\x03\x04"  # torch.save's format since 1.6; older files can't be mmapped
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as exc:
        raise _refused_pickle(path, str(exc)) from None
    except Exception as exc:  # zip, EOF, key and type errors: each just means "not a weights file"
        detail = ""
        if isinstance(exc, (RuntimeError, OSError)) and str(exc):
            detail = " (" + str(exc).splitlines()[0].split(". ")[0].rstrip(".") + ")"
        raise PocketLLMError(
            "{name} is not a readable PyTorch weights file{detail}. It may be truncated, or not a model "
            "file at all.", code="checkpoint.unreadable_pth", name=path.name, detail=detail) from None
    if isinstance(data, dict) and "model_state_dict" in data and isinstance(data["model_state_dict"], dict):
        data = data["model_state_dict"]  # the seed's training checkpoints wrap the weights
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise PocketLLMError("{name} does not contain a state dict (a mapping of names to tensors).",
                             code="checkpoint.no_state_dict", name=path.name)
    return data


def _refused_pickle(path: Path, text: str) -> PocketLLMError:
    if "GLOBAL" in text:  # the weights-only unpickler met a function or class it will not call
        found = next((line.strip() for line in text.splitlines() if "GLOBAL" in line), "")
        return PocketLLMError(
            "{name} holds Python objects other than tensors ({found}), so PocketLLM refuses to open it: "
            "loading it could run code hidden in the file. Save only the weights, with "
            "torch.save(model.state_dict(), path).", code="checkpoint.unsafe_pickle", name=path.name,
            found=found)
    return PocketLLMError(
        "{name} is not a PyTorch weights file PocketLLM can read safely: it is damaged, or not made by "
        "torch.save(state_dict). Only plain tensors can be loaded.", code="checkpoint.bad_pickle",
        name=path.name)


def _load_pocketllm(path: Path, meta: dict) -> Checkpoint:
    try:
        config = header_json(path, meta, "config", None)
        if config is None:
            raise KeyError("config")
        config = ModelConfig.from_dict(config, source=f"{path.name} header")
        task = header_json(path, meta, "task", {}) or dict(LANGUAGE_MODEL)
        facts = header_json(path, meta, "facts", {})
        checked_header_part(path, meta, "tokenizer")  # its size and depth, before the tokenizer reads it
    except (KeyError, json.JSONDecodeError) as exc:
        raise _damaged_header(path, str(exc)) from None
    if not isinstance(task, dict) or not isinstance(facts, dict):
        raise _damaged_header(path, "its task and facts must be JSON objects")
    task = _task_in_house_names(task)
    if task.get("type") == TaskKind.CLASSIFY and not (isinstance(task.get("labels"), list) and task["labels"]):
        raise PocketLLMError("{name} says it is a classifier but names no labels; the file is damaged.",
                             code="checkpoint.no_labels", name=path.name)
    tokenizer = tokenizer_from_spec(meta.get("tokenizer"))
    if meta.get("tokenizer"):  # older files name none; they read GPT-2's tokens as they always did
        check_tokenizer_fits(tokenizer, config, path.name)
    check_shapes(config, _tensor_shapes(path), path.name)  # before any model is built
    tensors = _read_safetensors(path)
    model = build_model(config, tensors, task, source=path.name)
    return Checkpoint(model, config, task, facts, tokenizer=tokenizer)


def _from_foreign_state_dict(path: Path, tensors: dict, config, num_heads) -> Checkpoint:
    if is_hf_gpt2(tensors):
        tensors = hf_to_pocketllm(tensors)
        source = "huggingface-gpt2"
    elif "tok_emb.weight" in tensors:
        tensors = {k: v for k, v in tensors.items() if not k.endswith(".attn.mask")}
        source = "seed-pth"
    else:
        raise PocketLLMError(
            "{name} is not a GPT-2 model: its tensors are named {sample}, ... PocketLLM reads its own "
            "checkpoints, Hugging Face GPT-2 weights and the seed's .pth files.", code="checkpoint.not_gpt2",
            name=path.name, sample=", ".join(list(tensors)[:5]) or "(no tensors)")
    if num_heads is None and config is None:
        num_heads = hf_folder_heads(path)
    inferred = infer_config(tensors, num_heads or (config.num_heads if config else None), source=path.name)
    if config is None:
        config = inferred
    else:
        # The user's config is checked against the weights (build_model names what does not
        # fit); only the head tying, which the seed's files do not record, comes from the file.
        config = config.replace(tie_embeddings=inferred.tie_embeddings,
                                **({"num_heads": num_heads} if num_heads else {}))
    task = dict(LANGUAGE_MODEL)
    head = tensors.get("out_head.weight")
    if head is not None and head.shape[0] != config.vocab_size:
        # The seed's spam classifier: out_head is Linear(emb_dim, 2); class 1 is spam.
        labels = ["not spam", "spam"] if head.shape[0] == 2 else [str(i) for i in range(head.shape[0])]
        task = {"type": TaskKind.CLASSIFY.value, "labels": labels}
    model = build_model(config, tensors, task, source=path.name)
    return Checkpoint(model, config, task, {}, source=source)


def infer_config(tensors: dict, num_heads: int | None = None, source: str = "weights") -> ModelConfig:
    """Read the model's shape from its tensors (PocketLLM names)."""
    try:
        vocab, emb = tensors["tok_emb.weight"].shape
        context = tensors["pos_emb.weight"].shape[0]
    except KeyError as exc:
        raise PocketLLMError("{source}: missing tensor {name}; the file is incomplete.",
                             code="checkpoint.missing_tensor", source=source, name=str(exc)) from None
    layers = 1 + max((int(k.split(".")[1]) for k in tensors if k.startswith(GPTModel.BLOCKS + ".")), default=-1)
    # Head count is not visible in the shapes; every OpenAI GPT-2 uses 64-wide heads.
    heads = num_heads or max(1, emb // 64)
    head = tensors.get("out_head.weight")
    tied = head is None or (head.shape == tensors["tok_emb.weight"].shape
                            and torch.equal(head, tensors["tok_emb.weight"]))
    if head is not None and head.shape[0] != vocab:
        tied = False  # classifier head
    return ModelConfig(vocab_size=int(vocab), context_length=int(context), emb_dim=int(emb),
                       num_heads=int(heads), num_layers=int(layers), drop_rate=0.0,
                       qkv_bias="trf_blocks.0.attn.W_query.bias" in tensors, tie_embeddings=tied)


def build_model(config: ModelConfig, tensors: dict, task: dict | None = None,
                source: str = "checkpoint") -> GPTModel:
    """Create a model of `config` holding exactly `tensors`, or say what does not fit.

    The model is built on the meta device and takes the tensors as they are
    (assign=True), so loading never holds two copies of the weights.
    """
    classifier = bool(task) and task_kind(task.get("type")) is TaskKind.CLASSIFY
    with torch.device("meta"):
        model = GPTModel(config)
        if classifier:
            model.set_classifier_head(len(task["labels"]))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if model.is_tied:
        expected.pop("out_head.weight")
        tensors = {k: v for k, v in tensors.items() if k != "out_head.weight"}
    problems = _fit_problems(expected, tensors)
    if problems:
        raise PocketLLMError(
            "{source} does not fit the model config (layers={layers}, emb_dim={emb_dim}, context={context}, "
            "vocab={vocab}): {problems}. Use the config the weights were trained with.",
            code="checkpoint.does_not_fit", source=source, layers=config.num_layers, emb_dim=config.emb_dim,
            context=config.context_length, vocab=config.vocab_size, problems="; ".join(problems))
    dtypes = {t.dtype for t in tensors.values()}
    model.load_state_dict(tensors, strict=False, assign=True)
    if config.tie_embeddings and not classifier:
        model.out_head.weight = model.tok_emb.weight
    if len(dtypes) > 1:  # e.g. a file with fp16 weights but fp32 norms: make it uniform
        model.float()
    return model


def _fit_problems(expected: dict, tensors: dict) -> list[str]:
    """What keeps `tensors` from filling a model whose state dict has `expected` shapes."""
    problems = []
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    wrong = [f"{k}: file {tuple(tensors[k].shape)}, model {expected[k]}"
             for k in expected if k in tensors and tuple(tensors[k].shape) != expected[k]]
    if missing:
        problems.append(f"missing {len(missing)} tensor(s): {', '.join(missing[:4])}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s): {', '.join(unexpected[:4])}")
    if wrong:
        problems.append(f"{len(wrong)} tensor(s) of the wrong shape: {'; '.join(wrong[:4])}")
    return problems
