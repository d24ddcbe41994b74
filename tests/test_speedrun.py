"""Issue 21's training knobs: the time budget, the wsd schedule, Muon, zero-initialised blocks and recipes."""
import argparse
from dataclasses import replace

import pytest
import torch

from pocketllm.cli import build_parser
from pocketllm.cli.argv import to_argv
from pocketllm.cli.pretrain import pretrain_settings_from_args
from pocketllm.errors import PocketLLMError
from pocketllm.model import GPTModel
from pocketllm.tasks.language_modeling import PretrainSettings, prepare_pretraining
from pocketllm.training import Step, TrainSettings, learning_rate, make_optimizer
from pocketllm.training.hardware import ThreadTuner, usable_cores
from pocketllm.training.optimizers import Muon, Optimizers, orthogonalize
from pocketllm.training.recipes import DEFAULT_RECIPE, RECIPES, apply_recipe
from test_training import losses, run_all, settings


# ---- the time budget -------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_a_time_budget_ends_within_one_step_and_the_rate_reaches_its_floor(tmp_path, schedule):
    trainer = prepare_pretraining(settings(tmp_path, max_steps=None, max_minutes=0.04, warmup_steps=None,
                                           lr=1e-2, min_lr_ratio=0.1, schedule=schedule, eval_every=10_000))
    events = run_all(trainer)
    budget = 0.04 * 60
    # the last step started before the budget was spent and ended at or after it
    assert trainer.train_seconds - trainer.last_step_seconds < budget <= trainer.train_seconds
    started = [e for e in events if e.kind == "started"][0]
    assert started.total_steps is None and started.budget_s == pytest.approx(budget)
    steps = [e for e in events if isinstance(e, Step)]
    assert len(steps) > 20
    evals = [e for e in events if e.kind == "eval"]
    assert evals and evals[-1].step == steps[-1].step  # a final evaluation of the last step's weights
    # The schedule is drawn over the budget: the peak after the warm-up, the floor when the budget is spent.
    assert max(s.lr for s in steps) == pytest.approx(1e-2, rel=0.05)
    assert steps[-1].lr < steps[len(steps) // 2].lr
    trainer.train_seconds = budget * 0.9995
    assert trainer._lr_factor(None) == pytest.approx(0.1, abs=0.005)
    trainer.train_seconds = budget * 0.3
    assert trainer._lr_factor(None) == (pytest.approx(1.0) if schedule == "wsd" else pytest.approx(
        learning_rate(300, 1000, 1.0, 50, 0.1)))


def test_a_spent_budget_cannot_be_resumed_without_more_time(tmp_path):
    first = prepare_pretraining(settings(tmp_path, max_steps=None, max_minutes=0.01))
    run_all(first)
    again = settings(tmp_path, max_steps=None, max_minutes=0.01)
    again.resume = str(first.model_path)
    with pytest.raises(PocketLLMError) as err:
        prepare_pretraining(again)
    assert err.value.code == "train.no_time_left"


@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_steps_that_come_before_the_budget_end_the_run_with_the_rate_at_its_floor(tmp_path, schedule):
    # The default recipe names 2 minutes and a step count: a quick look with 6 steps is 6 steps, not 2 minutes,
    # and its schedule still ends at the floor (the run is as far along as its steps or its minutes).
    trainer = prepare_pretraining(settings(tmp_path, max_steps=6, max_minutes=5.0, warmup_steps=None, lr=1e-2,
                                           min_lr_ratio=0.1, schedule=schedule, eval_every=10_000))
    events = run_all(trainer)
    steps = [e for e in events if isinstance(e, Step)]
    assert [e.step for e in steps] == [1, 2, 3, 4, 5, 6] and trainer.train_seconds < 60
    started = [e for e in events if e.kind == "started"][0]
    assert started.total_steps is None and started.step_cap == 6 and started.budget_s == pytest.approx(300)
    assert steps[-1].lr == pytest.approx(1e-3, rel=0.2) and steps[-1].lr < steps[2].lr
    # Continued with more steps (the same minutes), it goes on from step 6; with no more steps it is refused.
    more = settings(tmp_path, max_steps=9, max_minutes=5.0, eval_every=10_000)
    more.resume = str(trainer.model_path)
    assert [e.step for e in run_all(prepare_pretraining(more)) if isinstance(e, Step)] == [7, 8, 9]
    again = settings(tmp_path, max_steps=9, max_minutes=5.0)
    again.resume = str(trainer.model_path)
    with pytest.raises(PocketLLMError) as err:
        prepare_pretraining(again)
    assert err.value.code == "train.no_steps_left"


def test_wsd_holds_the_peak_then_falls_in_a_line_to_the_floor():
    lr = [learning_rate(s, 100, 1.0, 10, 0.1, "wsd", cooldown=0.5) for s in range(100)]
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in lr[10:54])       # stable until the cooldown's 45 steps
    assert lr[-1] == pytest.approx(0.1)                           # the floor at the last step
    falls = [a - b for a, b in zip(lr[55:], lr[56:])]
    assert all(d == pytest.approx(falls[0]) and d > 0 for d in falls)  # a straight line down


