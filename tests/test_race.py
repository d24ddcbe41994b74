"""The Pretrain tab's worked example: classic against the default recipe, the same minutes each, one run
after the other (a job of two runs), drawn against time while they train."""
from __future__ import annotations

import time

import pytest

from pocketllm import DEFAULT_RECIPE, PretrainSettings, apply_recipe, prepare_pretraining, race_settings
from pocketllm.jobs import JobRunner, read_run
from pocketllm.training.recipes import RECIPES
from test_training import settings as tiny_settings


def test_race_settings_give_each_recipe_the_same_minutes_and_nothing_else_of_its_own(tmp_path):
    classic, fast = race_settings("corpus.txt", tmp_path, minutes=3.0)
    assert (classic.run_dir, fast.run_dir) == (str(tmp_path / "race-classic"), str(tmp_path / "race-speedrun"))
    for s, name in ((classic, "classic"), (fast, DEFAULT_RECIPE)):
        want = apply_recipe(PretrainSettings(data_path="corpus.txt"), name)
        # the recipe's model, tokenizer, optimizer, rate, batch and schedule; the clock alone ends it
        for key in ("config", "arch", "vocab_size", "context_length"):
            assert getattr(s, key) == getattr(want, key), key
        for key in ("optimizer", "lr", "batch_size", "schedule", "warmup_steps", "cooldown"):
            assert getattr(s.train, key) == getattr(want.train, key), key
        assert (s.train.max_minutes, s.train.max_steps) == (3.0, None)
        # evaluated about ten times in its minutes, whatever its step cost
        assert 8 <= RECIPES[name].steps_per_minute * 3.0 / s.train.eval_every <= 12


def test_a_series_runs_one_after_the_other_and_stop_ends_it(tmp_path):
    runner = JobRunner()
    first, second = (tiny_settings(tmp_path, name=n, max_steps=3) for n in ("a", "b"))
    job = runner.start_series("pretrain", [lambda stop, s=s: prepare_pretraining(s, stop) for s in (first, second)])
    assert read_run(tmp_path / "b").status == "not started"  # both prepared at once: bad input is said first
    runner.wait(60)
    assert job.status == "finished" and job.run_dir == tmp_path / "b"  # the job names the run that trained last
    a_end = read_run(tmp_path / "a").events[-1]["time"]
    b_start = [e for e in read_run(tmp_path / "b").events if e["kind"] == "started"][0]["time"]
    assert a_end <= b_start  # one after the other
    # Stop during the first run: the second never starts.
    slow = tiny_settings(tmp_path, name="c", max_steps=100_000)
    after = tiny_settings(tmp_path, name="d", max_steps=3)
    job = runner.start_series("pretrain", [lambda stop, s=s: prepare_pretraining(s, stop) for s in (slow, after)])
    time.sleep(1.0)
    runner.stop()
    runner.wait(60)
    assert job.status == "stopped" and read_run(tmp_path / "d").status == "not started"


@pytest.mark.slow  # (20 s: the app, two tokenizers, two runs)
def test_the_race_button_trains_both_and_draws_them_against_time(tmp_path, monkeypatch):
    """From the page's handler, with a race of a few seconds: both runs picked, x = time, y = bits per
    character, the status line says each run's final figure (and the page's language)."""
    from ui import experiments
    from ui.app import build_app
    monkeypatch.setattr(experiments, "RACE_MINUTES", 0.02)
    monkeypatch.setattr(experiments, "RACE_REFRESH_S", 0.5)
    corpus = tmp_path / "zh_classics.txt"  # (the bundled text's name; a short one: tokenizers learn it at once)
    corpus.write_text("子曰：学而时习之，不亦说乎？有朋自远方来，不亦乐乎？人不知而不愠，不亦君子乎？\n" * 400,
                      encoding="utf-8")
    monkeypatch.setattr(experiments, "BUNDLED_CORPORA", {"zh_classics": corpus, "shakespeare": corpus})
    app = build_app(tmp_path / "checkpoints", temp_dir=tmp_path / "temp")
    race = next(f for f in app.fns.values() if f.api_name == "compare_race")
    outs = [getattr(c, "elem_id", None) for c in race.outputs]
    steps = list(race.fn("zh"))
    first = dict(zip(outs, steps[0]))
    picked = first["compare-runs"]["value"]
    assert len(picked) == 2 and picked[0].endswith("-classic") and picked[1].endswith(f"-{DEFAULT_RECIPE}")
    assert (first["compare-x"], first["compare-y"]) == ("elapsed", "bits_per_char")
    last = dict(zip(outs, steps[-1]))
    assert "赛跑结束" in last["compare-status"] and "speedrun" in last["compare-status"], last["compare-status"]
    for name in picked:  # each trained on the Chinese classics for its minutes, and was evaluated at its end
        view = read_run(tmp_path / "checkpoints" / name)
        assert view.status == "finished" and view.settings["data_path"].endswith("zh_classics.txt")
        assert view.settings["train"]["max_minutes"] == 0.02 and view.of_kind("eval")
    assert len([trace for trace in last["compare-plot"].data if len(trace.x)]) >= 2  # a curve each


def test_the_race_says_its_minutes():
    from ui import experiments
    from ui.i18n import t
    for lang in ("en", "zh"):
        assert f"{experiments.RACE_MINUTES:g} " in t(lang, "exp.race_about")


def test_a_run_the_clock_ended_is_told_to_take_more_minutes(tmp_path):
    """The default run ends on its minutes: the status line asks for more minutes, not more steps (a run its
    step cap ended, or a run of steps, is asked for more steps)."""
    from pocketllm.jobs import RunView
    from ui.runs import status_line

    def line(lang, started, step):
        events = [{"kind": "started", **started}, {"kind": "step", "step": step}, {"kind": "finished", "step": step}]
        return status_line(RunView(tmp_path, {}, events, "finished"), lang, "pretrain")
    clock = {"total_steps": None, "budget_s": 120.0, "step_cap": 10_000}
    assert "分钟数" in line("zh", clock, 1215) and "2 分钟" in line("zh", clock, 1215)
    assert "**minutes** above 2" in line("en", clock, 1215)
    assert "**steps** above 50" in line("en", {**clock, "step_cap": 50}, 50)
    assert "**steps** above 400" in line("en", {"total_steps": 400}, 400)


def test_a_runs_recipe_is_known_from_its_settings():
    from pocketllm.training.recipes import recipe_of
    classic, fast = race_settings("corpus.txt", "runs")
    assert (recipe_of(classic), recipe_of(fast)) == ("classic", "speedrun")  # their length aside
    assert recipe_of(PretrainSettings()) == DEFAULT_RECIPE
    changed = PretrainSettings()
    changed.train.lr = 3e-3
    assert recipe_of(changed) is None
