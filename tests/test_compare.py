"""Compare runs: curves on one axis, only the settings that differ; the same from the CLI."""
import json
import random
from pathlib import Path

import pytest

from pocketllm import PocketLLMError, compare_runs
from pocketllm.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    zh = (ROOT / "data" / "pretrain" / "zh_classics.txt").read_text(encoding="utf-8")[:20000]
    (tmp / "zh.txt").write_text(zh, encoding="utf-8")
    for name, width in (("small", 32), ("wide", 48)):
        (tmp / f"{name}.json").write_text(json.dumps(dict(vocab_size=50257, context_length=32, emb_dim=width,
                                                          num_heads=2, num_layers=1, drop_rate=0.0, qkv_bias=True)))
    for name, kind, cfg in (("run-char", "char", "small"), ("run-bpe", "bpe", "wide")):
        extra = ["--vocab_size", "400"] if kind == "bpe" else []
        assert main(["pretrain", "--config", str(tmp / f"{cfg}.json"), "--data_path", str(tmp / "zh.txt"),
                     "--tokenizer", kind, *extra, "--run_dir", str(tmp / name), "--max_steps", "4",
                     "--batch_size", "2", "--eval_every", "2", "--eval_batches", "2", "--sample_every", "0",
                     "--dtype", "fp32", "--threads", "1", "--quiet"]) == 0
    return tmp


def test_compare_two_runs_of_different_tokenizers_and_sizes(two_runs):
    cmp = compare_runs([two_runs / "run-char", two_runs / "run-bpe"])
    assert cmp.differing["tokenizer"] == ["char", "bpe"]
    assert cmp.differing["model_config.emb_dim"] == [32, 48]
    assert "train.lr" in cmp.same and "train.lr" not in cmp.differing  # only what differs is in the table
    for run in cmp.runs:
        assert run.x["step"] == [2, 4] and len(run.val["bits_per_char"]) == 2
        assert all(v > 0 for v in run.val["bits_per_char"])
        assert run.best["bits_per_char"] == min(run.val["bits_per_char"])
    rows = cmp.table()
    assert [r["run"] for r in rows] == ["run-char", "run-bpe"] and rows[0]["tokenizer"] == "char"


def test_the_runs_command_prints_the_table_and_writes_an_html_plot(two_runs, capsys, tmp_path):
    html = tmp_path / "cmp.html"
    assert main(["runs", "--checkpoints", str(two_runs), "--compare", "run-char", "run-bpe",
                 "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "tokenizer" in out and "char" in out and "bpe" in out and "best val bits/char" in out
    page = html.read_text(encoding="utf-8")
    assert "run-char" in page and "validation bits per character" in page
    assert main(["runs", "--checkpoints", str(two_runs)]) == 0
    assert "run-bpe" in capsys.readouterr().out


def test_compare_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(PocketLLMError, match="not found|not a run folder"):
        compare_runs([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(PocketLLMError, match="not a run folder"):
        compare_runs([tmp_path / "empty"])


def test_time_counts_only_while_a_run_ran(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "run.json").write_text("{}")
    events = [{"kind": "started", "time": 0.0}, {"kind": "eval", "time": 10.0, "step": 1, "tokens_seen": 1,
                                                  "train": {}, "val": {"loss": 2.0}},
              {"kind": "stopped", "time": 12.0}, {"kind": "started", "time": 1000.0},
              {"kind": "eval", "time": 1005.0, "step": 2, "tokens_seen": 2, "train": {}, "val": {"loss": 1.0}},
              {"kind": "finished", "time": 1006.0}]
    (run / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    curve = compare_runs([run]).runs[0]
    assert curve.x["elapsed"] == [10.0, 17.0] and curve.seconds == 18.0  # the 988 s pause is not counted
