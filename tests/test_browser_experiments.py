"""Learn by experiment in a real browser (Debian's chromium through Playwright), as a Chinese
reader meets it: the page opened by its plain address in a zh-CN browser; compare two runs,
compare two models side by side, the per-token view, a sampler preset, and a chat.

Screenshots land in tests/screenshots/ (experiments-*.png).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_fixtures import app  # noqa: F401  (fixture)
from tests.test_app_experiments import runs  # noqa: F401  (fixture: two tiny runs in the app's folder)
from tests.test_browser import ARGS, CHROMIUM, browser, plot_data, set_number, shoot, tab  # noqa: F401  (fixtures)
from tests.test_browser_tokenizer import text_of, wait_text, zh_page  # noqa: F401  (zh_page: fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]


def pick(page, elem_id, option, multi=True):
    """Choose `option` in the dropdown #elem_id (a multiselect keeps its earlier choices)."""
    box = page.locator(f"#{elem_id} input").first
    box.click()
    box.fill(option)  # filters the list to the option
    page.get_by_role("option", name=option).first.wait_for(timeout=10_000)
    box.press("Enter")  # the first (only) option left
    page.wait_for_timeout(300)
    page.keyboard.press("Escape")
    box.blur()  # a multiselect opens its list again only after it lost the focus
    if multi:  # a chip for each choice
        page.locator(f"#{elem_id}").get_by_text(option).first.wait_for(timeout=10_000)


def test_compare_runs_models_probabilities_and_chat_in_chinese(zh_page, app, runs):
    page, (url, state) = zh_page, app
    names, models = runs
    page.goto(url)  # no ?lang=: the browser's language decides
    page.get_by_role("tab", name="预训练").wait_for(timeout=30_000)
    wait_text(page, "pretrain-preview", "zh_classics")

    # ---- compare runs (Pretrain) ----
    page.get_by_text("比较训练运行").click()
    page.locator("#compare-refresh").click()
    page.wait_for_timeout(500)
    for name in names:
        pick(page, "compare-runs", name)
    page.locator("#compare-go").click()
    wait_text(page, "compare-status", "项设置不同")
    page.wait_for_function("() => { const el = document.querySelector('#compare-plot .js-plotly-plot');"
                           " return el && el.data && el.data.length == 2; }", timeout=20_000)
    assert {tr["name"] for tr in plot_data(page, "compare-plot")} == set(names)
    assert "train.lr" in text_of(page, "compare-table") and "最佳验证损失" in text_of(page, "compare-table")
    page.locator("#compare-y").get_by_text("每字符比特").click()
    page.wait_for_function("() => { const el = document.querySelector('#compare-plot .js-plotly-plot');"
                           " return el && JSON.stringify(el.layout.yaxis.title).includes('每字符比特'); }",
                           timeout=20_000)
    page.locator("#pretrain-compare").scroll_into_view_if_needed()
    shoot(page, "experiments-compare-runs-zh")

    # ---- samplers, per-token view (Generate) ----
    tab(page, "生成")
    page.locator("#tab-generate").get_by_role("button", name="刷新").first.click()
    page.wait_for_timeout(500)
    page.locator("#gen-prompt textarea").fill("The quick")
    set_number(page, "gen-max-new", 20)
    pick(page, "gen-preset", "均衡（内置）", multi=False)
    page.wait_for_function("document.querySelector('#gen-rep-penalty input[type=number]').value === '1.1'")
    page.locator("#gen-go").click()
    wait_text(page, "gen-note", "共生成")
    page.locator("#gen-probs").click()
    page.wait_for_function("document.querySelectorAll('#gen-probs-view .pl-prob').length > 0", timeout=30_000)
    assert "平均概率" in text_of(page, "gen-probs-view")
    assert "%" in page.locator("#gen-probs-view .pl-prob").first.get_attribute("title")
    page.locator("#gen-probs-view").scroll_into_view_if_needed()
    shoot(page, "experiments-probabilities-zh")

    # ---- compare models (Generate) ----
    page.get_by_text("比较模型").first.click()
    for path in models:
        pick(page, "gen-compare-models", Path(path).parent.name)
    assert sorted(page.locator("#gen-compare-models").inner_text().split()) == sorted(
        Path(p).parent.name for p in models) or all(Path(p).parent.name in page.locator("#gen-compare-models")
                                                    .inner_text() for p in models)
    # Close the picker's list so its last choice is committed before the button reads the value (under a
    # loaded CPU the click once went out with one model picked).
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    page.locator("#gen-compare-go").click()
    # the status says "done" or what went wrong; the models stream side by side on a shared CPU
    page.wait_for_function("(() => { const el = document.querySelector('#gen-compare-status');"
                           " return el && (el.innerText.includes('完成') || el.innerText.includes('⚠')); })()",
                           timeout=120_000)
    assert "完成" in text_of(page, "gen-compare-status"), text_of(page, "gen-compare-status")
    for i in range(2):
        assert page.locator(f"#gen-compare-text-{i} textarea").input_value()
        assert "1 层 × 宽 32" in text_of(page, f"gen-compare-head-{i}")  # in the page's language
    assert not page.locator("#gen-compare-text-2").is_visible()
    page.locator("#gen-compare").scroll_into_view_if_needed()
    shoot(page, "experiments-compare-models-zh")

    # ---- chat (Instruct) ----
    tab(page, "指令微调")
    page.locator("#tab-instruct").get_by_role("button", name="刷新").last.click()
    page.wait_for_timeout(500)
    page.get_by_text("对话", exact=True).first.click()
    set_number(page, "ins-max-new", 8)  # short answers: two turns fit the tiny model's context
    page.locator("#ins-chat-message textarea").fill("你好")
    page.locator("#ins-chat-send").click()
    wait_text(page, "ins-chat-note", "之前 0 轮", timeout=60_000)
    page.locator("#ins-chat-message textarea").fill("再说一遍")
    page.locator("#ins-chat-send").click()
    wait_text(page, "ins-chat", "再说一遍", timeout=60_000)
    wait_text(page, "ins-chat-note", "之前 1 轮", timeout=60_000)
    assert page.locator("#ins-chat-message textarea").input_value() == ""
    page.locator("#ins-chat-box").scroll_into_view_if_needed()
    shoot(page, "experiments-chat-zh")
    # The chat's status line follows a language switch (it was said in Chinese).
    page.locator("#pl-lang").get_by_text("English").click()
    wait_text(page, "ins-chat-note", "1 earlier turn", timeout=30_000)
    page.locator("#pl-lang").get_by_text("中文").click()
    wait_text(page, "ins-chat-note", "之前 1 轮", timeout=30_000)
    page.locator("#ins-chat-clear").click()
    page.wait_for_function("!document.querySelector('#ins-chat').innerText.includes('再说一遍')", timeout=10_000)
