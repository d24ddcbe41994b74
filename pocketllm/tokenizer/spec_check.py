"""A tokenizer from a file is untrusted data: it is checked before anything is built.

A checkpoint carries its `bpe` or `char` tokenizer as Hugging Face `tokenizer.json` data, and
the `tokenizers` library builds whatever that data says — an added token of 60 MB (4.7 GB to
build), a chain of normalizers that multiplies the text (15 GB for the prompt "a"), a regular
expression that backtracks until the library panics.  So the data is read first, by this
module, in time linear in its size, and refused unless:

- its sizes are bounded: the JSON text, the number and length of the tokens, added tokens and
  merges, and the vocabulary (at most `MAX_VOCAB`, and as many tokens as the model's embedding
  has rows when that is known);
- every part is on an allow-list: the normalizers, pre-tokenizers, post-processors and decoders
  that PocketLLM writes or that the known families use (GPT-2, Llama, Qwen), each with bounded
  settings: a Replace never makes the text longer, a chain holds at most one Unicode
  normalization and one byte-level step, and a regular expression is one of the known patterns;
- for PocketLLM's own kinds, the layout is the one PocketLLM writes: every `bpe` token is
  spelled in byte-level characters; a `char` tokenizer is one token per character plus the 256
  byte tokens `<0x00>`…`<0xFF>`, with no merges.

Each refusal is one `PocketLLMError` (code `tokenizer.refused`) whose `problem` is a `Phrase`
saying what is wrong and where (a path in the JSON, e.g. `normalizer.normalizers[3]`).
"""
from __future__ import annotations

import json
import re

from ..errors import Phrase, PocketLLMError, shown
from .base import EOT_TEXT, byte_to_unicode
from .gpt2 import GPT2_PATTERN

BYTE_TOKENS = 256
MAX_VOCAB = 1 << 16            # token ids are cached as 16-bit numbers (trained.MAX_VOCAB)
MAX_SPEC_CHARS = 16 << 20      # a 65,536-token bpe is about 3 MB of JSON
MAX_ADDED_TOKENS = 1024        # PocketLLM writes one (<|endoftext|>); Llama 3 has 256
MAX_ADDED_TOKEN_CHARS = 256
MAX_TOKEN_CHARS = 1024         # a vocabulary token or a merge's part
MAX_CHAIN = 8                  # steps in one Sequence
MAX_DEPTH = 3                  # a Sequence inside a Sequence inside a Sequence
MAX_SHORT_TEXT = 16            # Prepend, Strip, Metaspace and Replace strings
MAX_BOUNDED_NODES = 512        # a post-processor's template
MAX_BOUNDED_DEPTH = 6

# The regular expressions PocketLLM runs: its char tokenizer's, and the splitting patterns of
# the known families (GPT-2 as tiktoken and Hugging Face write it, Llama 3, Qwen 2/3).  Any other
# pattern is refused: a backtracking engine can take exponential time on a crafted one, and a
# check for nested repetition alone does not bound polynomial blow-ups such as `\s*\s*\s*x`.
CHAR_PATTERN = r"[\s\S]"
KNOWN_PATTERNS = frozenset({
    CHAR_PATTERN,
    GPT2_PATTERN,
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
})

_BYTE_TOKEN = re.compile(r"<0x[0-9A-F]{2}>")
_UNICODE_FORMS = frozenset({"NFC", "NFD", "NFKC", "NFKD"})
_SPLIT_BEHAVIORS = ("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous")
_PREPEND_SCHEMES = ("first", "never", "always")
_TOP_FIELDS = ("version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer",
               "post_processor", "decoder", "model")
_MODEL_FIELDS = ("type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk",
                 "byte_fallback", "ignore_merges", "vocab", "merges")
_ADDED_FIELDS = ("id", "content", "single_word", "lstrip", "rstrip", "normalized", "special")


class _Refused(Exception):
    """One problem found (internal: turned into a PocketLLMError by `check_tokenizer_json`)."""

    def __init__(self, phrase: Phrase):
        self.phrase = phrase


# What a value must be, said in the page's language (a JSON literal such as `null` needs no words).
EXPECT_OBJECT = Phrase("a JSON object", code="tokenizer.expect.object")
EXPECT_ARRAY = Phrase("a JSON array", code="tokenizer.expect.array")
EXPECT_STRING = Phrase("a string", code="tokenizer.expect.string")
EXPECT_FLAG = Phrase("true or false", code="tokenizer.expect.flag")
EXPECT_INTEGER = Phrase("a whole number", code="tokenizer.expect.integer")
EXPECT_CHARACTER = Phrase("one character", code="tokenizer.expect.character")
EXPECT_PAIR = Phrase("two strings", code="tokenizer.expect.pair")
EXPECT_NONEMPTY = Phrase("one character or more", code="tokenizer.expect.nonempty")
EXPECT_PLAIN = Phrase("plain JSON (text, numbers, lists)", code="tokenizer.expect.plain")


