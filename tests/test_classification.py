"""Classification: reading tables, batches that never read a pad, training, metrics, CLI."""
import json

import pytest
import torch

from pocketllm import gpt2_tokenizer

from pocketllm import GPTModel, ModelConfig, PocketLLMError, load_model, save_checkpoint
from pocketllm.cli import main
from pocketllm.data.tables import read_table, stratified_split, undersample
from pocketllm.tasks.classification import (ClassifySettings, class_logits, classification_report,
                                            classify, collate_classes, encode_texts, prepare_classification,
                                            set_trainable)
from pocketllm.training.trainer import TrainSettings

TINY = dict(vocab_size=50257, context_length=64, emb_dim=32, num_heads=4, num_layers=2, drop_rate=0.0, qkv_bias=True)
# The class word comes last, so even an untrained model has it at the position read.
GOOD = ["good", "great", "lovely", "nice", "happy", "fine"]
BAD = ["awful", "terrible", "bad", "horrible", "sad", "poor"]
PREFIXES = ["it is", "so", "really", "the day was", "quite", "all", "we felt", "that was"]


@pytest.fixture
def tiny_json(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def separable_csv(tmp_path, copies=8):
    rows = [f"{label},{p} {w}" for p in PREFIXES[:copies] for label, words in (("pos", GOOD), ("neg", BAD))
            for w in words]
    return write(tmp_path, "sep.csv", "label,text\n" + "\n".join(rows) + "\n")


# ---- tables ------------------------------------------------------------------------------

def test_uci_style_tsv_without_header_is_detected(tmp_path):
    text = ("ham\tOk lar... Joking wif u oni...\n"
            "spam\tFree entry in 2 a wkly comp to win FA Cup final tkts, text FA to 87121\n"
            'ham\t"Wah lucky man... Then can save money... Hee..."\n'
            'ham\tHe said "hi, there\n'   # a stray quote must not swallow the next lines
            "spam\tWINNER!! As a valued network customer you have been selected\n")
    table = read_table(write(tmp_path, "SMSSpamCollection", text))
    assert table.delimiter == "\t" and not table.header
    assert (table.text_column, table.label_column) == ("column 1", "column 0")
    assert table.columns == ["column 0", "column 1"]
    assert table.labels == ["ham", "spam"] and table.balance() == {"ham": 3, "spam": 2}
    assert table.texts[2] == "Wah lucky man... Then can save money... Hee..."
    assert table.texts[3] == 'He said "hi, there'


def test_unquoted_commas_in_a_last_text_column_are_kept(tmp_path):
    text = "ham,Ok lar, joking wif u oni\nspam,Free entry, win now, text WIN\nham,see you\nspam,cash prize\n"
    table = read_table(write(tmp_path, "sms.csv", text))
    assert table.texts[:2] == ["Ok lar, joking wif u oni", "Free entry, win now, text WIN"]


def test_csv_with_header_columns_found_in_any_order_and_by_override(tmp_path):
    text = "id,message,category\n" + "\n".join(
        f'{i},"a somewhat longer message, number {i}",{"b" if i % 3 else "a"}' for i in range(9))
    path = write(tmp_path, "t.csv", text)
    table = read_table(path)
    assert table.header and (table.text_column, table.label_column) == ("message", "category")
    assert table.columns == ["id", "message", "category"] == table.subset([0]).columns
    assert table.labels == ["a", "b"] and table.texts[0] == "a somewhat longer message, number 0"
    by_index = read_table(path, text_column="1", label_column=2)
    assert by_index.label_ids == table.label_ids
    with pytest.raises(PocketLLMError, match="No column named 'topic'"):
        read_table(path, label_column="topic")
    with pytest.raises(PocketLLMError, match="out of range"):
        read_table(path, text_column=7)


def test_rows_without_text_or_label_are_dropped_and_counted(tmp_path):
    text = "label,text\nspam,buy now\nham,\nham,   \n,orphan text\nham,see you\nspam,cheap pills\n\n"
    table = read_table(write(tmp_path, "d.csv", text))
    assert len(table) == 3
    assert table.dropped == {"empty text": 2, "missing label": 1}
    assert table.summary()["dropped"] == {"empty text": 2, "missing label": 1}


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("label,text\nham,hello there\nham,how are you\nham,fine thanks\n", "two classes"),
    ("a,b\n1,2\n3,4\n1,5\n3,6\n", "no text column"),
    ("just one column\nanother line\nthird line\n", "label column and a text column|two columns"),
])
def test_bad_tables_get_clear_messages(tmp_path, text, message):
    with pytest.raises(PocketLLMError, match=message):
        read_table(write(tmp_path, "bad.csv", text))


