"""A checkpoint's tokenizer is untrusted data, and a corpus of any shape stays bounded (issue 19).

Causes 1, 2, 3, 6 and 7 of the hostile-input probe, the tokenizer WEAK items, and a fuzz test of
generated tokenizer specs.  Each crafted file is written here; where the failure was memory, the
case runs in a subprocess under an address-space cap (RLIMIT_AS) a little above what the
imports take; where it was time, under a bound generous enough for a loaded 2-core machine.
"""
from __future__ import annotations

import copy
import json
import random
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from pocketllm import GPTModel, ModelConfig, PocketLLMError, load_model, save_checkpoint, train_tokenizer
from pocketllm.data import tokenize_file
from pocketllm.data.text import iter_text_chunks, iter_train_text
from pocketllm.tokenizer import tokenizer_from_spec
from pocketllm.tokenizer.base import EOT_TEXT, text_pieces
from pocketllm.tokenizer.spec_check import MAX_ADDED_TOKENS, MAX_SPEC_CHARS, check_tokenizer_json
from pocketllm.tokenizer.trained import MAX_TRAINING_RUN, TrainedTokenizer, hf_tokenizers, training_pieces

ROOT = Path(__file__).resolve().parent.parent
ZH = (ROOT / "data" / "pretrain" / "zh_classics.txt").read_text(encoding="utf-8")
EN = (ROOT / "data" / "pretrain" / "shakespeare.txt").read_text(encoding="utf-8")
REFUSE_SECONDS = 2.0


@pytest.fixture(scope="module")
def toks():
    text = ZH[:20000] + EN[:20000]
    return {"bpe": train_tokenizer([text], "bpe", 400), "char": train_tokenizer([text], "char")}


def spec_of(tok) -> dict:
    return copy.deepcopy(tok.to_spec())


def added(content: str, i: int) -> dict:
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def refused(spec, *words, code="tokenizer.refused"):
    """The spec (a dict or a header's JSON text) is refused with a PocketLLMError, fast."""
    start = time.perf_counter()
    with pytest.raises(PocketLLMError) as info:
        tokenizer_from_spec(spec)
    assert time.perf_counter() - start < REFUSE_SECONDS
    assert info.value.code == code, str(info.value)
    for w in words:
        assert w in str(info.value), str(info.value)
    return info.value


# ---- running a case under a memory cap -----------------------------------------------------

_CAPPED = textwrap.dedent(r"""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[1])
    import numpy, torch, pocketllm, pocketllm.tokenizer, pocketllm.data  # the imports are not what is measured
    from pocketllm import PocketLLMError
    warm, case = sys.stdin.read().split("#---\n")
    exec(warm)  # what the first call of a function imports lazily (load_model: about 800 modules) is not measured
    size = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmSize:"))
    cap = size + int(sys.argv[2]) * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    start = time.perf_counter()
    try:
        exec(case)
        print("RESULT ok")
    except PocketLLMError as exc:
        print("RESULT refused", exc.code)
    print("SECONDS", time.perf_counter() - start)
""")


def capped(case: str, extra_mb: int = 600, timeout: int = 120, warm: str = "") -> tuple[str, float]:
    """Run `case` (Python) in a fresh process allowed `extra_mb` MB of address space beyond its imports
    and `warm` (run first, not timed)."""
    out = subprocess.run([sys.executable, "-c", _CAPPED, str(ROOT), str(extra_mb)],
                         input=textwrap.dedent(warm) + "\n#---\n" + textwrap.dedent(case),
                         capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith(("RESULT", "SECONDS")))
    return lines["RESULT"], float(lines["SECONDS"])


def crafted_checkpoint(tmp_path, tok, tokenizer_meta: str) -> Path:
    """A small checkpoint of `tok`'s vocabulary whose header carries `tokenizer_meta` instead."""
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(vocab_size=tok.vocab_size, context_length=32, emb_dim=16, num_heads=2,
                                 num_layers=1, drop_rate=0.0))
    good = save_checkpoint(tmp_path / "good.safetensors", model, tokenizer=tok)
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(str(good), "pt") as f:
        meta = f.metadata()
    meta["tokenizer"] = tokenizer_meta
    path = tmp_path / "crafted.safetensors"
    save_file(load_file(str(good)), str(path), metadata=meta)
    return path


