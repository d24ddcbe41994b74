"""Tokenizers: how a model reads and writes text, one value per model.

Three kinds (see each module):
- `gpt2`  OpenAI's 50,257-token byte-level BPE, bundled (what GPT-2's weights read);
- `bpe`   a byte-level BPE trained on your corpus, vocabulary size of your choice;
- `char`  one token per character of your corpus, with bytes for unseen characters.

Every checkpoint stores its tokenizer's spec (`to_spec()`) in its header and
`tokenizer_from_spec` rebuilds it; a file with none means `gpt2`.
"""
from __future__ import annotations

import json

from ..errors import PocketLLMError
from .base import EOT_TEXT, StreamDecoder, Tokenizer
from .gpt2 import EOT_ID, GPT2Tokenizer, get_encoding, gpt2_tokenizer
from .trained import DEFAULT_KIND, DEFAULT_VOCAB_SIZE, KINDS, MAX_VOCAB, MIN_VOCAB, TrainedTokenizer, check_vocab_size, from_hf_json, train_tokenizer
from .utf8 import BOUNDARY, Utf8Guard


def tokenizer_from_spec(spec) -> Tokenizer:
    """The tokenizer a checkpoint header describes (None or {} mean gpt2)."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise PocketLLMError("The tokenizer in this file is damaged ({detail}).", code="tokenizer.damaged",
                                 detail=str(exc)) from None
    if not spec:
        return gpt2_tokenizer()
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind == "gpt2":
        return gpt2_tokenizer()
    if kind in ("bpe", "char") and isinstance(spec.get("tokenizer_json"), dict):
        return from_hf_json(kind, json.dumps(spec["tokenizer_json"]))
    raise PocketLLMError("Unknown or damaged tokenizer in this file (kind {kind!r}); PocketLLM knows {known}.",
                         code="tokenizer.unknown_in_file", kind=kind, known=", ".join(KINDS))


__all__ = ["Tokenizer", "StreamDecoder", "GPT2Tokenizer", "TrainedTokenizer", "Utf8Guard", "BOUNDARY",
           "EOT_TEXT", "EOT_ID", "KINDS", "DEFAULT_KIND", "DEFAULT_VOCAB_SIZE", "MIN_VOCAB", "MAX_VOCAB", "gpt2_tokenizer", "get_encoding",
           "tokenizer_from_spec", "train_tokenizer", "check_vocab_size"]
