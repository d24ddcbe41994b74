"""The `bpe` and `char` kinds: vocabularies learned from the user's own corpus.

- `bpe`:  byte-level BPE (the GPT-2 recipe) trained on the corpus with Hugging
          Face `tokenizers`: start from the 256 bytes, merge the most frequent
          neighbouring pair, repeat until the vocabulary has the size asked for.
- `char`: one token per distinct character of the corpus, most frequent first;
          a character it never saw is spelled as its UTF-8 bytes (`<0xE9>`...),
          so every text can be encoded and nothing is lost.

Both are a `tokenizers.Tokenizer` underneath, saved as its `tokenizer.json`
inside every checkpoint, so the model always reads text the way it learned to.
Layout of the ids: 0 is `<|endoftext|>`, then the byte tokens, then the rest.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Iterable

from ..errors import PocketLLMError
from .base import EOT_TEXT, Tokenizer

KINDS = ("gpt2", "bpe", "char")
BYTE_TOKENS = 256
MIN_VOCAB = BYTE_TOKENS + 2      # the bytes, <|endoftext|> and at least one learned token
MAX_VOCAB = 1 << 16              # token ids are cached as 16-bit numbers
MIN_TRAINING_CHARS = 200
# A fresh model's tokenizer (chosen by bench/tokenizer_quality.py; see the README).
DEFAULT_KIND = "bpe"
DEFAULT_VOCAB_SIZE = {"bpe": 8000, "char": None}  # char: every distinct character


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: each byte as a printable character.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes are given
    the code points 256, 257, ... in byte order (the convention of GPT-2's
    `encoder.py`, which Hugging Face's ByteLevel pre-tokenizer follows).
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


_UNICODE_TO_BYTE = {ch: b for b, ch in byte_to_unicode().items()}


def hf_tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise PocketLLMError("Tokenizers trained on your corpus need the `tokenizers` package: "
                             "pip install -r requirements.txt", code="tokenizer.not_installed") from None
    if not hasattr(tokenizers, "Tokenizer"):  # e.g. a script named tokenizers.py beside yours
        raise PocketLLMError("{path} is named `tokenizers` and hides Hugging Face's package of that name; "
                             "rename that file.", code="tokenizer.shadowed",
                             path=getattr(tokenizers, "__file__", None) or "a module")
    return tokenizers


class TrainedTokenizer(Tokenizer):
    """A `bpe` or `char` vocabulary held by a Hugging Face `tokenizers.Tokenizer`."""

    def __init__(self, kind: str, hf_tokenizer):
        self.kind = kind
        self._hf = hf_tokenizer
        vocab = hf_tokenizer.get_vocab(with_added_tokens=True)
        self.vocab_size = len(vocab)
        if sorted(vocab.values()) != list(range(self.vocab_size)) or EOT_TEXT not in vocab:
            raise PocketLLMError("The {kind} tokenizer is damaged: its ids are not 0..{last} or it has no {eot}.",
                                 code="tokenizer.bad_ids", kind=kind, last=self.vocab_size - 1, eot=EOT_TEXT)
        self.eot_id = vocab[EOT_TEXT]
        self._bytes = [b""] * self.vocab_size
        for token, i in vocab.items():
            self._bytes[i] = self._bytes_of(token)

    def _bytes_of(self, token: str) -> bytes:
        if token == EOT_TEXT:
            return token.encode()
        if self.kind == "bpe":
            return bytes(_UNICODE_TO_BYTE[ch] for ch in token)
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            return bytes([int(token[3:5], 16)])  # a byte-fallback token
        return token.encode("utf-8")

    def encode(self, text: str) -> list[int]:
        return self._hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._hf.encode_batch(list(texts), add_special_tokens=False)]

    def token_bytes(self, token_id: int) -> bytes:
        return self._bytes[int(token_id)]

    def to_spec(self) -> dict:
        return {"kind": self.kind, "tokenizer_json": json.loads(self._hf.to_str())}

    def to_json(self) -> str:
        """The `tokenizer.json` that Hugging Face's `AutoTokenizer` reads."""
        return self._hf.to_str(pretty=True)

    def describe(self) -> str:
        what = "byte-level BPE" if self.kind == "bpe" else "one token per character"
        return f"{self.kind} ({what} trained on the corpus, {self.vocab_size:,} tokens)"


