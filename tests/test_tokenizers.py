"""Every model carries its tokenizer: gpt2, bpe and char kinds; never a broken character."""
import codecs
import json
import math
import random
from pathlib import Path

import pytest
import torch

from pocketllm import (GPTModel, ModelConfig, PocketLLMError, Sampling, generate, generate_ids, gpt2_tokenizer,
                       inspect, load_model, read_header, save_checkpoint, tokenizer_from_spec, train_tokenizer)
from pocketllm.cli import main
from pocketllm.data import load_corpus
from pocketllm.tokenizer.utf8 import INVALID, state_after
from pocketllm.training import read_events

ROOT = Path(__file__).resolve().parent.parent
ZH = (ROOT / "data" / "pretrain" / "zh_classics.txt").read_text(encoding="utf-8")
TEXTS = ["子曰：学而时习之，不亦说乎？", "To be, or not to be: that is the question.",
         "emoji 🐒🍑 and 龘 (never seen)", "混合 mixed 文本\n\n\twith tabs<|endoftext|>after", ""]


@pytest.fixture(scope="module")
def kinds():
    train = ZH[:60000]
    return {"gpt2": gpt2_tokenizer(), "bpe": train_tokenizer([train], "bpe", 600),
            "char": train_tokenizer([train], "char", 800)}


def tiny_model(vocab, seed=0, context=64):
    torch.manual_seed(seed)
    return GPTModel(ModelConfig(vocab_size=vocab, context_length=context, emb_dim=32, num_heads=2, num_layers=2,
                                drop_rate=0.0)).eval()


# ---- the kinds ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["gpt2", "bpe", "char"])
@pytest.mark.parametrize("text", TEXTS)
def test_each_kind_round_trips_chinese_english_emoji_and_mixed_text(kinds, kind, text):
    tok = kinds[kind]
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text
    assert b"".join(tok.token_bytes(i) for i in ids) == text.encode("utf-8")
    if "<|endoftext|>" in text:
        assert tok.eot_id in ids


def test_trained_vocabularies_have_the_size_asked_for_and_read_chinese_as_characters(kinds):
    assert kinds["bpe"].vocab_size == 600 and kinds["char"].vocab_size == 800
    assert len(kinds["char"].encode("子曰学而")) == 4  # one token per character it knows
    assert len(kinds["gpt2"].encode("子曰学而")) > 4  # GPT-2 needs byte pieces
    # a character the char vocabulary never saw is spelled as its UTF-8 bytes, not lost
    assert len(kinds["char"].encode("龘")) == 3


@pytest.mark.parametrize("kind", ["gpt2", "bpe", "char"])
def test_a_checkpoint_saved_with_each_kind_reloads_with_an_identical_tokenizer(kinds, kind, tmp_path):
    tok = kinds[kind]
    path = save_checkpoint(tmp_path / "m.safetensors", tiny_model(tok.vocab_size), tokenizer=tok)
    ckpt = load_model(path)
    assert ckpt.tokenizer == tok and ckpt.tokenizer.kind == kind
    assert ckpt.tokenizer.encode(TEXTS[3]) == tok.encode(TEXTS[3])
    assert read_header(path)["tokenizer"] == kind
    assert tokenizer_from_spec(tok.to_spec()) == tok


def test_older_checkpoints_read_as_gpt2(tmp_path):
    path = save_checkpoint(tmp_path / "old.safetensors", tiny_model(50257))  # no tokenizer in the header
    assert load_model(path).tokenizer.kind == "gpt2"


def test_a_tokenizer_that_does_not_match_the_embedding_is_refused(kinds, tmp_path):
    with pytest.raises(PocketLLMError, match="600 tokens but the model's embedding has 700 rows"):
        save_checkpoint(tmp_path / "m.safetensors", tiny_model(700), tokenizer=kinds["bpe"])
    # a header edited to pair weights with another tokenizer
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open
    path = save_checkpoint(tmp_path / "ok.safetensors", tiny_model(600), tokenizer=kinds["bpe"])
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    meta["tokenizer"] = json.dumps(kinds["char"].to_spec())
    save_file(load_file(str(path)), str(tmp_path / "bad.safetensors"), metadata=meta)
    with pytest.raises(PocketLLMError, match="800 tokens but the model's embedding has 600 rows"):
        load_model(tmp_path / "bad.safetensors")
    meta["tokenizer"] = '{"kind": "bpe", "tokenizer_json": {"nonsense": 1}}'
    save_file(load_file(str(path)), str(tmp_path / "damaged.safetensors"), metadata=meta)
    with pytest.raises(PocketLLMError, match="damaged"):
        load_model(tmp_path / "damaged.safetensors")


