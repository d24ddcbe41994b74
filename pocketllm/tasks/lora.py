"""LoRA: finetune a few small matrices instead of the whole model.

A frozen linear layer `y = x·Wᵀ + b` gets a low-rank detour that learns the change:

    y = x·Wᵀ + b + (alpha / rank) · (x·Aᵀ)·Bᵀ        A: rank × in,  B: out × rank

B starts at zero, so before training the model is exactly the base model.  Only
A and B (and whatever the task adds, e.g. a classifier head) train: for a
256-wide layer with rank 8 that is 4,096 numbers instead of 65,536.

Saving: every state dict of a LoRA model holds the *merged* weight `W + scale·B·A`
under the layer's usual name and no adapter tensors, so each checkpoint the
training loop writes is a plain PocketLLM model that loads anywhere.  To keep the
adapters apart as well, `save_adapters` writes them (and the other trainable
tensors) to a small separate .safetensors file with their rank, alpha and base
checkpoint in its header; `load_adapters` puts them back on a base model.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
import torch.nn.functional as F

from ..errors import Phrase, PhraseList, PocketLLMError, shown
from ..files import atomic_write

# The default targets are the model's own (`GPTModel.lora_targets`): attention's four projections
# and every linear of the feed-forward network, as the model's family names them (GPT-2: two;
# Llama and Qwen3: SwiGLU's three).  None stands for them.
DEFAULT_TARGETS = None
ADAPTER_FORMAT = "pocketllm-lora-1"


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        if rank < 1:
            raise PocketLLMError("LoRA rank must be at least 1 (got {rank}).", code="lora.rank_too_small", rank=rank)
        self.in_features, self.out_features = base.in_features, base.out_features
        # The base's own tensors, under the same names, so merged state dicts look standard.
        self.weight = base.weight
        self.bias = base.bias
        self.weight.requires_grad_(False)
        if self.bias is not None:
            self.bias.requires_grad_(False)
        ref = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, self.in_features, device=ref.device, dtype=ref.dtype))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, device=ref.device, dtype=ref.dtype))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's own init
        self.rank = rank
        self.alpha = float(alpha)
        self.scale = self.alpha / rank
        self.register_state_dict_post_hook(_save_merged)

    def delta(self) -> torch.Tensor:
        """The change the adapters make to the weight: scale · B · A (out × in)."""
        return (self.lora_B @ self.lora_A) * self.scale

    def merged_weight(self) -> torch.Tensor:
        return self.weight + self.delta().to(self.weight.dtype)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, rank={self.rank}, alpha={self.alpha:g}"


def _save_merged(module: LoRALinear, state_dict, prefix, local_metadata):
    state_dict[prefix + "weight"] = module.merged_weight().detach()
    state_dict.pop(prefix + "lora_A", None)
    state_dict.pop(prefix + "lora_B", None)


def lora_layers(model) -> dict[str, LoRALinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def apply_lora(model, rank: int = 8, alpha: float = 16.0, targets=DEFAULT_TARGETS,
               keep_trainable=("out_head",)) -> dict[str, LoRALinear]:
    """Freeze the model and wrap the target linears with adapters (in place).

    `targets` are name endings (see `model.lora_targets()`; None: all of those);
    `keep_trainable` names modules that stay trainable (a classifier head).
    Returns the wrapped layers by name.
    """
    targets = tuple(targets) if targets is not None else model.lora_targets()
    if lora_layers(model):
        raise PocketLLMError("This model already has LoRA adapters; merge them first (merge_lora).",
                             code="lora.already_applied")
    narrowest = min((min(m.in_features, m.out_features) for n, m in model.named_modules()
                     if isinstance(m, nn.Linear) and any(n == t or n.endswith("." + t) for t in targets)),
                    default=0)
    problems = lora_problems(rank, alpha, narrowest, targets, examples=model.lora_targets())
    if problems:  # said before anything is frozen
        raise PocketLLMError("Invalid LoRA settings: {problems}.", code="lora.invalid_settings",
                             problems=PhraseList(problems))
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = {}
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            layer = LoRALinear(module, rank, alpha)
            setattr(parent, child, layer)
            wrapped[name] = layer
    for name in keep_trainable:
        try:
            sub = model.get_submodule(name)
        except AttributeError:
            continue
        # A tied head is the token embedding: training it would not be low-rank any more.
        if name == "out_head" and getattr(model, "is_tied", False):
            continue
        for p in sub.parameters():
            p.requires_grad_(True)
    return wrapped


def lora_problems(rank, alpha, narrowest: int, targets=("the model's own",),
                  examples: tuple = ()) -> list[Phrase]:
    """Every problem of a LoRA rank and alpha for a model whose narrowest targeted layer is
    `narrowest` wide (0: no layer matches `targets`), each a coded phrase, none raised."""
    problems = []
    if not narrowest:
        problems.append(Phrase("no linear layer of this model matches the LoRA targets ({targets}) — name layers "
                               "of this model such as {examples}", code="lora.no_targets",
                               targets=", ".join(map(str, targets))[:200],
                               examples=" or ".join(examples[0:1] + examples[4:5]) or "-"))
    elif not (isinstance(rank, int) and not isinstance(rank, bool) and 1 <= rank <= narrowest):
        problems.append(Phrase("LoRA rank must be a whole number from 1 to {most} (the narrowest layer it adapts), "
                               "usually 4–16 (got {rank})", code="lora.bad_rank", most=narrowest,
                               rank=shown(rank, 20)))
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha) and alpha > 0):
        problems.append(Phrase("LoRA alpha must be a positive number (got {alpha})", code="lora.bad_alpha",
                               alpha=shown(alpha, 20)))
    return problems


def merge_lora(model):
    """Fold every adapter into its weight and put back a plain nn.Linear (in place)."""
    for name, layer in lora_layers(model).items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        plain = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None,
                          device=layer.weight.device, dtype=layer.weight.dtype)
        with torch.no_grad():
            plain.weight.copy_(layer.merged_weight())
            if layer.bias is not None:
                plain.bias.copy_(layer.bias)
        setattr(parent, child, plain)
    return model


def count_trainable(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


# ---- adapters kept apart -------------------------------------------------------

def adapter_tensors(model) -> dict[str, torch.Tensor]:
    """The adapters, plus every other trainable tensor (e.g. the classifier head)."""
    out = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            out[name] = p.detach().to("cpu").contiguous()
    return out


def adapters_path_for(model_path) -> Path:
    """Where the adapters of a LoRA run are kept apart: beside the checkpoint."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".lora.safetensors")


