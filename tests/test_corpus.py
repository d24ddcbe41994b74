"""Text corpora → cached, memory-mapped token windows; clear messages for bad input."""
import numpy as np
import pytest

from pocketllm import ModelConfig, gpt2_tokenizer

GPT2 = gpt2_tokenizer()
from pocketllm.data import corpus as corpus_mod
from pocketllm.data import load_corpus, tokenize_file
from pocketllm.data.corpus import TokenWindows
from pocketllm.errors import PocketLLMError

TEXT = "From fairest creatures we desire increase,\nThat thereby beauty's rose might never die.\n" * 20


def test_tokens_are_a_memory_mapped_uint16_file_reused_from_the_cache(tmp_path, monkeypatch):
    src = tmp_path / "a.txt"
    src.write_text(TEXT, encoding="utf-8")
    first = tokenize_file(src, tmp_path / "cache", GPT2)
    arr = first.array()
    assert isinstance(arr, np.memmap) and arr.dtype == np.uint16
    assert arr.tolist() == gpt2_tokenizer().encode(TEXT)
    assert first.path.stat().st_size == 2 * first.num_tokens

    def no_encoding(text):
        raise AssertionError("the cache should have been used")
    monkeypatch.setattr(GPT2, "encode", no_encoding)
    again = tokenize_file(src, tmp_path / "cache", GPT2)
    assert again.path == first.path and again.num_tokens == first.num_tokens

    monkeypatch.undo()
    src.write_text(TEXT + "A changed file.\n", encoding="utf-8")  # new content, new key
    changed = tokenize_file(src, tmp_path / "cache", GPT2)
    assert changed.path != first.path and changed.num_tokens > first.num_tokens


def test_split_by_tokens_and_windows_with_a_stride(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text(TEXT, encoding="utf-8")
    c = load_corpus(src, 8, tmp_path / "cache", GPT2, stride=4, val_fraction=0.25)
    n = c.tokens.num_tokens
    assert c.split_at == n - int(n * 0.25)
    all_ids = c.tokens.array()
    inputs, targets = c.train.batch([0, 2])
    assert inputs.tolist() == [all_ids[0:8].tolist(), all_ids[8:16].tolist()]
    assert targets.tolist() == [all_ids[1:9].tolist(), all_ids[9:17].tolist()]
    v_in, _ = c.val.batch([0])
    assert v_in[0].tolist() == all_ids[c.split_at:c.split_at + 8].tolist()
    assert len(c.train) == (c.split_at - 9) // 4 + 1


def test_windows_count_every_full_window():
    w = TokenWindows(np.arange(20, dtype=np.uint16), context_length=5, stride=3)
    assert len(w) == 5  # starts 0, 3, 6, 9, 12; 15 would need tokens up to 21
    x, y = w.batch([4])
    assert x.tolist() == [[12, 13, 14, 15, 16]] and y.tolist() == [[13, 14, 15, 16, 17]]


def test_empty_file(tmp_path):
    src = tmp_path / "empty.txt"
    src.write_bytes(b"")
    with pytest.raises(PocketLLMError, match="empty"):
        load_corpus(src, 8, tmp_path / "cache", GPT2)


def test_gbk_bytes_get_a_message_naming_gb18030(tmp_path):
    src = tmp_path / "gbk.txt"
    src.write_bytes("学而时习之，不亦说乎？有朋自远方来，不亦乐乎？\n".encode("gbk") * 5)
    with pytest.raises(PocketLLMError) as err:
        load_corpus(src, 8, tmp_path / "cache", GPT2)
    assert "UTF-8" in str(err.value) and "GB18030" in str(err.value)


def test_utf8_with_bom_is_accepted_and_the_bom_is_not_a_token(tmp_path):
    plain, bom = tmp_path / "plain.txt", tmp_path / "bom.txt"
    plain.write_bytes(TEXT.encode("utf-8"))
    bom.write_bytes(b"\xef\xbb\xbf" + TEXT.encode("utf-8"))
    a = tokenize_file(plain, tmp_path / "c1", GPT2).array().tolist()
    b = tokenize_file(bom, tmp_path / "c2", GPT2).array().tolist()
    assert a == b


def test_a_corpus_shorter_than_a_window_says_how_many_tokens_and_suggests_a_context(tmp_path):
    src = tmp_path / "short.txt"
    src.write_text(TEXT, encoding="utf-8")
    n = tokenize_file(src, tmp_path / "cache", GPT2).num_tokens
    assert n < 1024
    with pytest.raises(PocketLLMError) as err:
        load_corpus(src, 1024, tmp_path / "cache", GPT2)
    msg = str(err.value)
    assert f"{n:,} tokens" in msg and "--context_length" in msg
    fit = int(msg.split("--context_length ")[1].split()[0])
    assert len(load_corpus(src, fit, tmp_path / "cache", GPT2).val) >= 1  # the suggestion works


def test_unknown_config_key(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text('{"vocab_size": 50257, "context_length": 32, "emb_dim": 32, "num_heads": 4, '
                   '"num_layers": 2, "drop_rate": 0.0, "qkv_bias": true, "n_embd": 32}')
    with pytest.raises(PocketLLMError, match="unknown key.*n_embd"):
        ModelConfig.load(cfg)