def test_non_utf8_table_names_the_encoding(tmp_path):
    path = write(tmp_path, "gbk.csv", "label,text\n垃圾,免费领取大奖\n正常,今天开会\n", encoding="gb18030")
    with pytest.raises(PocketLLMError, match="not UTF-8.*GB"):
        read_table(path)


def test_stratified_split_keeps_proportions_and_is_seeded():
    labels = [0] * 70 + [1] * 30
    train, val, test = stratified_split(labels, (0.7, 0.1, 0.2), seed=3)
    assert sorted(train + val + test) == list(range(100))
    assert [sum(labels[i] for i in part) for part in (train, val, test)] == [21, 3, 6]
    assert (train, val, test) == tuple(stratified_split(labels, (0.7, 0.1, 0.2), seed=3))
    assert train != stratified_split(labels, (0.7, 0.1, 0.2), seed=4)[0]
    kept = undersample(labels, seed=1)
    assert sum(labels[i] == 0 for i in kept) == sum(labels[i] == 1 for i in kept) == 30


# ---- batches and the model ---------------------------------------------------------------

def test_batches_pad_to_the_longest_message_not_the_context():
    batch = collate_classes([[5, 6, 7], [8]], [1, 0])
    assert batch["inputs"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["lengths"].tolist() == [3, 1] and batch["labels"].tolist() == [1, 0]
    tok = gpt2_tokenizer()
    assert encode_texts(["a b c d e f g h"], 3, tok)[0] == encode_texts(["a b c"], 3, tok)[0]  # start kept


def test_prediction_is_the_same_with_0_and_50_pad_tokens():
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(**TINY)).set_classifier_head(3).eval()
    short, long = encode_texts(["hello there", "word " * 60], max_length=64, tokenizer=gpt2_tokenizer())
    assert len(long) - len(short) >= 50
    with torch.no_grad():
        alone = collate_classes([short])
        together = collate_classes([short, long])
        a = class_logits(model, alone["inputs"], alone["lengths"])[0]
        b = class_logits(model, together["inputs"], together["lengths"])[0]
    assert (together["inputs"][0][len(short):] == 0).sum() >= 50
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("spec, trainable_prefixes", [
    ("head", ("out_head",)),
    ("last:1", ("out_head", "final_norm", "trf_blocks.1.")),
    ("2", ("out_head", "final_norm", "trf_blocks.")),
    ("all", ("",)),
])
def test_trainable_choices(spec, trainable_prefixes):
    model = GPTModel(ModelConfig(**TINY)).set_classifier_head(2)
    info = set_trainable(model, spec)
    for name, p in model.named_parameters():
        assert p.requires_grad == name.startswith(trainable_prefixes), name
    assert info["trainable_parameters"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    with pytest.raises(PocketLLMError, match="trainable"):
        set_trainable(model, "some")


def test_report_metrics_and_confusion_matrix():
    r = classification_report([0, 1, 1, 1, 2, 0], [0, 1, 0, 1, 2, 2], ["a", "b", "c"])
    assert r["confusion_matrix"]["rows_true_cols_predicted"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["per_class"]["b"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8),
                                   "support": 2}


# ---- training runs ------------------------------------------------------------------------

def test_classifier_learns_a_separable_set_in_a_few_steps(tmp_path, tiny_json):
    settings = ClassifySettings(
        data_path=str(separable_csv(tmp_path)), config=str(tiny_json), split=(0.5, 0.25, 0.25),
        run_dir=str(tmp_path / "run"),
        train=TrainSettings(epochs=10, max_steps=12, batch_size=8, lr=3e-3, warmup_steps=0, eval_every=6,
                            eval_batches=2, sample_every=0, seed=1, dtype="fp32"))
    trainer = prepare_classification(settings)
    events = [e.to_dict() for e in trainer.run()]
    evals = [e for e in events if e["kind"] == "eval"]
    assert evals and {"loss", "accuracy"} <= set(evals[-1]["val"]) and {"loss", "accuracy"} <= set(evals[-1]["train"])
    results = events[-1]["results"]
    assert results["test_accuracy"] >= 0.9 and results["test"]["confusion_matrix"]["labels"] == ["neg", "pos"]
    assert json.loads((tmp_path / "run" / "results.json").read_text())["test_accuracy"] == results["test_accuracy"]
    ckpt = load_model(trainer.model_path)
    assert ckpt.task == {"type": "classify", "labels": ["neg", "pos"]}
    texts = [f"{p} {w}" for p in PREFIXES for w in GOOD + BAD]
    out = classify(ckpt.model, texts, ckpt.task["labels"])  # the reloaded checkpoint, as a user runs it
    truth = ["pos" if t.split()[-1] in GOOD else "neg" for t in texts]
    assert sum(o["label"] == t for o, t in zip(out, truth)) / len(texts) >= 0.9
    assert all(set(o["probs"]) == {"neg", "pos"} and sum(o["probs"].values()) == pytest.approx(1) for o in out)


def test_lora_classifier_trains_adapters_and_head_only(tmp_path, tiny_json):
    torch.manual_seed(0)
    base = save_checkpoint(tmp_path / "base.safetensors", GPTModel(ModelConfig(**TINY)))
    settings = ClassifySettings(
        data_path=str(separable_csv(tmp_path, copies=2)), base_model=str(base), trainable="lora", lora_rank=2,
        run_dir=str(tmp_path / "run"),
        train=TrainSettings(max_steps=2, batch_size=4, eval_every=0, sample_every=0, dtype="fp32"))
    trainer = prepare_classification(settings)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable == {n for n in before if "lora_" in n or n.startswith("out_head")}
    list(trainer.run())
    adapters = tmp_path / "run" / "model.lora.safetensors"
    assert adapters.is_file()
    ckpt = load_model(trainer.model_path)  # merged: a plain classifier checkpoint
    base_model = load_model(base).model
    changed = [n for n, p in ckpt.model.named_parameters()
               if not n.startswith("out_head") and not torch.equal(p, base_model.state_dict()[n])]
    assert changed and all(n.endswith(("W_query.weight", "W_key.weight", "W_value.weight", "out_proj.weight",
                                       "layers.0.weight", "layers.2.weight")) for n in changed)


def test_base_that_does_not_fit_gets_a_clear_message(tmp_path, tiny_json):
    data = separable_csv(tmp_path, copies=1)
    other = GPTModel(ModelConfig(**TINY)).set_classifier_head(3)
    clf = save_checkpoint(tmp_path / "clf.safetensors", other, {"type": "classifier", "labels": ["x", "y", "z"]})
    with pytest.raises(PocketLLMError, match="already a classifier for"):
        prepare_classification(ClassifySettings(data_path=str(data), base_model=str(clf), run_dir=str(tmp_path / "r1")))
    lm = save_checkpoint(tmp_path / "lm.safetensors", GPTModel(ModelConfig(**TINY)))
    with pytest.raises(PocketLLMError, match="does not have the shape of --config"):
        prepare_classification(ClassifySettings(data_path=str(data), base_model=str(lm), config="cpu-tiny",
                                                run_dir=str(tmp_path / "r2")))


def test_existing_checkpoint_is_not_overwritten_unless_asked(tmp_path, tiny_json):
    target = tmp_path / "mine.safetensors"
    target.write_bytes(b"precious")
    settings = ClassifySettings(data_path=str(separable_csv(tmp_path, copies=1)), config=str(tiny_json),
                                model_path=str(target), run_dir=str(tmp_path / "run"))
    with pytest.raises(PocketLLMError, match="already exists"):
        prepare_classification(settings)
    assert target.read_bytes() == b"precious"
    settings.overwrite = True
    assert prepare_classification(settings).model_path == target


def test_cli_classify_train_then_classify(tmp_path, tiny_json, capsys):
    model_path = tmp_path / "clf.safetensors"
    rc = main(["classify-train", "--config", str(tiny_json), "--data_path", str(separable_csv(tmp_path)),
               "--model_path", str(model_path), "--run_dir", str(tmp_path / "run"), "--max_steps", "4",
               "--lr", "3e-3", "--eval_every", "0", "--dtype", "fp32", "--quiet", "--split", "0.5,0.25,0.25"])
    out = capsys.readouterr().out
    assert rc == 0 and model_path.is_file()
    assert "classes: neg 48, pos 48" in out and "test accuracy:" in out and "confusion matrix" in out
    assert main(["classify", "--model_path", str(model_path), "--text", "really great"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(("pos", "neg")) and "neg 0." in line and "pos 0." in line
    assert main(["classify-train", "--config", str(tiny_json), "--data_path", str(separable_csv(tmp_path)),
                 "--model_path", str(model_path), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_classify_interactive_loop(tmp_path, monkeypatch, capsys):
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(**TINY)).set_classifier_head(2)
    path = save_checkpoint(tmp_path / "c.safetensors", model, {"type": "classifier", "labels": ["not spam", "spam"]})
    answers = iter(["You won $1000", "see you tonight", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": print(prompt, end="") or next(answers))
    assert main(["classify", "--model_path", str(path)]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("用户:")]
    assert len(lines) == 3
    assert all(x.split("模型: ")[1] in ("spam", "not spam") for x in lines[:2])


def test_classify_refuses_a_language_model(tiny_model, tmp_path, capsys):
    path = save_checkpoint(tmp_path / "lm.safetensors", tiny_model)
    assert main(["classify", "--model_path", str(path), "--text", "hi"]) == 2
    assert "not a classifier" in capsys.readouterr().err


def test_a_classifier_reads_messages_as_far_as_it_was_trained_to(tmp_path, tiny_json):
    settings = ClassifySettings(
        data_path=str(separable_csv(tmp_path, copies=2)), config=str(tiny_json), max_length=3,
        run_dir=str(tmp_path / "run"),
        train=TrainSettings(max_steps=2, batch_size=4, eval_every=0, sample_every=0, dtype="fp32"))
    trainer = prepare_classification(settings)
    list(trainer.run())
    ckpt = load_model(trainer.model_path)
    assert ckpt.task["max_length"] == 3
    cut, whole = classify(ckpt, ["it is so very good", "it is so"])
    # only the first 3 tokens are read, as in training (equal up to float rounding: the two
    # messages are scored in one padded batch, whose kernels may sum in another order)
    assert cut["probs"] == pytest.approx(whole["probs"], abs=1e-5)
    longer = classify(ckpt, "it is so very good", max_length=64)["probs"]
    assert longer != pytest.approx(cut["probs"], abs=1e-4)


def test_the_checkpoint_facts_carry_the_whole_split_scores(tmp_path, tiny_json):
    """The Weights table reads a classifier's facts: after the run they hold the whole splits' accuracy
    (results.json), not the last evaluation's few batches."""
    settings = ClassifySettings(
        data_path=str(separable_csv(tmp_path, copies=6)), config=str(tiny_json), max_length=8,
        run_dir=str(tmp_path / "run"),
        train=TrainSettings(max_steps=3, batch_size=2, eval_every=1, eval_batches=1, sample_every=0, dtype="fp32"))
    trainer = prepare_classification(settings)
    list(trainer.run())
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    facts = load_model(trainer.model_path).facts
    assert facts["val_accuracy"] == pytest.approx(results["val_accuracy"], abs=1e-5)
    assert facts["test_accuracy"] == pytest.approx(results["test_accuracy"], abs=1e-5)