def check_vocab_size(kind: str, vocab_size: int | None):
    if kind not in KINDS:
        raise PocketLLMError("Unknown tokenizer kind {kind!r}; choose one of {known}.", code="tokenizer.unknown_kind",
                             kind=kind, known=", ".join(KINDS))
    if vocab_size is None:
        return
    if kind == "gpt2":
        if vocab_size != 50257:
            raise PocketLLMError("The gpt2 tokenizer has a fixed vocabulary of 50,257 tokens; "
                                 "leave the vocabulary size empty, or choose bpe or char.",
                                 code="tokenizer.gpt2_fixed_size")
        return
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < MIN_VOCAB:
        raise PocketLLMError(
            "vocab_size {size} is too small for a {kind} tokenizer: it needs the 256 byte tokens, "
            "<|endoftext|> and at least one learned token, so {minimum} or more (e.g. 4000).",
            code="tokenizer.vocab_too_small", size=vocab_size, kind=kind, minimum=MIN_VOCAB)
    if vocab_size > MAX_VOCAB:
        raise PocketLLMError(
            "vocab_size {size:,} is too large: token ids are stored as 16-bit numbers, so at most "
            "{maximum:,}. Small models learn best with a few thousand tokens.", code="tokenizer.vocab_too_large",
            size=vocab_size, maximum=MAX_VOCAB)


def train_tokenizer(texts: Iterable[str], kind: str, vocab_size: int | None = None,
                    source: str = "the corpus") -> Tokenizer:
    """Learn a `bpe` or `char` vocabulary from `texts` (an iterable of text pieces)."""
    check_vocab_size(kind, vocab_size)
    if kind == "gpt2":
        from .gpt2 import gpt2_tokenizer
        return gpt2_tokenizer()
    counts = Counter()
    pieces = []
    for text in texts:
        counts.update(text)
        if kind == "bpe":
            pieces.append(text)
    total = sum(counts.values())
    if total < MIN_TRAINING_CHARS:
        raise PocketLLMError(
            "{source} has only {total} character(s) to learn a vocabulary from; a {kind} tokenizer needs "
            "at least {minimum}. Use a longer text, or the gpt2 tokenizer.", code="tokenizer.corpus_too_short",
            source=source, total=total, kind=kind, minimum=MIN_TRAINING_CHARS)
    if kind == "char":
        return _char_tokenizer(counts, vocab_size)
    return _bpe_tokenizer(pieces, vocab_size or DEFAULT_VOCAB_SIZE["bpe"])


def _char_tokenizer(counts: Counter, vocab_size: int | None) -> TrainedTokenizer:
    hf = hf_tokenizers()
    room = (vocab_size or MAX_VOCAB) - BYTE_TOKENS - 1
    chars = [ch for ch, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:room]]
    vocab = {EOT_TEXT: 0}
    vocab.update({f"<0x{b:02X}>": 1 + b for b in range(BYTE_TOKENS)})
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    # A BPE model with no merges is a character lookup; byte_fallback spells unseen characters as bytes.
    tok = hf.Tokenizer(hf.models.BPE(vocab=vocab, merges=[], byte_fallback=True))
    tok.pre_tokenizer = hf.pre_tokenizers.Split(hf.Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = hf.decoders.Sequence([hf.decoders.ByteFallback(), hf.decoders.Fuse()])
    tok.add_special_tokens([EOT_TEXT])
    return TrainedTokenizer("char", tok)


def _bpe_tokenizer(pieces: list[str], vocab_size: int) -> TrainedTokenizer:
    hf = hf_tokenizers()
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    trainer = hf.trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT_TEXT],
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(pieces, trainer)
    return TrainedTokenizer("bpe", tok)


def from_hf_json(kind: str, text: str) -> TrainedTokenizer:
    hf = hf_tokenizers()
    try:
        tok = hf.Tokenizer.from_str(text)
    except Exception as exc:  # the Rust side raises plain Exceptions for bad JSON
        raise PocketLLMError("The {kind} tokenizer in this file is damaged ({detail}).", code="tokenizer.damaged_json",
                             kind=kind, detail=str(exc)) from None
    return TrainedTokenizer(kind, tok)