# ---- cause 1: the spec is bounded before anything is built -----------------------------------

def test_one_huge_added_token_is_refused_before_anything_is_built(toks):
    # 60 MB in one added token took 24 s and 4.7 GB before the embedding check refused it.
    spec = spec_of(toks["char"])
    spec["tokenizer_json"]["added_tokens"].append(added("x" * 60_000_000, toks["char"].vocab_size))
    refused(spec, "added_tokens[1].content is 60,000,000 characters long")
    refused(json.dumps(spec), f"more than the {MAX_SPEC_CHARS:,} PocketLLM reads", code="tokenizer.too_large")
    # under the size limit too: one added token of 2 MB
    spec["tokenizer_json"]["added_tokens"][1]["content"] = "x" * 2_000_000
    refused(json.dumps(spec), "added_tokens[1].content is 2,000,000 characters long")


def test_many_long_added_tokens_are_refused_under_a_memory_cap(toks, tmp_path):
    # 60,000 added tokens of 1,000 characters took 30 s and 4.8 GB; 12,000 (12 MB of JSON, under the
    # size limit) needed about 1 GB: now refused by their count, in little memory and time.
    spec = spec_of(toks["char"])
    n = toks["char"].vocab_size
    spec["tokenizer_json"]["added_tokens"] += [added(f"{i:08d}" + "y" * 992, n + i) for i in range(12_000)]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result, seconds = capped(f"""
        from pocketllm.tokenizer import tokenizer_from_spec
        tokenizer_from_spec(open({str(tmp_path / "spec.json")!r}).read())
    """, extra_mb=400)
    assert result == "refused tokenizer.refused" and seconds < REFUSE_SECONDS
    refused(spec, f"added_tokens has 12,001 entries, more than the {MAX_ADDED_TOKENS:,} allowed")


def test_vocabulary_merges_and_token_lengths_are_bounded(toks):
    spec = spec_of(toks["bpe"])
    model = spec["tokenizer_json"]["model"]
    big = dict(model["vocab"])
    big.update({f"a{i}": len(big) + i for i in range(70_000)})
    refused({**spec, "tokenizer_json": {**spec["tokenizer_json"], "model": {**model, "vocab": big}}},
            "model.vocab has 70,")
    refused({**spec, "tokenizer_json": {**spec["tokenizer_json"], "model": {**model, "merges": model["merges"] * 10}}},
            "model.merges has")
    long = dict(model["vocab"])
    long["a" * 5000] = long.pop("a")
    refused({**spec, "tokenizer_json": {**spec["tokenizer_json"], "model": {**model, "vocab": long}}},
            "is 5,000 characters long")


def test_the_vocabulary_must_match_the_embedding_before_it_is_built(toks):
    spec = spec_of(toks["bpe"])
    with pytest.raises(PocketLLMError, match="400 tokens but the model's embedding has 300 rows"):
        tokenizer_from_spec(spec, rows=300)
    assert tokenizer_from_spec(spec, rows=400) == toks["bpe"]


def test_a_checkpoint_with_a_huge_added_token_is_refused_fast_and_small(toks, tmp_path):
    spec = spec_of(toks["char"])
    spec["tokenizer_json"]["added_tokens"].append(added("x" * 10_000_000, toks["char"].vocab_size))
    path = crafted_checkpoint(tmp_path, toks["char"], json.dumps(spec))
    result, seconds = capped(f"""
        from pocketllm import load_model
        load_model({str(path)!r})
    """, extra_mb=400, warm=f"pocketllm.load_model({str(tmp_path / 'good.safetensors')!r})")
    assert result == "refused tokenizer.refused" and seconds < REFUSE_SECONDS


# ---- cause 2: normalizers, pre-tokenizers and decoders from an allow-list --------------------

