"""What every tokenizer is: text <-> ids, each id a run of bytes, and a spec to save."""
from __future__ import annotations

import codecs
import functools
import hashlib
import json
import re
from typing import Iterator

from .utf8 import Utf8Guard

EOT_TEXT = "<|endoftext|>"
PIECE_CHARS = 1 << 16  # a long text is encoded this many characters at a time (bounded memory)
_WORD_START = re.compile(r"(?<=\S) (?=\S)")  # a space between two words: GPT-2-style splitting cuts here too


def text_pieces(text: str, size: int = PIECE_CHARS) -> Iterator[str]:
    """`text` in consecutive pieces of at most `size` characters, each cut before a space between two
    words where there is one in the second half of the piece (byte-level BPE splits there anyway, so
    the pieces encode to the same ids as the whole), else at `size` — never inside `<|endoftext|>`."""
    start = 0
    while len(text) - start > size:
        end = start + size
        space = _WORD_START.search(text, start + size // 2, end)
        if space:
            end = space.start()
        else:
            eot = text.find(EOT_TEXT, end - len(EOT_TEXT) + 1, end + len(EOT_TEXT) - 1)
            if eot != -1 and eot < end:
                end = eot if eot > start else eot + len(EOT_TEXT)
        yield text[start:end]
        start = end
    if start < len(text) or not text:
        yield text[start:]


def well_formed(text: str) -> str:
    """The text with lone surrogates (what Python makes of bytes that were not UTF-8, e.g. in a
    command-line argument) read as U+FFFD, as tiktoken does; other text is returned as it is."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class Tokenizer:
    """Text <-> token ids.  `<|endoftext|>` in user text is kept as the special token.

    Subclasses provide `kind`, `vocab_size`, `eot_id`, `encode`, `token_bytes`
    and `to_spec`; every id stands for a fixed run of bytes, so decoding is
    joining bytes, whatever the kind.
    """

    kind: str = "?"
    vocab_size: int
    eot_id: int

    # ---- to be provided -------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def token_bytes(self, token_id: int) -> bytes:
        raise NotImplementedError

    def to_spec(self) -> dict:
        """A JSON-able description from which `tokenizer_from_spec` rebuilds this tokenizer."""
        raise NotImplementedError

    # ---- shared ---------------------------------------------------------------
    def encode_pieces(self, text: str) -> Iterator:
        """The ids of `text` as consecutive runs (lists or NumPy arrays), each from a bounded piece
        of the text, so a long text is encoded in bounded memory (what a corpus's cache uses)."""
        yield self.encode(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids) -> str:
        return b"".join(self.token_bytes(int(i)) for i in ids).decode("utf-8", errors="replace")

    def stream_decoder(self) -> "StreamDecoder":
        return StreamDecoder(self)

    @functools.cached_property
    def all_token_bytes(self) -> list[bytes]:
        return [self.token_bytes(i) for i in range(self.vocab_size)]

    @functools.cached_property
    def blank_ids(self) -> tuple[int, ...]:
        """The tokens of white space only (or of nothing): an answer may not start with one (computed once)."""
        return tuple(i for i, b in enumerate(self.all_token_bytes) if not b.strip())

    @functools.cached_property
    def utf8_guard(self) -> Utf8Guard:
        """Which tokens keep the output valid UTF-8, per decoder state (computed once)."""
        return Utf8Guard(self.all_token_bytes)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Short hash of the spec: the same tokenizer, the same fingerprint (cache keys)."""
        blob = json.dumps(self.to_spec(), sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def describe(self) -> str:
        return f"{self.kind} ({self.vocab_size:,} tokens)"

    def __eq__(self, other) -> bool:
        return isinstance(other, Tokenizer) and self.fingerprint == other.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return f"<Tokenizer {self.describe()}>"


class StreamDecoder:
    """Turns token ids into text one at a time without ever showing half a character.

    A Chinese character is three UTF-8 bytes and a byte-level token may hold only
    part of it; an incremental UTF-8 decoder holds the partial bytes back until
    the character is complete.
    """

    def __init__(self, tokenizer: Tokenizer):
        self._tok = tokenizer
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        return self._utf8.decode(self._tok.token_bytes(token_id))

    def flush(self) -> str:
        return self._utf8.decode(b"", final=True)


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