def _must_be(where: str, expected: str, found) -> _Refused:
    found = "{...}" if isinstance(found, dict) else "[...]" if isinstance(found, list) else shown(found)
    return _Refused(Phrase("{where} must be {expected}, not {found}", code="tokenizer.check.must_be",
                           where=where, expected=expected, found=found))


def _type(value, where: str, *types, expected: str):
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        raise _must_be(where, expected, value)
    return value


def _obj(value, where: str) -> dict:
    return _type(value, where, dict, expected=EXPECT_OBJECT)


def _text(value, where: str, limit: int) -> str:
    _type(value, where, str, expected=EXPECT_STRING)
    if len(value) > limit:
        raise _Refused(Phrase("{where} is {length:,} characters long, more than the {limit:,} allowed",
                              code="tokenizer.check.too_long", where=where, length=len(value), limit=limit))
    return value


def _count(items, where: str, limit: int):
    if len(items) > limit:
        raise _Refused(Phrase("{where} has {count:,} entries, more than the {limit:,} allowed",
                              code="tokenizer.check.too_many", where=where, count=len(items), limit=limit))
    return items


def _fields(obj: dict, where: str, known) -> None:
    for name in obj:
        if name not in known:
            raise _Refused(Phrase("{where} is not a field PocketLLM knows", code="tokenizer.check.unknown_field",
                                  where=f"{where}.{_key(name)}" if where else _key(name)))


def _key(name: str) -> str:
    """A JSON key for a message: as it is when short, cut short otherwise."""
    return name if len(name) <= 30 and name.isprintable() else shown(name, 30)


def _field(obj: dict, name: str, where: str):
    if name not in obj:
        raise _Refused(Phrase("{where} is missing", code="tokenizer.check.missing",
                              where=f"{where}.{name}" if where else name))
    return obj[name]


def _pattern(value, where: str) -> tuple[str, str]:
    """("String" | "Regex", text) of a Split or Replace pattern; a Regex must be a known one."""
    obj = _obj(value, where)
    if len(obj) != 1 or next(iter(obj)) not in ("String", "Regex"):
        raise _must_be(where, '{"String": ...} | {"Regex": ...}', obj)
    (how, text), = obj.items()
    text = _text(text, f"{where}.{how}", MAX_TOKEN_CHARS)
    if how == "Regex" and text not in KNOWN_PATTERNS:
        raise _Refused(Phrase(
            "{where} is the regular expression {pattern}, which is not one PocketLLM runs (it runs the "
            "splitting patterns of its char tokenizer, GPT-2, Llama 3 and Qwen; a crafted pattern such as "
            "(a+)+$ can take for ever)", code="tokenizer.check.unknown_regex", where=where, pattern=shown(text, 60)))
    return how, text


