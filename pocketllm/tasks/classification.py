"""Task: classify messages (spam / not spam, or any labels) with a GPT model.

The base language model gets a small head, `Linear(emb_dim, num_classes)`.  A
message is read left to right, so its *last real token* has seen all of it: that
position's output is the message's class scores.  Batches pad to the longest
message of the batch (never to the whole context) with <|endoftext|>, and the
scores are read at index `length - 1`, never at a pad — the causal mask keeps the
pads after it from changing anything before them.

What trains is a choice (`trainable`): "head", "last:N" or N (the last N blocks,
the final norm and the head), "all", or "lora" (adapters on every block plus the
head).  The default is "all" for a small model — on the bundled spam table a
briefly pretrained cpu-small base reaches 96% that way, against 88.6% with only
its last block — and "last:1" for a large base such as GPT-2, where training
every weight on a CPU is slow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.tables import read_table, stratified_split, undersample
from ..errors import PocketLLMError
from ..generation import model_and_tokenizer
from ..kinds import TaskKind, task_kind
from ..model import GPTModel
from ..tokenizer import Tokenizer, gpt2_tokenizer
from ..tokenizer.grow import check_can_grow, grow_bpe, learn_words, tokens_per_char
from ..tokenizer.trained import MIN_TRAINING_CHARS
from ..training.trainer import Trainer, TrainSettings
from .lora import adapters_path_for, apply_lora, count_trainable, finish_adapters
from .run_setup import (ROOT, USUAL_LORA_RANK, FinetuneSettings, TaskRun, base_facts, checked_max_length, load_base,
                        start_run)

DEFAULT_TABLE = ROOT / "data" / "classify" / "spam.csv"


# ---- what trains -------------------------------------------------------------------

def parse_trainable(spec) -> tuple[str, int]:
    """"head" | "all" | "lora" | "last:N" | N  →  (kind, N)."""
    text = str(spec).strip().lower()
    if text in ("head", "all", "lora"):
        return text, 0
    if text.startswith("last:"):
        text = text[5:]
    if text.isdigit() and int(text) >= 0:
        return ("head", 0) if int(text) == 0 else ("last", int(text))
    raise PocketLLMError("--trainable must be head, last:N (or just N), all or lora; got {spec}.",
                         code="classify.bad_trainable", spec=repr(spec))


def set_trainable(model: GPTModel, spec, lora_rank: int = 8, lora_alpha: float = 16.0) -> dict:
    """Freeze all but the chosen parts (requires_grad); returns what trains, with counts."""
    kind, n = parse_trainable(spec)
    if kind == "lora":
        apply_lora(model, lora_rank, lora_alpha, keep_trainable=("out_head",))
    else:
        for p in model.parameters():
            p.requires_grad_(kind == "all")
        if kind == "last":
            if n > model.cfg.num_layers:
                raise PocketLLMError("--trainable last:{n} asks for more blocks than the model has "
                                     "({layers}).", code="classify.too_many_blocks", n=n,
                                     layers=model.cfg.num_layers)
            for block in list(model.blocks)[-n:]:
                block.requires_grad_(True)
            model.final_norm.requires_grad_(True)
        model.out_head.requires_grad_(True)
    trainable, total = count_trainable(model)
    return {"trainable": kind if kind != "last" else f"last:{n}", "trainable_parameters": trainable,
            "parameters": total}


SMALL_MODEL = 50_000_000  # parameters; up to this many, finetuning every weight is the default
# What is read of a message by default: about USUAL_MESSAGE_CHARS characters (a short message whole,
# an e-mail's first paragraphs; the bundled table's messages are 331 characters at the median, 364 at
# the 95th percentile), at least USUAL_MAX_LENGTH tokens, at most the context.  In tokens that depends
# on the tokenizer: a bpe learnt on English spells these e-mails at 0.44 tokens a character, one learnt
# on the Chinese classics at 1.0 (there 128 tokens gave 88.0 % test accuracy, 256 tokens 90.1 %), and
# that one grown by the messages' own words (NEW_TOKENS below) at 0.4: 128 tokens gave 92.0 %, 256
# tokens (whole messages) 95.6 % (2026-12-05, the default Pretrain model as the base).
USUAL_MESSAGE_CHARS = 600
USUAL_MAX_LENGTH = 128
SAMPLED_MESSAGES = 300  # messages whose tokens per character are measured
# Words the base's tokenizer lacks: when it spells the training messages in at least GROW_WHEN times
# the tokens that a vocabulary learnt on them would, NEW_TOKENS of their words join its vocabulary
# (tokenizer/grow.py).  On the bundled English e-mails a base pretrained on the Chinese classics
# spells a letter a token; grown by 2,000 tokens it reached 95.6 % test accuracy against 90.7 %
# without (and 95.3 % with 4,000), in 116 s against 272 s (2026-12-05, same base, 256 tokens read).
NEW_TOKENS = 2000
GROW_WHEN = 1.5
MAX_NEW_TOKENS = 16000


def usual_max_length(texts: list[str], tokenizer: Tokenizer) -> int:
    """Tokens that hold about USUAL_MESSAGE_CHARS characters of these texts (at least USUAL_MAX_LENGTH)."""
    sample = [t for t in texts[:SAMPLED_MESSAGES] if t]
    chars = sum(len(t) for t in sample)
    if not chars:
        return USUAL_MAX_LENGTH
    tokens = sum(len(ids) for ids in tokenizer.encode_batch(sample))
    return max(USUAL_MAX_LENGTH, math.ceil(USUAL_MESSAGE_CHARS * tokens / chars))


def default_trainable(model: GPTModel) -> str:
    return "all" if sum(p.numel() for p in model.parameters()) <= SMALL_MODEL else "last:1"


# ---- batches -----------------------------------------------------------------------

def encode_texts(texts: list[str], max_length: int, tokenizer: Tokenizer) -> list[list[int]]:
    """Token ids per text, cut to max_length (the start of a message is kept)."""
    out = []
    for ids in tokenizer.encode_batch(list(texts)):
        out.append((ids or [tokenizer.eot_id])[:max_length])  # an empty text still has one token to read
    return out


def collate_classes(token_lists: list[list[int]], labels: list[int] | None = None,
                    pad_id: int = 0) -> dict:
    """{"inputs" (batch, longest), "lengths" (batch,), ["labels" (batch,)]}; pads on the right.

    The pad id never matters: attention is causal, and only each message's last
    real token is read, which sees nothing to its right."""
    longest = max(len(t) for t in token_lists)
    inputs = torch.full((len(token_lists), longest), pad_id, dtype=torch.long)
    for i, ids in enumerate(token_lists):
        inputs[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
    batch = {"inputs": inputs, "lengths": torch.tensor([len(t) for t in token_lists], dtype=torch.long)}
    if labels is not None:
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
    return batch


def class_logits(model, inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(batch, classes): the head's output at each message's last real token."""
    logits = model(inputs)  # (batch, tokens, classes); the head is tiny, so all positions are cheap
    rows = torch.arange(inputs.shape[0], device=inputs.device)
    return logits[rows, lengths - 1].float()


