"""A tokenizer learned on Chinese learns the words of English messages before a classifier reads them
(tokenizer/grow.py, GPTModel.grow_vocab, classification.grow_vocabulary)."""
import csv
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, PocketLLMError, load_model, save_checkpoint
from pocketllm.tasks.classification import ClassifySettings, classify, grow_vocabulary, prepare_classification
from pocketllm.tokenizer import gpt2_tokenizer, train_tokenizer
from pocketllm.tokenizer.grow import grow_bpe, learn_words, tokens_per_char
from pocketllm.training import TrainSettings

ROOT = Path(__file__).resolve().parent.parent
CHINESE = (ROOT / "data" / "pretrain" / "zh_classics.txt").read_text(encoding="utf-8")[:20000]
HAM = "meeting agenda tomorrow project report budget lunch colleague schedule review".split()
SPAM = "winner prize free cash claim offer click unsubscribe lottery urgent".split()


def messages(n=120, seed=0):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "spam" if i % 2 else "ham"
        words = SPAM if label == "spam" else HAM
        rows.append((label, "hello " + " ".join(rng.choice(words) for _ in range(12))))
    return rows


@pytest.fixture(scope="module")
def chinese_bpe():
    return train_tokenizer([CHINESE], "bpe", 600)


def test_growing_keeps_the_base_text_and_learns_the_new_words(chinese_bpe):
    english = [text for _, text in messages()]
    grown, added = grow_bpe(chinese_bpe, learn_words(english, 200))
    assert added and grown.vocab_size == chinese_bpe.vocab_size + len(added)
    assert [new for new, _, _ in added] == list(range(chinese_bpe.vocab_size, grown.vocab_size))
    for new, left, right in added:  # each new token is the merge of two tokens it had by then
        assert left < new and right < new
        assert grown.token_bytes(new) == grown.token_bytes(left) + grown.token_bytes(right)
    piece = CHINESE[5000:5600]
    assert grown.encode(piece) == chinese_bpe.encode(piece)  # the base's own text: the same ids
    assert tokens_per_char(grown, english) < 0.5 * tokens_per_char(chinese_bpe, english)
    assert grown.decode(grown.encode(english[0])) == english[0]
    assert grown.encode("<|endoftext|>") == [grown.eot_id] == [chinese_bpe.eot_id]


def test_only_a_bpe_tokenizer_grows():
    with pytest.raises(PocketLLMError) as err:
        grow_bpe(gpt2_tokenizer(), learn_words(["hello world " * 30], 10))
    assert err.value.code == "tokenizer.cannot_grow"


@pytest.mark.parametrize("arch, tied", [("gpt2", True), ("llama", False)])  # a tied head and an untied one
def test_the_model_grows_its_rows_from_the_new_tokens_parts(arch, tied):
    torch.manual_seed(0)
    cfg = replace(ModelConfig(vocab_size=20, context_length=16, emb_dim=8, num_heads=2, num_layers=1).with_arch(arch),
                  tie_embeddings=tied)
    model = GPTModel(cfg)
    old_emb, old_head = model.tok_emb.weight.detach().clone(), model.out_head.weight.detach().clone()
    model.grow_vocab(23, [(20, 1, 2), (21, 20, 3), (22, 4, 5)])
    emb = model.tok_emb.weight
    assert model.cfg.vocab_size == 23 and emb.shape == (23, 8)
    assert torch.equal(emb[:20], old_emb)
    assert torch.allclose(emb[20], (old_emb[1] + old_emb[2]) / 2)
    assert torch.allclose(emb[21], (emb[20] + old_emb[3]) / 2)  # a part added just before
    assert model.out_head.weight.shape == (23, 8)
    assert model.is_tied == cfg.tie_embeddings
    if not cfg.tie_embeddings:
        assert torch.equal(model.out_head.weight[:20], old_head)
        assert torch.allclose(model.out_head.weight[20], (old_head[1] + old_head[2]) / 2)
    assert model(torch.tensor([[0, 21, 22]])).shape == (1, 3, 23)
    assert {n for n, p in model.named_parameters() if p.requires_grad} >= {"tok_emb.weight"}


def test_a_classifier_head_stays_when_the_vocabulary_grows():
    model = GPTModel(ModelConfig(vocab_size=20, context_length=16, emb_dim=8, num_heads=2, num_layers=1))
    model.set_classifier_head(3)
    model.grow_vocab(22, [(20, 1, 2), (21, 3, 4)])
    assert model.out_head.weight.shape == (3, 8) and model.tok_emb.weight.shape == (22, 8)