def _bounded(value, where: str, budget: list, depth: int = 0) -> None:
    """Any small JSON value (a post-processor's template): few nodes, short strings, shallow."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _Refused(Phrase("{where} has {count:,} entries, more than the {limit:,} allowed",
                              code="tokenizer.check.too_many", where=where, count=MAX_BOUNDED_NODES + 1,
                              limit=MAX_BOUNDED_NODES))
    if depth > MAX_BOUNDED_DEPTH:
        raise _too_deep(where, MAX_BOUNDED_DEPTH)
    if isinstance(value, str):
        _text(value, where, MAX_ADDED_TOKEN_CHARS)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _bounded(item, f"{where}[{i}]", budget, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _bounded(item, f"{where}.{shown(key, 30)}", budget, depth + 1)
    elif not (value is None or isinstance(value, (bool, int, float))):
        raise _must_be(where, EXPECT_PLAIN, value)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1 << 31:
        raise _must_be(where, Phrase("a whole number from {low:,} to {high:,}", code="tokenizer.expect.range",
                                     low=-(1 << 31), high=1 << 31), value)


def _too_deep(where: str, limit: int) -> _Refused:
    return _Refused(Phrase("{where} nests steps more than {limit} levels deep", code="tokenizer.check.too_deep",
                           where=where, limit=limit))


# ---- normalizers, pre-tokenizers, post-processors, decoders -------------------------------

def _flag(step: dict, name: str, where: str) -> None:
    if name in step:
        _type(step[name], f"{where}.{name}", bool, expected=EXPECT_FLAG)


def _choice(step: dict, name: str, where: str, allowed) -> None:
    if name in step and step[name] not in allowed:
        raise _must_be(f"{where}.{name}", " | ".join(json.dumps(a) for a in allowed), step[name])


def _small_int(step: dict, name: str, where: str) -> None:
    if name in step:
        value = _type(step[name], f"{where}.{name}", int, expected=EXPECT_INTEGER)
        if not 0 <= value <= MAX_SHORT_TEXT:
            raise _must_be(f"{where}.{name}", Phrase("a whole number from {low:,} to {high:,}",
                                                     code="tokenizer.expect.range", low=0, high=MAX_SHORT_TEXT), value)


def _replace(step: dict, where: str) -> None:
    how, pattern = _pattern(_field(step, "pattern", where), f"{where}.pattern")
    content = _text(_field(step, "content", where), f"{where}.content", MAX_SHORT_TEXT)
    if not pattern:  # matches between every two characters
        raise _must_be(f"{where}.pattern.{how}", EXPECT_NONEMPTY, pattern)
    # A string pattern is replaced match by match: never longer keeps the text's length.  A regular
    # expression may match the empty string (between every two characters), so it may only delete.
    if (how == "String" and len(content) > len(pattern)) or (how == "Regex" and content):
        raise _Refused(Phrase("{where} replaces {pattern} with the longer {content}, which can multiply the text",
                              code="tokenizer.check.grows", where=where, pattern=shown(pattern, 30),
                              content=shown(content, 30)))


def _byte_level(step: dict, where: str) -> None:
    for name in ("add_prefix_space", "trim_offsets", "use_regex"):
        _flag(step, name, where)


def _metaspace(step: dict, where: str) -> None:
    if "replacement" in step and len(_text(step["replacement"], f"{where}.replacement", 1)) != 1:
        raise _must_be(f"{where}.replacement", EXPECT_CHARACTER, step["replacement"])
    _choice(step, "prepend_scheme", where, _PREPEND_SCHEMES)
    _flag(step, "split", where)
    _flag(step, "add_prefix_space", where)


def _prepend(step: dict, where: str) -> None:
    _text(_field(step, "prepend", where), f"{where}.prepend", MAX_SHORT_TEXT)


def _split(step: dict, where: str) -> None:
    _pattern(_field(step, "pattern", where), f"{where}.pattern")
    _choice(step, "behavior", where, _SPLIT_BEHAVIORS)
    _flag(step, "invert", where)


def _digits(step: dict, where: str) -> None:
    _flag(step, "individual_digits", where)


def _strip(step: dict, where: str) -> None:
    if "content" in step and len(_text(step["content"], f"{where}.content", 1)) != 1:
        raise _must_be(f"{where}.content", EXPECT_CHARACTER, step["content"])
    _small_int(step, "start", where)
    _small_int(step, "stop", where)


def _template(step: dict, where: str) -> None:
    budget = [MAX_BOUNDED_NODES]
    for name in ("single", "pair", "special_tokens"):
        if name in step:
            _bounded(step[name], f"{where}.{name}", budget)


def _no_settings(step: dict, where: str) -> None:
    """NFC, NFD, NFKC, NFKD, ByteFallback, Fuse: a type and nothing else (`_fields` saw to that)."""


# Each step type PocketLLM runs: its fields and the check of their values (the same in every slot).
_STEPS = {
    "NFC": ((), _no_settings), "NFD": ((), _no_settings), "NFKC": ((), _no_settings), "NFKD": ((), _no_settings),
    "ByteFallback": ((), _no_settings), "Fuse": ((), _no_settings),
    "Replace": (("pattern", "content"), _replace),
    "Prepend": (("prepend",), _prepend),
    "ByteLevel": (("add_prefix_space", "trim_offsets", "use_regex"), _byte_level),
    "Split": (("pattern", "behavior", "invert"), _split),
    "Metaspace": (("replacement", "prepend_scheme", "split", "add_prefix_space", "str_rep"), _metaspace),
    "Digits": (("individual_digits",), _digits),
    "Strip": (("content", "start", "stop"), _strip),
    "TemplateProcessing": (("single", "pair", "special_tokens"), _template),
}


# What each slot allows: its step types, the name of a Sequence's list, and the step types that
# may appear only once in the slot (each can lengthen the text by a factor: run twice, the factors
# multiply; the four Unicode normalizations count as one).
_SLOTS = {
    "normalizer": dict(steps=("NFC", "NFD", "NFKC", "NFKD", "Replace", "Prepend"), sequence="normalizers",
                       once={"NFC", "NFD", "NFKC", "NFKD"}),
    "pre_tokenizer": dict(steps=("ByteLevel", "Split", "Metaspace", "Digits"), sequence="pretokenizers",
                          once={"ByteLevel", "Metaspace"}),
    "post_processor": dict(steps=("ByteLevel", "TemplateProcessing"), sequence="processors", once={"ByteLevel"}),
    "decoder": dict(steps=("ByteLevel", "ByteFallback", "Fuse", "Replace", "Strip", "Metaspace"), sequence="decoders",
                    once={"ByteLevel", "Metaspace"}),
}


def _slot(value, slot: str) -> None:
    """A normalizer / pre-tokenizer / post-processor / decoder: null, an allowed step, or a Sequence."""
    if value is None:
        return
    rule = _SLOTS[slot]
    seen: dict[str, int] = {}

    def step(node, where: str, depth: int):
        node = _obj(node, where)
        kind = _field(node, "type", where)
        if kind == "Sequence":
            if depth >= MAX_DEPTH:
                raise _too_deep(where, MAX_DEPTH)
            _fields(node, where, ("type", rule["sequence"]))
            items = _type(_field(node, rule["sequence"], where), f"{where}.{rule['sequence']}", list,
                          expected=EXPECT_ARRAY)
            _count(items, f"{where}.{rule['sequence']}", MAX_CHAIN)
            for i, item in enumerate(items):
                step(item, f"{where}.{rule['sequence']}[{i}]", depth + 1)
            return
        if not isinstance(kind, str) or kind not in rule["steps"]:
            raise _Refused(Phrase("{where} is a {name} step, which PocketLLM does not run (it runs {allowed})",
                                  code="tokenizer.check.not_allowed", where=where, name=shown(kind, 30),
                                  allowed=", ".join([*rule["steps"], "Sequence"])))
        fields, check = _STEPS[kind]
        _fields(node, where, ("type", *fields))
        group = "NF" if kind in _UNICODE_FORMS else kind
        if kind in rule["once"]:
            seen[group] = seen.get(group, 0) + 1
            if seen[group] > 1:
                raise _Refused(Phrase("{where} is a second {name} step in one chain, which can multiply the text",
                                      code="tokenizer.check.twice", where=where, name=kind))
        check(node, where)

    step(value, slot, 0)


# ---- the whole tokenizer.json -------------------------------------------------------------

def _vocabulary(model: dict, max_vocab: int) -> dict:
    vocab = _obj(_field(model, "vocab", "model"), "model.vocab")
    _count(vocab, "model.vocab", max_vocab)
    for token, i in vocab.items():
        if len(token) > MAX_TOKEN_CHARS:
            _text(token, f"model.vocab[{shown(token, 30)}]", MAX_TOKEN_CHARS)
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < max_vocab:
            raise _bad_id(f"model.vocab[{shown(token, 30)}]", i)
    return vocab


def _bad_id(where: str, value) -> _Refused:
    return _Refused(Phrase("{where} has the id {id}; ids must be 0, 1, 2, ... with none taken twice",
                           code="tokenizer.check.bad_id", where=where, id=shown(value, 30)))


def _merges(model: dict, limit: int) -> list:
    merges = _type(model.get("merges", []), "model.merges", list, expected=EXPECT_ARRAY)
    _count(merges, "model.merges", limit)
    for k, merge in enumerate(merges):
        where = f"model.merges[{k}]"
        if isinstance(merge, str):
            _text(merge, where, 2 * MAX_TOKEN_CHARS + 1)
        elif isinstance(merge, list) and len(merge) == 2:
            _text(merge[0], where, MAX_TOKEN_CHARS)
            _text(merge[1], where, MAX_TOKEN_CHARS)
        else:
            raise _must_be(where, EXPECT_PAIR, merge)
    return merges


def _model(data: dict, max_vocab: int, merges_per_token: int) -> dict:
    model = _obj(_field(data, "model", ""), "model")
    _fields(model, "model", _MODEL_FIELDS)
    if model.get("type", "BPE") != "BPE":
        raise _must_be("model.type", '"BPE"', model.get("type"))
    if model.get("dropout") is not None:  # a random split of every word: the same text, other ids each time
        raise _must_be("model.dropout", "null", model["dropout"])
    for name in ("fuse_unk", "byte_fallback", "ignore_merges"):
        _flag(model, name, "model")
    if model.get("unk_token") is not None:
        _text(model["unk_token"], "model.unk_token", MAX_ADDED_TOKEN_CHARS)
    for name in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(name) is not None:
            _text(model[name], f"model.{name}", MAX_SHORT_TEXT)
    vocab = _vocabulary(model, max_vocab)
    _merges(model, merges_per_token * max(len(vocab), 1))
    return model


def _added_tokens(data: dict, vocab: dict, max_vocab: int, need_eot: bool = True) -> dict[str, int]:
    """Every token's id (vocabulary and added tokens), checked to be 0..n-1 with none taken twice
    (and, for PocketLLM's own kinds, an <|endoftext|> among them)."""
    added = _type(data.get("added_tokens", []), "added_tokens", list, expected=EXPECT_ARRAY)
    _count(added, "added_tokens", MAX_ADDED_TOKENS)
    ids = dict(vocab)
    taken = {i: token for token, i in vocab.items()}
    if len(taken) != len(vocab):
        seen = set()
        for token, i in vocab.items():
            if i in seen:
                raise _bad_id(f"model.vocab[{shown(token, 30)}]", i)
            seen.add(i)
    for k, entry in enumerate(added):
        where = f"added_tokens[{k}]"
        entry = _obj(entry, where)
        _fields(entry, where, _ADDED_FIELDS)
        content = _text(_field(entry, "content", where), f"{where}.content", MAX_ADDED_TOKEN_CHARS)
        if not content:
            raise _must_be(f"{where}.content", EXPECT_NONEMPTY, content)
        i = _field(entry, "id", where)
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < max_vocab:
            raise _bad_id(f"{where}.id", i)
        for name in ("single_word", "lstrip", "rstrip", "normalized", "special"):
            _flag(entry, name, where)
        if content in ids:
            if ids[content] != i:
                raise _bad_id(f"{where}.id", i)
        elif i in taken:
            raise _bad_id(f"{where}.id", i)
        ids[content] = i
        taken[i] = content
    _count(ids, "model.vocab+added_tokens", max_vocab)
    if sorted(taken) != list(range(len(taken))):
        missing = next(i for i in range(len(taken) + 1) if i not in taken)
        raise _Refused(Phrase("id {id} has no token; ids must be 0, 1, 2, ... with none left out",
                              code="tokenizer.check.id_gap", id=missing))
    if need_eot and EOT_TEXT not in ids:
        raise _Refused(Phrase("it has no {eot} token", code="tokenizer.check.no_eot", eot=EOT_TEXT))
    return ids


def _looks_like(data: dict) -> str:
    """Which of PocketLLM's layouts the data has ("char", "bpe" or "" for neither)."""
    model, pre = data.get("model") or {}, data.get("pre_tokenizer") or {}
    if model.get("byte_fallback") and not model.get("merges") and pre.get("type") == "Split":
        return "char"
    if pre.get("type") == "ByteLevel":
        return "bpe"
    return ""


def _wrong_kind(kind: str, data: dict) -> None:
    other = _looks_like(data)
    if other and other != kind:
        raise _Refused(Phrase("it is labelled {kind} but is a {other} tokenizer", code="tokenizer.check.wrong_kind",
                              kind=kind, other=other))


def _bpe_layout(data: dict, ids: dict[str, int]) -> None:
    """Every token but <|endoftext|> is written in GPT-2's byte-level alphabet (one character per byte)."""
    alphabet = set(byte_to_unicode().values())
    for token in ids:
        if token != EOT_TEXT and not alphabet.issuperset(token):
            _wrong_kind("bpe", data)
            raise _Refused(Phrase(
                "the token {token} is not written in byte-level characters, as every token of a bpe tokenizer is",
                code="tokenizer.check.not_byte_level", token=shown(token)))


def _char_layout(data: dict, ids: dict[str, int]) -> None:
    """One token per character, the 256 byte tokens, no merges, each character its own piece."""
    model = data["model"]
    for token in ids:
        if token != EOT_TEXT and len(token) != 1 and not _BYTE_TOKEN.fullmatch(token):
            _wrong_kind("char", data)
            raise _Refused(Phrase(
                "the token {token} is neither one character nor a byte token <0x00> to <0xFF>",
                code="tokenizer.check.not_char_token", token=shown(token)))
    _wrong_kind("char", data)
    expected = {
        "model.merges": (model.get("merges", []), []),
        "model.byte_fallback": (model.get("byte_fallback"), True),
        "model.unk_token": (model.get("unk_token"), None),
        "model.continuing_subword_prefix": (model.get("continuing_subword_prefix"), None),
        "model.end_of_word_suffix": (model.get("end_of_word_suffix"), None),
        "normalizer": (data.get("normalizer"), None),
        "pre_tokenizer": (data.get("pre_tokenizer"),
                          {"type": "Split", "pattern": {"Regex": CHAR_PATTERN}, "behavior": "Isolated", "invert": False}),
        "post_processor": (data.get("post_processor"), None),
    }
    for where, (found, want) in expected.items():
        if found != want:
            raise _must_be(where, json.dumps(want), found)
    missing = [b for b in range(BYTE_TOKENS) if f"<0x{b:02X}>" not in ids]
    if missing:
        raise _Refused(Phrase("{where} is missing", code="tokenizer.check.missing",
                              where=f"model.vocab[<0x{missing[0]:02X}>]"))
    for k, entry in enumerate(data.get("added_tokens", [])):
        if entry["content"] != EOT_TEXT or any(entry.get(name) for name in ("single_word", "lstrip", "rstrip",
                                                                            "normalized")):
            raise _must_be(f"added_tokens[{k}]", json.dumps(EOT_TEXT), entry["content"])


def _refused(kind: str, phrase: Phrase) -> PocketLLMError:
    return PocketLLMError("The {kind} tokenizer in this file cannot be used: {problem}. The file is damaged or was "
                          "not made by PocketLLM; use a model file that PocketLLM saved.", code="tokenizer.refused",
                          kind=kind, problem=phrase)


def check_tokenizer_json(data, kind: str, *, max_vocab: int = MAX_VOCAB, rows: int | None = None) -> int:
    """Refuse (PocketLLMError) a `tokenizer.json` object that is too big, runs a part PocketLLM does not
    allow, or (for kind "bpe" or "char") is not laid out as PocketLLM writes it; otherwise return its
    vocabulary size.  `rows`: the model's embedding rows, which the vocabulary must match (for kind
    "hf", an imported model's tokenizer, fit in: at most `rows` tokens, and no <|endoftext|> needed)."""
    try:
        data = _obj(data, "tokenizer_json")
        _fields(data, "", _TOP_FIELDS)
        for name in ("truncation", "padding"):  # a fixed padding length is a fixed allocation per text
            if data.get(name) is not None:
                raise _must_be(name, "null", data[name])
        if "version" in data:
            _text(data["version"], "version", MAX_SHORT_TEXT)
        # A trained BPE has one merge per learned token; lists converted from tiktoken ranks
        # (Llama 3's) hold about two per token.
        model = _model(data, max_vocab, merges_per_token=1 if kind in ("bpe", "char") else 4)
        ids = _added_tokens(data, model["vocab"], max_vocab, need_eot=kind in ("bpe", "char"))
        for slot in _SLOTS:
            _slot(data.get(slot), slot)
        if kind == "bpe":
            _bpe_layout(data, ids)
        elif kind == "char":
            _char_layout(data, ids)
        # An imported model's (kind "hf") embedding may have more rows than tokens (Qwen3 pads to 151,936).
        if rows is not None and (len(ids) > rows if kind == "hf" else len(ids) != rows):
            raise _Refused(Phrase("its vocabulary has {count:,} tokens but the model's embedding has {rows:,} rows",
                                  code="tokenizer.check.rows", count=len(ids), rows=rows))
    except _Refused as refused:
        raise _refused(kind, refused.phrase) from None
    return len(ids)


def parse_spec_text(text: str):
    """A header's tokenizer JSON, bounded in size and depth before and while it is parsed."""
    if len(text) > MAX_SPEC_CHARS:
        raise PocketLLMError("The tokenizer in this file is {size:,} characters of JSON, more than the {limit:,} "
                             "PocketLLM reads; the file is damaged or was not made by PocketLLM.",
                             code="tokenizer.too_large", size=len(text), limit=MAX_SPEC_CHARS)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PocketLLMError("The tokenizer in this file is damaged ({detail}).", code="tokenizer.damaged",
                             detail=str(exc)) from None
    except RecursionError:
        raise PocketLLMError("The tokenizer in this file is nested too deeply to be read; the file is damaged or "
                             "was not made by PocketLLM.", code="tokenizer.too_deep") from None
