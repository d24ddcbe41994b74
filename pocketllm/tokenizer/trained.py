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

Bounded whatever the input: a `tokenizer.json` from a file is checked before it is
built (spec_check.py); a long text is encoded a piece at a time (`char` by table
lookups, `bpe` by the library on pieces cut between words); a panic of the library
is a `PocketLLMError`; and bpe training cuts long runs of characters first.
"""
from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from typing import Iterable, Iterator

import numpy as np

from ..errors import PocketLLMError, shown
from .base import EOT_TEXT, PIECE_CHARS, Tokenizer, byte_to_unicode, text_pieces, well_formed
from .spec_check import BYTE_TOKENS, MAX_VOCAB, check_tokenizer_json  # MAX_VOCAB: ids are cached as 16-bit numbers

KINDS = ("gpt2", "bpe", "char")
MIN_VOCAB = BYTE_TOKENS + 2      # the bytes, <|endoftext|> and at least one learned token
MIN_TRAINING_CHARS = 200
# bpe training cuts every run of letters, digits, punctuation or spaces longer than this into pieces:
# the trainer's time grows with the length of its words (1,000,000 × "a" is one word: it did not end
# in 120 s), and no useful token is longer.
MAX_TRAINING_RUN = 64
_LONG_RUN = re.compile(r"\S{%d,}|\s{%d,}" % (MAX_TRAINING_RUN + 1, MAX_TRAINING_RUN + 1))
# A fresh model's tokenizer (chosen by bench/tokenizer_quality.py; see the README).
DEFAULT_KIND = "bpe"
DEFAULT_VOCAB_SIZE = {"bpe": 8000, "char": None}  # char: every distinct character


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


def _rust_failed(exc: BaseException) -> bool:
    """An error of the `tokenizers` library on bad data: a plain `Exception` from its Rust side, or a
    Rust panic (`pyo3_runtime.PanicException`, a BaseException that `except Exception` misses)."""
    return type(exc) is Exception or type(exc).__name__ == "PanicException"


def guarded(kind: str, call, *args, **kwargs):
    """`call(...)` into the `tokenizers` library, with its failures (a panic included) as our message."""
    try:
        return call(*args, **kwargs)
    except BaseException as exc:
        if not _rust_failed(exc):
            raise
        raise PocketLLMError("The {kind} tokenizer failed on this text ({detail}). Its file is damaged or was made "
                             "for another program; use a model file that PocketLLM saved.", code="tokenizer.failed",
                             kind=kind, detail=shown(str(exc).strip().splitlines()[0] if str(exc).strip() else
                                                     type(exc).__name__, 120)) from None


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
        if kind == "char":
            self._char_table = _CharTable(vocab)

    def _bytes_of(self, token: str) -> bytes:
        if token == EOT_TEXT:
            return token.encode()
        if self.kind == "bpe":
            if not all(ch in _UNICODE_TO_BYTE for ch in token):
                raise PocketLLMError(
                    "The bpe tokenizer cannot be used: the token {token} is not written in byte-level characters, "
                    "as every token of a bpe tokenizer is. The file is damaged or its kind is wrong.",
                    code="tokenizer.not_byte_level", token=shown(token))
            return bytes(_UNICODE_TO_BYTE[ch] for ch in token)
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            try:
                return bytes([int(token[3:5], 16)])  # a byte-fallback token
            except ValueError:
                raise PocketLLMError(
                    "The char tokenizer cannot be used: {token} is neither one character nor a byte token <0x00> "
                    "to <0xFF>. The file is damaged.", code="tokenizer.bad_byte_token", token=shown(token)) from None
        return token.encode("utf-8")

    def encode(self, text: str) -> list[int]:
        if self.kind == "char":
            return self._char_table.encode(text).tolist()
        ids = []
        for run in self.encode_pieces(text):
            ids.extend(run)
        return ids

    def encode_pieces(self, text: str) -> Iterator:
        """Long texts a piece at a time: a 4 MB piece held 1 GB in the library's per-token records."""
        if self.kind == "char":
            yield from self._char_table.encode_pieces(text)
            return
        for piece in text_pieces(well_formed(text)):
            yield guarded(self.kind, self._hf.encode, piece, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        texts = list(texts)
        if self.kind == "char" or any(len(t) > PIECE_CHARS for t in texts):
            return [self.encode(t) for t in texts]
        return [e.ids for e in guarded(self.kind, self._hf.encode_batch, [well_formed(t) for t in texts],
                                       add_special_tokens=False)]

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


class _CharTable:
    """The `char` kind's encoding as table lookups, in bounded pieces: what its Hugging Face form
    computes (each character its token, or its UTF-8 bytes as `<0xHH>` tokens when the corpus never
    had it; `<|endoftext|>` the special token), without the library's per-character records, which
    took 5.2 GB for 20 MB of text.  `spec_check` makes sure a char tokenizer has exactly that layout."""

    PIECE = 1 << 20
    _LEAD = np.array([0, 0, 0xC0, 0xE0, 0xF0], dtype=np.uint32)

    def __init__(self, vocab: dict[str, int]):
        self.eot = np.array([vocab[EOT_TEXT]], dtype=np.int64)
        self.ids = np.full(0x110000, -1, dtype=np.int32)
        for token, i in vocab.items():
            if len(token) == 1:
                self.ids[ord(token)] = i
        self.byte_ids = np.array([vocab.get(f"<0x{b:02X}>", -1) for b in range(BYTE_TOKENS)], dtype=np.int64)

    def encode(self, text: str) -> np.ndarray:
        runs = list(self.encode_pieces(text))
        return np.concatenate(runs) if runs else np.zeros(0, dtype=np.int64)

    def encode_pieces(self, text: str) -> Iterator[np.ndarray]:
        for k, part in enumerate(well_formed(text).split(EOT_TEXT)):
            if k:
                yield self.eot
            for start in range(0, len(part), self.PIECE):
                yield self._lookup(part[start:start + self.PIECE])

    def _lookup(self, piece: str) -> np.ndarray:
        points = np.frombuffer(piece.encode("utf-32-le"), dtype="<u4")
        ids = self.ids[points].astype(np.int64)
        unseen = ids < 0
        if not unseen.any():
            return ids
        # Characters the corpus never had: their UTF-8 bytes, each a byte token.
        lengths = np.where(unseen, 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000), 1)
        starts = np.cumsum(lengths) - lengths
        out = np.empty(int(lengths.sum()), dtype=np.int64)
        out[starts[~unseen]] = ids[~unseen]
        cp, size, at = points[unseen], lengths[unseen].astype(np.uint32), starts[unseen]
        for j in range(4):
            has = size > j
            shift = 6 * (size[has] - 1 - j)
            part = (cp[has] >> shift) & np.where(j == 0, 0xFF, 0x3F)
            byte = (self._LEAD[size[has]] | part) if j == 0 else (0x80 | part)
            out[at[has] + j] = self.byte_ids[byte]
        if (out < 0).any():
            raise PocketLLMError("The char tokenizer has no byte token for a character it never saw; the file is "
                                 "damaged.", code="tokenizer.no_byte_token")
        return out


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
    texts = iter(texts)
    head, total = [], 0
    for text in texts:  # enough text to learn from? (the rest is streamed, never held whole)
        head.append(text)
        total += len(text)
        if total >= MIN_TRAINING_CHARS:
            break
    if total < MIN_TRAINING_CHARS:
        raise PocketLLMError(
            "{source} has only {total} character(s) to learn a vocabulary from; a {kind} tokenizer needs "
            "at least {minimum}. Use a longer text, or the gpt2 tokenizer.", code="tokenizer.corpus_too_short",
            source=source, total=total, kind=kind, minimum=MIN_TRAINING_CHARS)
    texts = itertools.chain(head, texts)
    if kind == "char":
        counts = Counter()
        for text in texts:
            counts.update(text)
        return _char_tokenizer(counts, vocab_size)
    return _bpe_tokenizer((piece for text in texts for piece in training_pieces(text)),
                          vocab_size or DEFAULT_VOCAB_SIZE["bpe"])