# ---- the task ---------------------------------------------------------------------

class ClassificationTask:
    name = TaskKind.CLASSIFY
    best_metric = ("accuracy", "max")  # what keep_best and patience watch (ties: lower loss)

    def __init__(self, splits: dict[str, tuple[list[list[int]], list[int]]], labels: list[str],
                 eval_batch_size: int = 16, trainable: dict | None = None, adapters_path=None,
                 base: str | None = None, tokenizer: Tokenizer | None = None, max_length: int | None = None,
                 new_tokens: dict | None = None):
        self.tokenizer = tokenizer or gpt2_tokenizer()  # the base model's, saved with the classifier
        self.splits = splits          # name -> (token lists, label ids)
        self.labels = list(labels)
        self.eval_batch_size = eval_batch_size
        self.trainable = trainable or {}
        self.adapters_path = Path(adapters_path) if adapters_path else None
        self.base = base
        self.max_length = max_length  # shorter than the context: saved, so classify() cuts messages the same
        self.new_tokens = new_tokens or {}  # what the base's tokenizer learned of the messages (grow_vocabulary)

    def num_train_examples(self) -> int:
        return len(self.splits["train"][1])

    def _batch(self, split: str, indices, device) -> dict:
        tokens, labels = self.splits[split]
        batch = collate_classes([tokens[i] for i in indices], [labels[i] for i in indices])
        return {k: v.to(device) for k, v in batch.items()}

    def make_batch(self, indices, device) -> dict:
        return self._batch("train", indices, device)

    def batch_tokens(self, batch) -> int:
        return int(batch["lengths"].sum())

    def loss(self, model, batch):
        logits = class_logits(model, batch["inputs"], batch["lengths"])
        loss = F.cross_entropy(logits, batch["labels"])
        accuracy = (logits.argmax(-1) == batch["labels"]).float().mean().item()
        return loss, {"accuracy": accuracy}

    def predict_split(self, model, split: str, device, limit: int | None = None):
        """(predicted ids, true ids, summed loss) over a split (or its first `limit` examples)."""
        tokens, labels = self.splits[split]
        n = len(labels) if limit is None else min(len(labels), limit)
        # Similar lengths together: less padding, same answers (pads never change a prediction).
        order = sorted(range(n), key=lambda i: len(tokens[i]))
        preds, loss_sum = [0] * n, 0.0
        for start in range(0, n, self.eval_batch_size):
            idx = order[start:start + self.eval_batch_size]
            batch = self._batch(split, idx, device)
            logits = class_logits(model, batch["inputs"], batch["lengths"])
            loss_sum += F.cross_entropy(logits, batch["labels"], reduction="sum").item()
            for i, p in zip(idx, logits.argmax(-1).tolist()):
                preds[i] = p
        return preds, list(labels[:n]), loss_sum

    def evaluate(self, model, split: str, max_batches: int, device) -> dict:
        if not self.splits.get(split) or not self.splits[split][1]:
            return {}
        limit = max_batches * self.eval_batch_size if max_batches else None
        preds, truth, loss_sum = self.predict_split(model, split, device, limit)
        return {"loss": loss_sum / max(1, len(truth)),
                "accuracy": sum(p == t for p, t in zip(preds, truth)) / max(1, len(truth))}

    def sample(self, model):
        return None

    def checkpoint_task(self) -> dict:
        task = {"type": TaskKind.CLASSIFY.value, "labels": list(self.labels)}
        if self.max_length:
            task["max_length"] = self.max_length
        return task

    @torch.no_grad()
    def finish(self, model, device) -> dict:
        was_training = model.training
        model.eval()
        results = {"labels": list(self.labels), **self.trainable}
        if self.new_tokens.get("added"):
            results["new_tokens"] = self.new_tokens
        if self.adapters_path is not None:
            results.update(finish_adapters(self.adapters_path, model, self.base, self.checkpoint_task()))
        for split in ("val", "test"):
            if self.splits.get(split) and self.splits[split][1]:
                preds, truth, loss_sum = self.predict_split(model, split, device)
                results[f"{split}_loss"] = loss_sum / len(truth)
                results[f"{split}_accuracy"] = sum(p == t for p, t in zip(preds, truth)) / len(truth)
                if split == "test":
                    results["test"] = classification_report(preds, truth, self.labels)
        model.train(was_training)
        return results


