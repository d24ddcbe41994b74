"""A text corpus as token windows for language modelling.

The text is tokenized once with the model's own tokenizer and stored as a
memory-mapped array of token ids (uint16 when the vocabulary fits, as every
tokenizer here does; uint32 otherwise), cached under a name derived from the
content's hash, the tokenizer's fingerprint and the split — so a 1 GB corpus
costs 2 bytes per token on disk and almost nothing in RAM, and a second run on
the same text with the same tokenizer skips tokenizing.

The text is split into train and validation parts by characters (the last
`val_fraction` of the characters is held out) before tokenizing, so a
tokenizer trained on the training part never saw the validation text, and
bits per character can be computed exactly for each part.  The token ids are
then cut into windows of `context_length + 1` tokens, starting every `stride`
tokens: the inputs are the first `context_length`, the targets the same
shifted by one.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import Phrase, PhraseList, PocketLLMError, shown
from ..files import atomic_write, write_json_atomic
from ..tokenizer import Tokenizer
from .text import iter_split


def id_dtype(vocab_size: int):
    """The narrowest unsigned integer that holds every token id."""
    return np.uint16 if vocab_size <= 1 << 16 else np.uint32


@dataclass
class TokenFile:
    path: Path          # the .bin file of token ids
    num_tokens: int
    num_chars: int
    sha256: str         # of the source bytes
    split_at: int = 0   # first validation token
    train_chars: int = 0
    dtype: str = "uint16"

    @property
    def val_chars(self) -> int:
        return self.num_chars - self.train_chars

    def array(self) -> np.ndarray:
        if self.num_tokens == 0:
            return np.zeros(0, dtype=self.dtype)
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.num_tokens,))


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tokenize_file(path, cache_dir, tokenizer: Tokenizer, val_fraction: float = 0.0) -> TokenFile:
    """Tokenize a UTF-8 text file into `cache_dir/tokens-<text>-<tokenizer>-<split>.bin`
    (reused when present).  The held-out characters are tokenized separately."""
    path = Path(path)
    sha = file_sha256(path)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    bin_path = cache_dir / f"tokens-{sha[:16]}-{tokenizer.fingerprint[:12]}-v{round(val_fraction * 1000):03d}.bin"
    meta_path = bin_path.with_suffix(".json")
    if bin_path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        return TokenFile(bin_path, meta["num_tokens"], meta["num_chars"], sha, meta["split_at"],
                         meta["train_chars"], meta["dtype"])
    dtype = id_dtype(tokenizer.vocab_size)
    counts = {"num_tokens": 0, "num_chars": 0, "train_chars": 0, "split_at": None}

    def write_tokens(tmp: Path):
        with open(tmp, "wb") as out:
            for part, chunk in iter_split(path, val_fraction):
                if part == "val" and counts["split_at"] is None:
                    counts["split_at"] = counts["num_tokens"]
                counts["num_chars"] += len(chunk)
                counts["train_chars"] += len(chunk) if part == "train" else 0
                for run in tokenizer.encode_pieces(chunk):  # bounded memory, whatever the chunk's size
                    ids = np.asarray(run, dtype=dtype)
                    ids.tofile(out)
                    counts["num_tokens"] += len(ids)
        if counts["num_chars"] == 0 or not counts["num_tokens"]:
            raise PocketLLMError("{name} is empty: there is no text to train on.", code="corpus.empty",
                                 name=path.name)

    # Bad bytes half-way or Ctrl-C: atomic_write leaves no half-written cache file behind.
    atomic_write(bin_path, write_tokens)
    num_tokens, num_chars, train_chars = counts["num_tokens"], counts["num_chars"], counts["train_chars"]
    split_at = num_tokens if counts["split_at"] is None else counts["split_at"]
    # The record is written after the tokens it describes, so a record always has its tokens.
    write_json_atomic(meta_path, {"source": str(path), "sha256": sha, "tokenizer": tokenizer.fingerprint,
                                  "num_tokens": num_tokens, "num_chars": num_chars, "split_at": split_at,
                                  "train_chars": train_chars, "dtype": np.dtype(dtype).name})
    return TokenFile(bin_path, num_tokens, num_chars, sha, split_at, train_chars, np.dtype(dtype).name)


class TokenWindows:
    """Windows over a token array: item i → (inputs, targets) of `context_length` each."""

    def __init__(self, tokens: np.ndarray, context_length: int, stride: int):
        self.tokens = tokens
        self.context_length = context_length
        self.stride = stride
        usable = len(tokens) - context_length - 1
        self.count = 0 if usable < 0 else usable // stride + 1

    def __len__(self) -> int:
        return self.count

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.context_length
        rows = np.stack([np.asarray(self.tokens[i * self.stride: i * self.stride + t + 1])
                         for i in indices]).astype(np.int64)
        rows = torch.from_numpy(rows)
        return rows[:, :-1], rows[:, 1:]


@dataclass
class Corpus:
    """Train and validation windows of one text file."""
    tokens: TokenFile
    train: TokenWindows
    val: TokenWindows
    context_length: int
    split_at: int  # first validation token
    tokenizer: Tokenizer | None = None

    def tokens_per_char(self, split: str) -> float:
        """Tokens per character of a split: nats/token × this ÷ ln 2 = bits per character."""
        tf = self.tokens
        if split == "train":
            return self.split_at / max(1, tf.train_chars)
        return (tf.num_tokens - self.split_at) / max(1, tf.val_chars)

    def bits_per_char(self, loss_nats_per_token: float, split: str = "val") -> float:
        """The tokenizer-independent yardstick: how many bits the model needs per character."""
        return loss_nats_per_token * self.tokens_per_char(split) / math.log(2)

    def summary(self) -> dict:
        return {"characters": self.tokens.num_chars, "tokens": self.tokens.num_tokens,
                "tokens_per_char": round(self.tokens.num_tokens / max(1, self.tokens.num_chars), 4),
                "train_tokens": self.split_at, "val_tokens": self.tokens.num_tokens - self.split_at,
                "train_windows": len(self.train), "val_windows": len(self.val),
                "context_length": self.context_length}


def max_context_for(num_tokens: int, val_fraction: float, split_at: int | None = None) -> int:
    """The longest context for which both splits hold at least one window."""
    if split_at is None:
        split_at = num_tokens - (int(num_tokens * val_fraction) if val_fraction > 0 else 0)
    val = num_tokens - split_at
    return max(0, min(split_at, val if val_fraction > 0 else split_at) - 1)


def load_corpus(path, context_length: int, cache_dir, tokenizer: Tokenizer, *, stride: int | None = None,
                val_fraction: float = 0.1) -> Corpus:
    """Tokenize with `tokenizer` (or reuse the cache), split and cut into windows."""
    stride = stride or context_length  # 0 or None: windows side by side
    problems = []
    if not (isinstance(val_fraction, (int, float)) and not isinstance(val_fraction, bool) and 0 <= val_fraction < 1):
        problems.append(Phrase("val_fraction must be from 0 up to (not including) 1 (got {value})",
                               code="corpus.bad_val_fraction", value=shown(val_fraction)))
    if not (isinstance(stride, int) and not isinstance(stride, bool) and stride >= 1):
        problems.append(Phrase("stride must be a whole number, at least 1 (got {value})", code="corpus.bad_stride",
                               value=shown(stride)))
    if problems:
        raise PocketLLMError("Invalid corpus settings: {problems}.", code="corpus.invalid_settings",
                             problems=PhraseList(problems))
    tf = tokenize_file(path, cache_dir, tokenizer, val_fraction)
    tokens = tf.array()
    split_at = tf.split_at
    train = TokenWindows(tokens[:split_at], context_length, stride)
    val = TokenWindows(tokens[split_at:], context_length, stride)
    if len(train) == 0 or (val_fraction > 0 and len(val) == 0):
        fit = max_context_for(tf.num_tokens, val_fraction, split_at)
        need = (context_length + 1) / (val_fraction if val_fraction > 0 else 1)
        facts = dict(name=Path(path).name, tokens=tf.num_tokens, context=context_length, held_out=val_fraction,
                     needed=int(need) + 1)
        if fit >= 8:
            raise PocketLLMError(
                "{name} has {tokens:,} tokens; with context_length={context} and {held_out:.0%} held out for "
                "validation it needs at least {needed:,}. Shrink the context (--context_length {fit} or less) "
                "or use a longer text.", code="corpus.too_short", fit=fit, **facts)
        raise PocketLLMError(
            "{name} has {tokens:,} tokens; with context_length={context} and {held_out:.0%} held out for "
            "validation it needs at least {needed:,}. Use a longer text.", code="corpus.too_short_for_any_context",
            **facts)
    return Corpus(tf, train, val, context_length, split_at, tokenizer)
