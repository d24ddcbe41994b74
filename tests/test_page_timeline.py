"""Watch it learn on the page: Look inside's timeline over a run's snapshots (the step list is the
snapshots', another step redraws the views, a run without snapshots says how to get them, a path
from outside the folder is refused), the phase change found by the core, the timeline chart, and
the snapshots choice of the training tabs carried into the core's TrainSettings and back."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest

from pocketllm import SNAPSHOTS_AUTO_MAX_PARAMETERS, PretrainSettings, TrainSettings, phase_change, snapshot_steps
from pocketllm.cli import main
from ui.tabs.generate import TIMELINE_IN, TIMELINE_RUN_OUT, TIMELINE_VIEWS

WORDS = "the cat sat on a mat and dog ran to big red box".split()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A checkpoints folder with a tiny finished run that kept snapshots (steps 0, 10, 20), and one that did not."""
    import random
    root = tmp_path_factory.mktemp("timeline")
    rng = random.Random(0)
    (root / "corpus.txt").write_text("\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) + "."
                                               for _ in range(300)) + "\n", encoding="utf-8")
    (root / "tiny.json").write_text(json.dumps(dict(vocab_size=300, context_length=32, emb_dim=32, num_heads=2,
                                                    num_layers=2, drop_rate=0.0, qkv_bias=True)))
    checkpoints = root / "checkpoints"

    def pretrain(name, *extra):
        assert main(["pretrain", "--config", str(root / "tiny.json"), "--data_path", str(root / "corpus.txt"),
                     "--tokenizer", "char", "--run_dir", str(checkpoints / name), "--max_steps", "20",
                     "--batch_size", "4", "--lr", "0.01", "--eval_every", "10", "--eval_batches", "1",
                     "--sample_every", "0", "--dtype", "fp32", "--threads", "1", "--quiet", *extra]) == 0

    pretrain("without", "--no-snapshots")
    pretrain("with-snapshots")
    return checkpoints


@pytest.fixture(scope="module")
def demo(folder, tmp_path_factory):
    from ui.app import build_app
    return build_app(folder, temp_dir=tmp_path_factory.mktemp("temp"))


def handler(demo, api_name):
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == api_name)


def block_fn(demo, api_name):
    return next(fn for fn in demo.fns.values() if fn.api_name == api_name)


def args(names, **values) -> list:
    start = {"tl.run": "with-snapshots", "tl.step": 1, "tl.prompt": "the cat sat on", "tl.layer": 1, "tl.head": 0,
             "lang": "en", "sample.temperature": 1.0, "sample.top_k": 0, "sample.top_p": 1.0,
             "sample.valid_utf8": True, "sample.repetition_penalty": 1.0, "sample.min_p": 0.0}
    return [values.get(n.replace(".", "_"), start[n]) for n in names]


def out(names, row) -> dict:
    return dict(zip(names, row))


def probs(fig) -> list:
    return list(fig.data[0].x)


def test_the_runs_are_listed_with_their_snapshots(demo):
    picker = out(["tl.run"], [handler(demo, "timeline_runs")(None, "en")])["tl.run"]
    labels = dict((v, k) for k, v in picker["choices"])
    assert labels["with-snapshots"] == "with-snapshots · 3 snapshots"
    assert labels["without"] == "without · no snapshots"
    assert picker["value"] == "with-snapshots"  # the newest run first
    zh = dict((v, k) for k, v in handler(demo, "timeline_runs")(None, "zh")["choices"])
    assert zh["with-snapshots"] == "with-snapshots · 3 个快照"


