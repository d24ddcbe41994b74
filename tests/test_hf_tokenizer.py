"""An imported model's own tokenizer (kind `hf`): `import-hf` reads `tokenizer.json` and
`tokenizer_config.json`, the checkpoint carries them, `export-hf` writes them back.

No download: a small Llama-3-style byte-level BPE is trained here (the Llama 3 split pattern,
`<|begin_of_text|>` / `<|end_of_text|>`), saved beside a tiny random Llama or Qwen3 model."""
from __future__ import annotations

import functools
import json

import pytest
import torch

from pocketllm import PocketLLMError

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
TEMPLATE = ("{% for m in messages %}<|begin_of_text|>{{ m['role'] }}: {{ m['content'] }}<|end_of_text|>"
            "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
CORPUS = ("The cat sat on the mat. It's a sunny day, isn't it? 123 4567 "
          "今天天气很好，我们去公园散步吧。小猫坐在垫子上。语言模型读文本。\n") * 40
TEXTS = ["Hello world, the cat sat on the mat!", "今天天气很好，我们去公园散步吧。",
         "Mixed 中文 and English 12345 — emoji 🙂 and a tab\there.\n\nNew paragraph."]


@functools.cache
def _trained_json() -> str:
    T = tokenizers
    tok = T.Tokenizer(T.models.BPE(ignore_merges=True))
    tok.pre_tokenizer = T.pre_tokenizers.Sequence([
        T.pre_tokenizers.Split(T.Regex(LLAMA3_PATTERN), behavior="isolated"),
        T.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = T.decoders.ByteLevel()
    trainer = T.trainers.BpeTrainer(vocab_size=1000, special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
                                    initial_alphabet=T.pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([CORPUS], trainer)
    tok.post_processor = T.processors.Sequence([
        T.processors.ByteLevel(trim_offsets=False),
        T.processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", 0)])])
    return tok.to_str()


def llama3_style_tokenizer():
    return tokenizers.Tokenizer.from_str(_trained_json())


VOCAB = llama3_style_tokenizer().get_vocab_size()  # as many as the corpus gives (a few hundred)


def model_folder(tmp_path, family: str, rows: int | None = None):
    """A tiny random model with the tokenizer above; `rows` embedding rows (more than the tokens: padded)."""
    tok = llama3_style_tokenizer()
    rows = rows or tok.get_vocab_size()
    common = dict(vocab_size=rows, hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=family == "qwen3")
    torch.manual_seed(0)
    if family == "llama":
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**common))
    else:
        model = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(head_dim=8, **common))
    folder = tmp_path / f"hf-{family}"
    model.save_pretrained(folder)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>",
        "eos_token": {"content": "<|end_of_text|>", "special": True}, "chat_template": TEMPLATE}))
    return folder


def imported(tmp_path, family, rows=None):
    from pocketllm.checkpoint import load_model
    from pocketllm.cli import main
    folder = model_folder(tmp_path, family, rows)
    path = tmp_path / f"{family}.safetensors"
    assert main(["import-hf", "--from", str(folder), "--model_path", str(path)]) == 0
    return folder, path, load_model(path)


@pytest.mark.parametrize("family,rows", [("llama", None), ("qwen3", VOCAB + 24)])
def test_import_carries_the_tokenizer_and_export_writes_it_back(tmp_path, capsys, family, rows):
    from pocketllm.cli import main
    folder, path, ckpt = imported(tmp_path, family, rows)
    said = capsys.readouterr().out
    assert "not carried" not in said
    tok = ckpt.tokenizer
    assert tok.kind == "hf" and tok.vocab_size == VOCAB and ckpt.config.vocab_size == (rows or VOCAB)
    assert tok.eot_id == tok.special_tokens["<|end_of_text|>"] and tok.bos_id == tok.special_tokens["<|begin_of_text|>"]
    assert tok.chat_template == TEMPLATE
    reference = transformers.PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    for text in TEXTS:
        ids = tok.encode(text)
        assert ids == reference.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text
    assert tok.encode("a<|end_of_text|>b")[1] == tok.eot_id  # a special token in the text is that token
    # The valid-UTF-8 rule works on it: bytes per id, padding rows never allowed.
    guard = tok.utf8_guard
    assert guard.mask_for(0, ckpt.config.vocab_size)[VOCAB:].sum() == 0 and guard.allowed[0].any()

    assert main(["generate", "--model_path", str(path), "--prompt", "今天天气", "--max_new_tokens", "12",
                 "--seed", "1"]) == 0
    assert capsys.readouterr().out.strip()

    out = tmp_path / "exported"
    assert main(["export-hf", "--model_path", str(path), "--out_dir", str(out)]) == 0
    back = transformers.AutoTokenizer.from_pretrained(out)
    for text in TEXTS:
        assert back.encode(text, add_special_tokens=False) == tok.encode(text)
    assert back.eos_token == "<|end_of_text|>" and back.chat_template == TEMPLATE
    config = json.loads((out / "config.json").read_text())
    assert config["eos_token_id"] == tok.eot_id and config["bos_token_id"] == tok.bos_id