@pytest.mark.parametrize("kind, size, words", [
    ("bpe", 100, "too small"), ("char", 257, "too small"), ("bpe", 70000, "16-bit"), ("gpt2", 4000, "fixed"),
    ("wordpiece", None, "Unknown tokenizer kind")])
def test_bad_vocabulary_sizes_and_kinds_get_a_clear_message(kind, size, words):
    with pytest.raises(PocketLLMError, match=words):
        train_tokenizer([ZH[:5000]], kind, size)


def test_a_corpus_too_small_for_a_vocabulary_says_so():
    with pytest.raises(PocketLLMError, match=r"only 13 character\(s\).*at least 200"):
        train_tokenizer(["子曰：学而时习之，不亦说乎"], "bpe", 1000)


# ---- never a broken character -------------------------------------------------------

def test_the_utf8_state_machine_agrees_with_pythons_decoder():
    rng = random.Random(0)
    pool = [b"\x41", b"\xc3", b"\xa9", b"\xe5", b"\xad", b"\x90", b"\xe0", b"\xa0", b"\x80", b"\xed", b"\x9f",
            b"\xf0", b"\x9f", b"\x90", b"\x92", b"\xf4", b"\x8f", b"\xbf", b"\xc0", b"\xff"]
    for _ in range(3000):
        data = b"".join(rng.choice(pool) for _ in range(rng.randint(1, 6)))
        try:
            data.decode("utf-8")
            complete = True
        except UnicodeDecodeError:
            complete = False
        state = state_after(data)
        assert (state == 0) == complete, data
        if state not in (0, INVALID):  # a valid prefix: some continuation completes it
            assert any(state_after(data + bytes([b]) * k) == 0 for b in range(0x80, 0xC0) for k in (1, 2, 3))


@pytest.mark.parametrize("kind", [pytest.param("gpt2", marks=pytest.mark.slow), "bpe", "char"])
def test_500_tokens_from_an_untrained_model_at_temperature_1_5_have_no_broken_character(kinds, kind):
    tok = kinds[kind]
    model = tiny_model(tok.vocab_size, seed=1, context=520)  # the cache holds it all: fast
    with torch.no_grad():  # make byte pieces likely, as in a barely trained model
        for i in range(tok.vocab_size):
            if len(tok.token_bytes(i)) == 1 and tok.token_bytes(i)[0] >= 0x80:
                model.tok_emb.weight[i] *= 3
    on = generate(model, "子曰：", 500, Sampling(temperature=1.5, seed=0), tokenizer=tok)
    assert "\ufffd" not in on and len(on) > 50
    ids = list(generate_ids(model, tok.encode("子曰："), 500, Sampling(temperature=1.5, seed=0, valid_utf8=True),
                            stop_ids=(), tokenizer=tok))
    strict = codecs.getincrementaldecoder("utf-8")(errors="strict")  # raises on a broken byte
    assert strict.decode(b"".join(tok.token_bytes(i) for i in ids), final=False)
    off = generate(model, "子曰：", 500, Sampling(temperature=1.5, seed=0, valid_utf8=False), tokenizer=tok)
    assert "\ufffd" in off  # the old behaviour, for comparison


def test_greedy_output_is_unchanged_where_it_was_valid_text(kinds):
    tok = kinds["gpt2"]
    model = tiny_model(tok.vocab_size, seed=2)
    prompt = tok.encode("Hello there")
    plain = list(generate_ids(model, prompt, 30, Sampling(valid_utf8=False), stop_ids=(), tokenizer=tok))
    guarded = list(generate_ids(model, prompt, 30, Sampling(), stop_ids=(), tokenizer=tok))
    text = b"".join(tok.token_bytes(i) for i in plain)
    try:
        text.decode("utf-8")
        assert guarded == plain
    except UnicodeDecodeError:  # where the plain output breaks, the guarded one differs from there on
        assert guarded != plain


