"""Generate, Look inside and Weights in a real browser (Debian's chromium), at 1366 px, in Chinese:
the count under the text is the tokens the model made; Look inside on a 40-token prompt
stays legible (screenshots); a refused rename leaves the table as it was; a bpe model is
described in Chinese and exported; Refresh offers the name of a file trained further.

Screenshots land in tests/screenshots/ (pages-*.png).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pocketllm import Sampling, load_model, stream
from tests.test_app_generate_weights import app  # noqa: F401  (fixture: the app over a prepared folder)
from tests.test_browser import CHROMIUM, SHOTS, browser, without_progress  # noqa: F401  (fixture)
from tests.test_browser_tokenizer import text_of, wait_text, zh_page  # noqa: F401  (zh_page: 1366 px, zh-CN)
from tests.test_weights_tab import BPE_MODEL, GROWING, gpt2_sized, weights_app  # noqa: F401  (fixture: bpe, char)
from ui.tabs.generate import DEFAULT_NEW  # the page's max new tokens: the core's default

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]

RUN_MODEL = "pretrain-20261129-101500/model.safetensors"


def shoot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"pages-{name}.png"), full_page=True)


def open_tab(page, url, name):
    page.goto(url)  # the plain address; the browser's language is Chinese
    page.get_by_role("tab", name=name).click()


def pick_model(page, elem_id, name):
    box = page.locator(f"#{elem_id} input").first
    box.click()
    box.fill(name.split("/")[0])  # the picker shows a run's model by its run's name
    page.get_by_role("option").filter(has_text=name.split("/")[0]).first.click()


def test_generate_counts_the_tokens_made_and_look_inside_stays_legible(zh_page, app):
    page = zh_page
    url, state = app
    open_tab(page, url, "生成")
    page.wait_for_timeout(1_500)
    pick_model(page, "gen-model", RUN_MODEL)
    page.locator("#gen-temperature input[type=number]").fill("0")
    page.locator("#gen-temperature input[type=number]").press("Enter")
    prompt = "学而时习之，不亦说乎？有朋自远方来，不亦乐乎？人不知而不愠，不亦君子乎？"
    page.locator("#gen-prompt textarea").click()
    page.keyboard.press("Control+A")
    page.keyboard.type(prompt)  # as a person does (the page's edit events are keyboard events)
    assert page.locator("#gen-stop").is_disabled()  # nothing to stop yet
    page.locator("#gen-go").click()
    wait_text(page, "gen-note", "共生成")
    made = stream(load_model(state.checkpoints / RUN_MODEL), prompt, DEFAULT_NEW, Sampling(temperature=0.0))
    text = "".join(made)
    assert page.locator("#gen-output textarea").input_value() == text
    assert re.search(rf"共生成 {made.new_tokens} 个词元", text_of(page, "gen-note"))
    # The generation is over: Stop turns grey (its update follows the last text, a moment later).
    page.wait_for_function("document.querySelector('#gen-stop').disabled", timeout=10_000)
    shoot(page, "generate-counted-zh")

    page.locator("#gen-prompt textarea").fill(prompt * 2)  # about 40+ tokens for Look inside

    page.get_by_text("看看模型内部").click()
    page.locator("#gen-look").click()
    page.wait_for_function("() => { const el = document.querySelector('#gen-lens .js-plotly-plot');"
                           " return el && el.data && el.data.length; }", timeout=60_000)
    page.wait_for_timeout(800)
    names = page.evaluate("() => document.querySelector('#gen-next .js-plotly-plot').data.map(t => t.name)")
    assert len(names) >= 2  # a legend: the model's probability and what sampling draws from
    x_range = page.evaluate("() => document.querySelector('#gen-next .js-plotly-plot').layout.xaxis.range")
    assert x_range[1] <= 1.0
    assert "怎么看" in text_of(page, "gen-inside")  # a caption under each chart
    page.locator("#gen-inside").scroll_into_view_if_needed()
    shoot(page, "look-inside-40-tokens-zh")


def test_a_refused_rename_leaves_the_table_as_it_was(zh_page, app):
    page = zh_page
    url, state = app
    open_tab(page, url, "权重")
    wait_text(page, "w-table", "spam.csv", timeout=30_000)
    before = without_progress(text_of(page, "w-table"))  # (captured while an update may still show its timer)
    assert "zh_classics.txt" in before and "验证准确率 95.7%" in before
    page.locator("#w-table").get_by_text(RUN_MODEL).first.click()
    page.wait_for_function("document.querySelector('#w-new-name textarea') && "
                           "document.querySelector('#w-new-name textarea').value == 'pretrain-zh_classics-step400'",
                           timeout=20_000)
    assert not page.locator("#w-delete").is_disabled()
    page.locator("#w-new-name textarea").fill("../escape")
    page.locator("#w-rename").click()
    wait_text(page, "w-message", "文件名")
    page.wait_for_timeout(500)
    assert without_progress(text_of(page, "w-table")) == before  # the table stays, no error badge in its place
    assert page.locator("#w-table .error, #w-selected .error").count() == 0
    shoot(page, "weights-refused-rename-zh")


# ---- Weights on models the page trains (bpe, char) ---------------------------------------------------

def test_weights_describe_and_export_a_bpe_model_in_chinese(zh_page, weights_app):
    from tests.test_chinese_page import english_left
    page = zh_page
    url, state, _ = weights_app
    open_tab(page, url, "权重")
    wait_text(page, "w-table", BPE_MODEL.split("/")[0], timeout=30_000)
    assert "pretrain-20261205-1510/model.safetensors" in text_of(page, "w-table")  # a finetune's base, by its run
    pick_model(page, "w-selected", BPE_MODEL)
    page.wait_for_function("!document.querySelector('#w-load').disabled", timeout=20_000)
    page.locator("#w-load").click()
    wait_text(page, "w-info", "验证困惑度")
    info = text_of(page, "w-info")
    rows = [line.split("\t")[0].strip() for line in info.splitlines()]
    assert [r for r in rows if english_left(r)] == [], info  # every row's name in Chinese
    page.locator("#w-export").click()
    wait_text(page, "w-message", "已导出", timeout=60_000)
    assert "⚠️" not in text_of(page, "w-message")
    assert page.locator("#w-export-file").is_visible()
    shoot(page, "weights-describe-export-zh")


def test_refresh_offers_the_name_of_the_file_as_it_is_now(zh_page, weights_app):
    """The run goes on (or is continued) while the page is open: Refresh keeps the same
    checkpoint selected, and the name offered says the step count the file has now.  A rename
    then offers the new name, and its message stays."""
    page = zh_page
    url, state, _ = weights_app
    path = state.checkpoints / GROWING
    gpt2_sized(path, steps=100)
    open_tab(page, url, "权重")
    wait_text(page, "w-table", GROWING.split("/")[0], timeout=30_000)
    pick_model(page, "w-selected", GROWING)
    name = "document.querySelector('#w-new-name textarea') && document.querySelector('#w-new-name textarea').value"
    page.wait_for_function(f"{name} == 'pretrain-zh_classics-step100'", timeout=20_000)
    gpt2_sized(path, steps=500)  # the run continued to step 500
    page.locator("#w-refresh").click()
    page.wait_for_function(f"{name} == 'pretrain-zh_classics-step500'", timeout=20_000)
    page.locator("#w-new-name textarea").fill("grown-500")
    page.locator("#w-rename").click()
    wait_text(page, "w-message", "已重命名")
    page.wait_for_function(f"{name} == 'grown-500'", timeout=20_000)
    page.wait_for_timeout(1_500)  # the picker's follow-up has run
    assert "已重命名" in text_of(page, "w-message") and (path.parent / "grown-500.safetensors").is_file()