# ---- Muon ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (48, 48)])
def test_muon_orthogonalises_the_update(shape):
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    g[:, 0] *= 50  # one direction far stronger than the others, as gradients have
    singular = torch.linalg.svdvals(orthogonalize(g))
    # Newton–Schulz's band around 1 (a random square matrix has a few singular values near 0 that five
    # steps cannot lift all the way; Muon's coefficients trade that for speed)
    inside = ((singular > 0.5) & (singular < 1.5)).float().mean()
    assert inside > 0.9 and singular.max() < 1.5 and singular.median() == pytest.approx(1.0, abs=0.3)
    assert torch.linalg.svdvals(g).max() / torch.linalg.svdvals(g).min() > 20  # the input was far from it


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest(tiny_model):
    opt = make_optimizer(tiny_model, 1e-3, 0.1, torch.device("cpu"), "muon", 0.02)
    assert isinstance(opt, Optimizers) and isinstance(opt.parts["muon"], Muon)
    in_muon = {id(p) for g in opt.parts["muon"].param_groups for p in g["params"]}
    names = {n for n, p in tiny_model.named_parameters() if id(p) in in_muon}
    assert names and all(".weight" in n and p.dim() == 2 for n, p in tiny_model.named_parameters() if n in names)
    assert not any(n.startswith(("tok_emb", "pos_emb", "out_head")) for n in names)
    assert {g["peak_lr"] for g in opt.param_groups} == {1e-3, 0.02}


def test_a_tiny_model_learns_with_muon_and_resumes_only_with_it(tmp_path):
    trainer = prepare_pretraining(settings(tmp_path, max_steps=20, batch_size=4, lr=1e-2, optimizer="muon"))
    curve = losses(run_all(trainer))
    assert sum(curve[-3:]) / 3 < curve[0] - 1.0
    again = settings(tmp_path, max_steps=25, batch_size=4, lr=1e-2)  # adamw asked: the run's own optimizer stays
    again.resume = str(trainer.model_path)
    resumed = prepare_pretraining(again)
    assert resumed.settings.optimizer == "muon"
    assert len(losses(run_all(resumed))) == 5
    # A state saved by another optimizer is refused with a message, not a KeyError deep in torch.
    adamw = make_optimizer(trainer.model, 1e-3, 0.1, torch.device("cpu"))
    with pytest.raises(PocketLLMError) as err:
        make_optimizer(trainer.model, 1e-3, 0.1, torch.device("cpu"), "muon").load_state_dict(adamw.state_dict())
    assert err.value.code == "train.optimizer_differs"


