"""A checkpoint described in the page's words: the core's `describe` gives the numbers, and
this names them in the page's language (the core's own summary is English, for the CLI)."""
from __future__ import annotations

from pathlib import Path

from pocketllm import TaskKind, task_kind

from .i18n import t
from .markup import Markup, code, escape, table_cell

# Where the weights were read from (Checkpoint.source), named for people.
SOURCES = {"pocketllm": "PocketLLM", "huggingface-gpt2": "Hugging Face GPT-2", "huggingface-llama": "Hugging Face Llama",
           "huggingface-qwen3": "Hugging Face Qwen3", "seed-pth": "PyTorch .pth", "fresh": "—"}
# Training facts a checkpoint may carry, in the order the page lists them, each with its words
# (`describe.fact_<key>`); a fact the page has no words for yet is shown by its name, as code.
FACTS = ("data", "base", "trainable", "steps", "epoch", "tokens_seen", "kept_step", "best_val_loss", "val_loss",
         "val_perplexity", "val_accuracy", "test_accuracy", "val_bits_per_char", "val_tokens_per_char",
         "train_loss", "saved_at", "prepared_at", "imported_from", "hf_architecture")
# Facts the table already shows in another row (the tokenizer row, the task row) or that are the
# file's own bookkeeping.
# (report_card: a finished run's figures, pocketllm/report_card.py — `info` and `runs --compare` print them;
# the page's own card view is still to come, so the describe table leaves the raw record out)
SHOWN_ELSEWHERE = ("run_dir", "task", "tokenizer", "vocab_size", "labels", "report_card")
RUN_MODEL_FILE = "model.safetensors"  # what every run saves: named with its run folder


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
    if kind is TaskKind.CLASSIFY:  # the labels come from the file (a CSV's values): shown as text
        text = Markup(f"{text} ({', '.join(escape(label) for label in ckpt.task.get('labels', []))})")
    return text


def model_name(path, root=None) -> str:
    """A checkpoint named as the Weights table names it: its path in the checkpoints folder
    `root` (`pretrain-20261205-1430/model.safetensors`); outside it the file's name, with its
    run folder when it is a run's `model.safetensors` (every run's model has that name)."""
    path = Path(str(path))
    if root is not None:
        try:
            return path.resolve().relative_to(Path(root).resolve()).as_posix()
        except (ValueError, OSError):
            pass
    if path.name == RUN_MODEL_FILE and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or str(path)


def base_name(facts: dict, lang, root=None) -> str:
    """The model a finetuned checkpoint started from (`model_name`), or a fresh start."""
    base = str(facts.get("base") or "")
    if not base:
        return "—"  # pretrained from scratch, or imported
    if base.startswith("random init"):
        return t(lang, "weights.base_fresh")
    return model_name(base, root)


def fact_label(key: str, lang) -> str:
    return t(lang, f"describe.fact_{key}") if key in FACTS else code(key)  # a key from the file


def trainable_text(value, lang) -> str:
    """What a finetune trained ("all", "head", "lora", "last:2"), in words."""
    kind, _, n = str(value).partition(":")
    if kind in ("all", "head", "lora") and not n:
        return t(lang, f"describe.trainable_{kind}")
    if kind == "last" and n.isdigit():
        return t(lang, "describe.trainable_last", n=n)
    return code(value)


def time_text(value, otherwise: str | None = None) -> str:
    """An ISO time of the core's facts ("2026-12-05T14:39:58+0000") as the page shows times
    ("2026-12-05 14:39"); `otherwise` (else the value as it is) when it is not one."""
    if isinstance(value, str) and len(value) >= 16 and value[10] == "T":
        return f"{value[:10]} {value[11:16]}"
    return str(value) if otherwise is None else otherwise


def fact_value(key: str, value, lang, root=None) -> str:
    if key == "base":
        return base_name({"base": value}, lang, root)
    if key == "trainable":
        return trainable_text(value, lang)
    if key in ("saved_at", "prepared_at"):
        return time_text(value)
    if key in ("data", "imported_from") and isinstance(value, str):
        return Path(value).name or value
    if isinstance(value, float):
        return f"{value:.1%}" if "accuracy" in key else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def summary_rows(ckpt, d: dict, lang, root=None) -> list[tuple[str, str]]:
    """(what, value) rows of a checkpoint: task, shape, tokenizer, parameters, sizes, then its facts,
    every row named in the page's language; `d` is the core's `describe(ckpt)`, `root` the
    checkpoints folder (a base model is named by its place in it).  Both cells are Markdown for a
    table row: what the file says (labels, names, facts) escaped, on one line."""
    return [(table_cell(what), table_cell(value)) for what, value in _rows(ckpt, d, lang, root)]


def _rows(ckpt, d: dict, lang, root=None) -> list[tuple[str, str]]:
    rows = [(t(lang, "describe.format"), SOURCES.get(ckpt.source, str(ckpt.source))),
            (t(lang, "describe.task"), task_text(ckpt, lang)),
            (t(lang, "describe.shape_head"), shape_text(ckpt.config, lang)),
            (t(lang, "describe.tokenizer_head"), tokenizer_text(getattr(ckpt, "tokenizer", None), lang)),
            (t(lang, "describe.parameters"), f"{d['parameters']:,}"
             + (t(lang, "describe.tied") if ckpt.model.is_tied else "")),
            (t(lang, "describe.memory"), d["summary"]["in memory"])]
    if "on disk" in d["summary"]:
        rows.append((t(lang, "describe.disk"), d["summary"]["on disk"]))
    facts = {k: v for k, v in (ckpt.facts or {}).items() if k not in SHOWN_ELSEWHERE}
    for key in [k for k in FACTS if k in facts] + [k for k in facts if k not in FACTS]:
        rows.append((fact_label(key, lang), fact_value(key, facts[key], lang, root)))
    return rows