def test_the_slider_goes_over_the_snapshot_steps_and_every_view_redraws(demo, folder):
    steps = snapshot_steps(folder / "with-snapshots")
    assert steps == [0, 10, 20]
    first = out(TIMELINE_RUN_OUT, handler(demo, "timeline_run")(*args(TIMELINE_IN)))
    slider = first["tl.step"]
    assert (slider["minimum"], slider["maximum"], slider["value"], slider["interactive"]) == (1, len(steps), 1, True)
    assert "Snapshot 1 of 3: step 0" in first["tl.step_note"]
    assert first["tl.prompt"]  # the run's held-out prompt
    assert "No phase change" in first["tl.note"]  # 20 steps: too short for induction heads
    chart = first["tl.chart"]
    names = [tr.name for tr in chart.data]
    assert "validation bits/char" in names and "the same tokens repeated, 2nd time (nats)" in names
    assert list(next(tr for tr in chart.data if tr.name == "snapshots").x) == steps
    assert [s["x0"] for s in chart.layout.shapes] == [0]  # the slider's place
    step = handler(demo, "timeline_step")
    views = [out(TIMELINE_VIEWS, step(*args(TIMELINE_IN, tl_step=k, tl_prompt=first["tl.prompt"]))) for k in (1, 2, 3)]
    for k, view in zip(steps, views):
        assert f"step {k}**" in view["tl.step_note"]
        assert [s["x0"] for s in view["tl.chart"].layout.shapes] == [k]
    # step 0 guesses evenly; the trained model does not: the next-token chart's data changes
    assert probs(views[0]["tl.next"]) != probs(views[2]["tl.next"])
    assert max(probs(views[2]["tl.next"])) > 2 * max(probs(views[0]["tl.next"]))
    for name in ("tl.attention", "tl.lens"):
        assert views[0][name].data[0].z is not None
        assert [list(r) for r in views[0][name].data[0].z] != [list(r) for r in views[2][name].data[0].z]
    # a step past the end shows the last; the same step twice is served from the cache, with the same data
    again = out(TIMELINE_VIEWS, step(*args(TIMELINE_IN, tl_step=99, tl_prompt=first["tl.prompt"])))
    assert probs(again["tl.next"]) == probs(views[2]["tl.next"])


def test_play_moves_the_slider_to_the_last_snapshot_and_stops(demo):
    names = ["tl.playing", "tl.timer", "tl.step", "tl.play"]
    started = out(names, handler(demo, "timeline_play")("with-snapshots", 3, False, "en"))
    assert started["tl.playing"] is True and started["tl.step"] == 1  # from the end: back to the start
    tick = next(fn.fn for fn in demo.fns.values() if fn.fn is not None and fn.fn.__name__ == "on_tick"
                and getattr(fn.inputs[0], "elem_id", None) == "gen-tl-run")
    assert out(names, tick("with-snapshots", 1, True, "en"))["tl.step"] == 2
    last = out(names, tick("with-snapshots", 2, True, "en"))
    assert last["tl.step"] == 3 and last["tl.playing"] is False


def test_a_run_without_snapshots_says_how_to_get_them(demo):
    for lang, said in (("en", "--snapshots"), ("zh", "训练快照")):
        shown = out(TIMELINE_RUN_OUT, handler(demo, "timeline_run")(*args(TIMELINE_IN, tl_run="without", lang=lang)))
        assert said in shown["tl.note"] and shown["tl.step"]["interactive"] is False
        assert shown["tl.chart"].data  # its probes are still drawn


def test_a_path_from_outside_the_runs_is_refused(demo, folder):
    for bad in ("../timeline", str(folder.parent), "with-snapshots/../../", "", None):
        shown = out(TIMELINE_RUN_OUT, handler(demo, "timeline_run")(*args(TIMELINE_IN, tl_run=bad)))
        assert list(shown) == ["tl.note"] or all(v is not None for v in shown.values())
        assert "Pick a run" in str(shown["tl.note"])


def test_the_phase_change_needs_the_repeat_loss_to_fall_and_an_induction_head():
    def series(rows):
        return [{"step": s, "induction": {"loss_first": 5.0, "loss_second": second, "best": best,
                                          "best_layer": 2, "best_head": 1}} for s, second, best in rows]
    found = phase_change(series([(0, 5.0, 0.03), (100, 4.5, 0.05), (200, 3.0, 0.35), (300, 1.2, 0.7),
                                 (400, 0.8, 0.8)]))
    assert found["step"] == 300 and (found["best_layer"], found["best_head"]) == (2, 1)
    assert phase_change(series([(s, 5.0, 0.03) for s in range(0, 500, 100)])) is None  # flat: none
    assert phase_change(series([(0, 5.0, 0.03), (100, 1.0, 0.05)])) is None  # the loss alone is not enough
    assert phase_change([{"step": 7, "induction": {"loss_first": 5.0, "loss_second": 1.0}}])["step"] == 7  # older


