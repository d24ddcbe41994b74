"""A text corpus as token windows for language modelling.

The text is tokenized once and stored as a memory-mapped array of uint16
token ids (GPT-2's 50,257 ids fit), cached under a name derived from the
content's hash — so a 1 GB corpus costs 2 bytes per token on disk and almost
nothing in RAM, and a second run on the same text skips tokenizing.

The tokens are split into train and validation parts (the last
`val_fraction` of the tokens is held out), then cut into windows of
`context_length + 1` tokens, starting every `stride` tokens: the inputs are
the first `context_length`, the targets the same shifted by one.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import PocketLLMError
from ..tokenizer import get_tokenizer
from .text import iter_text_chunks


@dataclass
class TokenFile:
    path: Path          # the .bin file of uint16 ids
    num_tokens: int
    num_chars: int
    sha256: str         # of the source bytes

    def array(self) -> np.ndarray:
        if self.num_tokens == 0:
            return np.zeros(0, dtype=np.uint16)
        return np.memmap(self.path, dtype=np.uint16, mode="r", shape=(self.num_tokens,))


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tokenize_file(path, cache_dir) -> TokenFile:
    """Tokenize a UTF-8 text file into `cache_dir/tokens-<sha>.bin` (reused when present)."""
    path = Path(path)
    sha = file_sha256(path)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    bin_path = cache_dir / f"tokens-{sha[:16]}.bin"
    meta_path = bin_path.with_suffix(".json")
    if bin_path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        return TokenFile(bin_path, meta["num_tokens"], meta["num_chars"], sha)
    tok = get_tokenizer()
    tmp = bin_path.with_name(bin_path.name + f".{os.getpid()}.tmp")
    num_tokens = num_chars = 0
    with open(tmp, "wb") as out:
        for chunk in iter_text_chunks(path):
            num_chars += len(chunk)
            ids = np.asarray(tok.encode(chunk), dtype=np.uint16)
            ids.tofile(out)
            num_tokens += len(ids)
    if num_chars == 0 or not num_tokens:
        tmp.unlink(missing_ok=True)
        raise PocketLLMError(f"{path.name} is empty: there is no text to train on.")
    os.replace(tmp, bin_path)
    # Written whole then renamed: a reader never sees half a record.
    meta_tmp = meta_path.with_name(meta_path.name + f".{os.getpid()}.tmp")
    meta_tmp.write_text(json.dumps({"source": str(path), "sha256": sha,
                                    "num_tokens": num_tokens, "num_chars": num_chars}))
    os.replace(meta_tmp, meta_path)
    return TokenFile(bin_path, num_tokens, num_chars, sha)


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

    def summary(self) -> dict:
        return {"characters": self.tokens.num_chars, "tokens": self.tokens.num_tokens,
                "train_tokens": self.split_at, "val_tokens": self.tokens.num_tokens - self.split_at,
                "train_windows": len(self.train), "val_windows": len(self.val),
                "context_length": self.context_length}


def max_context_for(num_tokens: int, val_fraction: float) -> int:
    """The longest context for which both splits hold at least one window."""
    val = int(num_tokens * val_fraction) if val_fraction > 0 else 0
    train = num_tokens - val
    return max(0, min(train, val if val_fraction > 0 else train) - 1)


def load_corpus(path, context_length: int, cache_dir, *, stride: int | None = None,
                val_fraction: float = 0.1) -> Corpus:
    """Tokenize (or reuse the cache), split by tokens and cut into windows."""
    if not 0 <= val_fraction < 1:
        raise PocketLLMError(f"val_fraction must be in [0, 1) (got {val_fraction}).")
    stride = stride or context_length
    if stride < 1:
        raise PocketLLMError(f"stride must be at least 1 (got {stride}).")
    tf = tokenize_file(path, cache_dir)
    tokens = tf.array()
    split_at = tf.num_tokens - int(tf.num_tokens * val_fraction)
    train = TokenWindows(tokens[:split_at], context_length, stride)
    val = TokenWindows(tokens[split_at:], context_length, stride)
    if len(train) == 0 or (val_fraction > 0 and len(val) == 0):
        fit = max_context_for(tf.num_tokens, val_fraction)
        need = (context_length + 1) / (val_fraction if val_fraction > 0 else 1)
        raise PocketLLMError(
            f"{Path(path).name} has {tf.num_tokens:,} tokens; with context_length={context_length} "
            f"and {val_fraction:.0%} held out for validation it needs at least {int(need) + 1:,}. "
            + (f"Shrink the context (--context_length {fit} or less) or use a longer text."
               if fit >= 8 else "Use a longer text."))
    return Corpus(tf, train, val, context_length, split_at)
