"""One validation style in the core, and numbers that agree (issue 18).

Every settings class (training, sampling, LoRA, a corpus's split, a model config) names all its
problems at once as coded phrases, which the page says in its language; the page checks only that
a box holds a number.  A file that is not UTF-8 gets one diagnosis and one matching command.  The
command line's reported scores are the saved weights' on whole splits; compare's tokens/s is
tokens over the time taken.
"""
import json
import math
import re

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, PocketLLMError, Sampling, TrainSettings, gpt2_tokenizer
from pocketllm.checkpoint import save_checkpoint
from pocketllm.cli import main
from pocketllm.errors import Phrase, PhraseList
from tests.test_chinese_page import english_left

TINY = dict(vocab_size=50257, context_length=32, emb_dim=32, num_heads=4, num_layers=2, drop_rate=0.0, qkv_bias=True)


def said(exc, lang):
    from ui.errors import message_of
    return message_of(exc, lang)


def problems_of(exc) -> tuple[Phrase, ...]:
    value = exc.values["problems"]
    assert isinstance(value, PhraseList)
    return value.phrases


def assert_all_chinese(exc):
    """Every problem is said in Chinese: nothing English is left but `flags` and values."""
    zh = said(exc, "zh")
    assert zh != str(exc)
    left = english_left(re.sub(r"（收到的是[^）]*）", "", zh))
    assert left == [], (left, zh)
    return zh


# ---- 1. every settings class names all its problems, as coded phrases -------------------------

def test_training_settings_name_every_problem_in_the_pages_language():
    with pytest.raises(PocketLLMError) as caught:
        TrainSettings(batch_size=10**9, lr=float("nan"), grad_clip=-1.0, seed="7", max_steps=0).validate()
    exc = caught.value
    assert exc.code == "train.invalid_settings"
    codes = [p.code for p in problems_of(exc)]
    assert codes == ["train.bad_whole", "train.bad_whole", "train.bad_whole", "train.bad_lr", "train.bad_number"]
    english = str(exc)
    assert english.startswith("Invalid training settings: max_steps must be a whole number from 1 to 1,000,000,000")
    assert "batch_size must be a whole number from 1 to 65,536 (got 1000000000)" in english
    assert "seed must be a whole number from 0 to 2,147,483,647 (got '7')" in english  # text is not a number
    zh = assert_all_chinese(exc)
    assert zh.startswith("训练设置无效：最多步数（`max_steps`）必须是 1 到 1,000,000,000 之间的整数")
    assert "批大小（`batch_size`）必须是 1 到 65,536 之间的整数" in zh and "学习率（`lr`）" in zh
    assert "梯度裁剪阈值（`grad_clip`）必须是 0 到 1000 之间的数" in zh


def test_training_settings_of_any_type_get_a_message_not_a_type_error():
    for bad in ({"eval_every": None}, {"weight_decay": "0.1"}, {"keep_best": "yes"}, {"threads": 2.5}):
        with pytest.raises(PocketLLMError) as caught:
            TrainSettings(**bad).validate()
        assert caught.value.code == "train.invalid_settings" and next(iter(bad)) in str(caught.value)
    assert TrainSettings().validate() and TrainSettings(max_steps=None, warmup_steps=0).validate()


def test_sampling_names_every_problem_not_only_the_first():
    with pytest.raises(PocketLLMError) as caught:
        Sampling(temperature=500, top_k=0, top_p=2.0, frequency_penalty=9, seed=-1)
    exc = caught.value
    assert exc.code == "sampling.invalid"
    assert [p.code for p in problems_of(exc)] == ["sampling.bad_temperature", "sampling.bad_top_k",
                                                  "sampling.bad_top_p", "sampling.bad_penalty", "sampling.bad_seed"]
    assert str(exc).startswith("Invalid sampling settings: temperature must be a number from 0 (greedy) to 100, "
                               "usually 0.7–1.0 (got 500); top_k must be a whole number")
    zh = assert_all_chinese(exc)
    assert "温度（`temperature`）" in zh and "频率惩罚（`frequency_penalty`）必须在 -2 到 2 之间" in zh
    assert Sampling(stop="\n\n").stop == ("\n\n",) and Sampling(stop=["a"]).stop == ("a",)
    with pytest.raises(PocketLLMError, match="valid_utf8 must be true or false"):
        Sampling(valid_utf8="no")


