"""The Classify and Instruct tabs in a real browser (Debian's chromium through Playwright), as a
user clicks them: upload data, train a tiny model from a tiny base, read the results, use it.

Screenshots (English and Chinese, during and after training) land in tests/screenshots/.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_fixtures import app  # noqa: F401  (fixture)
from tests.test_app_finetune import HAM, SPAM, tiny_base
from tests.test_browser import CHROMIUM, browser, page, set_number, shoot, tab  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]


def open_tab(page, url, name, lang="en"):
    page.goto(f"{url}?lang={lang}")
    page.wait_for_selector("#tab-pretrain", state="attached", timeout=30_000)
    tab(page, {"classify": {"en": "Classify", "zh": "分类"}, "instruct": {"en": "Instruct", "zh": "指令微调"}}[name][lang])
    page.wait_for_selector(f"#tab-{name}", state="visible", timeout=30_000)


def wait_text(page, elem_id, text, timeout=60_000):
    page.wait_for_function(f"document.querySelector('#{elem_id}') && "
                           f"document.querySelector('#{elem_id}').innerText.includes({text!r})", timeout=timeout)


def pick(page, elem_id, text):
    """Choose the option containing `text` in a gradio dropdown."""
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option").filter(has_text=text).first.click()


def has_points(elem_id):
    return (f"() => {{ const el = document.querySelector('#{elem_id} .js-plotly-plot');"
            f" return el && el.data && el.data.length > 0 && el.data[0].x && el.data[0].x.length > 0; }}")


@pytest.fixture(scope="module")
def base(app):
    return tiny_base(app[1].checkpoints, "browser-base")


def test_train_and_use_a_classifier(page, app, base, tmp_path):
    url, state = app
    state.runner.wait(120)
    table = tmp_path / "sms.tsv"  # the SMS Spam Collection's shape: label<TAB>text, no header
    table.write_text("\n".join([f"spam\t{t}" for t in SPAM * 4] + [f"ham\t{t}" for t in HAM * 4]) + "\n",
                     encoding="utf-8")
    open_tab(page, url, "classify")
    wait_text(page, "cls-preview", "spam.csv")  # the bundled table is previewed first
    page.locator("#cls-upload input[type=file]").set_input_files(str(table))
    wait_text(page, "cls-preview", "48")
    assert "no header" in page.locator("#cls-preview").inner_text()
    here = page.locator("#tab-classify")
    here.get_by_role("button", name="Refresh").first.click()
    pick(page, "cls-base", "browser-base")
    wait_text(page, "cls-base-facts", "1 layers")
    here.get_by_text("everything", exact=True).click()
    set_number(page, "cls-epochs", 2)
    set_number(page, "cls-batch", 4)
    set_number(page, "cls-eval", 2)
    set_number(page, "cls-lr", 0.005)
    here.get_by_text("The same run from the command line").click()
    wait_text(page, "cls-cli", "--trainable all", timeout=10_000)
    page.locator("#cls-start").click()
    wait_text(page, "cls-report", "Test accuracy")
    page.wait_for_function(has_points("cls-loss"), timeout=10_000)
    page.wait_for_function(has_points("cls-accuracy"), timeout=10_000)
    page.locator("#cls-download").wait_for(state="visible", timeout=10_000)
    assert "heatmap" == page.evaluate("() => document.querySelector('#cls-confusion .js-plotly-plot').data[0].type")
    shoot(page, "classify-trained-en")

    # The new classifier is offered in "Try a classifier".
    page.locator("#cls-message textarea").fill("win a free prize now")
    page.locator("#cls-go").click()
    page.wait_for_selector("#cls-result .output-class, #cls-result h2", timeout=30_000)
    result = page.locator("#cls-result").inner_text()
    assert "spam" in result and "ham" in result  # the label, and every class's probability
    shoot(page, "classify-used-en")

    page.get_by_text("中文", exact=True).click()
    wait_text(page, "cls-report", "测试准确率", timeout=45_000)
    wait_text(page, "cls-preview", "个样本", timeout=45_000)
    shoot(page, "classify-trained-zh")


def test_train_and_use_an_instruction_model(page, app, base):
    url, state = app
    state.runner.wait(120)
    open_tab(page, url, "instruct")
    wait_text(page, "ins-preview", "tasks.json")
    assert "### Instruction:" in page.locator("#ins-preview").inner_text()
    here = page.locator("#tab-instruct")
    here.get_by_role("button", name="Refresh").first.click()
    pick(page, "ins-base", "browser-base")
    here.get_by_text("short (no preamble", exact=False).click()
    wait_text(page, "ins-preview", "short")
    set_number(page, "ins-max-steps", 30)
    set_number(page, "ins-batch", 4)
    set_number(page, "ins-eval", 10)
    set_number(page, "ins-sample", 10)
    set_number(page, "ins-test-generate", 5)
    set_number(page, "ins-lr", 0.002)
    page.locator("#ins-start").click()
    page.wait_for_function(has_points("ins-loss"), timeout=60_000)
    shoot(page, "instruct-training-en")
    wait_text(page, "ins-results", "Exact match", timeout=120_000)
    shown = page.locator("#ins-answers").inner_text()
    assert shown.count("✓") + shown.count("✗") == 5, shown  # one row per held-out prompt
    page.locator("#ins-download").wait_for(state="visible", timeout=10_000)
    shoot(page, "instruct-trained-en")

    page.locator("#ins-instruction textarea").fill("Reverse the word.")
    page.locator("#ins-input textarea").fill("cat")
    set_number(page, "ins-max-new", 8)
    set_number(page, "ins-temperature", 1)  # sampled: a barely trained model still says something
    page.wait_for_timeout(300)  # let the slider's new value reach the page state before the click
    page.locator("#ins-go").click()
    # Wait for the closing note (Gradio's own "processing" overlay also puts text in the box).
    page.wait_for_function("/Done:|no visible answer/.test(document.querySelector('#ins-response-note').innerText)",
                           timeout=60_000)
    # A barely trained model may end at once; then the page must say so instead of staying blank.
    answer = page.locator("#ins-response textarea").input_value()
    note = page.locator("#ins-response-note").inner_text()
    assert answer.strip() or "no visible answer" in note, (answer, note)
    shoot(page, "instruct-used-en")

    page.get_by_text("中文", exact=True).click()
    wait_text(page, "ins-results", "完全匹配", timeout=45_000)
    # every tab refills in the new language (about ten seconds on a busy 2-core machine)
    wait_text(page, "ins-preview", "条记录", timeout=45_000)
    shoot(page, "instruct-trained-zh")


def test_training_tabs_at_1366_in_both_languages(page, app):
    """Screenshots of the three training tabs after the runs above, in English and Chinese
    (tests/screenshots/<tab>-1366-<lang>.png): the results, the held-out table's columns, the
    buttons' states, no English on the Chinese page."""
    url, state = app
    state.runner.wait(120)
    for lang, names in (("en", ("Pretrain", "Classify", "Instruct")), ("zh", ("预训练", "分类", "指令微调"))):
        page.goto(f"{url}?lang={lang}")
        page.wait_for_selector("#tab-pretrain", state="attached", timeout=30_000)
        for key, name in zip(("pretrain", "classify", "instruct"), names):
            tab(page, name)
            page.wait_for_selector(f"#tab-{key}", state="visible", timeout=30_000)
            page.wait_for_timeout(2500)  # the live view's first tick and the previews
            stop = {"pretrain": "pretrain", "classify": "cls", "instruct": "ins"}[key] + "-stop"
            assert not page.locator(f"#{stop}").is_enabled()  # nothing runs: Stop cannot act
            if key != "pretrain":  # the form shows the run on view's settings: its base model among them
                short = {"classify": "cls", "instruct": "ins"}[key]
                page.wait_for_function(f"document.querySelector('#{short}-base input').value.includes('browser-base')",
                                       timeout=20_000)
                assert "browser-base" in page.locator(f"#{short}-base-facts").inner_text()
            shoot(page, f"{key}-1366-{lang}")
    shown = page.locator("#ins-answers").inner_text()
    assert shown.count("✓") + shown.count("✗") == 5 and "(empty answer)" not in shown