def test_look_inside_marks_the_candidates_the_rule_removed(kinds):
    tok = kinds["gpt2"]
    model = tiny_model(tok.vocab_size, seed=3)
    lone = next(i for i in range(256) if tok.token_bytes(i) == b"\xa9")  # the second byte of é (c3 a9)
    with torch.no_grad():  # make that lone continuation byte the model's favourite after "Hi"
        hidden = model.features(torch.tensor([tok.encode("Hi")]))[0, -1]
        model.out_head.weight[lone] = hidden / hidden.norm() * 40
    res = inspect.next_token(model, "Hi", Sampling(temperature=1.0), n=5, tokenizer=tok)
    top = res.candidates[0]
    assert top.id == lone and not top.kept and top.cut_by == "utf8"
    assert res.utf8_removed > 0 and res.utf8_removed_mass >= top.prob
    off = inspect.next_token(model, "Hi", Sampling(temperature=1.0, valid_utf8=False), n=5, tokenizer=tok)
    assert off.candidates[0].kept and off.utf8_removed == 0


def test_look_inside_shows_whole_characters_for_a_char_model(kinds):
    view = inspect.tokens("子曰学而之", kinds["char"])
    assert view.labels == list("子曰学而之") and not any(t.partial for t in view.tokens)
    gpt2_view = inspect.tokens("学而时习之", kinds["gpt2"])
    assert any(t.partial for t in gpt2_view.tokens)


# ---- bits per character ---------------------------------------------------------------

def test_bits_per_char_is_loss_times_tokens_over_characters_over_ln2(tmp_path, kinds):
    src = tmp_path / "t.txt"
    src.write_text(ZH[:4000], encoding="utf-8")
    corpus = load_corpus(src, 16, tmp_path / "cache", kinds["gpt2"], val_fraction=0.25)
    val_chars = 4000 - (4000 - int(4000 * 0.25))
    val_tokens = corpus.tokens.num_tokens - corpus.split_at
    assert corpus.tokens.val_chars == val_chars
    assert corpus.bits_per_char(2.0) == pytest.approx(2.0 * val_tokens / val_chars / math.log(2))
    # the same text under a char vocabulary: about one token per character
    char = load_corpus(src, 16, tmp_path / "cache", kinds["char"], val_fraction=0.25)
    assert 1.0 <= char.tokens_per_char("val") < corpus.tokens_per_char("val")
    assert char.tokens.path != corpus.tokens.path  # the cache is keyed by the tokenizer too


# ---- end to end, from the command line ---------------------------------------------------