def test_growing_is_automatic_only_when_the_base_spells_the_messages_too_long(chinese_bpe):
    english = [text for _, text in messages()]
    model = GPTModel(ModelConfig(vocab_size=chinese_bpe.vocab_size, context_length=16, emb_dim=8, num_heads=2,
                                 num_layers=1))
    grown, what = grow_vocabulary(model, chinese_bpe, english, None)
    assert what["added"] > 0 and grown.vocab_size == model.cfg.vocab_size == chinese_bpe.vocab_size + what["added"]
    before, after = what["tokens_per_char"]
    assert after < before / 2
    # a base whose tokenizer learned these words already: nothing to add
    english_bpe = train_tokenizer(english * 3, "bpe", 400)
    same, why = grow_vocabulary(model, english_bpe, english, None)
    assert same is english_bpe and why["added"] == 0 and why["why"] == "fits"
    # GPT-2's vocabulary is not grown unless asked; 0 turns growing off
    assert grow_vocabulary(model, gpt2_tokenizer(), english, None)[1] == {"added": 0, "why": "not_bpe"}
    assert grow_vocabulary(model, chinese_bpe, english, 0)[1] == {"added": 0, "why": "off"}
    # too few messages to learn words from: automatic growing stays out of the way; asked for, it says why
    assert grow_vocabulary(model, chinese_bpe, ["hi there", "win cash"], None)[1]["why"] == "too_little_text"
    with pytest.raises(PocketLLMError) as err:
        grow_vocabulary(model, chinese_bpe, ["hi there", "win cash"], 100)
    assert err.value.code == "tokenizer.corpus_too_short" and "training messages" in str(err.value)
    with pytest.raises(PocketLLMError) as err:
        grow_vocabulary(model, gpt2_tokenizer(), english, 100)
    assert err.value.code == "tokenizer.cannot_grow"
    for bad in (-1, 10**6, 2.5, True, "many"):
        with pytest.raises(PocketLLMError) as err:
            grow_vocabulary(model, chinese_bpe, english, bad)
        assert err.value.code == "classify.bad_new_tokens"


def test_a_classifier_from_a_chinese_base_saves_and_reads_with_its_grown_vocabulary(tmp_path, chinese_bpe):
    torch.manual_seed(0)
    base = GPTModel(ModelConfig(vocab_size=chinese_bpe.vocab_size, context_length=64, emb_dim=32, num_heads=4,
                                num_layers=2))
    base_path = save_checkpoint(tmp_path / "base.safetensors", base, tokenizer=chinese_bpe)
    table = tmp_path / "mail.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("label", "text"), *messages()])
    settings = ClassifySettings(
        data_path=str(table), base_model=str(base_path), new_tokens=100, run_dir=str(tmp_path / "run"),
        train=TrainSettings(max_steps=30, batch_size=8, lr=3e-3, warmup_steps=0, eval_every=0, sample_every=0,
                            dtype="fp32"))
    trainer = prepare_classification(settings)
    events = [e.to_dict() for e in trainer.run()]
    results = events[-1]["results"]
    assert results["test_accuracy"] >= 0.9
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["new_tokens"] == 100 and record["data"]["new_tokens"]["added"] > 0
    assert results["new_tokens"] == record["data"]["new_tokens"]  # what the page's report reads
    ckpt = load_model(trainer.model_path)
    assert ckpt.tokenizer.vocab_size == ckpt.config.vocab_size == chinese_bpe.vocab_size + \
        record["data"]["new_tokens"]["added"]
    text = "hello winner prize free cash claim offer"
    assert len(ckpt.tokenizer.encode(text)) < len(chinese_bpe.encode(text)) / 2
    assert classify(ckpt, text, ckpt.task["labels"])["label"] == "spam"
    assert classify(ckpt, "hello meeting agenda tomorrow report", ckpt.task["labels"])["label"] == "ham"


def test_the_page_says_what_the_tokenizer_learned_and_passes_the_choice_on():
    from ui.tabs.classify import new_tokens_choices, new_tokens_value, report_parts
    report = {"accuracy": 0.95, "examples": 700, "macro_f1": 0.95,
              "per_class": {"ham": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 350},
                            "spam": {"precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 350}},
              "confusion_matrix": {"labels": ["ham", "spam"], "rows_true_cols_predicted": [[320, 30], [5, 345]]}}
    grown = {"test": report, "val_accuracy": 0.96, "new_tokens": {"added": 1985, "tokens_per_char": [1.01, 0.4]}}
    zh = str(report_parts(grown, "zh")["results.summary"])
    assert "1,985" in zh and "1.01 → 0.40" in zh and "分词器" in zh
    assert "1,985" not in str(report_parts({**grown, "new_tokens": {"added": 0, "why": "fits"}}, "en")["results.summary"])
    assert new_tokens_value(ClassifySettings().new_tokens) == "auto" and new_tokens_value(0) == "0"
    assert [v for _, v in new_tokens_choices(None)][:2] == ["auto", "0"]
    from pocketllm.tasks.classification import GROW_WHEN, NEW_TOKENS
    from ui.i18n import t
    for lang in ("en", "zh"):  # the automatic choice's words say the core's numbers
        assert f"{NEW_TOKENS:,}" in t(lang, "classify.new_tokens_auto") and f"{GROW_WHEN:g}" in t(lang, "classify.new_tokens_auto")
