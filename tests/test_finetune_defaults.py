"""The finetuning defaults: the CLI's and the settings' agree, and they give sensible results.

The slow tests pretrain a cpu-small base briefly on the bundled Shakespeare, then run
classify-train and instruct-train with every default on the bundled data (a few minutes).
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


@pytest.fixture(scope="module")
def brief_base(tmp_path_factory):
    """cpu-small (the classic recipe) pretrained for 300 steps on the bundled Shakespeare (English, like the
    spam mails)."""
    run = tmp_path_factory.mktemp("base")
    assert main(["pretrain", "--recipe", "classic", "--data_path", "data/pretrain/shakespeare.txt", "--max_steps", "300",
                 "--eval_every", "100", "--sample_every", "0", "--run_dir", str(run), "--quiet"]) == 0
    return str(run / "model.safetensors")


@pytest.mark.slow
def test_classify_defaults_reach_a_good_test_accuracy_from_a_brief_base(brief_base, tmp_path):
    assert main(["classify-train", "--base_model", brief_base, "--run_dir", str(tmp_path), "--quiet"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    # 96.0 % and 92.7 % in two runs of this test (bf16 on a shared CPU); the old defaults gave 88.6 %.
    assert results["test_accuracy"] >= 0.90, results["test_accuracy"]


@pytest.mark.slow
def test_instruct_defaults_answer_in_the_datas_form_from_a_brief_base(brief_base, tmp_path):
    assert main(["instruct-train", "--base_model", brief_base, "--run_dir", str(tmp_path), "--quiet"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    answers = json.loads((tmp_path / "model.test_responses.json").read_text())
    assert sum(not a["generated"].strip() for a in answers) <= len(answers) // 20  # not blank lines
    assert results["exact_match"] > 0