def _with(tok, **parts) -> dict:
    spec = spec_of(tok)
    spec["tokenizer_json"].update(parts)
    return spec


def test_a_chain_of_replaces_that_multiplies_the_text_is_refused(toks, tmp_path):
    # 8 x Replace "a" -> "aaaaaaaaaa": `generate --prompt a` reached 15 GB.
    grow = {"type": "Sequence", "normalizers": [{"type": "Replace", "pattern": {"String": "a"},
                                                 "content": "a" * 10}] * 8}
    refused(_with(toks["bpe"], normalizer=grow), "replaces 'a' with the longer 'aaaaaaaaaa'")
    path = crafted_checkpoint(tmp_path, toks["bpe"], json.dumps(_with(toks["bpe"], normalizer=grow)))
    result, seconds = capped(f"""
        from pocketllm import load_model, generate
        ckpt = load_model({str(path)!r})
        generate(ckpt.model, "a", max_new_tokens=2, tokenizer=ckpt.tokenizer)
    """, extra_mb=600, warm=f"pocketllm.load_model({str(tmp_path / 'good.safetensors')!r})")
    assert result == "refused tokenizer.refused" and seconds < REFUSE_SECONDS


@pytest.mark.parametrize("slot, part, words", [
    ("normalizer", {"type": "Replace", "pattern": {"Regex": "a*"}, "content": "b"}, "not one PocketLLM runs"),
    ("normalizer", {"type": "Replace", "pattern": {"String": ""}, "content": ""}, "pattern.String must be one character"),
    ("normalizer", {"type": "Sequence", "normalizers": [{"type": "NFKD"}, {"type": "Replace", "pattern": {"String": "ل"},
                                                                          "content": "ﷻ"}, {"type": "NFKD"}]},
     "second NFKD step"),
    ("normalizer", {"type": "Lowercase"}, "'Lowercase' step, which PocketLLM does not run"),
    ("normalizer", {"type": "Prepend", "prepend": "x" * 100}, "prepend is 100 characters long"),
    ("normalizer", {"type": "Sequence", "normalizers": [{"type": "NFC"}] * 9}, "has 9 entries"),
    ("normalizer", {"type": "Sequence", "normalizers": [{"type": "Sequence", "normalizers": [
        {"type": "Sequence", "normalizers": [{"type": "Sequence", "normalizers": []}]}]}]}, "more than 3 levels deep"),
    ("pre_tokenizer", {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}] * 2}, "second ByteLevel step"),
    ("pre_tokenizer", {"type": "Whitespace"}, "'Whitespace' step"),
    ("decoder", {"type": "Replace", "pattern": {"String": "a"}, "content": "aa"}, "with the longer 'aa'"),
    ("decoder", {"type": "Strip", "content": " ", "start": 10**9, "stop": 0}, "decoder.start must be"),
    ("post_processor", {"type": "TemplateProcessing", "single": ["x"] * 1000}, "post_processor.single"),
    ("padding", {"strategy": {"Fixed": 10**9}}, "padding must be null"),
    ("truncation", {"max_length": 10**9}, "truncation must be null"),
])
def test_only_bounded_parts_from_the_allow_list_run(toks, slot, part, words):
    refused(_with(toks["bpe"], **{slot: part}), words)


