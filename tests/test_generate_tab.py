"""The Generate tab on its named elements: the sliders are one value, the core's Sampling
(they start from `Sampling()` and are read back by one function); the prompt starts from
the model's own corpus; status lines follow a language switch; the charts say "0.00 bits",
draw a newline alternative and keep the legend off the title.  The browser test checks
that the button and the text it makes are in one view on a 1366×768 laptop, in Chinese.

Screenshots land in tests/screenshots/ (generate-tab-*.png).
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import torch

from pocketllm import (GeneratedToken, GPTModel, ModelConfig, PocketLLMError, Sampling, inspect, load_model,
                       load_sampling_preset, save_checkpoint, stream)
from pocketllm.cli import main
from tests.app_fixtures import free_port

ZH_TEXT = Path(__file__).resolve().parents[1] / "data" / "pretrain" / "zh_classics.txt"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> dict:
    """A checkpoints folder with a tiny pretraining run on Chinese classics (its run.json
    holds the corpus's sample prompt) and a file with no run."""
    root = tmp_path_factory.mktemp("gen-tab")
    corpus = root / "classics.txt"
    corpus.write_text(ZH_TEXT.read_text(encoding="utf-8")[:6000], encoding="utf-8")
    shape = root / "tiny.json"
    shape.write_text(json.dumps(dict(vocab_size=300, context_length=128, emb_dim=32, num_heads=2, num_layers=1,
                                     drop_rate=0.0, qkv_bias=True)))
    checkpoints = root / "checkpoints"
    torch.manual_seed(0)
    save_checkpoint(checkpoints / "plain.safetensors",
                    GPTModel(ModelConfig(vocab_size=50257, context_length=64, emb_dim=32, num_heads=2, num_layers=1,
                                         drop_rate=0.0)).eval())
    run_dir = checkpoints / "classics-run"  # the newest: the model the picker starts on
    assert main(["pretrain", "--config", str(shape), "--data_path", str(corpus), "--tokenizer", "char",
                 "--run_dir", str(run_dir), "--max_steps", "3", "--batch_size", "2", "--eval_every", "0",
                 "--sample_every", "0", "--dtype", "fp32", "--threads", "1", "--quiet"]) == 0
    sample_prompt = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["sample_prompt"]
    return {"root": root, "checkpoints": checkpoints, "run_model": str(next(run_dir.glob("*.safetensors"))),
            "plain": str(checkpoints / "plain.safetensors"), "sample_prompt": sample_prompt}


@pytest.fixture(scope="module")
def demo(folder):
    from ui.app import build_app
    return build_app(folder["checkpoints"], temp_dir=folder["root"] / "temp")


def component(demo, elem_id):
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def handler(demo, name, writes=None):
    """The Generate tab's handler: by its api name, or a private one by its function's name and
    an element it writes (several tabs have an "on_lang")."""
    if writes is None:
        return next(fn.fn for fn in demo.fns.values() if fn.api_name == name)
    return next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", None) == name
                and writes in {getattr(o, "elem_id", None) for o in fn.outputs})


def last(out):
    out = list(out)
    return out[-1]


# ---- the sliders are the core's Sampling -------------------------------------------------------
def test_the_sliders_start_from_the_cores_sampling_and_a_preset_is_picked(demo):
    from ui.tabs.generate import DEFAULT_NEW, widget_values
    start = widget_values(Sampling())
    for elem_id, name in (("gen-temperature", "sample.temperature"), ("gen-top-k", "sample.top_k"),
                          ("gen-top-p", "sample.top_p"), ("gen-rep-penalty", "sample.repetition_penalty"),
                          ("gen-min-p", "sample.min_p"), ("gen-stop-strings", "sample.stop"),
                          ("gen-seed", "sample.seed"), ("gen-utf8", "sample.valid_utf8")):
        assert component(demo, elem_id).value == start[name], elem_id
    assert start["sample.temperature"] == Sampling().temperature
    assert start["sample.seed"] == "" and Sampling().seed is None  # an empty box: a new seed every time
    assert component(demo, "gen-max-new").value == DEFAULT_NEW == 50  # the core's (and the CLI's) default
    picked = component(demo, "gen-preset").value
    assert picked and load_sampling_preset(picked) == Sampling()  # the preset the sliders are


@pytest.mark.parametrize("name", ["greedy", "balanced", "creative"])
def test_one_function_reads_the_sliders_back_as_the_same_sampling(name):
    from ui.tabs.generate import sampling_of, widget_values
    preset = load_sampling_preset(name)
    assert sampling_of({**widget_values(preset), "lang": "en"}) == preset
    assert sampling_of({"lang": "en"}) == Sampling()  # an element an event does not read keeps the default
    with pytest.raises(PocketLLMError, match="重复惩罚"):
        sampling_of({"sample.repetition_penalty": 99, "lang": "zh"})


# ---- the prompt starts from the model's corpus ---------------------------------------------------
def test_the_default_prompt_is_the_start_of_the_models_own_corpus(demo, folder):
    on_models = handler(demo, "on_models", writes="gen-prompt")  # on load and on a language switch
    update, prompt, auto = on_models(folder["run_model"], "Once upon a time", None, "zh")
    assert update["value"] == folder["run_model"]
    assert prompt == auto == folder["sample_prompt"] and re.search(r"[\u4e00-\u9fff]", prompt)
    # A model whose corpus says nothing: the page's example; a person's own prompt is never replaced.
    _, prompt, _ = on_models(folder["plain"], folder["sample_prompt"], folder["sample_prompt"], "en")
    assert prompt == "Once upon a time"
    picked = handler(demo, "on_model_picked", writes="gen-prompt")
    assert picked(folder["run_model"], "Once upon a time", None, "en")[0] == folder["sample_prompt"]
    assert picked(folder["run_model"], "my own words", None, "en")[0] == {"__type__": "update"}  # kept


