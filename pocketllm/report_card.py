"""A report card for every model a run finishes: a few figures that say whether it is any good.

Computed once, at the end of a finished run, and kept in the checkpoint's facts
(`facts["report_card"]`) and in the run's results:

- a **language model**: bits per character on the held-out part of its own corpus (the
  tokenizer-independent yardstick), and how much its samples repeat themselves — the
  "复读机" (parrot) of young models: four fixed-seed samples, and in them the share of
  4-grams that occur more than once (1.0 for a sample that loops, near 0 for varied text)
  and distinct-2 (distinct bigrams ÷ bigrams: low when it loops);
- a **classifier**: its test accuracy and confusion matrix (from the task's own results);
- an **instruction model**: the exact match on the held-out tasks and the share of empty answers.

n-grams are counted over words and characters as a reader sees them (a run of Latin letters
or digits is one word; every other visible character — a Chinese character, a comma — is
one), so models with different tokenizers are measured alike.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from .kinds import TaskKind, task_kind

CARD_EVAL_BATCHES = 32     # held-out batches for bits per character (the whole split when smaller)
SAMPLES = 4                # fixed-seed samples for the repetition figures ...
SAMPLE_TOKENS = 100        # ... of this many tokens each
ANSWERS_BYTES = 64 * 2**20  # an answers file larger than this is not one a run wrote
_UNITS = re.compile(r"[A-Za-z0-9_'’]+|\S")


def text_units(text: str) -> list[str]:
    """Words (runs of Latin letters and digits) and single other characters; spaces dropped."""
    return _UNITS.findall(text)


def repetition(text: str, n: int = 4) -> dict:
    """{"repeated_4grams": share of the n-grams that occur more than once, "distinct_2": distinct
    bigrams ÷ bigrams, "units": how many words/characters}; None figures for too short a text."""
    units = text_units(text)
    grams = [tuple(units[i:i + n]) for i in range(len(units) - n + 1)]
    pairs = [tuple(units[i:i + 2]) for i in range(len(units) - 1)]
    counts = Counter(grams)
    repeated = sum(1 for g in grams if counts[g] > 1) / len(grams) if grams else None
    distinct = len(set(pairs)) / len(pairs) if pairs else None
    return {"repeated_4grams": repeated, "distinct_2": distinct, "units": len(units)}


def sample_repetition(texts: list[str]) -> dict:
    """The mean of `repetition` over several samples (each measured alone)."""
    figures = [repetition(t) for t in texts]
    out = {}
    for key in ("repeated_4grams", "distinct_2"):
        values = [f[key] for f in figures if f[key] is not None]
        out[key] = round(sum(values) / len(values), 4) if values else None
    out["samples"] = len(texts)
    return out


def language_model_card(model, task, device) -> dict:
    """Held-out bits per character and the repetition of fixed-seed samples."""
    from .generation import Sampling, generate
    from .probes import task_prompts
    card = {"kind": TaskKind.PRETRAIN.value}
    val = getattr(task.corpus, "val", None)
    if val is not None and len(val):
        scores = task.evaluate(model, "val", CARD_EVAL_BATCHES, device)
        card["val_bits_per_char"] = round(scores["bits_per_char"], 4)
        card["val_loss"] = round(scores["loss"], 4)
        card["val_windows"] = min(len(val), CARD_EVAL_BATCHES * getattr(task, "eval_batch_size", 8))
    tokenizer = task.tokenizer
    prompts = [tokenizer.decode(p["ids"]) for p in task_prompts(task)] or [getattr(task, "sample_prompt", "")]
    texts = [generate(model, prompts[i % len(prompts)], SAMPLE_TOKENS,
                      Sampling(temperature=0.8, top_k=40, seed=i), tokenizer=tokenizer) for i in range(SAMPLES)]
    card.update(sample_repetition(texts))
    card["sampling"] = "temperature 0.8, top_k 40, seeds 0-3, no repetition penalty"
    return card


def classifier_card(results: dict) -> dict:
    test = results.get("test") if isinstance(results.get("test"), dict) else {}
    card = {"kind": TaskKind.CLASSIFY.value}
    if test:
        card["test_accuracy"] = test.get("accuracy")
        card["test_examples"] = test.get("examples")
        card["confusion_matrix"] = test.get("confusion_matrix")
        card["macro_f1"] = test.get("macro_f1")
    elif "val_accuracy" in results:
        card["val_accuracy"] = results["val_accuracy"]
    return card if len(card) > 1 else {}


def _answers(path) -> list[dict]:
    """The held-out answers an instruction run wrote (tasks/instruction.py's write_test_responses);
    [] when missing or unreadable.  Read here, not imported: the training loop imports this module."""
    try:
        if not path or Path(path).stat().st_size > ANSWERS_BYTES:
            return []
        answers = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [a for a in answers if isinstance(a, dict)] if isinstance(answers, list) else []


def instruction_card(results: dict) -> dict:
    card = {"kind": TaskKind.INSTRUCT.value}
    if "exact_match" in results:
        card["exact_match"] = results["exact_match"]
        card["test_answers"] = results.get("test_generated")
    answers = _answers(results.get("responses_path"))
    if answers:
        card["empty_answers"] = round(sum(not str(a.get("generated", "")).strip() for a in answers) / len(answers), 4)
        card.update(sample_repetition([str(a.get("generated", "")) for a in answers]))
    return card if len(card) > 1 else {}


def report_card(model, task, results: dict, device="cpu") -> dict:
    """The card of a finished run's model (plain JSON), {} when there is nothing to say."""
    kind = task_kind(getattr(task, "name", None))
    if kind is TaskKind.CLASSIFY:
        return classifier_card(results)
    if kind is TaskKind.INSTRUCT:
        return instruction_card(results)
    if getattr(task, "corpus", None) is not None:
        return language_model_card(model, task, device)
    return {}


# ---- saying it -------------------------------------------------------------------

def card_figures(card: dict) -> dict:
    """The card's headline figures by short name, for a table's columns."""
    if not card:
        return {}
    names = {"val_bits_per_char": "bits/char", "repeated_4grams": "repeated 4-grams", "distinct_2": "distinct-2",
             "test_accuracy": "test acc", "val_accuracy": "val acc", "macro_f1": "macro F1",
             "exact_match": "exact match", "empty_answers": "empty answers"}
    return {label: card[key] for key, label in names.items() if isinstance(card.get(key), (int, float))}


def card_lines(card: dict) -> list[str]:
    """The card in a few lines of English (the CLI's `info`)."""
    if not card:
        return []
    lines = ["report card:"]
    if "val_bits_per_char" in card:
        lines.append(f"  held-out bits per character  {card['val_bits_per_char']:.3f}  "
                     f"(loss {card.get('val_loss', float('nan')):.3f} nats/token on {card.get('val_windows')} windows)")
    if card.get("repeated_4grams") is not None:
        lines.append(f"  repeated 4-grams in samples  {card['repeated_4grams']:.1%}  (100% = the text loops; "
                     f"distinct-2 {card.get('distinct_2') or 0:.2f}; {card.get('samples')} samples)")
    if card.get("test_accuracy") is not None:
        lines.append(f"  test accuracy                {card['test_accuracy']:.1%} of {card.get('test_examples')}")
        matrix = (card.get("confusion_matrix") or {})
        labels, rows = matrix.get("labels") or [], matrix.get("rows_true_cols_predicted") or []
        if labels and rows:
            width = max(len(str(x)) for x in labels + ["true \\ predicted"])
            lines.append("  " + "true \\ predicted".ljust(width) + "".join(f"  {str(x):>10}" for x in labels))
            for label, row in zip(labels, rows):
                lines.append("  " + str(label).ljust(width) + "".join(f"  {v:>10}" for v in row))
    elif card.get("val_accuracy") is not None:
        lines.append(f"  validation accuracy          {card['val_accuracy']:.1%}")
    if card.get("exact_match") is not None:
        lines.append(f"  exact match (held-out tasks) {card['exact_match']:.1%} of {card.get('test_answers')}")
    if card.get("empty_answers") is not None:
        lines.append(f"  empty answers                {card['empty_answers']:.1%}")
    return lines
