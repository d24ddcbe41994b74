"""Teach a trained tokenizer new words: extend a `bpe` vocabulary with tokens learned from new text.

A tokenizer learned on the Chinese classics has almost no English merges, so it spells an English
e-mail a letter a token: the model must then build every word from letters, and a classifier
finetuned on a few thousand messages does that badly (84-90 % on the bundled spam table).
Chinese-LLaMA met the mirror problem (LLaMA's English vocabulary spelled Chinese a byte at a time)
the same way: learn a vocabulary on the new text and add its tokens to the old one.

How: a byte-level BPE of `257 + new_tokens` tokens is learned on the new texts alone (the same
256 byte tokens underneath), and each of its merges is appended after the base's merges, so the
base's own text is encoded exactly as before (its merges all rank first) while the new words get
their own tokens.  Each new token is the merge of two tokens that exist by then, which is what
lets a model start its embedding from theirs (`GPTModel.grow_vocab`).
"""
from __future__ import annotations

from typing import Iterable

from ..errors import PocketLLMError
from .base import Tokenizer
from .trained import MIN_VOCAB, from_hf_json, train_tokenizer
from .spec_check import MAX_VOCAB


def tokens_per_char(tokenizer: Tokenizer, texts: list[str]) -> float:
    chars = sum(len(t) for t in texts)
    return sum(len(ids) for ids in tokenizer.encode_batch(texts)) / max(1, chars)


def learn_words(texts: Iterable[str], new_tokens: int) -> Tokenizer:
    """A bpe of `new_tokens` learned merges on these texts alone (the words they use most)."""
    return train_tokenizer(texts, "bpe", MIN_VOCAB - 1 + new_tokens, source="the training messages")


def _pair(merge) -> tuple[str, str]:
    # tokenizers writes a merge as ["a", "b"] (0.20+) or as "a b" (older files)
    return tuple(merge) if isinstance(merge, list) else tuple(merge.split(" ", 1))


def check_can_grow(tokenizer: Tokenizer) -> None:
    if getattr(tokenizer, "kind", None) != "bpe":
        raise PocketLLMError("Only a bpe tokenizer can learn new words; this model reads {kind} tokens. "
                             "Set new tokens to 0.", code="tokenizer.cannot_grow",
                             kind=getattr(tokenizer, "kind", "?"))


def grow_bpe(tokenizer: Tokenizer, words: Tokenizer) -> tuple[Tokenizer, list[tuple[int, int, int]]]:
    """`tokenizer` with the merges of `words` (a bpe from `learn_words`) appended.

    Returns the grown tokenizer and, for every token it added, (new id, left part id, right part id)
    in merge order.  Text the base already spelled with its own merges is encoded as before."""
    check_can_grow(tokenizer)
    spec = tokenizer.to_spec()["tokenizer_json"]
    vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]
    style = list if (not merges or isinstance(merges[0], list)) else str
    known = {_pair(m) for m in merges}
    next_id = 1 + max([*vocab.values(), *(t["id"] for t in spec.get("added_tokens", []))])
    added = []
    for merge in words.to_spec()["tokenizer_json"]["model"]["merges"]:
        left, right = _pair(merge)
        if (left, right) in known or left not in vocab or right not in vocab:
            continue  # the base has this merge already (its parts always exist: merges come in order)
        known.add((left, right))
        merges.append([left, right] if style is list else f"{left} {right}")
        if left + right not in vocab:
            vocab[left + right] = next_id
            added.append((next_id, vocab[left], vocab[right]))
            next_id += 1
    if next_id > MAX_VOCAB:
        raise PocketLLMError("Learning {new} new tokens would take the vocabulary past {maximum:,}; ask for fewer.",
                             code="tokenizer.grow_too_large", new=len(added), maximum=MAX_VOCAB)
    return from_hf_json("bpe", spec), added

