"""The parts the training tabs are built from (ui/elements.py, ui/training_parts.py, ui/runs.py),
without a server: handlers over named elements, the dropdown refresh, buttons that look
enabled only when they can act, downloads named after the run, the smoothed curves, the
held-out table's empty answers, and the tabs' texts (both languages, no emoji)."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace as NS

import gradio as gr
import pytest

from pocketllm import STATE_FILE, GPTModel, ModelConfig, PocketLLMError, RunView, save_checkpoint
from ui import plots
from ui.elements import Elements, choice_update
from ui.i18n import _load, t
from ui.runs import download_copy, status_line
from ui.state import AppState


class FakeRunner:
    def __init__(self, running=False):
        self.current = object() if running else None


def make_elements(tmp_path, running=False):
    with gr.Blocks():
        lang = gr.Radio(["en", "zh"], value="en")
        state = NS(runner=FakeRunner(running), temp=tmp_path / "temp", checkpoints=tmp_path)
        ctx = NS(lang=lang, page=NS(text=lambda key, **kw: key, add=lambda c, **kw: c, lang="en"), state=state)
        els = Elements(ctx)
        els.add("a", gr.Number(1))
        els.add("b", gr.Textbox())
        els.add("status", gr.Markdown())
    return els


def test_a_handler_takes_and_returns_dicts_keyed_by_element(tmp_path):
    els = make_elements(tmp_path)
    fn = els.handler(lambda v: {"b": f"a is {v['a']}"}, ["a", "lang"], ["b", "status"], status="status")
    b, status = fn(3, "en")
    assert b == "a is 3" and status == gr.skip()  # what it leaves out is kept as it was
    with pytest.raises(ValueError):
        els.add("a", gr.Number())  # each element is named once
    with pytest.raises(KeyError):
        els.handler(lambda v: {}, ["nope"], ["b"])


def test_an_error_goes_to_the_status_element_and_keeps_the_rest(tmp_path):
    els = make_elements(tmp_path)

    def refuses(v):
        raise PocketLLMError("not a number")
    b, status = els.handler(refuses, ["a", "lang"], ["b", "status"], status="status")(3, "zh")
    assert b == gr.skip() and "not a number" in status
    wrong = els.handler(lambda v: {"a": 1}, ["a"], ["b", "status"], status="status")
    assert "a" in wrong(1)[1]  # an output it does not have is a programming error, said in the status

    def streams(v):
        yield {"b": "x"}
        yield {"b": "xy"}
    assert list(els.handler(streams, ["a"], ["b", "status"])(1)) == [("x", gr.skip()), ("xy", gr.skip())]


def test_a_refreshed_dropdown_keeps_the_current_choice_else_the_first():
    choices = [("one", "/a"), ("two", "/b")]
    assert choice_update(choices, "/b")["value"] == "/b"
    assert choice_update(choices, "/gone")["value"] == "/a"
    assert choice_update([], "/gone")["value"] is None


def run_folder(tmp_path, status_events, state=True, name="pretrain-20260101-120000"):
    run = tmp_path / name
    run.mkdir(parents=True)
    model = run / "model.safetensors"
    save_checkpoint(model, GPTModel(ModelConfig(vocab_size=300, context_length=8, emb_dim=8, num_heads=1,
                                                num_layers=1)))
    if state:
        (run / STATE_FILE).write_bytes(b"state")
    events = [{"kind": "started", "total_steps": 80, "time": 0},
              {"kind": "step", "step": 80, "tokens_seen": 1000, "train_loss": 2.0, "time": 1},
              {"kind": "checkpoint", "step": 80, "time": 2}] + status_events
    return RunView(run, {"model_path": str(model), "train": {"max_steps": 80}}, events,
                   status_events[-1]["kind"] if status_events else "running")


def test_a_finished_run_can_be_continued_and_its_download_says_which_run_and_step(tmp_path):
    view = run_folder(tmp_path, [{"kind": "finished", "step": 80, "time": 3}])
    assert view.can_resume
    assert not run_folder(tmp_path / "x", [{"kind": "finished", "step": 80, "time": 3}], state=False).can_resume
    assert not run_folder(tmp_path / "y", []).can_resume  # still running
    state = AppState(tmp_path, tmp_path / "temp")
    copy = download_copy(state, view, view.model_path)
    assert copy.name == "pretrain-20260101-120000-step80.safetensors"
    assert copy.read_bytes() == view.model_path.read_bytes()
    assert download_copy(state, view, view.model_path) == copy  # made once
    # Finished early, with the best evaluation's weights kept: the status says both, the name the kept step.
    early = run_folder(tmp_path / "z", [{"kind": "finished", "step": 60, "stopped_early": True, "kept_step": 40,
                                         "time": 3}])
    line = status_line(early, "en", "classify")
    assert "stopped early at step 60" in line and "keeps step 40" in line
    assert "第 60 步提前停止" in status_line(early, "zh", "classify")
    assert download_copy(state, early, early.model_path).name.endswith("-step40.safetensors")


def test_stop_and_continue_look_enabled_only_when_they_can_act(tmp_path):
    from ui.training_parts import buttons
    for running in (False, True):
        els = make_elements(tmp_path, running)
        els.add("run.start", gr.Button())
        els.add("run.stop", gr.Button())
        els.add("run.resume", gr.Button())
        tab = NS(els=els)
        finished = run_folder(tmp_path / str(running), [{"kind": "finished", "step": 80, "time": 3}])
        shown = buttons(tab, finished)
        assert shown["run.stop"]["interactive"] is running and shown["run.start"]["interactive"] is not running
        assert shown["run.stop"]["variant"] == ("stop" if running else "secondary")
        assert shown["run.resume"]["interactive"] is not running
        assert buttons(tab, None)["run.resume"]["interactive"] is False


def test_curves_are_smoothed_with_the_raw_values_faint_and_share_the_step_axis():
    assert plots.smoothed([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])  # no start-up bias
    noisy = [1.0, 0.0] * 20
    assert max(plots.smoothed(noisy)[10:]) - min(plots.smoothed(noisy)[10:]) < 0.3
    events = [{"kind": "step", "step": i, "tokens_seen": 100 * i, "train_loss": 3 - i / 20 + (i % 2),
               "metrics": {"accuracy": (i % 2) * 0.5 + 0.25}} for i in range(1, 30)]
    events.append({"kind": "eval", "step": 29, "tokens_seen": 2900, "val": {"loss": 2.0, "accuracy": 0.7},
                   "train": {"accuracy": 0.8}})
    loss = plots.loss_figure(events, "en", x="step", smooth=True)
    acc = plots.accuracy_figure(events, "en", title="Accuracy")
    for fig in (loss, acc):
        assert fig.layout.xaxis.title.text == "step"
        faint = [tr for tr in fig.data if tr.opacity == 0.25]
        assert len(faint) == 1 and faint[0].showlegend is False
    assert acc.layout.yaxis.tickformat == ".0%"
    assert plots.loss_figure(events, "en").layout.xaxis.title.text == "tokens seen"  # pretrain's stays


def test_the_held_out_table_names_an_empty_answer(tmp_path):
    from ui.tabs.instruct import WIDTHS, results_parts
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps([{"instruction": "Reverse the word.", "input": "cat", "expected": "tac",
                                    "generated": "\n\n", "correct": False},
                                   {"instruction": "Add.", "input": "1 2", "expected": "3", "generated": "3",
                                    "correct": True}]), encoding="utf-8")
    results = {"exact_match": 0.5, "test_generated": 2, "responses_path": str(answers)}
    for lang, empty in (("en", "(empty answer)"), ("zh", "（空回答）")):
        table = results_parts(results, lang)["results.answers"]
        assert list(table.iloc[:, 3]) == [empty, "3"]
    assert len(WIDTHS) == 5 and sum(int(w.rstrip("%")) for w in WIDTHS) == 100


TAB_PREFIXES = ("training.", "pretrain.", "classify.", "instruct.", "plots.")
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]")


def test_the_training_tabs_texts_need_no_emoji_font_and_the_chinese_page_is_chinese():
    texts = _load()
    keys = [k for k in texts["en"] if k.startswith(TAB_PREFIXES)]
    assert len(keys) > 150
    for lang in ("en", "zh"):
        marked = [k for k in keys if EMOJI.search(texts[lang][k])]
        assert not marked, marked
    # Every Chinese text has Chinese in it, or is the same as the English one on purpose (a name, F1, the
    # word the example instruction reverses).
    same = {k for k in keys if texts["zh"][k] == texts["en"][k]}
    english = [k for k in keys if k not in same and not re.search("[\u4e00-\u9fff]", texts["zh"][k])]
    assert not english, english
    assert all(re.fullmatch(r"[^a-z]*|.*(LoRA|F1|BPE|GPT-2|alpha|dropout|pocket|Llama|Qwen|AdamW|Muon).*", texts["zh"][k], re.S) for k in same), \
        [texts["zh"][k] for k in same]
    assert t("zh", "instruct.done") == "完成：回答已全部写出。"  # not "streamed 60 pieces of text"


def test_the_classify_placeholder_looks_like_the_bundled_data():
    from pocketllm import DEFAULT_TABLE
    first = Path(DEFAULT_TABLE).read_text(encoding="utf-8").splitlines()[1]
    assert " | " in first  # subject | body
    assert " | " in t("en", "classify.message_placeholder") and " | " in t("zh", "classify.message_placeholder")


def test_the_command_box_wraps(tmp_path):
    from ui.app import build_app
    demo = build_app(tmp_path / "checkpoints", temp_dir=tmp_path / "temp")
    boxes = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None) in
             ("pretrain-cli", "cls-cli", "ins-cli")}
    assert len(boxes) == 3 and all(b.wrap_lines for b in boxes.values())
    demo.pocketllm_state.cleanup()
    time.sleep(0)
