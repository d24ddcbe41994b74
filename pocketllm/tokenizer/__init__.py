"""Tokenizers: how a model reads and writes text, one value per model.

Three kinds (see each module):
- `gpt2`  OpenAI's 50,257-token byte-level BPE, bundled (what GPT-2's weights read);
- `bpe`   a byte-level BPE trained on your corpus, vocabulary size of your choice;
- `char`  one token per character of your corpus, with bytes for unseen characters;
- `hf`    an imported Hugging Face model's own `tokenizer.json` (Llama 3, Qwen3), its special
          tokens and chat template (hf_imported.py); not trained here, so not in `KINDS`.

Every checkpoint stores its tokenizer's spec (`to_spec()`) in its header and
`tokenizer_from_spec` rebuilds it; a file with none means `gpt2`.  A spec from a file is
untrusted: `spec_check` bounds and allow-lists it before anything is built (also the
function to call on an imported `tokenizer.json`: `check_tokenizer_json`).
"""
from __future__ import annotations

from ..errors import PocketLLMError, shown
from .base import EOT_TEXT, StreamDecoder, Tokenizer
from .gpt2 import EOT_ID, GPT2Tokenizer, get_encoding, gpt2_tokenizer
from .trained import DEFAULT_KIND, DEFAULT_VOCAB_SIZE, KINDS, MAX_VOCAB, MIN_VOCAB, TrainedTokenizer, check_vocab_size, from_hf_json, train_tokenizer
from .spec_check import check_tokenizer_json, parse_spec_text
from .hf_imported import HF_KIND, HFTokenizer, hf_tokenizer_from_json, hf_tokenizer_from_spec
from .utf8 import BOUNDARY, Utf8Guard


def tokenizer_from_spec(spec, rows: int | None = None) -> Tokenizer:
    """The tokenizer a checkpoint header describes (None or {} mean gpt2).  The spec is untrusted data:
    its size, parts and layout are checked before anything is built (see spec_check); `rows`, the
    model's embedding rows when known, must match a bpe or char vocabulary (an hf one must fit in them)."""
    if isinstance(spec, str):
        spec = parse_spec_text(spec)
    if not spec:
        return gpt2_tokenizer()
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind == "gpt2":
        return gpt2_tokenizer()
    if kind in ("bpe", "char") and isinstance(spec.get("tokenizer_json"), dict):
        return from_hf_json(kind, spec["tokenizer_json"], rows=rows)
    if kind == HF_KIND and isinstance(spec.get("tokenizer_json"), dict):
        return hf_tokenizer_from_spec(spec, rows=rows)
    raise PocketLLMError("Unknown or damaged tokenizer in this file (kind {kind!r}); PocketLLM knows {known}.",
                         code="tokenizer.unknown_in_file", known=", ".join((*KINDS, HF_KIND)),
                         kind=kind if kind is None or isinstance(kind, str) and len(kind) <= 40 else shown(kind, 40))


__all__ = ["Tokenizer", "StreamDecoder", "GPT2Tokenizer", "TrainedTokenizer", "HFTokenizer", "HF_KIND",
           "hf_tokenizer_from_json", "Utf8Guard", "BOUNDARY",
           "EOT_TEXT", "EOT_ID", "KINDS", "DEFAULT_KIND", "DEFAULT_VOCAB_SIZE", "MIN_VOCAB", "MAX_VOCAB", "gpt2_tokenizer", "get_encoding",
           "tokenizer_from_spec", "train_tokenizer", "check_vocab_size", "check_tokenizer_json"]
