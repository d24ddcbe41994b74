"""A checkpoint described in the page's words: the core's `describe` gives the numbers, and
this names them in the page's language (the core's own summary is English, for the CLI)."""
from __future__ import annotations

from pathlib import Path

from pocketllm import TaskKind, task_kind

from .i18n import t

# Training facts a checkpoint may carry, in the order the page lists them (others follow as they are).
# Where the weights were read from (Checkpoint.source), named for people.
SOURCES = {"pocketllm": "PocketLLM", "huggingface-gpt2": "Hugging Face GPT-2", "seed-pth": "PyTorch .pth",
           "fresh": "—"}
FACTS = ("data", "base", "trainable", "steps", "epoch", "tokens_seen", "kept_step", "best_val_loss", "val_loss",
         "val_accuracy", "test_accuracy", "val_bits_per_char", "saved_at", "imported_from")


def shape_text(cfg, lang) -> str:
    return t(lang, "describe.shape", layers=cfg.num_layers, width=cfg.emb_dim, heads=cfg.num_heads,
             context=f"{cfg.context_length:,}", vocab=f"{cfg.vocab_size:,}")


def tokenizer_text(tok, lang) -> str:
    if tok is None:
        return "gpt2"
    return t(lang, "describe.tokenizer", kind=t(lang, f"plots.tok_kind_{tok.kind}"), vocab=f"{tok.vocab_size:,}")


def task_text(ckpt, lang) -> str:
    kind = task_kind(ckpt.task_type) or TaskKind.PRETRAIN
    text = t(lang, f"weights.task_{kind}")
    if kind is TaskKind.CLASSIFY:
        text += f" ({', '.join(map(str, ckpt.task.get('labels', [])))})"
    return text


def base_name(facts: dict, lang) -> str:
    """The model a finetuned checkpoint started from: a file's name, or a fresh start."""
    base = str(facts.get("base") or "")
    if not base:
        return "—"  # pretrained from scratch, or imported
    if base.startswith("random init"):
        return t(lang, "weights.base_fresh")
    return Path(base).name


def fact_value(key: str, value, lang) -> str:
    if key == "base":
        return base_name({"base": value}, lang)
    if key in ("data", "imported_from") and isinstance(value, str):
        return Path(value).name or value
    if isinstance(value, float):
        return f"{value:.1%}" if "accuracy" in key else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def summary_rows(ckpt, d: dict, lang) -> list[tuple[str, str]]:
    """(what, value) rows of a checkpoint: task, shape, tokenizer, parameters, sizes, then its facts;
    `d` is the core's `describe(ckpt)`."""
    rows = [(t(lang, "describe.format"), SOURCES.get(ckpt.source, str(ckpt.source))),
            (t(lang, "describe.task"), task_text(ckpt, lang)),
            (t(lang, "describe.shape_head"), shape_text(ckpt.config, lang)),
            (t(lang, "describe.tokenizer_head"), tokenizer_text(getattr(ckpt, "tokenizer", None), lang)),
            (t(lang, "describe.parameters"), f"{d['parameters']:,}"
             + (t(lang, "describe.tied") if ckpt.model.is_tied else "")),
            (t(lang, "describe.memory"), d["summary"]["in memory"])]
    if "on disk" in d["summary"]:
        rows.append((t(lang, "describe.disk"), d["summary"]["on disk"]))
    facts = {k: v for k, v in (ckpt.facts or {}).items() if k not in ("run_dir", "task", "tokenizer")}
    for key in [k for k in FACTS if k in facts] + [k for k in facts if k not in FACTS]:
        label = t(lang, f"describe.fact_{key}") if key in FACTS else key
        rows.append((label, fact_value(key, facts[key], lang)))
    return rows
