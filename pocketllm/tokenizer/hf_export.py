"""A tokenizer as Hugging Face files, so `AutoTokenizer.from_pretrained(folder)` reads
text exactly as the exported model learned it.

- every kind: `tokenizer.json` (the `tokenizers` library's own format) and
  `tokenizer_config.json` / `special_tokens_map.json`;
- `gpt2` also gets the classic `vocab.json` + `merges.txt`.  PocketLLM keeps
  GPT-2's vocabulary as tiktoken ranks (token bytes → rank); the merge list is
  recovered from them: a token of rank r is the merge of the two parts that
  byte-pair encoding with the ranks below r leaves of its bytes.
"""
from __future__ import annotations

import json
from pathlib import Path

from .base import EOT_TEXT, Tokenizer
from ..files import write_text_atomic
from .trained import TrainedTokenizer, byte_to_unicode, hf_tokenizers


def _two_parts(ranks: dict[bytes, int], token: bytes, below: int) -> list[bytes]:
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < below and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


def gpt2_vocab_and_merges(tokenizer) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """GPT-2's vocab.json mapping and merges, from the tiktoken ranks."""
    table = byte_to_unicode()
    show = lambda b: "".join(table[x] for x in b)  # noqa: E731
    ranks = {tokenizer.token_bytes(i): i for i in range(tokenizer.vocab_size) if i != tokenizer.eot_id}
    vocab = {show(b): r for b, r in ranks.items()}
    vocab[EOT_TEXT] = tokenizer.eot_id
    merges = []
    for b, r in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(b) > 1:
            parts = _two_parts(ranks, b, r)
            if len(parts) == 2:
                merges.append((show(parts[0]), show(parts[1])))
    return vocab, merges


def _gpt2_as_hf(tokenizer):
    hf = hf_tokenizers()
    vocab, merges = gpt2_vocab_and_merges(tokenizer)
    tok = hf.Tokenizer(hf.models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    tok.add_special_tokens([EOT_TEXT])
    return tok, vocab, merges


def write_hf_tokenizer(tokenizer: Tokenizer, out_dir, context_length: int) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    if isinstance(tokenizer, TrainedTokenizer):
        text = tokenizer.to_json()
        tokenizer_class = "PreTrainedTokenizerFast"
    else:
        hf_tok, vocab, merges = _gpt2_as_hf(tokenizer)
        text = hf_tok.to_str(pretty=True)
        tokenizer_class = "GPT2Tokenizer"
        write_text_atomic(out_dir / "vocab.json", json.dumps(vocab, ensure_ascii=False))
        write_text_atomic(out_dir / "merges.txt", "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
        written += [out_dir / "vocab.json", out_dir / "merges.txt"]
    write_text_atomic(out_dir / "tokenizer.json", text)
    special = {"bos_token": EOT_TEXT, "eos_token": EOT_TEXT, "unk_token": EOT_TEXT}
    config = {"tokenizer_class": tokenizer_class, **special, "model_max_length": context_length,
              "add_prefix_space": False, "clean_up_tokenization_spaces": False,
              "pocketllm_tokenizer": tokenizer.kind}
    write_text_atomic(out_dir / "tokenizer_config.json", json.dumps(config, indent=2) + "\n")
    write_text_atomic(out_dir / "special_tokens_map.json", json.dumps(special, indent=2) + "\n")
    return written + [out_dir / "tokenizer.json", out_dir / "tokenizer_config.json",
                      out_dir / "special_tokens_map.json"]