def test_the_timeline_chart_marks_the_step_and_names_the_phase_change():
    from ui.plots import timeline_figure
    points = [{"step": s, "val_bits_per_char": b, "loss_first": 5.0, "loss_second": l2, "best_induction": i,
               "entropy": 3.0} for s, b, l2, i in ((0, None, 5.0, 0.02), (100, 3.0, 4.0, 0.1), (200, 2.5, 1.0, 0.7))]
    fig = timeline_figure(points, 100, {"step": 200}, [0, 100, 200], "zh")
    assert sorted(s["x0"] for s in fig.layout.shapes) == [100, 200]
    assert any("相变" in a.text and "200" in a.text for a in fig.layout.annotations)
    assert fig.layout.yaxis2.range == (-0.02, 1.02)
    assert timeline_figure([], lang="zh").layout.annotations[0].text.startswith("这次训练没有探测记录")


# ---- the snapshots choice of the training tabs ---------------------------------------------------

def test_the_snapshots_choice_starts_from_the_core_and_reaches_train_settings(demo):
    from ui.training_parts import snapshots_of, snapshots_value
    assert TrainSettings().snapshots is None and PretrainSettings().train.snapshots is None
    assert snapshots_value(TrainSettings().snapshots) == "auto"
    assert [snapshots_of(v) for v in ("auto", "on", "off", None)] == [None, True, False, None]
    with pytest.raises(Exception, match="Snapshots"):
        snapshots_of("yes")
    assert SNAPSHOTS_AUTO_MAX_PARAMETERS == 50_000_000  # as the setting's info says
    for kind, elem in (("pretrain", "pretrain-snapshots"), ("classify", "cls-snapshots"), ("instruct", "ins-snapshots")):
        box = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem)
        assert box.value == "auto" and [v for _, v in box.choices] == ["auto", "on", "off"]
        fn = block_fn(demo, f"{kind}_command")
        # among the last inputs (after it only settings added later): a call that leaves it out keeps the default
        at = len(fn.inputs) - 1 - (kind == "classify")  # Classify's new-words box came later
        assert fn.inputs[at] is box
        values = [c.value for c in fn.inputs]
        shown = {choice: handler(demo, f"{kind}_command")(*values[:at], choice, *values[at + 1:])
                 for choice in ("auto", "on", "off")}
        flags = {choice: re.findall(r"--(?:no-)?snapshots\b", text) for choice, text in shown.items()}
        assert flags == {"auto": [], "on": ["--snapshots"], "off": ["--no-snapshots"]}, shown


def test_a_runs_snapshots_setting_comes_back_into_the_form():
    from ui.training_parts import TrainingTab, carry_snapshots

    class Els(dict):
        pass

    els = Els({"train.snapshots": object()})
    tab = TrainingTab(kind="pretrain", els=els, form=["train.steps"],
                      settings_of=lambda v: PretrainSettings(train=TrainSettings(max_steps=v["train.steps"])),
                      form_of=lambda s: {"train.steps": s.train.max_steps}, settings_of_run=None, prepare=None,
                      draw=None, blank=None, live=[])
    carry_snapshots(tab)
    assert tab.extra == ["train.snapshots"]
    assert tab.settings_of({"train.steps": 7, "train.snapshots": "off", "lang": "en"}).train.snapshots is False
    assert tab.settings_of({"train.steps": 7}).train.snapshots is None  # left out: the core's default
    run = PretrainSettings(train=dataclasses.replace(TrainSettings(), snapshots=True, max_steps=9))
    assert tab.form_of(run) == {"train.steps": 9, "train.snapshots": "on"}
    carry_snapshots(tab)  # once only
    assert tab.extra == ["train.snapshots"]