def test_lora_names_its_rank_and_its_alpha_together_before_anything_is_frozen(tiny_model):
    from pocketllm.tasks.lora import apply_lora
    with pytest.raises(PocketLLMError) as caught:
        apply_lora(tiny_model, rank=10**6, alpha=float("inf"))
    exc = caught.value
    assert exc.code == "lora.invalid_settings"
    assert [p.code for p in problems_of(exc)] == ["lora.bad_rank", "lora.bad_alpha"]
    assert "LoRA rank must be a whole number from 1 to 32" in str(exc) and "alpha must be a positive number" in str(exc)
    assert "LoRA 秩必须是 1 到 32 之间的整数" in assert_all_chinese(exc)
    assert all(p.requires_grad for p in tiny_model.parameters())  # nothing was frozen


def test_a_corpus_split_names_both_its_problems(tmp_path):
    from pocketllm.data.corpus import load_corpus
    (tmp_path / "t.txt").write_text("hello world\n" * 50)
    with pytest.raises(PocketLLMError) as caught:
        load_corpus(tmp_path / "t.txt", 8, tmp_path / "cache", gpt2_tokenizer(), stride=-1, val_fraction=1.0)
    assert [p.code for p in problems_of(caught.value)] == ["corpus.bad_val_fraction", "corpus.bad_stride"]
    assert_all_chinese(caught.value)


def test_a_memory_estimate_refuses_a_batch_no_run_may_have():
    from pocketllm.training.trainer import TRAIN_LIMITS
    cfg = ModelConfig(**TINY)
    assert cfg.training_memory(8)["total"] > 0
    for batch in (0, TRAIN_LIMITS["batch_size"] + 1, 2.5):
        with pytest.raises(PocketLLMError, match="batch_size must be a whole number from 1 to 65,536"):
            cfg.training_memory(batch)


# ---- 2. the page checks only what a box needs; the core checks the range ----------------------

def test_the_page_leaves_the_cores_ranges_to_the_core_and_keeps_its_own():
    from ui.limits import MAX_BATCH, MAX_LORA_ALPHA, MAX_LR, MAX_WIDTH, real, whole
    assert whole(10**9, 1, MAX_BATCH, "training.batch", "en") == 10**9   # the core will say it, in Chinese too
    assert real(50.0, 0, MAX_LR, "training.lr", "zh") == 50.0
    assert whole("12", 1, MAX_WIDTH, "pretrain.width", "en") == 12
    for value in ("abc", float("nan"), math.inf, 2.5, True):
        with pytest.raises(PocketLLMError, match="must be a whole number"):
            whole(value, 1, MAX_BATCH, "training.batch", "en")
    with pytest.raises(PocketLLMError, match="批大小"):
        whole(float("inf"), 1, MAX_BATCH, "training.batch", "zh")
    with pytest.raises(PocketLLMError, match="must be a number"):
        real("x", 0, MAX_LR, "training.lr", "en")
    with pytest.raises(PocketLLMError, match="1 to 500"):  # a bound the page alone sets is checked here
        whole(10**9, 1, 500, "generate.max_new", "en")
    with pytest.raises(PocketLLMError, match="1e\\+06"):
        real(2e6, 0, MAX_LORA_ALPHA, "classify.lora_alpha", "en")


# ---- 3. a file that is not UTF-8: one diagnosis, one matching command ------------------------

