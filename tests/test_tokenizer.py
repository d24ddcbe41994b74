"""The offline GPT-2 tokenizer: known ids, round trips, a damaged vocabulary, no network, no cache."""
import socket
import tempfile
from pathlib import Path

import pytest

import pocketllm.tokenizer.gpt2 as tokmod
from pocketllm import EOT_ID, PocketLLMError, gpt2_tokenizer


@pytest.fixture
def fresh_build():
    """Forget the cached encoding so the test sees it built from scratch, and again afterwards."""
    tokmod.get_encoding.cache_clear()
    tokmod.gpt2_tokenizer.cache_clear()
    yield
    tokmod.get_encoding.cache_clear()
    tokmod.gpt2_tokenizer.cache_clear()


def test_known_ids():
    tok = gpt2_tokenizer()
    assert tok.encode("Hello, world") == [15496, 11, 995]
    assert tok.decode([15496, 11, 995]) == "Hello, world"


def test_vocabulary_size_and_end_of_text():
    tok = gpt2_tokenizer()
    assert tok.vocab_size == 50257 and tok._enc.n_vocab == 50257
    assert EOT_ID == tok.eot_id == 50256
    assert tok.encode("<|endoftext|>") == [50256]
    assert tok.encode("a<|endoftext|>b") == [tok.encode("a")[0], 50256, tok.encode("b")[0]]
    assert tok.decode([50256]) == "<|endoftext|>"


@pytest.mark.parametrize("text", [
    "孙悟空在花果山上自称美猴王。",
    "Mixed 中文 and English, 数字 123 and emoji 🐒🍑!",
    "  leading spaces\n\ttabs and newlines\n\n",
    "",
])
def test_round_trip(text):
    tok = gpt2_tokenizer()
    ids = tok.encode(text)
    assert all(0 <= i < 50257 for i in ids)
    assert tok.decode(ids) == text
    assert tok.encode_batch([text, text]) == [ids, ids]
    assert b"".join(tok.token_bytes(i) for i in ids).decode("utf-8") == text


def test_stream_decoder_never_shows_half_a_character():
    tok = gpt2_tokenizer()
    text = "齐天大圣大闹天宫，🐒 hello 世界"
    ids = tok.encode(text)
    assert len(ids) > len(text.replace(" ", "")) // 2  # GPT-2 splits these characters into pieces
    split = [i for i in ids if b"\xef\xbf\xbd" in tok.decode([i]).encode()]
    assert split, "expected some tokens that are partial UTF-8 on their own"
    decoder = tok.stream_decoder()
    pieces = [decoder.push(i) for i in ids] + [decoder.flush()]
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) == text
    assert "" in pieces  # something was held back until its character was complete


def test_damaged_vocabulary_fails_clearly(tmp_path, monkeypatch, fresh_build):
    data = bytearray(tokmod.ASSET.read_bytes())
    data[1000] ^= 0x01
    damaged = tmp_path / "gpt2.tiktoken"
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(tokmod, "ASSET", damaged)
    with pytest.raises(PocketLLMError, match="damaged.*sha256"):
        tokmod.gpt2_tokenizer()


def test_builds_offline_without_any_cache(tmp_path, monkeypatch, fresh_build):
    def no_network(*args, **kwargs):
        raise AssertionError("the tokenizer tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(cache))
    default_cache = Path(tempfile.gettempdir()) / "data-gym-cache"
    before = sorted(default_cache.iterdir()) if default_cache.is_dir() else None

    tok = tokmod.gpt2_tokenizer()
    assert tok.encode("Hello, world") == [15496, 11, 995]
    assert tok.decode(tok.encode("离线也能用")) == "离线也能用"

    assert list(cache.iterdir()) == []
    after = sorted(default_cache.iterdir()) if default_cache.is_dir() else None
    assert after == before


def test_does_not_go_through_tiktoken_downloads(monkeypatch, fresh_build):
    import tiktoken
    import tiktoken.load

    def refuse(*args, **kwargs):
        raise AssertionError("tiktoken's downloading loader was used")

    monkeypatch.setattr(tiktoken, "get_encoding", refuse)
    monkeypatch.setattr(tiktoken.load, "read_file_cached", refuse)
    monkeypatch.setattr(tiktoken.load, "load_tiktoken_bpe", refuse)
    assert tokmod.gpt2_tokenizer().encode("Hello, world") == [15496, 11, 995]
