"""The page's defaults are the core's: every training form starts from the task's settings, so
pressing Start runs what `python -m pocketllm <command>` runs; Continue keeps the run's own shape.

The app is built in-process (no server): a handler is called with its inputs' initial values,
as a fresh page would send them.
"""
from __future__ import annotations

import json
import shlex
import time
from dataclasses import fields
from pathlib import Path

import pytest

from pocketllm import (ClassifySettings, InstructSettings, ModelConfig, PretrainSettings, TrainSettings,
                       prepare_pretraining)
from pocketllm.cli import build_parser
from pocketllm.jobs import read_run
from tests.app_fixtures import TINY_TEXT

TRAIN_FIELDS = [f.name for f in fields(TrainSettings)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from ui.app import build_app
    root = tmp_path_factory.mktemp("page")
    app = build_app(root / "checkpoints", temp_dir=root / "temp")
    yield app
    app.pocketllm_state.runner.stop()
    app.pocketllm_state.runner.wait(30)


def handler(demo, api_name):
    return next(f for f in demo.fns.values() if f.api_name == api_name)


def call_with_initial_values(demo, api_name):
    fn = handler(demo, api_name)
    return fn.fn(*[c.value for c in fn.inputs])


def parsed(command_text: str):
    """The page's command box, parsed by the CLI's own parser."""
    words = shlex.split(command_text.replace("\\\n", " "))
    assert words[:3] == ["python", "-m", "pocketllm"], command_text
    return build_parser().parse_args(words[3:])


@pytest.mark.parametrize("command, settings", [("pretrain", PretrainSettings), ("classify-train", ClassifySettings),
                                               ("instruct-train", InstructSettings)])
def test_the_cli_flags_start_from_the_settings_defaults(command, settings):
    args = build_parser().parse_args([command])
    want = settings().train
    if command == "pretrain":  # some flags are left to the recipe (None): the settings they make must match
        from pocketllm.cli.pretrain import pretrain_settings_from_args
        assert pretrain_settings_from_args(args) == settings()
        return
    for name in TRAIN_FIELDS:
        if hasattr(args, name):
            assert getattr(args, name) == getattr(want, name), name


@pytest.mark.parametrize("kind, command", [("pretrain", "pretrain"), ("classify", "classify-train"),
                                           ("instruct", "instruct-train")])
def test_each_training_form_starts_as_the_cli_default_run(demo, kind, command):
    """The command box of an untouched form is the bare command (its defaults spelled out at most)."""
    page = parsed(call_with_initial_values(demo, f"{kind}_command"))
    bare = build_parser().parse_args([command])
    differ = {k: (getattr(page, k), v) for k, v in vars(bare).items() if getattr(page, k) != v}
    # Spelled out on the page, the same as the core's choice without them: the default tokenizer and its
    # vocabulary, a fresh model of the core's fresh shape, the default template.
    from pocketllm import DEFAULT_KIND, DEFAULT_TEMPLATE, DEFAULT_VOCAB_SIZE, FRESH_CONFIG
    same = {"tokenizer": DEFAULT_KIND, "vocab_size": DEFAULT_VOCAB_SIZE[DEFAULT_KIND], "config": FRESH_CONFIG,
            "template": DEFAULT_TEMPLATE}
    assert {k: page_value for k, (page_value, _) in differ.items()} == {k: same[k] for k in differ if k in same}
    assert set(differ) <= set(same), differ


def test_pretrain_form_shows_the_core_shape_and_steps(demo):
    from ui.tabs import pretrain as tab  # noqa: F401  (the tab is built by build_app)
    blocks = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    d = PretrainSettings()
    cfg = ModelConfig.load(d.config)
    assert blocks["pretrain-steps"].value == d.train.max_steps
    assert blocks["pretrain-lr"].value == d.train.lr
    assert blocks["pretrain-eval"].value == d.train.eval_every
    assert blocks["pretrain-sample"].value == d.train.sample_every
    assert blocks["pretrain-layers"].value == cfg.num_layers and blocks["pretrain-width"].value == cfg.emb_dim
    assert blocks["cls-trainable"].value == "auto"  # the core decides by the base's size (all weights of a small one)


def test_a_fresh_base_is_offered_only_until_a_model_is_trained(demo, tmp_path):
    """The newest pretrained model replaces the page's first choice (a fresh model) on Refresh or
    when the tab is opened, unless the learner picked a base by hand."""
    from pocketllm import GPTModel, save_checkpoint
    from pocketllm.tokenizer import gpt2_tokenizer
    state = demo.pocketllm_state
    refresh = handler(demo, "classify_bases")
    fresh, facts = refresh.fn(None, "", "en")  # nothing trained yet
    assert fresh["value"].endswith("cpu-small") and "knows no language" in facts
    cfg = ModelConfig(vocab_size=50257, context_length=16, emb_dim=8, num_heads=2, num_layers=1)
    path = state.checkpoints / "pretrain-x" / "model.safetensors"
    path.parent.mkdir(parents=True)
    save_checkpoint(path, GPTModel(cfg), tokenizer=gpt2_tokenizer())
    newest, facts = refresh.fn(fresh["value"], "", "en")
    assert newest["value"] == str(path.resolve()) and "1 layers" in facts  # the facts follow the choice
    assert refresh.fn(fresh["value"], "yes", "en")[0]["value"] == fresh["value"]  # picked by hand: kept


def test_continue_keeps_the_runs_shape_and_tokenizer(demo):
    """A cpu-tiny-shaped char run, continued from the page: run.json, the form and the command
    keep its shape (the page used to rebuild the settings from the defaults: cpu-small, bpe)."""
    state = demo.pocketllm_state
    corpus = state.corpora / "tiny-0123456789ab.txt"  # an upload the page kept
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    run_dir = state.checkpoints / "pretrain-20260101-000000"
    settings = PretrainSettings(data_path=str(corpus), config="cpu-tiny", tokenizer="char", context_length=32,
                                run_dir=str(run_dir),
                                train=TrainSettings(max_steps=2, batch_size=2, eval_every=0, sample_every=0))
    trainer = prepare_pretraining(settings)
    for _ in trainer.run():
        pass
    before = json.loads((run_dir / "run.json").read_text())
    resume = handler(demo, "pretrain_resume")
    out = resume.fn(4, str(run_dir), "en", "auto")
    names = ["run.dir", "run.status"] + [n for n in resume_form_names()]
    values = dict(zip(names, out))
    assert values["run.dir"] == str(run_dir), values["run.status"]
    end = time.time() + 120
    while state.runner.current is not None and time.time() < end:
        time.sleep(0.2)
    after = json.loads((run_dir / "run.json").read_text())
    for key in ("config", "tokenizer", "vocab_size", "context_length", "data_path"):
        assert after[key] == before[key], key
    assert after["train"]["max_steps"] == 4 and after["train"]["batch_size"] == 2
    assert values["model.preset"] == "cpu-tiny" and values["tok.kind"] == "char" and values["model.context"] == 32
    command = parsed(call_with_command(demo, {**values, "train.steps": 4}))  # (the steps box keeps the 4 typed)
    assert command.config == "cpu-tiny" and command.tokenizer == "char" and command.context_length == 32


def test_continue_on_a_spent_budget_asks_for_more_minutes_then_trains_them(demo):
    """A run on a time budget (the default recipe's kind) continued with the same minutes: the page asks for
    more minutes in its own words (the minutes box, not `--max_minutes`); with more it trains on."""
    state = demo.pocketllm_state
    corpus = state.corpora / "tiny-0123456789ac.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    run_dir = state.checkpoints / "pretrain-20260101-000001"
    settings = PretrainSettings(data_path=str(corpus), config="cpu-tiny", tokenizer="char", context_length=32,
                                run_dir=str(run_dir), train=TrainSettings(max_steps=None, max_minutes=0.01,
                                                                          batch_size=2, eval_every=0, sample_every=0))
    for _ in prepare_pretraining(settings).run():
        pass
    steps = json.loads((run_dir / "run.json").read_text())
    resume = handler(demo, "pretrain_resume")
    out = resume.fn(10_000, str(run_dir), "zh", "auto", 0.01)
    assert "分钟数" in out[1] and "max_minutes" not in out[1], out[1]
    out = resume.fn(10_000, str(run_dir), "zh", "auto", 0.02)
    assert out[0] == str(run_dir), out[1]
    end = time.time() + 120
    while state.runner.current is not None and time.time() < end:
        time.sleep(0.2)
    after = json.loads((run_dir / "run.json").read_text())
    assert after["train"]["max_minutes"] == 0.02 and after["config"] == steps["config"]
    assert read_run(run_dir).status == "finished" and read_run(run_dir).last_step["step"] > 0


def resume_form_names():
    from ui.tabs.pretrain import FORM
    return FORM


def call_with_command(demo, form: dict) -> str:
    fn = handler(demo, "pretrain_command")
    from ui.tabs.pretrain import FORM
    values = [form.get(n) for n in FORM]
    # The form's inputs first, then the language (the API's order).
    return fn.fn(*values, "en")


def test_overfitting_is_named_when_validation_rises_while_training_falls():
    from pocketllm import overfitting
    from ui.i18n import t  # noqa: F401
    from ui.runs import status_line
    from pocketllm import RunView

    def ev(step, train, val):
        return {"kind": "eval", "step": step, "train": {"loss": train}, "val": {"loss": val}}
    falling = [ev(100, 6.0, 6.2), ev(200, 5.0, 5.5), ev(300, 4.0, 5.0)]
    assert overfitting(falling) is None
    rising = [ev(100, 6.0, 7.2), ev(200, 3.0, 7.5), ev(300, 1.0, 8.9)]
    assert overfitting(rising) == {"best_step": 100, "best_loss": 7.2, "step": 300, "loss": 8.9}
    assert overfitting(rising[:2]) is None  # one rise is noise
    view = RunView(run_dir=Path("/tmp/pretrain-x"), settings={}, status="finished",
                   events=[*rising, {"kind": "finished", "step": 300}])
    assert "过拟合" in status_line(view, "zh", "pretrain") and "Overfitting" in status_line(view, "en", "pretrain")


def test_instruct_masks_the_prompt_by_default_and_the_command_line_can_say_either():
    from pocketllm import to_argv
    assert InstructSettings().mask_prompt and build_parser().parse_args(["instruct-train"]).mask_prompt
    assert not build_parser().parse_args(["instruct-train", "--no-mask_prompt"]).mask_prompt
    assert "--no-mask_prompt" in to_argv(InstructSettings(mask_prompt=False))
    assert "--mask_prompt" not in to_argv(InstructSettings())


def test_a_failed_runs_coded_problems_are_said_in_chinese_when_read_back_from_its_events():
    """The trainer writes a refused setting's phrases into events.jsonl with their codes, so the
    status line read from the run folder later is Chinese throughout (it was English after '：')."""
    from pocketllm import PocketLLMError, RunView
    from pocketllm.training.trainer import _plain
    from ui.runs import status_line
    try:
        TrainSettings(batch_size=0, lr=5.0).validate()
    except PocketLLMError as exc:
        refused = exc
    record = json.loads(json.dumps(_plain(refused.values)))  # through the file
    view = RunView(run_dir=Path("/tmp/pretrain-y"), settings={}, status="failed",
                   events=[{"kind": "failed", "step": 0, "message": str(refused), "code": refused.code,
                            "values": record}])
    line = status_line(view, "zh", "pretrain")
    assert "batch_size" in line and "must" not in line and "between" not in line, line


def test_a_message_is_read_as_about_the_same_text_whatever_the_tokenizer():
    """The default cut holds ~300 characters: 128 tokens for a tokenizer that spells English
    compactly, more for one learnt on Chinese (one token a letter), never past the context."""
    from pocketllm import train_tokenizer
    from pocketllm.tasks.classification import USUAL_MAX_LENGTH, usual_max_length
    english = ["Meeting moved to Friday, please bring the quarterly report and the slides. "] * 40
    by_word = train_tokenizer(iter(english * 10), "bpe", 400)
    by_letter = train_tokenizer(iter(["子曰学而时习之不亦说乎有朋自远方来"] * 200), "char", None)
    assert usual_max_length(english, by_word) == USUAL_MAX_LENGTH
    assert usual_max_length(english, by_letter) >= 290  # bytes: a token a letter
    assert usual_max_length([], by_letter) == USUAL_MAX_LENGTH


def test_a_data_path_sent_by_hand_is_not_read(demo, tmp_path):
    """data.uploaded comes back from the browser: an API call naming a server file gets the
    'upload a file' answer, not a preview of that file (only the page's kept copies are read)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the server's own file " * 50, encoding="utf-8")
    preview = handler(demo, "pretrain_preview")
    names = ["data.source", "data.uploaded", "model.context", "tok.kind", "tok.vocab", "lang"]
    out = preview.fn(*[{"data.source": "upload", "data.uploaded": str(secret), "model.context": 64,
                        "tok.kind": "char", "tok.vocab": None, "lang": "en"}[n] for n in names])
    assert "secret.txt" not in str(out) and "server's own" not in str(out)
    kept = demo.pocketllm_state.corpora / f"mine-{'0' * 12}.txt"
    kept.write_text("学而时习之，不亦说乎。" * 200, encoding="utf-8")
    out = preview.fn(*[{"data.source": "upload", "data.uploaded": str(kept), "model.context": 64,
                        "tok.kind": "char", "tok.vocab": None, "lang": "en"}[n] for n in names])
    assert kept.name in str(out)


def test_a_checkpoint_named_with_glob_characters_saves(tmp_path):
    """Saving sweeps its own stale temp files by name: a name holding `**` or `[` is text, not a pattern."""
    from pocketllm import GPTModel, load_model, save_checkpoint
    cfg = ModelConfig(vocab_size=50257, context_length=8, emb_dim=8, num_heads=2, num_layers=1)
    path = tmp_path / "my **best** [v1].safetensors"
    save_checkpoint(path, GPTModel(cfg))
    save_checkpoint(path, GPTModel(cfg))  # again, over it
    assert load_model(path).config.emb_dim == 8


def test_the_pretrain_form_says_a_time_budget_and_a_recipe_as_the_cli_does(demo):
    """Minutes, optimizer and schedule from the form reach the settings (the command box says them), and a
    recipe picked fills the boxes it names."""
    from pocketllm import DEFAULT_RECIPE, DEFAULT_VOCAB_SIZE, RECIPES, apply_recipe
    fn = handler(demo, "pretrain_command")
    by_id = {getattr(c, "elem_id", None): i for i, c in enumerate(fn.inputs)}
    values = [c.value for c in fn.inputs]
    assert values[by_id["pretrain-recipe"]] == DEFAULT_RECIPE
    assert values[by_id["pretrain-minutes"]] == PretrainSettings().train.max_minutes
    values[by_id["pretrain-minutes"]] = 3
    values[by_id["pretrain-optimizer"]] = "muon"
    values[by_id["pretrain-schedule"]] = "cosine"
    page = parsed(fn.fn(*values))
    assert (page.max_minutes, page.optimizer, page.schedule) == (3.0, "muon", "cosine")
    # The recipe picker has no API name: found by its inputs, called through its handler.
    picker = next(f for f in demo.fns.values() if getattr(f, "inputs", None)
                  and [getattr(c, "elem_id", None) for c in f.inputs][:1] == ["pretrain-recipe"])
    for name in RECIPES:
        out = dict(zip([getattr(c, "elem_id", None) for c in picker.outputs],
                       picker.fn(name, "cpu-medium", "llama", "bpe")))
        want = apply_recipe(PretrainSettings(), name)
        assert out["pretrain-steps"] == want.train.max_steps and out["pretrain-lr"] == want.train.lr
        assert out["pretrain-optimizer"] == want.train.optimizer and out["pretrain-minutes"] == want.train.max_minutes
        # ... and its model: preset, family and context as a fresh run of the recipe builds them, its bpe's size
        model = ModelConfig.load(want.config)
        assert out["pretrain-context"] == (want.context_length or model.context_length)
        assert out["pretrain-arch"] == (want.arch or model.arch)
        assert out["pretrain-vocab"] == (want.vocab_size or DEFAULT_VOCAB_SIZE["bpe"])


def test_the_instruct_try_panel_starts_from_the_cores_answer_defaults(demo):
    from pocketllm import ANSWER_TOKENS, Sampling
    from pocketllm.cli import build_parser
    blocks = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    assert blocks["ins-max-new"].value == ANSWER_TOKENS and blocks["ins-temperature"].value == Sampling().temperature
    args = build_parser().parse_args(["instruct", "--model_path", "m.safetensors"])
    assert args.max_new_tokens == ANSWER_TOKENS  # the CLI answers the same length