def test_a_folder_without_tokenizer_json_says_so(tmp_path, capsys):
    from pocketllm.cli import main
    folder = model_folder(tmp_path, "llama")
    (folder / "tokenizer.json").unlink()
    assert main(["import-hf", "--from", str(folder), "--model_path", str(tmp_path / "m.safetensors")]) == 0
    assert "tokenizer.json is not carried" in capsys.readouterr().out


def test_the_spec_round_trips_and_an_unknown_kind_still_says_hf(tmp_path):
    from pocketllm.tokenizer import tokenizer_from_spec
    _, _, ckpt = imported(tmp_path, "llama")
    again = tokenizer_from_spec(json.dumps(ckpt.tokenizer.to_spec()), rows=VOCAB)
    assert again == ckpt.tokenizer and again.encode(TEXTS[2]) == ckpt.tokenizer.encode(TEXTS[2])
    with pytest.raises(PocketLLMError) as info:
        tokenizer_from_spec({"kind": "sentencepiece"})
    assert "hf" in info.value.values["known"]


def test_a_vocabulary_larger_than_the_embedding_is_refused(tmp_path):
    from pocketllm.huggingface import import_hf
    folder = model_folder(tmp_path, "llama", rows=VOCAB)
    config = json.loads((folder / "config.json").read_text())
    data = json.loads((folder / "tokenizer.json").read_text())
    data["added_tokens"].append({"id": VOCAB, "content": "<|extra|>", "single_word": False, "lstrip": False,
                                 "rstrip": False, "normalized": False, "special": True})
    (folder / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(PocketLLMError) as info:
        import_hf(folder)
    assert info.value.code == "tokenizer.refused" and "rows" in str(info.value)
    assert config["vocab_size"] == VOCAB


@pytest.mark.parametrize("change,where", [
    (lambda d: d.update(normalizer={"type": "Lowercase"}), "normalizer"),
    (lambda d: d.update(normalizer={"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "NFKD"}]}),
     "normalizer.normalizers[1]"),
    (lambda d: d["pre_tokenizer"]["pretokenizers"][0]["pattern"].update(Regex="(a+)+$"), "pre_tokenizer"),
])
def test_a_crafted_tokenizer_json_is_refused(tmp_path, change, where):
    from pocketllm.huggingface import import_hf
    folder = model_folder(tmp_path, "qwen3")
    data = json.loads((folder / "tokenizer.json").read_text())
    change(data)
    (folder / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(PocketLLMError) as info:
        import_hf(folder)
    assert info.value.code == "tokenizer.refused" and where in str(info.value)


def test_no_end_of_text_token_and_a_huge_template_are_refused(tmp_path):
    from pocketllm.tokenizer import hf_tokenizer_from_json
    data = json.loads(llama3_style_tokenizer().to_str())
    for entry in data["added_tokens"]:
        entry["content"] = entry["content"].replace("end_of_text", "stop")
    vocab = data["model"]["vocab"]
    vocab["<|stop|>"] = vocab.pop("<|end_of_text|>")
    with pytest.raises(PocketLLMError) as info:
        hf_tokenizer_from_json(data, {})
    assert info.value.code == "tokenizer.no_end_of_text"
    assert hf_tokenizer_from_json(data, {"eos_token": "<|stop|>"}).eot_id == 1
    with pytest.raises(PocketLLMError) as info:
        hf_tokenizer_from_json(data, {"eos_token": "<|stop|>", "chat_template": "x" * (1 << 20)})
    assert info.value.code == "tokenizer.template_too_long"


def test_a_qwen_style_tokenizer_reads_as_transformers_does(tmp_path):
    """Qwen2/3's parts: an NFC normalizer, Qwen's split pattern (single digits), <|im_start|>/<|im_end|>
    added tokens and eos_token <|im_end|>."""
    from pocketllm.tokenizer import hf_tokenizer_from_json
    from pocketllm.tokenizer.spec_check import KNOWN_PATTERNS
    qwen = next(p for p in KNOWN_PATTERNS if r"\p{N}|" in p)
    T = tokenizers
    tok = T.Tokenizer(T.models.BPE())
    tok.normalizer = T.normalizers.NFC()
    tok.pre_tokenizer = T.pre_tokenizers.Sequence([
        T.pre_tokenizers.Split(T.Regex(qwen), behavior="isolated"),
        T.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = T.decoders.ByteLevel()
    tok.post_processor = T.processors.ByteLevel(trim_offsets=False)
    trainer = T.trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                    initial_alphabet=T.pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([CORPUS], trainer)
    tok.save(str(tmp_path / "tokenizer.json"))
    ours = hf_tokenizer_from_json(json.loads(tok.to_str()), {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
                                  rows=tok.get_vocab_size() + 7)
    assert ours.eot_id == 2 and ours.chat_template is None
    reference = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    for text in [*TEXTS, "<|im_start|>user\n你好 2024<|im_end|>"]:
        assert ours.encode(text) == reference.encode(text, add_special_tokens=False)
        assert ours.decode(ours.encode(text)) == text


# Qwen3's chat format as its template renders it (the parts PocketLLM writes): each message between
# <|im_start|>role and <|im_end|>; the answer to come after an empty think block when thinking is off.
QWEN3_STYLE_TEMPLATE = (
    "{%- for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}")


@pytest.mark.parametrize("own, name, thinking", [(QWEN3_STYLE_TEMPLATE.replace("<think>", "<x>"), "chatml", None),
                                                   (QWEN3_STYLE_TEMPLATE, "qwen3", False)])
def test_an_imported_qwens_chat_is_in_its_own_format(tmp_path, own, name, thinking):
    from pocketllm.chat import chat_prompt
    from pocketllm.data.instructions import PromptTemplate
    from pocketllm.tasks.instruction import template_of
    from pocketllm.tokenizer import hf_tokenizer_from_json
    T = tokenizers
    tok = T.Tokenizer(T.models.BPE())
    tok.pre_tokenizer = T.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = T.decoders.ByteLevel()
    trainer = T.trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                    initial_alphabet=T.pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([CORPUS], trainer)
    tok.save(str(tmp_path / "tokenizer.json"))
    ours = hf_tokenizer_from_json(json.loads(tok.to_str()), {"eos_token": "<|im_end|>", "chat_template": own},
                                  rows=tok.get_vocab_size())
    template = template_of({"type": "pretrain"}, ours)
    assert template.name == name
    assert template_of({"type": "pretrain"}, None).name == "alpaca"  # a model with no chat format of its own
    history, message = [("hi", "yo"), ("你好", "好")], "again"
    mine = chat_prompt(ours, template, history, message, 4096, 10).text
    reference = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    reference.chat_template = own
    messages = [m for user, answer in history for m in ({"role": "user", "content": user},
                                                        {"role": "assistant", "content": answer})]
    extra = {} if thinking is None else {"enable_thinking": thinking}
    want = reference.apply_chat_template(messages + [{"role": "user", "content": message}], tokenize=False,
                                         add_generation_prompt=True, **extra)
    assert mine == want
    # <|im_start|> / <|im_end|> are read as their single special tokens, as transformers reads them
    assert ours.encode(mine) == reference.encode(mine, add_special_tokens=False)
    assert PromptTemplate.from_dict(template.to_dict()) == template  # kept in an instruct checkpoint as data
