"""The `hf` kind: the tokenizer of an imported Hugging Face model (Llama 3, Qwen3, ...).

`import-hf` reads a model folder's `tokenizer.json` (and `tokenizer_config.json`); the data is
checked by `spec_check.check_tokenizer_json` (bounded sizes, allow-listed parts, known split
patterns) before the `tokenizers` library builds anything, and again whenever a checkpoint
carrying it is opened.  What is kept, in the checkpoint's header like the other kinds:

- the whole `tokenizer.json` (encoding is the library's, behind the same panic guard as the
  trained kinds: `trained.guarded`);
- a few settings of `tokenizer_config.json`: the bos/eos/pad tokens and the chat template.  The
  template is kept as data only — it is Jinja, and PocketLLM never runs it (its own templates are
  what the Instruct tab uses); `export-hf` writes it back.

The end-of-text id is the config's `eos_token`, else the first of `<|endoftext|>`,
`<|end_of_text|>`, `<|im_end|>` in the vocabulary.  The vocabulary may be smaller than the
model's embedding (Qwen3 pads 151,669 tokens to 151,936 rows); the extra rows write nothing.

Each id is a fixed run of bytes, so the valid-UTF-8 rule works as for the other kinds: a
byte-level vocabulary (GPT-2, Llama 3, Qwen) spells bytes in GPT-2's alphabet; a byte-fallback /
Metaspace one (SentencePiece style) has `<0xHH>` byte tokens and `▁` for a space; added tokens
are their text.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import PocketLLMError
from .base import PIECE_CHARS, Tokenizer, byte_to_unicode, text_pieces, well_formed
from .spec_check import MAX_ADDED_TOKEN_CHARS, check_tokenizer_json
from .trained import guarded, hf_tokenizers

HF_KIND = "hf"
MAX_HF_VOCAB = 1 << 18             # Llama 3: 128,256 tokens; Qwen3: 151,669
MAX_TEMPLATE_CHARS = 64 * 1024     # Qwen3's chat template is about 4,000 characters
END_OF_TEXT_NAMES = ("<|endoftext|>", "<|end_of_text|>", "<|im_end|>")
TOKEN_SETTINGS = ("bos_token", "eos_token", "pad_token", "unk_token")
_UNICODE_TO_BYTE = {ch: b for b, ch in byte_to_unicode().items()}


def _token_text(value) -> str | None:
    """A special token of tokenizer_config.json: a string, or an AddedToken's {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ADDED_TOKEN_CHARS else None


def _template_text(value) -> str | None:
    """The chat template: a string, or the "default" one of a list of named templates."""
    if isinstance(value, list):
        value = next((t.get("template") for t in value if isinstance(t, dict) and t.get("name") == "default"), None)
    if not isinstance(value, str):
        return None
    if len(value) > MAX_TEMPLATE_CHARS:
        raise PocketLLMError("The chat template of this tokenizer is {length:,} characters long, more than the "
                             "{limit:,} PocketLLM keeps; the file is damaged or not a model's tokenizer_config.json.",
                             code="tokenizer.template_too_long", length=len(value), limit=MAX_TEMPLATE_CHARS)
    return value


def tokenizer_settings(config) -> dict:
    """The parts of a `tokenizer_config.json` (or of a header's `settings`) that PocketLLM keeps."""
    config = config if isinstance(config, dict) else {}
    settings = {name: _token_text(config.get(name)) for name in TOKEN_SETTINGS}
    settings["chat_template"] = _template_text(config.get("chat_template"))
    return {k: v for k, v in settings.items() if v is not None}


def _has_step(node, kinds) -> bool:
    if not isinstance(node, dict):
        return False
    if node.get("type") in kinds:
        return True
    return any(_has_step(item, kinds) for key in ("decoders", "pretokenizers") for item in node.get(key) or [])