def test_zero_init_starts_every_block_as_the_identity(tmp_path):
    s = settings(tmp_path, max_steps=3)
    s.zero_init = True
    trainer = prepare_pretraining(s)
    model = trainer.model
    writes = [p for n, p in model.named_parameters() if n.endswith(GPTModel.RESIDUAL_WRITES)]
    assert writes and all(float(p.detach().abs().max()) == 0 for p in writes)
    run_all(trainer)
    assert all(float(p.detach().abs().max()) > 0 for p in writes)  # and they learn


# ---- recipes and flags ------------------------------------------------------------------------

def test_classic_is_the_default_run_as_it_was():
    classic = apply_recipe(PretrainSettings(), "classic")
    # (keep_best came later: it changes no step of the run, only which evaluation's weights are saved when
    # validation loss rises at the end — never in this run, whose validation loss falls to its last step)
    # (its vocabulary said None, the bpe's default: 8,000 then and now)
    before = PretrainSettings(config="cpu-small", vocab_size=8000, train=TrainSettings(max_steps=400, lr=1e-3, eval_every=100,
                                                                       sample_every=100, keep_best=True))
    assert classic == before  # cpu-small GPT-2, AdamW at 1e-3, warm-up + cosine to 1e-4, 400 × 8 × 256
    assert classic.train.optimizer == "adamw" and classic.train.schedule == "cosine" and classic.arch is None
    args = build_parser().parse_args(["pretrain", "--recipe", "classic"])
    assert pretrain_settings_from_args(args) == before


def test_the_default_recipe_is_what_the_settings_start_from():
    assert apply_recipe(PretrainSettings(), DEFAULT_RECIPE) == PretrainSettings()


def test_the_default_model_is_the_measured_one_and_another_preset_is_its_own_model():
    from pocketllm import ModelConfig
    # bench/speedrun.py measured `--config cpu-tiny --arch qwen3 --context_length 256`: the preset is that model
    assert ModelConfig.load(PretrainSettings().config) == \
        ModelConfig.load("cpu-tiny").with_arch("qwen3").replace(context_length=256)
    parse = lambda *flags: pretrain_settings_from_args(build_parser().parse_args(["pretrain", *flags]))
    small = parse("--config", "cpu-small")
    assert (small.config, small.arch, small.context_length) == ("cpu-small", None, None)  # GPT-2's, its own 256
    assert parse("--tokenizer", "char").vocab_size is None  # a recipe's vocabulary size is a bpe's
    assert parse("--tokenizer", "gpt2").vocab_size is None
    assert parse("--vocab_size", "6000").vocab_size == 6000 and parse().vocab_size == 4000
    kept = parse("--init_from", "base.safetensors")  # a trained model keeps its own shape and tokenizer
    assert (kept.vocab_size, kept.arch, kept.context_length) == (None, None, None)


@pytest.mark.parametrize("flags, length", [
    ([], (10_000, 2.0)),                                        # the recipe's: 2 minutes, at most 10,000 steps
    (["--max_steps", "300"], (300, 0.0)),                       # 300 steps, not cut at 2 minutes
    (["--max_minutes", "1"], (None, 1.0)),                      # the clock alone
    (["--max_steps", "50", "--max_minutes", "3"], (50, 3.0)),   # whichever comes first
    (["--max_minutes", "0"], (None, 0.0)),                      # neither: the epochs
    (["--recipe", "classic"], (400, 0.0)),
])
def test_a_runs_length_is_one_choice_on_the_command_line(flags, length):
    args = build_parser().parse_args(["pretrain", *flags])
    got = pretrain_settings_from_args(args)
    assert (got.train.max_steps, got.train.max_minutes) == length
    assert pretrain_settings_from_args(build_parser().parse_args(to_argv(got, strict=True))) == got
    if flags[:1] != ["--recipe"]:  # the command says no more than it must
        assert to_argv(got).count("--max_steps") + to_argv(got).count("--max_minutes") <= len(flags) // 2


