"""What a model is made of: parameters per component, bytes, size on disk."""
from __future__ import annotations

from collections import defaultdict

from .kinds import TaskKind

COMPONENTS = ("embeddings", "attention", "feed_forward", "norms", "head")


def component_of(name: str) -> str:
    if name.startswith(("tok_emb", "pos_emb")):
        return "embeddings"
    if ".attn." in name:
        return "attention"
    if ".ffn." in name:
        return "feed_forward"
    if "norm" in name:
        return "norms"
    if name.startswith("out_head"):
        return "head"
    return "other"


def parameter_breakdown(model) -> list[dict]:
    """One row per component: parameters, bytes, dtypes.  Shared (tied) weights count once."""
    params = defaultdict(int)
    nbytes = defaultdict(int)
    dtypes = defaultdict(set)
    for name, p in model.named_parameters():  # named_parameters skips the tied duplicate
        c = component_of(name)
        params[c] += p.numel()
        nbytes[c] += p.numel() * p.element_size()
        dtypes[c].add(str(p.dtype).removeprefix("torch."))
    total = sum(params.values()) or 1
    order = [c for c in COMPONENTS + ("other",) if c in params]
    return [{"component": c, "parameters": params[c], "bytes": nbytes[c],
             "dtypes": sorted(dtypes[c]), "share": params[c] / total} for c in order]


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def describe(ckpt) -> dict:
    model, cfg = ckpt.model, ckpt.config
    rows = parameter_breakdown(model)
    total = sum(r["parameters"] for r in rows)
    memory = sum(r["bytes"] for r in rows)
    summary = {
        "file": str(ckpt.path) if ckpt.path else "-",
        "format": ckpt.source,
        "task": ckpt.task_type + (f" ({', '.join(ckpt.task['labels'])})"
                                  if ckpt.task_type == TaskKind.CLASSIFY else ""),
        "shape": f"{cfg.num_layers} layers × {cfg.emb_dim} wide, {cfg.num_heads} heads, "
                 f"context {cfg.context_length}, vocab {cfg.vocab_size}",
        "tokenizer": ckpt.tokenizer.describe() if getattr(ckpt, "tokenizer", None) else "gpt2",
        "parameters": f"{total:,}" + (" (output head tied to token embedding)" if model.is_tied else ""),
        "in memory": human_bytes(memory),
    }
    if ckpt.path is not None and ckpt.path.exists():
        summary["on disk"] = human_bytes(ckpt.path.stat().st_size)
    return {"summary": summary, "components": rows, "parameters": total, "bytes": memory}
