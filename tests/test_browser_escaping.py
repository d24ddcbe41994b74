"""Issue 19, cause 10 in a real browser (Debian's chromium through Playwright): a run named
`<style>body{display:none}<img src=x onerror=alert(1)><form><input>**bold**`, a classifier whose
labels are `<style>…</style><img …>`, `<a href=javascript:…>x</a><form><input></form>` and
`**bold**`, a model file with that name, and a chat message holding all of them show on the
page as the text they are: the page stays visible, no element of theirs is made, and the
literal text can be read.

Screenshots land in tests/screenshots/ (escaping-*.png); look at them.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, SHOTS, browser, set_number, tab  # noqa: F401  (browser: fixture)
from tests.test_browser_experiments import pick
from tests.test_browser_tokenizer import text_of, wait_text
from tests.test_page_escaping import EVIL, EVIL_NAME, IMG, LABELS, LINK, STYLE, evil_folder

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]

@pytest.fixture(scope="module")
def evil_app(tmp_path_factory):
    from tests.app_fixtures import free_port
    from ui.app import build_app, launch_options, prepare_queue
    root = tmp_path_factory.mktemp("evil-browser")
    paths = evil_folder(root / "checkpoints")
    demo = prepare_queue(build_app(root / "checkpoints", temp_dir=root / "temp"))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(demo.pocketllm_state))
    yield f"http://127.0.0.1:{port}/", demo.pocketllm_state, paths
    demo.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    pg = context.new_page()
    dialogs = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))  # an alert() that ran
    pg.dialogs = dialogs
    yield pg
    context.close()


def shoot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"escaping-{name}.png"), full_page=True)


def styles(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('style')].map(s => s.textContent)")


# Where the page shows what users and files wrote: Markdown, the Chatbot, toasts.
SHOWN = "[data-testid='markdown'], [data-testid='bot'], [data-testid='user'], .message, [data-testid='toast-text']"


def still_whole(page):
    """Nothing the hostile texts hold became an element, and the page is visible.  (Gradio adds
    <style> elements of its own as components mount, so their number is not the test: none holds
    the hostile rule, and none sits where texts are shown.)"""
    assert not any("body{display:none}" in s.replace(" ", "") for s in styles(page)), "the hostile <style> is in"
    for tag in ("style", "img", "form", "input", "a[href^='javascript']", "link", "meta"):  # (not button: a code block's copy button is Gradio's)
        assert page.locator(f":is({SHOWN}) {tag}").count() == 0, tag
    assert page.locator("img[src='x']").count() == 0
    assert page.locator(f":is({SHOWN}) :is(strong, em)").filter(
        has_text=re.compile(r"^\s*bold\s*$")).count() == 0  # "**bold**" made no bold of its own
    assert page.evaluate("getComputedStyle(document.body).display") != "none"
    assert page.locator("body").is_visible() and page.locator("#tab-pretrain").count()
    assert page.dialogs == []


def checked(page, elem_id: str, shot: str):
    """`still_whole`, then a screenshot of the page with #elem_id in view."""
    still_whole(page)
    page.locator(f"#{elem_id}").scroll_into_view_if_needed()
    shoot(page, shot)


def test_hostile_names_labels_and_chat_show_as_text(page, evil_app):
    url, state, paths = evil_app
    page.goto(f"{url}?lang=en")
    page.get_by_role("tab", name="Pretrain").wait_for(timeout=30_000)

    # ---- the live view: the run's name, its sample and its failure (Pretrain) ----
    wait_text(page, "pretrain-status", "failed", timeout=30_000)
    status = text_of(page, "pretrain-status")
    assert EVIL_NAME.replace("**bold**", "") in status and "**bold**" in status, status  # the name, literally
    assert STYLE in status and IMG in status  # the failure's value (a column name), literally
    assert "label column" in status and "--label_column" not in status  # the form's words, not the CLI's
    wait_text(page, "pretrain-samples", "onerror")
    assert IMG in text_of(page, "pretrain-samples")
    checked(page, "pretrain-status", "pretrain-run-name")

    # ---- Load & describe: the labels, the data's name, a fact (Weights) ----
    tab(page, "Weights")
    box = page.locator("#w-selected input").first
    box.click()
    box.fill("classify-evil")
    page.get_by_role("option").filter(has_text="classify-evil").first.click()
    page.wait_for_function("!document.querySelector('#w-load').disabled", timeout=20_000)
    page.locator("#w-load").click()
    wait_text(page, "w-info", "onerror")
    info = text_of(page, "w-info")
    for label in LABELS:
        assert label in info, (label, info)
    assert f"{EVIL_NAME}.csv" in info and EVIL in info
    assert page.locator("#w-info table tr").count() >= 8  # a table row for each line: no label broke it
    assert EVIL_NAME + ".safetensors" in text_of(page, "w-table")  # the table (a Dataframe) has the name too
    checked(page, "w-info", "weights-labels")

    # ---- a file's name in a compared model's head (Generate) ----
    tab(page, "Generate")
    page.get_by_text("Compare models").first.click()
    for name in ("onerror", "plain-lm"):
        page.wait_for_timeout(1_000)  # (the picker's focus refreshes its list: let that land first)
        pick(page, "gen-compare-models", name)
    page.wait_for_timeout(1_000)
    assert "onerror" in text_of(page, "gen-compare-models") and "plain-lm" in text_of(page, "gen-compare-models")
    set_number(page, "gen-max-new", 4)
    page.locator("#gen-compare-go").click()
    page.wait_for_function("(() => { const el = document.querySelector('#gen-compare-status');"
                           " return el && (el.innerText.includes('Done') || el.innerText.includes('⚠')); })()",
                           timeout=120_000)
    assert "Done" in text_of(page, "gen-compare-status"), text_of(page, "gen-compare-status")
    heads = text_of(page, "gen-compare-head-0") + text_of(page, "gen-compare-head-1")
    assert EVIL_NAME.replace("**bold**", "") in heads and "**bold**" in heads, heads
    checked(page, "gen-compare", "compare-heads")

    # ---- a chat message, twice round the page (Instruct) ----
    tab(page, "Instruct")
    page.locator("#tab-instruct").get_by_role("button", name="Refresh").last.click()
    page.wait_for_timeout(500)
    page.get_by_text("Chat", exact=True).first.click()
    set_number(page, "ins-max-new", 4)
    for message, turns in ((EVIL, "0 earlier turn"), ("and again " + LINK, "1 earlier turn")):
        page.locator("#ins-chat-message textarea").fill(message)
        page.locator("#ins-chat-send").click()
        wait_text(page, "ins-chat-note", turns, timeout=60_000)
    chat = text_of(page, "ins-chat")
    assert EVIL in chat and "and again " + LINK in chat, chat  # the first message came back once, not escaped twice
    assert "&lt;" not in chat and "&#" not in chat
    checked(page, "ins-chat-box", "chat")