@pytest.mark.parametrize("name, data, looks, command", [
    ("utf16.txt", "hello world\nsecond line\n".encode("utf-16"), "looks like UTF-16", "iconv -f UTF-16 -t UTF-8"),
    ("gbk.txt", "hello\n你好，世界。这是中文文本。\n".encode("gb18030"), "looks like GBK/GB18030",
     "iconv -f GB18030 -t UTF-8"),
    ("stray.txt", "第一行中文。\n第二行中文。\n".encode() + b"bad \xff byte\n" + "更多中文。\n".encode(),
     "UTF-8 text with an invalid byte at byte 43 (line 3)", "iconv -c -f UTF-8 -t UTF-8"),
    ("ascii.txt", b"hello\nworld\nbad \xff byte\n", "invalid byte at byte 17 (line 3)", "iconv -c -f UTF-8"),
])
def test_a_file_that_is_not_utf8_gets_one_diagnosis_and_the_matching_command(tmp_path, name, data, looks, command):
    from pocketllm.data.text import iter_text_chunks, read_text
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(PocketLLMError) as caught:
        read_text(path)
    english = str(caught.value)
    assert looks in english and command in english, english
    assert english.count("iconv") <= 1 and english.count("looks like") <= 1
    if name == "stray.txt":
        assert "UTF-16" not in english and "GB18030" not in english  # one bad byte is not another encoding
    zh = said(caught.value, "zh")
    assert command in zh and zh.count("iconv") == 1
    with pytest.raises(PocketLLMError) as again:  # the same place however the file is read in pieces
        list(iter_text_chunks(path, chunk_bytes=7))
    assert again.value.values["position"] == caught.value.values["position"]
    assert again.value.values["line"] == caught.value.values["line"]


# ---- 4. numbers that agree ---------------------------------------------------------------

def write_run(folder, events, results=None, settings=None):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(settings or {"task": "classify"}))
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))
    return folder


def step(t, n, tokens, rate):
    return {"kind": "step", "time": t, "step": n, "tokens_seen": tokens, "tokens_per_s": rate}


def test_compare_reports_tokens_over_the_time_taken_and_each_setting_once(tmp_path):
    from pocketllm import compare_runs
    base = {"task": "pretrain", "vocab_size": 300, "model_config": {"vocab_size": 300, "emb_dim": 32}}
    events = [{"kind": "started", "time": 100.0}, step(101.0, 1, 1000, 9000.0), step(102.0, 2, 2000, 9000.0),
              {"kind": "eval", "time": 105.0, "step": 2, "tokens_seen": 2000, "val": {"loss": 2.0}, "train": {}},
              {"kind": "finished", "time": 110.0, "step": 2}]
    a = write_run(tmp_path / "a", events, settings=base)
    # A resumed run: 1,000 tokens in 5 s, a pause, then 2,000 more tokens in 5 s.
    resumed = [{"kind": "started", "time": 0.0}, step(1.0, 1, 1000, 50000.0), {"kind": "stopped", "time": 5.0},
               {"kind": "started", "time": 500.0}, step(501.0, 3, 3000, 50000.0), {"kind": "finished", "time": 505.0}]
    b = write_run(tmp_path / "b", resumed, settings={**base, "vocab_size": 400,
                                                     "model_config": {"vocab_size": 400, "emb_dim": 32}})
    cmp = compare_runs([a, b])
    rows = cmp.table()
    assert rows[0]["time (s)"] == 10.0 and rows[0]["tokens/s"] == 200  # 2,000 tokens in 10 s, not 9,000
    assert rows[1]["time (s)"] == 10.0 and rows[1]["tokens/s"] == 300  # 3,000 tokens in 10 s of running
    assert cmp.differing == {"vocab_size": [300, 400]}  # not also model_config.vocab_size


