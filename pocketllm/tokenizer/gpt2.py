"""The `gpt2` kind: GPT-2's byte-pair tokenizer, offline.

`tiktoken.get_encoding("gpt2")` downloads its vocabulary at first use and
caches it in a machine-wide temp folder.  PocketLLM carries the same
vocabulary (`assets/gpt2.tiktoken`, from the PyPI source archive
openai-whisper==20250625, MIT licence, (c) 2022 OpenAI; see
`assets/gpt2.tiktoken.LICENSE`) and builds the encoding from it, so nothing
touches the network or a shared cache.
"""
from __future__ import annotations

import base64
import functools
import hashlib
from pathlib import Path

import tiktoken

from ..errors import PocketLLMError
from .base import EOT_TEXT, Tokenizer

ASSET = Path(__file__).resolve().parent.parent / "assets" / "gpt2.tiktoken"
ASSET_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
EOT_ID = 50256
VOCAB_SIZE = 50257
# The split pattern of OpenAI's r50k_base / gpt2 encodings (a fact of the format).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@functools.lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    raw = ASSET.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != ASSET_SHA256:
        raise PocketLLMError(
            "The GPT-2 vocabulary {path} is damaged (sha256 {digest}, expected {expected}). "
            "Reinstall PocketLLM or restore the file from its git repository.", code="tokenizer.gpt2_damaged",
            path=str(ASSET), digest=digest, expected=ASSET_SHA256)
    ranks = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name="gpt2-pocketllm", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
        special_tokens={EOT_TEXT: EOT_ID}, explicit_n_vocab=VOCAB_SIZE)


class GPT2Tokenizer(Tokenizer):
    """OpenAI GPT-2's 50,257-token byte-level BPE (what its published weights read)."""

    kind = "gpt2"
    eot_id = EOT_ID
    vocab_size = VOCAB_SIZE

    def __init__(self):
        self._enc = get_encoding()

    def encode(self, text: str) -> list[int]:
        return self._enc.encode(text, allowed_special={EOT_TEXT})

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self._enc.encode_batch(texts, allowed_special={EOT_TEXT})

    def decode(self, ids) -> str:
        return self._enc.decode([int(i) for i in ids], errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        return self._enc.decode_single_token_bytes(int(token_id))

    def to_spec(self) -> dict:
        return {"kind": "gpt2"}

    def describe(self) -> str:
        return f"gpt2 (OpenAI GPT-2 BPE, {self.vocab_size:,} tokens)"


@functools.lru_cache(maxsize=1)
def gpt2_tokenizer() -> GPT2Tokenizer:
    """The one GPT-2 tokenizer object (its vocabulary is read once)."""
    return GPT2Tokenizer()
