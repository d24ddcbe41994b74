"""The finetuning defaults: the CLI's and the settings' agree, and they give a good classifier.

The accuracy test pretrains a cpu-small base briefly on the bundled Shakespeare, then runs
classify-train with every default on the bundled spam table (slow: a few minutes on 2 cores).
"""
import json
from dataclasses import fields

import pytest

from pocketllm.cli import build_parser, main
from pocketllm.tasks import ClassifySettings, InstructSettings
from pocketllm.training import TrainSettings

TRAIN_FLAGS = [f.name for f in fields(TrainSettings)
               if f.name not in ("min_lr_ratio", "sample_every", "checkpoint_minutes", "log_every")]


@pytest.mark.parametrize("command, settings", [("classify-train", ClassifySettings),
                                               ("instruct-train", InstructSettings)])
def test_cli_defaults_are_the_settings_defaults(command, settings):
    args = build_parser().parse_args([command])
    want = settings().train
    got = {name: getattr(args, name) for name in TRAIN_FLAGS}
    assert got == {name: getattr(want, name) for name in TRAIN_FLAGS}
    assert want.keep_best and want.patience > 0


@pytest.mark.slow
def test_classify_defaults_reach_a_good_test_accuracy_from_a_brief_base(tmp_path):
    base = tmp_path / "base"
    assert main(["pretrain", "--data_path", "data/pretrain/shakespeare.txt", "--max_steps", "300",
                 "--eval_every", "100", "--sample_every", "0", "--run_dir", str(base), "--quiet"]) == 0
    run = tmp_path / "spam"
    assert main(["classify-train", "--base_model", str(base / "model.safetensors"), "--run_dir", str(run),
                 "--quiet"]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["test_accuracy"] >= 0.95, results["test_accuracy"]
