"""The tokenizer in a real browser (Debian's chromium through Playwright), as a Chinese
reader meets it: the page opened by its plain address in a zh-CN browser, the character
tokenizer picked, its preview read, a few training steps, the loss in bits per character,
then generating and looking inside with that model.

Screenshots land in tests/screenshots/ (tokenizer-*.png).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from pocketllm import DEFAULT_KIND, DEFAULT_VOCAB_SIZE, load_model, read_header
from tests.app_fixtures import app  # noqa: F401  (fixture)
from tests.test_browser import ARGS, CHROMIUM, browser, plot_data, set_number, shoot, tab  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]


@pytest.fixture
def zh_page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()


def text_of(page, elem_id) -> str:
    return page.locator(f"#{elem_id}").inner_text()


def wait_text(page, elem_id, text, timeout=60_000):
    page.wait_for_function(f"document.querySelector('#{elem_id}') && "
                           f"document.querySelector('#{elem_id}').innerText.includes({text!r})", timeout=timeout)


def test_pick_a_tokenizer_train_generate_and_look_inside_in_chinese(zh_page, app):
    page, (url, state) = zh_page, app
    page.goto(url)  # no ?lang=: the browser's language decides
    page.get_by_role("tab", name="预训练").wait_for(timeout=30_000)
    wait_text(page, "pretrain-preview", "zh_classics")  # the bundled Chinese corpus is previewed first
    wait_text(page, "pretrain-tokens", "BPE")            # with the default tokenizer and size
    from pocketllm import PretrainSettings
    default = PretrainSettings().vocab_size or DEFAULT_VOCAB_SIZE[DEFAULT_KIND]  # the default recipe's size
    assert page.locator("#pretrain-vocab input").first.input_value() == str(default)
    learned = text_of(page, "pretrain-tokens").split("· ")[1].split(" ")[0]  # "BPE … · 8,000 个词元 · …"
    assert 258 <= int(learned.replace(",", "")) <= default
    wait_text(page, "pretrain-facts", f"词表 {learned} 个词元")  # the parameter count follows the tokenizer

    # GPT-2's tokenizer: a fixed vocabulary (no size box), about two tokens per Chinese character.
    page.locator("#pretrain-tokenizer").get_by_text("GPT-2 的", exact=True).click()
    wait_text(page, "pretrain-tokens", "GPT-2 的分词器")
    assert not page.locator("#pretrain-vocab").is_visible()
    wait_text(page, "pretrain-facts", "50,257")
    shoot(page, "tokenizer-gpt2-zh")

    # Characters: one token per character, every character of the corpus (the size box empty).
    page.locator("#pretrain-tokenizer").get_by_text("字符", exact=True).click()
    wait_text(page, "pretrain-tokens", "字符分词器")
    wait_text(page, "pretrain-tokens", "每个字符 1.00 个词元")
    assert page.locator("#pretrain-vocab input").first.input_value() == ""
    assert page.locator("#pretrain-tokens .pl-tok").count() > 50  # the first lines, coloured token by token
    page.wait_for_function("!document.querySelector('#pretrain-facts').innerText.includes('50,257')", timeout=30_000)
    vocab = int(text_of(page, "pretrain-facts").split("词表 ")[1].split(" ")[0].replace(",", ""))
    assert 3000 < vocab < 50257
    shoot(page, "tokenizer-char-zh")

    set_number(page, "pretrain-context", 64)
    set_number(page, "pretrain-batch", 4)
    set_number(page, "pretrain-steps", 30)
    set_number(page, "pretrain-eval", 10)
    set_number(page, "pretrain-sample", 15)
    page.get_by_text("用命令行做同样的训练").click()
    wait_text(page, "pretrain-cli", "--tokenizer char", timeout=10_000)
    assert "--vocab_size" not in text_of(page, "pretrain-cli")

    page.locator("#pretrain-start").click()
    page.locator("#pretrain-download").wait_for(state="visible", timeout=120_000)
    run = state.runner.last
    assert run.status == "finished"
    assert read_header(run.model_path)["tokenizer"] == "char"
    assert load_model(run.model_path).tokenizer.vocab_size == vocab  # the preview's size is the model's

    # The loss in bits per character: one point per evaluation, on a tokenizer-free scale.
    page.locator("#pretrain-unit").get_by_text("每字符比特", exact=False).click()
    page.wait_for_function("() => { const el = document.querySelector('#pretrain-loss .js-plotly-plot');"
                           " return el && el.layout && JSON.stringify(el.layout.yaxis.title).includes('每字符比特数'); }",
                           timeout=20_000)
    val = [tr for tr in plot_data(page, "pretrain-loss") if "验证" in tr["name"]]
    assert val and len(val[0]["y"]) == 3 and all(0 < b < 20 for b in val[0]["y"])
    shoot(page, "tokenizer-trained-bits-zh")

    # Generate with it: whole characters only (the default), read by its own tokenizer.
    tab(page, "生成")
    page.locator("#tab-generate").get_by_role("button", name="刷新").first.click()
    page.wait_for_function("document.querySelector('#gen-model input').value.includes('pretrain-')", timeout=20_000)
    # The prompt follows the picked model's corpus (its start, 论语·学而篇): wait for it before typing ours.
    page.wait_for_function("document.querySelector('#gen-prompt textarea').value.startsWith('论语')", timeout=20_000)
    assert page.locator("#gen-utf8 input[type=checkbox]").is_checked()
    page.locator("#gen-prompt textarea").fill("学而时习之")
    page.locator("#gen-preset input").click()  # the core's sampler presets
    page.get_by_role("option", name="创意（内置）").click()
    page.wait_for_function("document.querySelector('#gen-temperature input[type=number]').value === '1.1'")
    page.locator("#gen-go").click()
    wait_text(page, "gen-note", "共生成")
    assert "char 分词器" in text_of(page, "gen-note")
    out = page.locator("#gen-output textarea").input_value()
    assert out and "\ufffd" not in out
    shoot(page, "tokenizer-generate-zh")

    page.get_by_text("看看模型内部").click()
    page.locator("#gen-look").click()
    page.wait_for_function("() => { const el = document.querySelector('#gen-next .js-plotly-plot');"
                           " return el && el.data && el.data.length == 2; }", timeout=60_000)
    # The prompt 学而时习之 is five tokens of this model: one whole character each, none split.
    assert page.locator("#gen-strip .pl-tok").count() == 5
    assert "5 个词元" in text_of(page, "gen-strip")
    wait_text(page, "gen-next-note", "半个字符", timeout=20_000)
    page.locator("#gen-inside").scroll_into_view_if_needed()
    shoot(page, "tokenizer-inside-zh")

    # Switched off: broken characters are allowed, and the note says so.
    page.locator("#gen-utf8 input[type=checkbox]").uncheck()
    wait_text(page, "gen-next-note", "允许残缺字符", timeout=20_000)
