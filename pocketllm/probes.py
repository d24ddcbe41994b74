"""Probes: a few cheap measurements of what a model has learned, taken at every evaluation.

- **Next token on held-out prompts**: the starts of a few held-out lines (the same ones at
  every evaluation), the model's top next tokens with their probabilities, the probability
  (and rank) of the token that really comes next, and the entropy of the guess.  A fresh model
  guesses uniformly (entropy ≈ log2 of the vocabulary); training sharpens it.
- **Induction**: a batch of random token sequences, each repeated once (`<eot> x₁…x_L x₁…x_L`).
  An *induction head* (Olsson et al., 2022, "In-context learning and induction heads") at
  a token of the second repeat looks back to the token *after* that token's earlier
  occurrence — and so predicts it.  The score of a head is the attention it pays there,
  averaged over the positions of the second repeat: about 1/(position) for a head that looks
  evenly, near 1 for an induction head.  With it, the loss on the second repeat against the
  first: random tokens cannot be predicted the first time, but can be copied the second — the
  drop in this loss is the well-known phase change when induction heads form.

`probe(model, task)` returns the whole record (plain JSON); `induction_scores` works on any
attention weights, so a hand-made pattern can be scored too.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .inspect import visible

PROMPTS = 3            # held-out prompts
PROMPT_TOKENS = 8      # tokens of each
TOP = 5                # next tokens listed per prompt
REPEAT_LEN = 32        # random tokens per sequence (then repeated)
REPEAT_BATCH = 8       # sequences
SEED = 1234            # the same random sequences at every probe
SCAN_TOKENS = 4096     # held-out tokens scanned for line starts


# ---- induction ---------------------------------------------------------------

def repeated_sequences(vocab_size: int, context_length: int, eot_id: int | None = None,
                       length: int = REPEAT_LEN, batch: int = REPEAT_BATCH, seed: int = SEED) -> tuple[torch.Tensor, int]:
    """(ids (batch, 1 + 2L), L): `<eot>` then L distinct random tokens, twice.  L shrinks to fit the
    context and the vocabulary."""
    length = max(2, min(length, (context_length - 1) // 2, vocab_size - 1))
    g = torch.Generator().manual_seed(seed)
    first = eot_id if eot_id is not None and 0 <= eot_id < vocab_size else 0
    pool = torch.tensor([i for i in range(vocab_size) if i != first]) if vocab_size <= 4 * 65536 else None
    rows = []
    for _ in range(batch):
        if pool is not None:
            seq = pool[torch.randperm(len(pool), generator=g)[:length]]
        else:
            seq = torch.randint(0, vocab_size, (length,), generator=g)
        rows.append(torch.cat([torch.tensor([first]), seq, seq]))
    return torch.stack(rows), length


def induction_scores(attentions, repeat_len: int, start: int = 1) -> list[list[float]]:
    """[layer][head]: the mean attention from each token of the second repeat to the token just
    after that token's earlier occurrence.  `attentions`: per layer (batch, heads, T, T); the
    first repeat starts at position `start` (after a <eot>), the second at start + repeat_len."""
    out = []
    for weights in attentions:
        w = weights.float()
        second = torch.arange(start + repeat_len, start + 2 * repeat_len, device=w.device)
        target = second - repeat_len + 1  # the token after the earlier occurrence
        picked = w[:, :, second, target]  # (batch, heads, L)
        out.append(picked.mean(dim=(0, 2)).tolist())
    return out


def _loss(logits: torch.Tensor, ids: torch.Tensor, positions: range) -> float:
    """Mean next-token loss (nats) at the tokens of `positions` (predicted from the one before)."""
    pos = torch.tensor(list(positions), device=logits.device)
    pred = logits[:, pos - 1, :].float()
    return float(F.cross_entropy(pred.flatten(0, 1), ids[:, pos].flatten()))


@torch.no_grad()
def induction_probe(model, eot_id: int | None = None) -> dict:
    """The induction scores of every layer and head, the best one, and — for a language model —
    the loss on the first and the second repeat of random tokens."""
    cfg = model.cfg
    ids, length = repeated_sequences(cfg.vocab_size, cfg.context_length, eot_id)
    ids = ids.to(model.tok_emb.weight.device)
    trace = model.trace(ids)
    scores = induction_scores(trace.attentions, length)
    flat = [(s, l, h) for l, row in enumerate(scores) for h, s in enumerate(row)]
    best, layer, head = max(flat) if flat else (0.0, 0, 0)
    record = {"scores": [[round(s, 4) for s in row] for row in scores], "best": round(best, 4),
              "best_layer": layer + 1, "best_head": head + 1, "repeat_len": length,
              "uniform": round(_uniform_score(length), 4)}
    if trace.logits.shape[-1] == cfg.vocab_size:  # a language model (not a classifier head)
        # the first token of each repeat cannot be foretold: it is left out of both
        first = _loss(trace.logits, ids, range(2, 1 + length))
        second = _loss(trace.logits, ids, range(2 + length, 1 + 2 * length))
        record.update(loss_first=round(first, 4), loss_second=round(second, 4))
    del trace
    return record


def _uniform_score(length: int, start: int = 1) -> float:
    """The score of a head that spreads its attention evenly over what it can see."""
    return sum(1 / (p + 1) for p in range(start + length, start + 2 * length)) / length


# ---- next token on held-out prompts --------------------------------------------

def held_out_prompts(tokens, tokenizer, n: int = PROMPTS, length: int = PROMPT_TOKENS) -> list[dict]:
    """Up to `n` prompts: the first `length` tokens of held-out lines (spread over the first
    SCAN_TOKENS of the split), each with the token that comes next: [{"ids", "next"}]."""
    ids = [int(t) for t in tokens[:SCAN_TOKENS]]
    if len(ids) <= length:
        return []
    ends_line = [tokenizer.token_bytes(i).endswith(b"\n") for i in ids]
    # (the split may begin mid-line, so its first token is not a line's start)
    starts = [s for s in range(1, len(ids) - length) if ends_line[s - 1]
              and not any(ends_line[s:s + length + 1])  # the true next token is in the line too
              and not tokenizer.token_bytes(ids[s]).isspace()]
    if not starts:  # one long line: evenly spaced places instead
        starts = list(range(0, len(ids) - length, max(1, (len(ids) - length) // n)))
    if len(starts) > n:
        starts = [starts[round(i * (len(starts) - 1) / max(1, n - 1))] for i in range(n)]
    return [{"ids": ids[s:s + length], "next": ids[s + length]} for s in starts[:n]]


def token_label(tokenizer, token_id: int) -> str:
    raw = tokenizer.token_bytes(int(token_id))
    try:
        return visible(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "<" + raw.hex(" ") + ">"


def entropy_bits(probs: torch.Tensor) -> float:
    p = probs[probs > 0]
    return float(-(p * p.log2()).sum())


@torch.no_grad()
def next_token_probe(model, tokenizer, prompts: list[dict], top: int = TOP) -> list[dict]:
    """For each prompt: its text, the top next tokens [label, probability], the true next token,
    its probability and rank, and the entropy (bits) of the whole distribution."""
    if not prompts:
        return []
    device = model.tok_emb.weight.device
    length = min(len(p["ids"]) for p in prompts)
    ids = torch.tensor([p["ids"][-length:] for p in prompts], device=device)
    probs = torch.softmax(model(ids, last_only=True)[:, -1, :].float(), -1)
    out = []
    for p, row in zip(prompts, probs):
        best = torch.topk(row, min(top, row.shape[-1]))
        true = int(p["next"])
        out.append({"prompt": tokenizer.decode(p["ids"]), "top": [[token_label(tokenizer, i), round(float(q), 4)]
                                                                  for q, i in zip(best.values, best.indices)],
                    "true": token_label(tokenizer, true), "true_prob": round(float(row[true]), 5),
                    "true_rank": int((row > row[true]).sum()) + 1, "entropy": round(entropy_bits(row), 4)})
    return out


# ---- one record ----------------------------------------------------------------

def task_prompts(task) -> list[dict]:
    """The held-out prompts of a language-modelling task (a task with a corpus), else []."""
    corpus = getattr(task, "corpus", None)
    tokenizer = getattr(task, "tokenizer", None)
    val = getattr(corpus, "val", None)
    if val is None or tokenizer is None or len(getattr(val, "tokens", ())) == 0:
        return []
    return held_out_prompts(val.tokens, tokenizer)


def is_language_model(model) -> bool:
    return getattr(model, "num_classes", None) is None and model.out_head.out_features == model.cfg.vocab_size


@torch.no_grad()
def probe(model, tokenizer=None, prompts: list[dict] | None = None) -> dict:
    """{"prompts": [...], "entropy": mean bits or None, "induction": {...}} for `model` (eval mode)."""
    eot = getattr(tokenizer, "eot_id", None)
    record = {"induction": induction_probe(model, eot)}
    if prompts and tokenizer is not None and is_language_model(model):
        shown = next_token_probe(model, tokenizer, prompts)
        record["prompts"] = shown
        record["entropy"] = round(sum(p["entropy"] for p in shown) / len(shown), 4)
    return record


PHASE_DROP = 0.5          # the second repeat's loss at most this share of the first's ...
PHASE_INDUCTION = 0.2     # ... and some head's induction score at least this (an even head: ~0.02-0.05)


def phase_change(probes: list[dict], drop: float = PHASE_DROP, min_induction: float = PHASE_INDUCTION) -> dict | None:
    """The phase change when induction heads form: the first probe at which the loss on the
    second repeat of random tokens fell to at most `drop` of the first repeat's (the model copies
    what it saw) while the best head's induction score reached `min_induction` (a head does the
    copying), or None.  A record without a score (an older run) is judged by the loss alone.
    Returns {"step", "loss_first", "loss_second", "best", "best_layer", "best_head"}."""
    for p in probes:
        ind = p.get("induction") or {}
        first, second, best = ind.get("loss_first"), ind.get("loss_second"), ind.get("best")
        if not (first and second is not None and math.isfinite(first) and second <= drop * first):
            continue
        if best is not None and best < min_induction:
            continue
        return {"step": p.get("step"), "loss_first": first, "loss_second": second, "best": best,
                "best_layer": ind.get("best_layer"), "best_head": ind.get("best_head")}
    return None


def timeline(events: list[dict]) -> list[dict]:
    """One point per probe, for a chart against the step: {"step", "val_bits_per_char" (of the
    evaluation at that step, None at step 0), "loss_first", "loss_second", "best_induction", "entropy"}."""
    bits = {e["step"]: e.get("val_bits_per_char") for e in events if e.get("kind") == "eval"}
    points = {}
    for e in events:
        if e.get("kind") != "probe" or e.get("error"):
            continue
        ind = e.get("induction") or {}
        points[e["step"]] = {"step": e["step"], "val_bits_per_char": bits.get(e["step"]),
                             "loss_first": ind.get("loss_first"), "loss_second": ind.get("loss_second"),
                             "best_induction": ind.get("best"), "entropy": e.get("entropy")}
    return [points[k] for k in sorted(points)]  # a resumed run's repeated steps: the latest
