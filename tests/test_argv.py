"""`to_argv`: a task's settings as a command line that, parsed by the real CLI, gives them back."""
import shlex
from dataclasses import replace

import pytest

import pocketllm.tasks.classification as classification
import pocketllm.tasks.instruction as instruction
import pocketllm.tasks.language_modeling as language_modeling
from pocketllm import ClassifySettings, InstructSettings, PocketLLMError, PretrainSettings, TrainSettings, command_line
from pocketllm.cli import main
from pocketllm.cli.argv import command_parser, to_argv, unexpressed


class Caught(Exception):
    def __init__(self, settings):
        self.settings = settings


def settings_from_cli(argv, monkeypatch):
    """The settings the CLI's own code builds from `argv` (caught where it would start training)."""
    def catch(settings, stop_event=None):
        raise Caught(settings)
    for module, name in ((language_modeling, "prepare_pretraining"), (classification, "prepare_classification"),
                         (instruction, "prepare_instruction")):
        monkeypatch.setattr(module, name, catch)
    with pytest.raises(Caught) as caught:
        main(argv)
    return caught.value.settings


TRAIN = dict(epochs=2, batch_size=3, grad_accum=2, lr=3e-4, warmup_steps=7, weight_decay=0.05, grad_clip=0.5,
             eval_every=9, eval_batches=4, checkpoint_every=11, seed=7, device="cpu", dtype="fp32",
             compile=True, threads=1)

NON_DEFAULT = {
    "pretrain": PretrainSettings(
        data_path="data/pretrain/shakespeare.txt", config="cpu-tiny", tokenizer="char", vocab_size=300,
        context_length=64, stride=32, val_fraction=0.2, sample_prompt="-- ROMEO: ", model_path="out/m.safetensors",
        run_dir="out", init_from="gpt2.safetensors", overwrite=True,
        train=TrainSettings(**{**TRAIN, "max_steps": 20, "sample_every": 5})),
    "classify-train": ClassifySettings(
        data_path="my table.tsv", text_column="message", label_column="0", delimiter="\t", header=False,
        balance=True, split=(0.6, 0.2, 0.2), base_model="base.safetensors", config="cpu-tiny", trainable="lora",
        lora_rank=4, lora_alpha=8.0, keep_adapters=False, max_length=40, new_tokens=500, model_path="c.safetensors",
        run_dir="runs/c", overwrite=True, train=TrainSettings(**{**TRAIN, "max_steps": 30, "sample_every": 0})),
    "instruct-train": InstructSettings(
        data_path="records.jsonl", template="short", mask_prompt=True, max_length=48, split=(0.8, 0.1, 0.1),
        test_generate=3, base_model="base.safetensors", config="cpu-tiny", lora_rank=2, lora_alpha=4.0,
        keep_adapters=False, model_path="i.safetensors", run_dir="runs/i", overwrite=True,
        train=TrainSettings(**{**TRAIN, "sample_every": 6})),
}
DEFAULTS = {"pretrain": PretrainSettings, "classify-train": ClassifySettings, "instruct-train": InstructSettings}


@pytest.mark.parametrize("command", list(NON_DEFAULT))
def test_non_default_settings_come_back_from_their_command_line(command, monkeypatch):
    settings = NON_DEFAULT[command]
    argv = to_argv(settings, strict=True)
    assert argv[0] == command
    assert settings_from_cli(argv, monkeypatch) == settings


@pytest.mark.parametrize("command", list(NON_DEFAULT))
def test_the_shown_line_parses_back_too(command, monkeypatch):
    settings = NON_DEFAULT[command]
    line = command_line(settings)
    words = shlex.split(line)
    assert words[:3] == ["python", "-m", "pocketllm"]
    assert settings_from_cli(words[3:], monkeypatch) == settings


@pytest.mark.parametrize("command", list(DEFAULTS))
def test_the_commands_defaults_need_no_flags(command, monkeypatch):
    settings = settings_from_cli([command], monkeypatch)  # what the bare command runs
    assert to_argv(settings, strict=True) == [command]


def test_a_value_left_at_its_default_is_not_written():
    assert to_argv(replace(ClassifySettings(), balance=True)) == ["classify-train", "--balance"]


def test_a_flag_added_to_a_command_later_is_written_with_no_change_to_to_argv():
    settings = replace(ClassifySettings(), train=replace(ClassifySettings().train, log_every=5))
    assert "log_every" in unexpressed(settings)  # TrainSettings.log_every has no flag today
    try:
        command_parser("classify-train").add_argument("--log_every", type=int, default=1)
        assert to_argv(settings, strict=True) == ["classify-train", "--log_every", "5"]
    finally:
        command_parser.cache_clear()  # the next caller builds the real parser again


def test_a_value_no_flag_can_say_is_reported_and_refused_when_strict():
    settings = replace(PretrainSettings(), train=TrainSettings(max_steps=None, log_every=5))
    # log_every has no flag; max_steps=None is said by `--max_minutes 0` (naming the run's length turns both off)
    assert unexpressed(settings) == ["log_every"] and "--max_minutes" in to_argv(settings)
    with pytest.raises(PocketLLMError) as err:
        to_argv(settings, strict=True)
    assert err.value.code == "cli.no_flag" and "log_every" in str(err.value)