def test_the_parts_of_the_known_families_are_allowed(toks):
    llama3 = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
              r"""\s*[\r\n]+|\s+(?!\S)|\s+""")
    spec = _with(toks["bpe"], normalizer={"type": "NFC"}, pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": llama3}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        post_processor={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True})
    tok = tokenizer_from_spec(spec)
    assert tok.decode(tok.encode("子曰：学而时习之 and more")) == "子曰：学而时习之 and more"
    assert check_tokenizer_json(spec_of(toks["char"])["tokenizer_json"], "char") == toks["char"].vocab_size


# ---- cause 3: a panic of the tokenizers library is our message -------------------------------

def _unchecked(tok, **parts) -> TrainedTokenizer:
    """A tokenizer built straight from Hugging Face data, past the checks (as a new bug in them would)."""
    data = spec_of(tok)["tokenizer_json"]
    data.update(parts)
    return TrainedTokenizer(tok.kind, hf_tokenizers().Tokenizer.from_str(json.dumps(data)))


def test_a_regex_that_panics_is_refused_at_load_and_a_panic_is_a_pocketllm_error(toks):
    split = {"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": False}
    refused(_with(toks["bpe"], pre_tokenizer=split), "'(a+)+$', which is not one PocketLLM runs")
    tok = _unchecked(toks["bpe"], pre_tokenizer=split)
    for call in (tok.encode, lambda text: tok.encode_batch([text, "b"])):
        start = time.perf_counter()
        try:
            call("a" * 40 + "b")
        except Exception as exc:  # what the app's handlers catch: a PanicException is not an Exception
            assert isinstance(exc, PocketLLMError) and exc.code == "tokenizer.failed", repr(exc)
            assert "retry-limit" in str(exc)
        else:
            pytest.fail("the panic was not raised")
        assert time.perf_counter() - start < 5
    from pocketllm import inspect as look
    with pytest.raises(PocketLLMError, match="failed on this text"):
        look.tokens("a" * 40 + "b", tok)


def test_a_damaged_tokenizer_json_that_the_library_refuses_is_our_message(toks):
    spec = spec_of(toks["bpe"])
    spec["tokenizer_json"]["model"]["merges"][0] = ["no such", "token"]
    refused(spec, code="tokenizer.damaged_json")


# ---- the WEAK items: messages, not tracebacks -----------------------------------------------

def test_a_bpe_token_outside_the_byte_alphabet_says_so(toks, tmp_path):
    spec = spec_of(toks["bpe"])
    vocab = spec["tokenizer_json"]["model"]["vocab"]
    vocab["中文"] = vocab.pop(next(t for t in vocab if len(t) > 2 and t != EOT_TEXT))
    refused(spec, "the token '中文' is not written in byte-level characters")
    path = crafted_checkpoint(tmp_path, toks["bpe"], json.dumps(spec))
    with pytest.raises(PocketLLMError, match="byte-level"):
        load_model(path)


def test_a_byte_token_that_is_not_hex_in_a_char_vocabulary_says_so(toks):
    spec = spec_of(toks["char"])
    vocab = spec["tokenizer_json"]["model"]["vocab"]
    vocab["<0xZZ>"] = vocab.pop("<0x41>")
    refused(spec, "the token '<0xZZ>' is neither one character nor a byte token")
    with pytest.raises(PocketLLMError, match="<0xZZ>"):  # and past the checks, the same clear words
        TrainedTokenizer("char", hf_tokenizers().Tokenizer.from_str(json.dumps(spec["tokenizer_json"])))


def test_a_spec_labelled_with_the_other_kind_says_which_it_is(toks):
    refused({**spec_of(toks["char"]), "kind": "bpe"}, "labelled bpe but is a char tokenizer")
    refused({**spec_of(toks["bpe"]), "kind": "char"}, "labelled char but is a bpe tokenizer")


def test_a_deeply_nested_or_odd_spec_is_a_message(toks):
    refused('{"kind": "bpe", "tokenizer_json": ' + "[" * 200_000 + "]" * 200_000 + "}", code="tokenizer.too_deep")
    refused('{"kind": "bpe", "tokenizer_json": {"model": ' + "[" * 500 + "]" * 500 + "}}", "model must be a JSON object")
    refused('{"kind": "bpe", "tokenizer_json": {"model": {"vocab": {}}, "junk": {}}}', "junk is not a field")
    refused('{"kind": ' + json.dumps("z" * 100_000) + "}", code="tokenizer.unknown_in_file")


# ---- cause 6: bpe training is bounded whatever the text's shape -----------------------------

def test_training_pieces_cut_only_long_runs():
    rng = random.Random(0)
    for _ in range(200):
        text = "".join(rng.choice(["a", "b", " ", "\n", "中", "é"]) * rng.choice([1, 3, 70, 300])
                       for _ in range(rng.randint(0, 30)))
        pieces = list(training_pieces(text))
        assert "".join(pieces) == text
        for piece in pieces:
            assert all(len(run) <= MAX_TRAINING_RUN for run in piece.split()), piece
    assert list(training_pieces("To be, or not to be")) == ["To be, or not to be"]


@pytest.mark.parametrize("shape, text", [
    ("a million times one letter", "a" * 1_000_000),       # did not end in 120 s
    ("a million spaces", " " * 1_000_000),
    ("one line of 300,000 random letters", (lambda rng: "".join(rng.choice("abcdefghij") for _ in range(300_000)))(
        random.Random(0))),
])
def test_bpe_training_ends_fast_on_text_without_spaces_or_newlines(shape, text, tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(text + "\n" + EN[:2000], encoding="utf-8")
    start = time.perf_counter()
    tok = train_tokenizer(iter_train_text(path, 0.1), "bpe", 1000)
    assert time.perf_counter() - start < 20, shape
    assert tok.decode(tok.encode(text[:5000])) == text[:5000]
    assert max(len(tok.token_bytes(i)) for i in range(tok.vocab_size)) <= MAX_TRAINING_RUN + 1


# ---- cause 7: encoding in bounded pieces -----------------------------------------------------

def test_a_file_without_line_breaks_is_read_in_bounded_chunks(tmp_path):
    path = tmp_path / "one-line.txt"
    text = "é中a😀" * 20_000
    path.write_text(text, encoding="utf-8")
    chunks = list(iter_text_chunks(path, chunk_bytes=1000))
    assert "".join(chunks) == text and max(map(len, chunks)) <= 1000


def test_text_pieces_are_bounded_never_cut_the_end_of_text_token_and_encode_as_the_whole(toks):
    rng = random.Random(1)
    for _ in range(50):
        text = "".join(rng.choice(["word ", "x", EOT_TEXT, " ", "\n", "中文"]) for _ in range(rng.randint(0, 400)))
        pieces = list(text_pieces(text, size=64))
        assert "".join(pieces) == text and all(len(p) <= 64 for p in pieces)
        assert sum(p.count(EOT_TEXT) for p in pieces) == text.count(EOT_TEXT)
    tok = toks["bpe"]
    text = EN[:300_000]  # long enough to be cut; each cut before a space between two words
    assert tok.encode(text) == tok._hf.encode(text, add_special_tokens=False).ids


def test_char_encoding_is_the_librarys_without_its_per_character_records(toks):
    tok = toks["char"]
    rng = random.Random(2)
    alphabet = list(set(ZH[:3000] + EN[:3000])) + ["龘", "😀", "\r", "\t", "\x00", EOT_TEXT, "<|endof", "\u0301", "ﷺ"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert tok.encode(text) == tok._hf.encode(text, add_special_tokens=False).ids, repr(text)
        assert np.concatenate([np.asarray(r, dtype=np.int64) for r in tok.encode_pieces(text)] or [[]]).tolist() \
            == tok.encode(text)
    # lone surrogates (bytes that were not UTF-8, as Python reads them from a command line) read as U+FFFD
    for kind in ("char", "bpe"):
        assert toks[kind].encode("a\udcff") == toks[kind].encode("a\ufffd")


@pytest.mark.parametrize("kind, shape, size_mb", [
    ("char", "one character, no line break", 8),   # 200 MB: 6.65 GB and no end in 180 s
    ("char", "ordinary text", 4),                  # 20 MB: 5.2 GB; 4 MB: 1.45 GB
    ("bpe", "ordinary text", 2),                   # 2 MB: 0.63 GB
])
def test_tokenizing_a_corpus_stays_in_bounded_memory(toks, tmp_path, kind, shape, size_mb):
    path = tmp_path / "corpus.txt"
    n = size_mb << 20
    text = "a" * n if shape.startswith("one") else (EN * (n // len(EN) + 1))[:n]
    path.write_text(text, encoding="utf-8")
    spec = tmp_path / "tok.json"
    spec.write_text(json.dumps(toks[kind].to_spec()))
    result, seconds = capped(f"""
        from pocketllm.data import tokenize_file
        from pocketllm.tokenizer import tokenizer_from_spec
        tok = tokenizer_from_spec(open({str(spec)!r}).read())
        tf = tokenize_file({str(path)!r}, {str(tmp_path / "cache")!r}, tok, 0.1)
        assert tf.num_chars == {n}
    """, extra_mb=300, timeout=240)
    assert result == "ok" and seconds < 90, (result, seconds)
    tf = tokenize_file(path, tmp_path / "cache", toks[kind], 0.1)  # the cache the capped run wrote
    head = text[:20_000]
    ids = toks[kind].encode(head)[:-8]  # (the last few may differ: a word cut at 20,000 characters)
    assert tf.array()[:len(ids)].tolist() == ids


# ---- the fuzz: generated specs are refused with our message or accepted, fast and small ------

ODD_REGEXES = ["(a+)+$", "(a|aa)*b", r"\s*\s*\s*x", "[", "", r"(\w+)\1", "(?<=a)b", "a{1000000}", ".*.*.*=", "a**",
               r"[\s\S]", r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""]
JUNK = [None, True, -1, 2**70, 1e308, float("nan"), "x" * 5000, "", [], {}, [[[]]], {"type": "Sequence"}, "BPE", 3]


def _normalizer_tree(rng, depth=0):
    kind = rng.choice(["NFC", "NFKD", "Replace", "Prepend", "Lowercase", "Strip", "Sequence", "Sequence"])
    if kind == "Sequence" and depth < 5:
        return {"type": "Sequence", "normalizers": [_normalizer_tree(rng, depth + 1) for _ in range(rng.randint(0, 9))]}
    if kind == "Replace":
        pattern = rng.choice([{"String": "a"}, {"String": "ab"}, {"Regex": rng.choice(ODD_REGEXES)}, {"String": ""}])
        return {"type": "Replace", "pattern": pattern, "content": rng.choice(["", "a", "b", "a" * 10])}
    if kind == "Prepend":
        return {"type": "Prepend", "prepend": rng.choice(["▁", "x" * 40])}
    return {"type": kind if kind != "Sequence" else "NFD"}


def _pre_tokenizer_tree(rng, depth=0):
    kind = rng.choice(["Split", "ByteLevel", "Digits", "Metaspace", "Whitespace", "Sequence"])
    if kind == "Sequence" and depth < 5:
        return {"type": "Sequence", "pretokenizers": [_pre_tokenizer_tree(rng, depth + 1)
                                                      for _ in range(rng.randint(0, 4))]}
    if kind == "Split":
        return {"type": "Split", "pattern": {"Regex": rng.choice(ODD_REGEXES)},
                "behavior": rng.choice(["Isolated", "Removed", "Nope"]), "invert": rng.choice([False, True, 1])}
    if kind == "ByteLevel":
        return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": rng.choice([True, False])}
    if kind == "Metaspace":
        return {"type": "Metaspace", "replacement": rng.choice(["▁", "xx"]), "prepend_scheme": "always", "split": True}
    return {"type": kind if kind != "Sequence" else "Digits"}


def _nodes(value, where=()):
    """Every (container, key) in a JSON value, the vocabulary and merges as one node each."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield value, key
            if key not in ("vocab", "merges"):
                yield from _nodes(item)
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield value, k
            yield from _nodes(item)


def _mutate(spec: dict, rng: random.Random, vocab_size: int):
    data = spec["tokenizer_json"]
    what = rng.randrange(16)
    if what == 0:
        data["added_tokens"].append(added("x" * rng.choice([300, 5000, 2_000_000]), vocab_size))
    elif what == 1:
        count, length = rng.choice([30, 1100, 3000]), rng.choice([5, 300])
        data["added_tokens"] += [added(f"<{i}>".ljust(length, "z"), vocab_size + i) for i in range(count)]
    elif what == 2:
        data["normalizer"] = _normalizer_tree(rng)
    elif what == 3:
        data["pre_tokenizer"] = _pre_tokenizer_tree(rng)
    elif what == 4:
        data["decoder"] = rng.choice([{"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"},
                                                                         "content": " "}, {"type": "Fuse"}]},
                                      {"type": "Replace", "pattern": {"String": "a"}, "content": "aa"},
                                      {"type": "Strip", "content": " ", "start": 1, "stop": 0}, {"type": "CTC"}])
    elif what == 5:  # a wrong type anywhere
        container, key = rng.choice(list(_nodes(data)))
        container[key] = rng.choice(JUNK)
    elif what == 6:  # a missing key anywhere
        container, key = rng.choice([n for n in _nodes(data) if isinstance(n[0], dict)])
        del container[key]
    elif what == 7:  # deep nesting, in the header's text
        container, key = rng.choice([n for n in _nodes(data) if isinstance(n[0], dict)])
        container[key] = "@@DEEP@@"
        depth = rng.choice([50, 5000, 100_000])
        return json.dumps(spec).replace('"@@DEEP@@"', "[" * depth + "]" * depth)
    elif what == 8:
        spec["kind"] = rng.choice(["bpe", "char", "gpt2", "wordpiece", None, 5])
    elif what == 9:
        vocab = data["model"]["vocab"]
        token = rng.choice(list(vocab))
        new = rng.choice(["<0xZZ>", "a b", "中", "x" * 2000, "", "<0x4"])
        vocab[new] = vocab.pop(token)
        if rng.random() < 0.3:
            vocab[rng.choice(list(vocab))] = rng.choice([-1, 10**9, "3", 0, vocab_size])
    elif what == 10:
        data["model"]["merges"] = data["model"]["merges"] + rng.choice([[["a"]], [5], [["zz", "qq"]], [["a", "b"]] * 5000])
    elif what == 11:
        data["model"].update(rng.choice([{"type": "WordPiece"}, {"dropout": 0.5}, {"unk_token": 5},
                                         {"byte_fallback": "yes"}, {"ignore_merges": True}, {"fuse_unk": True}]))
    elif what == 12:
        data[rng.choice(["padding", "truncation"])] = rng.choice([{"strategy": {"Fixed": 10**9}}, None, 7])
    elif what == 13:
        k, m = rng.randint(1, 8), rng.randint(1, 10)
        data["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"String": "a" * rng.randint(1, 10)}, "content": "a" * m}] * k}
    elif what == 14:  # the header's text itself damaged
        text = json.dumps(spec)
        return rng.choice([text[:rng.randrange(len(text))], text + "}", "[1]", "null", '"text"',
                           "x" * (MAX_SPEC_CHARS + 1) if rng.random() < 0.1 else "{"])
    else:
        data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] != EOT_TEXT] \
            if rng.random() < 0.5 else data["added_tokens"] + [added(EOT_TEXT, 5)]
    return spec


def test_fuzzed_tokenizer_specs_are_refused_with_a_message_or_work_fast_and_small(toks):
    rng = random.Random(19)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    samples = ["a" * 2000 + "b", EOT_TEXT * 50, "子曰：学而时习之 " * 20, " " * 3000, "x\udcff", ""]
    outcomes = {"refused": 0, "accepted": 0}
    for i in range(320):
        kind = rng.choice(["bpe", "char"])
        spec = spec_of(toks[kind])
        for _ in range(rng.choice([1, 1, 2, 3])):
            if not isinstance(spec, dict):
                break
            spec = _mutate(spec, rng, toks[kind].vocab_size)
        start = time.perf_counter()
        try:
            tok = tokenizer_from_spec(spec)
            for text in samples:
                ids = tok.encode(text)
                assert all(0 <= t < tok.vocab_size for t in ids)
            outcomes["accepted"] += 1
        except PocketLLMError:
            outcomes["refused"] += 1
        assert time.perf_counter() - start < REFUSE_SECONDS, (i, str(spec)[:300])
    assert outcomes["refused"] >= 150 and outcomes["accepted"] >= 20, outcomes
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024 < 500  # MB