def finish_adapters(path, model, base: str | None, task: dict) -> dict:
    """At the end of a LoRA run: save the adapters apart, then merge them into the model
    (the checkpoint the loop saved is already merged; now the model in memory matches it)."""
    save_adapters(path, model, base, task)
    merge_lora(model)
    return {"adapters_path": str(path)}


def save_adapters(path, model, base: str | None = None, task: dict | None = None) -> Path:
    """Write the adapters (and other trainable tensors) to a small .safetensors file."""
    layers = lora_layers(model)
    if not layers:
        raise PocketLLMError("This model has no LoRA adapters to save.", code="lora.nothing_to_save")
    first = next(iter(layers.values()))
    path = Path(path)
    meta = {"format": "pt", "pocketllm_lora": ADAPTER_FORMAT, "rank": str(first.rank),
            "alpha": repr(first.alpha), "targets": json.dumps(sorted({n.split(".", 2)[-1] for n in layers})),
            "base": str(base or ""), "task": json.dumps(task or {}, ensure_ascii=False)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = adapter_tensors(model)
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


def read_adapters(path) -> tuple[dict, dict]:
    """(metadata, tensors) of an adapters file written by save_adapters."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise PocketLLMError("{path} is not a readable adapters file ({reason}).", code="lora.unreadable",
                             path=str(path), reason=str(exc)) from None
    if meta.get("pocketllm_lora") != ADAPTER_FORMAT:
        raise PocketLLMError("{name} is not a PocketLLM LoRA adapters file.", code="lora.not_adapters",
                             name=path.name)
    return meta, tensors


def load_adapters(model, path, merge: bool = False):
    """Put saved adapters back on their base model (in place); optionally merge them."""
    meta, tensors = read_adapters(path)
    targets = tuple(json.loads(meta.get("targets", "[]"))) or DEFAULT_TARGETS
    apply_lora(model, int(meta["rank"]), float(meta["alpha"]), targets=targets)
    own = dict(model.named_parameters())
    bad = [k for k, v in tensors.items() if k not in own or own[k].shape != v.shape]
    if bad:
        raise PocketLLMError(
            "{name} does not fit this model ({count} tensor(s) differ, e.g. {example}); "
            "load it onto the base it was trained from ({base}).", code="lora.wrong_base",
            name=Path(path).name, count=len(bad), example=bad[0], base=meta.get("base") or "see its header")
    with torch.no_grad():
        for k, v in tensors.items():
            own[k].copy_(v)
    return merge_lora(model) if merge else model