# ---- status lines say it again in the new language -----------------------------------------------
def test_the_generate_note_follows_a_language_switch(demo, folder):
    generate = handler(demo, "generate")
    text, note, said = last(generate(folder["run_model"], "学而", 0.0, 0, 1.0, 5, None, "en"))
    assert text == "".join(stream(load_model(folder["run_model"]), "学而", 5, Sampling()))
    assert note.startswith("Prompt: ") and "Generated" in note
    on_lang = handler(demo, "on_lang", writes="gen-note")
    zh, _ = on_lang(note, said, "", None, "zh")
    assert zh.startswith("提示词：") and "共生成" in zh and "Prompt" not in zh
    # Only what the page said is said again: an error shown since (or a cleared line) stays.
    assert on_lang("⚠️ **出错了**: …", said, "", None, "en")[0] == {"__type__": "update"}


# ---- the charts ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(folder):
    return load_model(folder["run_model"])


def test_a_one_hot_has_zero_bits_not_minus_zero(tiny):
    from ui import plots
    nt = inspect.next_token(tiny, "学而", Sampling(), n=5)  # greedy: all the mass on one token
    title = plots.next_token_figure(nt, "en").layout.title.text
    assert "→ 0.00 bits" in title and "-0.00" not in title
    assert plots.bits_text(-0.0) == plots.bits_text(-1e-9) == "0.00" and plots.bits_text(1.234) == "1.23"


def test_the_next_token_legend_is_below_the_chart_not_over_its_title(tiny):
    from ui import plots
    nt = inspect.next_token(tiny, "学而", Sampling(temperature=1.0, top_k=2), n=8)  # cut candidates: 3 entries
    fig = plots.next_token_figure(nt, "zh")
    assert len([tr for tr in fig.data if tr.name]) >= 3
    assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y < 0  # under the plot area
    assert fig.layout.title.yanchor == "top" and fig.layout.title.y > 0.9


def test_a_newline_alternative_is_drawn_not_a_blank_line():
    from ui import plots
    tokens = [GeneratedToken(10, "\n", "\n", 0.4, [("\n", 0.4), (" the", 0.3), ("，", 0.1)])]
    page = plots.token_probs_html(tokens, "en")
    title = html.unescape(re.search(r"title='([^']*)'", page).group(1))
    lines = title.split("\n")
    assert len(lines) == 4 and all(line.strip() for line in lines), lines
    assert lines[0] == "↵: 40.0%" and "␣the: 30.0%" in lines


# ---- in a browser: one view at 1366×768, in Chinese ------------------------------------------------
@pytest.fixture(scope="module")
def served(folder):
    from ui.app import build_app, launch_options, prepare_queue
    demo = prepare_queue(build_app(folder["checkpoints"], temp_dir=folder["root"] / "temp-served"))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(demo.pocketllm_state))
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def in_view(box, height) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


@pytest.mark.slow
@pytest.mark.browser
def test_the_button_and_its_text_are_in_one_view_and_speak_the_pages_language(served, folder):
    from tests.test_browser import ARGS, CHROMIUM, SHOTS
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN").new_page()
        page.goto(served)  # the plain address: the browser's language decides
        page.get_by_role("tab", name="生成").click()
        page.wait_for_function("document.querySelector('#gen-prompt textarea').value == "
                               f"{json.dumps(folder['sample_prompt'])}", timeout=30_000)
        assert page.locator("#gen-preset input").input_value() == "贪心（内置）"
        page.evaluate("window.scrollTo(0, 0)")
        go = page.locator("#gen-go").bounding_box()
        out = page.locator("#gen-output textarea").bounding_box()
        assert in_view(go, 768) and in_view(out, 768), (go, out)
        page.locator("#gen-go").click()
        page.wait_for_function("document.querySelector('#gen-note').innerText.includes('共生成')", timeout=60_000)
        page.wait_for_function("document.querySelector('#gen-stop').disabled", timeout=10_000)
        assert page.locator("#gen-output textarea").input_value()
        assert in_view(page.locator("#gen-note").bounding_box(), 768)
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "generate-tab-one-view-zh.png"))  # what the laptop shows, no scrolling
        # The language switch says the status line again, in English and back.
        page.locator("#pl-lang").get_by_text("English").click()
        page.wait_for_function("document.querySelector('#gen-note').innerText.includes('Generated')", timeout=30_000)
        assert "Prompt:" in page.locator("#gen-note").inner_text()
        page.locator("#pl-lang").get_by_text("中文").click()
        page.wait_for_function("document.querySelector('#gen-note').innerText.includes('提示词：')", timeout=30_000)
        # Look inside (greedy): "0.00 bits" without a minus, the legend apart from the title.
        page.locator("#gen-inside").get_by_text("看看模型内部").click()
        page.locator("#gen-look").click()
        page.wait_for_function("() => { const el = document.querySelector('#gen-next .js-plotly-plot');"
                               " return el && el.data && el.data.length; }", timeout=60_000)
        page.wait_for_timeout(500)
        title = page.locator("#gen-next .gtitle").text_content()
        assert "0.00" in title and "-0.00" not in title, title
        legend = page.locator("#gen-next .legend").bounding_box()
        heading = page.locator("#gen-next .gtitle").bounding_box()
        assert legend["y"] >= heading["y"] + heading["height"], (legend, heading)
        page.locator("#gen-inside").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "generate-tab-look-inside-zh.png"), full_page=True)
        browser.close()