def classification_report(preds: list[int], truth: list[int], labels: list[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix (rows = truth)."""
    k = len(labels)
    matrix = [[0] * k for _ in range(k)]
    for p, t in zip(preds, truth):
        matrix[t][p] += 1
    per_class = {}
    for c, name in enumerate(labels):
        tp = matrix[c][c]
        predicted = sum(matrix[r][c] for r in range(k))
        actual = sum(matrix[c])
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    n = max(1, len(truth))
    return {"accuracy": sum(matrix[c][c] for c in range(k)) / n, "examples": len(truth),
            "per_class": per_class,
            "macro_f1": sum(v["f1"] for v in per_class.values()) / max(1, k),
            "confusion_matrix": {"labels": list(labels), "rows_true_cols_predicted": matrix}}


# ---- inference ---------------------------------------------------------------------

@torch.no_grad()
def classify(model, texts, labels: list[str] | None = None, batch_size: int = 16,
             max_length: int | None = None, tokenizer: Tokenizer | None = None) -> list[dict]:
    """For each text: {"label": best label, "probs": {label: probability, ...}}.

    `model` is a Checkpoint (which knows its tokenizer and how many tokens it was trained to read)
    or a model with `tokenizer=`."""
    trained_length = (getattr(model, "task", None) or {}).get("max_length")
    model, tokenizer = model_and_tokenizer(model, tokenizer)
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    n_classes = model.out_head.out_features
    if model.num_classes is None and n_classes == model.cfg.vocab_size:
        raise PocketLLMError("This model is a language model, not a classifier; train one with "
                             "`python -m pocketllm classify-train` first.", code="classify.not_a_classifier")
    labels = list(labels) if labels else [str(i) for i in range(n_classes)]
    if len(labels) != n_classes:
        raise PocketLLMError("{names} label names for a head with {classes} classes.",
                             code="classify.label_count", names=len(labels), classes=n_classes)
    was_training = model.training
    model.eval()
    device = model.tok_emb.weight.device
    tokens = encode_texts(texts, max_length or trained_length or model.cfg.context_length, tokenizer)
    out = []
    for start in range(0, len(tokens), batch_size):
        batch = collate_classes(tokens[start:start + batch_size])
        logits = class_logits(model, batch["inputs"].to(device), batch["lengths"].to(device))
        for row in torch.softmax(logits, -1).tolist():
            best = max(range(n_classes), key=lambda c: row[c])
            out.append({"label": labels[best], "probs": {labels[c]: row[c] for c in range(n_classes)}})
    model.train(was_training)
    return out[0] if single else out


# ---- preparing a run ------------------------------------------------------------------

@dataclass
class ClassifySettings(FinetuneSettings):
    data_path: str = str(DEFAULT_TABLE)
    lora_rank: int = USUAL_LORA_RANK    # used when trainable is lora
    train: TrainSettings = field(default_factory=lambda: TrainSettings(
        epochs=2, batch_size=8, lr=5e-4, eval_every=50, eval_batches=5, sample_every=0,
        keep_best=True, patience=3))
    text_column: str | None = None      # header name or 0-based index; default: detected
    label_column: str | None = None
    delimiter: str | None = None        # default: detected
    header: bool | None = None          # default: detected
    balance: bool = False               # undersample every class to the smallest one
    split: tuple = (0.7, 0.1, 0.2)      # train / val / test, stratified
    trainable: str | None = None        # default: all for a small model, last:1 for a large one
    new_tokens: int | None = None       # words of the messages added to a bpe vocabulary; default: NEW_TOKENS
                                        # when the base spells them GROW_WHEN times longer than they need, else 0


def prepare_classification(settings: ClassifySettings, stop_event=None) -> Trainer:
    """Data, base model, head, what trains, run folder.  Returns the Trainer."""
    return start_run(TaskKind.CLASSIFY, settings, lambda model_path: _classification_run(settings, model_path),
                     stop_event)


def _classification_run(settings: ClassifySettings, model_path: Path) -> TaskRun:
    table = read_table(settings.data_path, settings.text_column, settings.label_column,
                       settings.delimiter, settings.header)
    balance_before = table.balance()
    if settings.balance:
        table = table.subset(undersample(table.label_ids, settings.train.seed))

    torch.manual_seed(settings.train.seed)
    base = load_base(settings.base_model, settings.config)
    model, base_task = base.model, base.task
    parts = stratified_split(table.label_ids, settings.split, settings.train.seed)
    tokenizer, words = grow_vocabulary(model, base.tokenizer, [table.texts[i] for i in parts[0]], settings.new_tokens)
    _add_head(model, base_task, table.labels, settings.base_model)
    max_length = checked_max_length(settings, base.config.context_length, least=1,
                                    usual=usual_max_length(table.texts, tokenizer))

    trainable_spec = settings.trainable or default_trainable(model)
    trainable = set_trainable(model, trainable_spec, settings.lora_rank, settings.lora_alpha)
    lora = trainable["trainable"] == "lora"
    if lora:
        trainable.update(lora_rank=settings.lora_rank, lora_alpha=settings.lora_alpha)

    tokens = encode_texts(table.texts, max_length, tokenizer)
    truncated = sum(len(t) == max_length for t in tokens)
    splits = {name: ([tokens[i] for i in idx], [table.label_ids[i] for i in idx])
              for name, idx in zip(("train", "val", "test"), parts)}
    if not splits["train"][1]:
        raise PocketLLMError("The training split is empty; use more data or a larger train fraction.",
                             code="classify.empty_train_split")
    adapters = adapters_path_for(model_path) if lora and settings.keep_adapters else None
    task = ClassificationTask(splits, table.labels, eval_batch_size=max(16, settings.train.batch_size),
                              trainable=trainable, adapters_path=adapters, base=settings.base_model,
                              tokenizer=tokenizer,
                              max_length=max_length if max_length < base.config.context_length else None,
                              new_tokens=words)
    data = {**table.summary(), "balance_before": balance_before, "balanced": settings.balance,
            "max_length": max_length, "truncated": truncated, "splits": {k: len(v[1]) for k, v in splits.items()},
            "new_tokens": words}
    return TaskRun(model, task, model.cfg, record={"data": data, **trainable},
                   facts={"labels": table.labels, **base_facts(settings, trainable["trainable"])})


def grow_vocabulary(model: GPTModel, tokenizer: Tokenizer, texts: list[str], new_tokens: int | None):
    """The tokenizer the classifier reads with: the base's, or the base's grown by words of `texts`
    (the training messages; the model's embedding grows with it).  Returns it and what happened:
    {"added", "tokens_per_char": [before, after]} or {"added": 0, "why": ...}."""
    if new_tokens is not None and (not isinstance(new_tokens, int) or isinstance(new_tokens, bool)
                                   or not 0 <= new_tokens <= MAX_NEW_TOKENS):
        raise PocketLLMError("--new_tokens must be a whole number from 0 to {maximum:,}; got {value}.",
                             code="classify.bad_new_tokens", maximum=MAX_NEW_TOKENS, value=repr(new_tokens))
    if new_tokens == 0:
        return tokenizer, {"added": 0, "why": "off"}
    if getattr(tokenizer, "kind", None) != "bpe":
        if new_tokens is None:  # gpt2 and imported vocabularies already know many languages' words
            return tokenizer, {"added": 0, "why": "not_bpe"}
        check_can_grow(tokenizer)  # asked for: the clear message
    if new_tokens is None and sum(len(t) for t in texts) < MIN_TRAINING_CHARS:
        return tokenizer, {"added": 0, "why": "too_little_text"}  # (asked for, learn_words says why not)
    sample = [t for t in texts[:SAMPLED_MESSAGES] if t]
    words = learn_words(texts, new_tokens or NEW_TOKENS)
    before, own = tokens_per_char(tokenizer, sample), tokens_per_char(words, sample)
    if new_tokens is None and before < GROW_WHEN * own:
        return tokenizer, {"added": 0, "why": "fits", "tokens_per_char": [before, own]}
    grown, added = grow_bpe(tokenizer, words)
    model.grow_vocab(grown.vocab_size, added)
    return grown, {"added": len(added), "tokens_per_char": [before, tokens_per_char(grown, sample)]}


def _add_head(model: GPTModel, base_task: dict, labels: list[str], base_model) -> None:
    """A language model gets a fresh head for `labels`; a classifier must already have them."""
    kind = task_kind(base_task.get("type"))
    if kind in (TaskKind.PRETRAIN, TaskKind.INSTRUCT):
        model.set_classifier_head(len(labels))
    elif kind is TaskKind.CLASSIFY:
        if list(base_task.get("labels", [])) != labels:
            raise PocketLLMError(
                "{base} is already a classifier for {base_labels}, but this data has the labels {labels}. "
                "Start from a language model (a pretrained checkpoint or GPT-2 weights) instead.",
                code="classify.base_labels_differ", base=base_model, base_labels=base_task.get("labels"),
                labels=labels)
    else:
        raise PocketLLMError("{base} is a {kind} model; give a language model.", code="classify.base_not_lm",
                             base=base_model, kind=base_task.get("type"))