@pytest.fixture
def zh_files(tmp_path):
    (tmp_path / "zh.txt").write_text(ZH[:30000], encoding="utf-8")
    (tmp_path / "tiny.json").write_text(json.dumps(dict(
        vocab_size=50257, context_length=32, emb_dim=32, num_heads=2, num_layers=2, drop_rate=0.0, qkv_bias=True)))
    rows = ["label,text"] + [f"{'spam' if i % 2 else 'ham'},{'免费领奖 点击链接' if i % 2 else '明天一起吃饭吧'}{i}"
                             for i in range(40)]
    (tmp_path / "msgs.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    recs = [{"instruction": "把这句话重复一遍", "input": f"子曰{i}", "output": f"子曰{i}"} for i in range(20)]
    (tmp_path / "inst.json").write_text(json.dumps(recs, ensure_ascii=False), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("kind, size", [("bpe", "500"), ("char", "600")])
def test_pretrain_generate_inspect_finetune_export_with_a_trained_tokenizer(zh_files, kind, size, capsys):
    t = zh_files
    model = t / f"{kind}.safetensors"
    # (a 128-token context: an instruction's template must fit with room for the answer)
    assert main(["pretrain", "--config", str(t / "tiny.json"), "--context_length", "128", "--data_path", str(t / "zh.txt"),
                 "--tokenizer", kind, "--vocab_size", size, "--model_path", str(model), "--run_dir", str(t / "run"),
                 "--max_steps", "4", "--batch_size", "2", "--eval_every", "2", "--eval_batches", "2",
                 "--sample_every", "0", "--dtype", "fp32", "--threads", "1", "--quiet"]) == 0
    out = capsys.readouterr()
    assert "val bits/char" in out.out + out.err
    ckpt = load_model(model)
    assert ckpt.tokenizer.kind == kind and ckpt.tokenizer.vocab_size == int(size) == ckpt.config.vocab_size
    assert ckpt.facts["tokenizer"] == kind and ckpt.facts["val_bits_per_char"] > 0
    evals = [e for e in read_events(t / "run" / "events.jsonl") if e["kind"] == "eval"]
    assert evals and all(e["val_bits_per_char"] == pytest.approx(e["val"]["bits_per_char"]) for e in evals)
    # the tokenizer learned only from the training part (the last 10% of characters is held out)
    if kind == "char":
        held_out_only = set(ZH[27000:30000]) - set(ZH[:27000])
        assert held_out_only and all(len(ckpt.tokenizer.encode(ch)) > 1 for ch in held_out_only)

    assert main(["generate", "--model_path", str(model), "--prompt", "子曰：", "--max_new_tokens", "40",
                 "--temperature", "1.5", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("子曰：") and "\ufffd" not in text

    assert main(["inspect", "--model_path", str(model), "--prompt", "学而时习之", "--what", "tokens"]) == 0
    assert "学" in capsys.readouterr().out

    assert main(["classify-train", "--base_model", str(model), "--data_path", str(t / "msgs.csv"),
                 "--model_path", str(t / "cls.safetensors"), "--run_dir", str(t / "cls"), "--max_steps", "2",
                 "--batch_size", "4", "--dtype", "fp32", "--threads", "1", "--quiet"]) == 0
    reads = load_model(t / "cls.safetensors").tokenizer
    assert reads.encode(ZH[:500]) == ckpt.tokenizer.encode(ZH[:500])  # a finetuned model reads the base's text alike
    if kind == "char":
        assert reads == ckpt.tokenizer  # kept as it is
    else:  # a bpe learnt on the classics spells these modern messages too long: it learned their words first
        assert reads.vocab_size > ckpt.tokenizer.vocab_size
    assert main(["classify", "--model_path", str(t / "cls.safetensors"), "--text", "免费领奖"]) == 0

    # (the short template: alpaca's English head, spelled by a tokenizer that learnt Chinese, fills the context)
    assert main(["instruct-train", "--base_model", str(model), "--data_path", str(t / "inst.json"),
                 "--model_path", str(t / "inst.safetensors"), "--run_dir", str(t / "inst"), "--max_steps", "2",
                 "--batch_size", "2", "--test_generate", "2", "--dtype", "fp32", "--threads", "1", "--quiet",
                 "--template", "short"]) == 0
    assert json.loads((t / "inst" / "run.json").read_text())["data"]["no_answer"] == 0
    assert load_model(t / "inst.safetensors").tokenizer == ckpt.tokenizer
    capsys.readouterr()

    assert main(["export-hf", "--model_path", str(model), "--out_dir", str(t / "hf")]) == 0
    assert (t / "hf" / "tokenizer.json").is_file()


@pytest.mark.parametrize("kind", ["bpe", "char", "gpt2"])
def test_exported_model_and_tokenizer_reproduce_greedy_output_in_transformers(kinds, kind, tmp_path):
    transformers = pytest.importorskip("transformers")
    tok = kinds[kind]
    model = tiny_model(tok.vocab_size, seed=4)
    path = save_checkpoint(tmp_path / "m.safetensors", model, tokenizer=tok)
    from pocketllm import export_hf
    export_hf(load_model(path), tmp_path / "hf")
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    hf_model = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    prompt = "子曰：学而时习之"
    ids = hf_tok(prompt, add_special_tokens=False)["input_ids"]
    assert ids == tok.encode(prompt)
    ours = list(generate_ids(load_model(path), ids, 20, Sampling(valid_utf8=False), stop_ids=()))
    with torch.no_grad():
        theirs = hf_model.generate(torch.tensor([ids]), max_new_tokens=20, min_new_tokens=20, do_sample=False,
                                   pad_token_id=tok.eot_id)[0, len(ids):].tolist()
    assert ours == theirs
    assert hf_tok.decode(theirs) == tok.decode(theirs)


def test_tokenizer_command_trains_on_the_corpus_and_shows_the_pieces(tmp_path, capsys):
    src = tmp_path / "zh.txt"
    src.write_text(ZH[:20000], encoding="utf-8")
    assert main(["tokenizer", "--data_path", str(src), "--kind", "bpe", "--vocab_size", "400",
                 "--text", "子曰：学而时习之"]) == 0
    out = capsys.readouterr().out
    assert "400 tokens" in out and "tokens per character" in out
    pieces = out.strip().splitlines()[-1].split(" | ")
    assert len(pieces) < 8 * 2  # fewer tokens than GPT-2's 16 for these 8 characters
    assert main(["tokenizer", "--data_path", str(src), "--kind", "bpe", "--vocab_size", "100"]) == 2
    assert "too small" in capsys.readouterr().err