class HFTokenizer(Tokenizer):
    """An imported model's own `tokenizers.Tokenizer`, its special tokens and chat template."""

    kind = HF_KIND

    def __init__(self, hf_tokenizer, data: dict, settings: dict):
        self._hf = hf_tokenizer
        self._json = json.dumps(data, ensure_ascii=False)
        self.settings = dict(settings)
        self.chat_template: str | None = settings.get("chat_template")  # data only: never run as Jinja
        vocab = hf_tokenizer.get_vocab(with_added_tokens=True)
        self.vocab_size = len(vocab)
        if sorted(vocab.values()) != list(range(self.vocab_size)):
            raise PocketLLMError("The {kind} tokenizer is damaged: its ids are not 0..{last} or it has no {eot}.",
                                 code="tokenizer.bad_ids", kind=self.kind, last=self.vocab_size - 1,
                                 eot=" / ".join(END_OF_TEXT_NAMES))
        eos = settings.get("eos_token")
        names = ([eos] if eos in vocab else []) + [n for n in END_OF_TEXT_NAMES if n in vocab]
        if not names:
            raise PocketLLMError("This tokenizer has no end-of-text token: its tokenizer_config.json names no "
                                 "eos_token it has, and it has none of {known}.", code="tokenizer.no_end_of_text",
                                 known=", ".join(END_OF_TEXT_NAMES))
        self.eot_id = vocab[names[0]]
        self.bos_id = vocab.get(settings.get("bos_token"))
        added = {i: t.content for i, t in hf_tokenizer.get_added_tokens_decoder().items()}
        self.special_tokens = {text: i for i, text in sorted(added.items())}
        self.byte_level = _has_step(data.get("decoder"), ("ByteLevel",))
        self._bytes = [b""] * self.vocab_size
        for token, i in vocab.items():
            self._bytes[i] = added[i].encode("utf-8") if i in added else self._bytes_of(token)

    def _bytes_of(self, token: str) -> bytes:
        if self.byte_level and all(ch in _UNICODE_TO_BYTE for ch in token):
            return bytes(_UNICODE_TO_BYTE[ch] for ch in token)
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            try:
                return bytes([int(token[3:5], 16)])  # a byte-fallback token
            except ValueError:
                pass
        return token.replace("\u2581", " ").encode("utf-8")  # Metaspace: ▁ stands for a space

    def encode(self, text: str) -> list[int]:
        ids = []
        for run in self.encode_pieces(text):
            ids.extend(run)
        return ids

    def encode_pieces(self, text: str):
        text = well_formed(text)
        # A byte-level split reads each piece as the whole reads it; a Metaspace one marks only the
        # text's start, so it is read whole.
        pieces = text_pieces(text) if self.byte_level else [text]
        for piece in pieces:
            yield guarded(self.kind, self._hf.encode, piece, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        texts = [well_formed(t) for t in texts]
        if any(len(t) > PIECE_CHARS for t in texts):
            return [self.encode(t) for t in texts]
        return [e.ids for e in guarded(self.kind, self._hf.encode_batch, texts, add_special_tokens=False)]

    def decode(self, ids) -> str:
        if self.byte_level:
            return super().decode(ids)
        ids = [int(i) for i in ids if 0 <= int(i) < self.vocab_size]
        return guarded(self.kind, self._hf.decode, ids, skip_special_tokens=False)

    def token_bytes(self, token_id: int) -> bytes:
        token_id = int(token_id)
        return self._bytes[token_id] if 0 <= token_id < self.vocab_size else b""  # a padding row writes nothing

    def to_spec(self) -> dict:
        return {"kind": self.kind, "tokenizer_json": json.loads(self._json), "settings": dict(self.settings)}

    def to_json(self) -> str:
        """The `tokenizer.json` as it was imported."""
        return json.dumps(json.loads(self._json), ensure_ascii=False, indent=2)

    def write_hf_files(self, out_dir, context_length: int) -> list[Path]:
        """`tokenizer.json`, `tokenizer_config.json` (with the chat template) and `special_tokens_map.json`."""
        from ..files import write_text_atomic
        out_dir = Path(out_dir)
        special = {k: v for k, v in self.settings.items() if k in TOKEN_SETTINGS}
        special.setdefault("eos_token", self._bytes[self.eot_id].decode("utf-8", "replace"))
        config = {"tokenizer_class": "PreTrainedTokenizerFast", **special, "model_max_length": context_length,
                  "clean_up_tokenization_spaces": False, "pocketllm_tokenizer": self.kind}
        if self.chat_template is not None:
            config["chat_template"] = self.chat_template
        write_text_atomic(out_dir / "tokenizer.json", self.to_json())
        write_text_atomic(out_dir / "tokenizer_config.json", json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(out_dir / "special_tokens_map.json", json.dumps(special, indent=2, ensure_ascii=False) + "\n")
        return [out_dir / "tokenizer.json", out_dir / "tokenizer_config.json", out_dir / "special_tokens_map.json"]

    def describe(self) -> str:
        return f"hf (the imported model's own tokenizer, {self.vocab_size:,} tokens)"


def hf_tokenizer_from_json(data, config=None, rows: int | None = None) -> HFTokenizer:
    """An `hf` tokenizer from `tokenizer.json` data and a `tokenizer_config.json` (or a header's
    settings), checked before anything is built; `rows`: the embedding's, which it must fit in."""
    check_tokenizer_json(data, HF_KIND, max_vocab=MAX_HF_VOCAB, rows=rows)
    settings = tokenizer_settings(config)
    hf = hf_tokenizers()
    try:
        tok = hf.Tokenizer.from_str(json.dumps(data))
    except BaseException as exc:  # the Rust side raises plain Exceptions (or panics) for bad JSON
        if not (type(exc) is Exception or type(exc).__name__ == "PanicException"):
            raise
        raise PocketLLMError("The {kind} tokenizer in this file is damaged ({detail}).", code="tokenizer.damaged_json",
                             kind=HF_KIND, detail=str(exc)[:200]) from None
    return HFTokenizer(tok, data, settings)


def hf_tokenizer_from_spec(spec: dict, rows: int | None = None) -> HFTokenizer:
    return hf_tokenizer_from_json(spec.get("tokenizer_json"), spec.get("settings"), rows=rows)