def test_a_flag_given_beside_a_recipe_wins():
    for name in RECIPES:
        args = build_parser().parse_args(["pretrain", "--recipe", name, "--lr", "0.007", "--no-zero_init"])
        got = pretrain_settings_from_args(args)
        assert got.train.lr == 0.007 and got.zero_init is False


@pytest.mark.parametrize("change", [
    {"max_minutes": 3.0}, {"max_minutes": 0.0}, {"optimizer": "muon"}, {"muon_lr": 0.05}, {"schedule": "cosine"},
    {"cooldown": 0.7}, {"config": "cpu-small"}, {"vocab_size": 8000},
    {"min_lr_ratio": 0.0}, {"dropout": 0.1}, {"zero_init": True}, {"arch": "qwen3"}, {"batch_size": 16},
])
def test_each_option_round_trips_through_the_command_line(change):
    s = PretrainSettings()
    for key, value in change.items():
        setattr(s if hasattr(s, key) else s.train, key, value)
    argv = to_argv(s, strict=True)
    assert argv[0] == "pretrain" and len(argv) > 1
    assert pretrain_settings_from_args(build_parser().parse_args(argv)) == s


def test_bad_knobs_are_named_in_one_message():
    with pytest.raises(PocketLLMError) as err:
        TrainSettings(optimizer="sgd", schedule="step", max_minutes=-1, cooldown=2).validate()
    text = str(err.value)
    assert err.value.code == "train.invalid_settings"
    assert all(word in text for word in ("optimizer", "schedule", "max_minutes", "cooldown"))


# ---- threads -----------------------------------------------------------------------------------

def test_the_thread_tuner_moves_to_the_faster_count_and_back():
    counts = []
    tuner = ThreadTuner(start=2, cores=2, every_s=10.0, trial_steps=3, set_count=counts.append)
    speed = {1: 1.0, 2: 0.5}          # seconds per step: 2 threads twice as fast (a quiet machine)
    for _ in range(40):
        tuner.after_step(speed[tuner.current], tokens=100)
    assert tuner.current == 2 and 1 in counts  # it tried 1 thread, and came back
    speed = {1: 1.0, 2: 4.8}          # a neighbour woke: 2 threads now crawl
    on_two = []
    for _ in range(100):
        on_two.append(tuner.current == 2)
        tuner.after_step(speed[tuner.current], tokens=100)
    assert tuner.best == 1 and tuner.changes >= 1
    # what the trials of the slow count cost: a few steps per round, rounds ever further apart
    assert sum(on_two) <= 12, sum(on_two)


def test_a_cpu_run_with_threads_left_to_it_is_tuned(tmp_path):
    trainer = prepare_pretraining(settings(tmp_path, max_steps=3, threads=0))
    run_all(trainer)
    assert (trainer.thread_tuner is not None) == (usable_cores() > 1)
    pinned = prepare_pretraining(settings(tmp_path, name="pinned", max_steps=3, threads=1))
    run_all(pinned)
    assert pinned.thread_tuner is None


def test_every_recipe_names_the_same_choices_and_its_settings_are_valid():
    """Picking one recipe after another leaves nothing of the first behind."""
    names = {frozenset(r.choices) for r in RECIPES.values()}
    assert len(names) == 1
    for name in RECIPES:
        s = apply_recipe(PretrainSettings(), name)
        s.train.validate()
        assert pretrain_settings_from_args(build_parser().parse_args(to_argv(s, strict=True))) == s
    fast = apply_recipe(PretrainSettings(), "speedrun")
    assert (fast.config, fast.train.schedule, fast.train.max_minutes) == ("cpu-tiny-qwen3", "wsd", 2.0)
    # the context the rest of the default path reads, four windows a step, the vocabulary a tiny head affords
    assert (fast.train.batch_size, fast.vocab_size) == (4, 4000)