def training_pieces(text: str, longest: int = MAX_TRAINING_RUN) -> Iterator[str]:
    """The text as the bpe trainer reads it: whole, except that every run of non-space (or space)
    characters longer than `longest` is cut into pieces of `longest`, so no word the trainer sees is
    longer, whatever the text's shape (one line of 5 MB, a million times "a", Chinese with no spaces)."""
    last = 0
    for run in _LONG_RUN.finditer(text):
        if run.start() > last:
            yield text[last:run.start()]
        for start in range(run.start(), run.end(), longest):
            yield text[start:min(start + longest, run.end())]
        last = run.end()
    if last < len(text):
        yield text[last:]


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


def _bpe_tokenizer(pieces: Iterable[str], vocab_size: int) -> TrainedTokenizer:
    hf = hf_tokenizers()
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    trainer = hf.trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT_TEXT],
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(pieces, trainer)
    return TrainedTokenizer("bpe", tok)


def from_hf_json(kind: str, data: dict, rows: int | None = None) -> TrainedTokenizer:
    """A `bpe` or `char` tokenizer from its `tokenizer.json` data, checked before it is built (spec_check)."""
    check_tokenizer_json(data, kind, max_vocab=MAX_VOCAB, rows=rows)
    hf = hf_tokenizers()
    try:
        tok = hf.Tokenizer.from_str(json.dumps(data))
    except BaseException as exc:  # the Rust side raises plain Exceptions (or panics) for bad JSON
        if not _rust_failed(exc):
            raise
        raise PocketLLMError("The {kind} tokenizer in this file is damaged ({detail}).", code="tokenizer.damaged_json",
                             kind=kind, detail=shown(str(exc), 200)) from None
    return TrainedTokenizer(kind, tok)