def test_runs_lists_the_saved_weights_scores(tmp_path, capsys):
    events = [{"kind": "started", "time": 0.0},
              {"kind": "eval", "time": 1.0, "step": 50, "val": {"loss": 0.10, "accuracy": 0.9875}, "train": {}},
              {"kind": "eval", "time": 2.0, "step": 100, "val": {"loss": 0.30, "accuracy": 0.90}, "train": {}},
              {"kind": "finished", "time": 3.0, "step": 100, "kept_step": 50,
               "best_val": {"loss": 0.10, "accuracy": 0.9875}}]
    write_run(tmp_path / "whole", events, results={"val_loss": 0.2, "val_accuracy": 0.94, "test_accuracy": 0.92})
    write_run(tmp_path / "kept", events)
    assert main(["runs", "--checkpoints", str(tmp_path)]) == 0
    out = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "val accuracy 94.00%, val loss 0.200 (whole split)" in out["whole"]
    assert "val accuracy 98.75%, val loss 0.100 (kept step 50)" in out["kept"]  # not the last evaluation's 0.300


def separable_csv(tmp_path, rows=300):
    lines = ["label,text"] + [f"{'spam' if i % 2 else 'ham'},{'win free money now' if i % 2 else 'see you at lunch'} {i}"
                              for i in range(rows)]
    path = tmp_path / "msgs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_classify_train_reports_validation_on_the_whole_split(tmp_path, capsys):
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    assert main(["classify-train", "--config", str(tmp_path / "tiny.json"), "--data_path", str(separable_csv(tmp_path)),
                 "--run_dir", str(tmp_path / "run"), "--max_steps", "4", "--batch_size", "4", "--eval_every", "2",
                 "--eval_batches", "1", "--dtype", "fp32", "--threads", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "validation during training: every 2 steps, on 16 of the 30 validation examples (a sample" in out
    assert f"validation accuracy {results['val_accuracy']:.2%}, loss {results['val_loss']:.4f} on all 30 messages" in out
    assert not re.search(r"best val (loss|accuracy)", out)  # no score from the sample beside the whole split's


def test_instruct_train_prints_one_validation_loss_and_says_what_it_is():
    from pocketllm.cli.finetune import _end_lines, _whole_split_line
    end = {"kind": "finished", "step": 300, "kept_step": 250, "best_val": {"loss": 0.5032},
           "results": {"val_loss": 0.4915, "test_loss": 0.61}}
    lines = [_whole_split_line(end["results"], {"val": 40, "test": 80})] + _end_lines(end, "m.safetensors")
    text = "\n".join(lines)
    assert "validation loss 0.4915 on all 40 examples; test loss 0.6100 on all 80 examples" in text
    assert "0.5032" not in text and "kept the weights of step 250" in text


def tiny_checkpoint(path):
    torch.manual_seed(0)
    save_checkpoint(path, GPTModel(ModelConfig(**TINY)).eval(), {"type": "pretrain"}, {}, tokenizer=gpt2_tokenizer())
    return path


def test_show_probs_says_every_probability_as_a_percentage(tmp_path, capsys):
    model = tiny_checkpoint(tmp_path / "lm.safetensors")
    assert main(["generate", "--model_path", str(model), "--prompt", "Hi", "--max_new_tokens", "3",
                 "--temperature", "1", "--seed", "1", "--show_probs"]) == 0
    table = capsys.readouterr().out.split("alternatives\n", 1)[1]
    numbers = re.findall(r"\s(\d+\.\d+%?)(?=\s|$)", table)
    assert numbers and all(n.endswith("%") for n in numbers), numbers


def test_inspect_lines_up_its_columns_past_rank_9(tmp_path, capsys):
    model = tiny_checkpoint(tmp_path / "lm.safetensors")
    assert main(["inspect", "--model_path", str(model), "--prompt", "Hello", "--what", "next", "--top", "12"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if re.match(r"\s*\d+\s+\d+\s", line)]
    assert len(rows) == 12
    ends = {re.match(r"\s*\d+", row).end() for row in rows}  # where the rank ends
    ids = {re.match(r"\s*\d+\s+\d+", row).end() for row in rows}  # where the id ends
    assert len(ends) == 1 and len(ids) == 1, rows
