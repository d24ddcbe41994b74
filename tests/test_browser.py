"""The app in a real browser: Playwright driving Debian's chromium (never a downloaded one).

Screenshots of every tab, in English and Chinese, land in tests/screenshots/ (git-ignored).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pocketllm import TaskKind, load_model, task_kind
from tests.app_fixtures import app, corpus_file, hf_gpt2_file  # noqa: F401  (fixtures)

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    # A common laptop's width: what the issue reports were read at.
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US", accept_downloads=True)
    pg = context.new_page()
    yield pg
    context.close()


def open_app(page, url, lang="en"):
    page.goto(f"{url}?lang={lang}")
    page.wait_for_selector("#tab-pretrain", state="attached", timeout=30_000)
    page.wait_for_function("document.querySelector('#pretrain-preview') && "
                           "document.querySelector('#pretrain-preview').innerText.length > 10", timeout=30_000)


def without_progress(text: str) -> str:
    """A status box's text without Gradio's progress prefix ("0.4s", "processing | 1.2s",
    "queue: 1/1 | 0.6/3.7s" while the update waits behind another), if any."""
    return re.sub(r"^(processing \| |queue: \d+/\d+ \| )?[\d./]+s\s*", "", text)


def tab(page, name_en_or_zh):
    page.get_by_role("tab", name=name_en_or_zh).click()


def shoot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def plot_data(page, elem_id):
    return page.evaluate(f"() => {{ const el = document.querySelector('#{elem_id} .js-plotly-plot');"
                         f" return el && el.data ? JSON.parse(JSON.stringify(el.data)) : null; }}")


def set_number(page, elem_id, value):
    box = page.locator(f"#{elem_id} input").first
    box.fill(str(value))
    box.press("Tab")


def test_page_loads_switches_language_and_shows_every_tab(page, app):
    """The fast smoke: tabs, the language switch (and ?lang=), screenshots of each tab."""
    url = app[0]
    open_app(page, url, "en")
    for lang, names in (("en", ["Pretrain", "Generate", "Classify", "Instruct", "Weights"]),
                        ("zh", ["预训练", "生成", "分类", "指令微调", "权重"])):
        if lang == "zh":
            page.get_by_text("中文", exact=True).click()
            page.get_by_role("tab", name="预训练").wait_for(timeout=15_000)
        for key, name in zip(["pretrain", "generate", "classify", "instruct", "weights"], names):
            tab(page, name)
            page.wait_for_timeout(400)
            shoot(page, f"{key}-{lang}")
    # ?lang=zh opens the page in Chinese directly.
    open_app(page, url, "zh")
    page.get_by_role("tab", name="预训练").wait_for(timeout=15_000)
    assert page.get_by_role("button", name="开始").is_visible()


@pytest.mark.slow
def test_pretrain_reload_stop_download(page, app, corpus_file, tmp_path):
    url, state = app
    open_app(page, url)
    page.locator("#pretrain-upload input[type=file]").set_input_files(str(corpus_file))
    page.wait_for_function("document.querySelector('#pretrain-preview').innerText.includes('tiny_corpus')",
                           timeout=30_000)
    set_number(page, "pretrain-context", 32)
    set_number(page, "pretrain-batch", 4)
    set_number(page, "pretrain-steps", 2000)
    set_number(page, "pretrain-eval", 10)
    set_number(page, "pretrain-sample", 20)
    page.get_by_text("The same run from the command line").click()
    page.wait_for_function("document.querySelector('#pretrain-cli') && document.querySelector('#pretrain-cli').innerText.includes('--max_steps 2000')",
                           timeout=10_000)
    page.locator("#pretrain-start").click()
    has_points = ("() => { const el = document.querySelector('#pretrain-loss .js-plotly-plot');"
                  " return el && el.data && el.data.length > 0 && el.data[0].x && el.data[0].x.length > 2; }")
    page.wait_for_function(has_points, timeout=90_000)
    assert "tokens/s" in page.locator("#pretrain-stats").inner_text()

    facts = without_progress(page.locator("#pretrain-facts").inner_text())
    page.reload()  # the live plot comes back from the run folder, and the form shows the run's settings
    page.wait_for_selector("#tab-pretrain", state="attached", timeout=30_000)
    seen = set()
    for _ in range(300):  # the facts never show the default form's figures on the way (no race on load)
        shown = page.locator("#pretrain-facts").inner_text()
        seen.add(without_progress(shown))
        if page.locator("#pretrain-steps input").first.input_value() == "2000" and facts in seen:
            break
        page.wait_for_timeout(100)
    assert {n: page.locator(f"#pretrain-{n} input").first.input_value() for n in ("steps", "batch", "eval", "sample",
                                                                                 "context")} == \
        {"steps": "2000", "batch": "4", "eval": "10", "sample": "20", "context": "32"}
    assert facts in seen and not [f for f in seen if f and f != facts], seen
    assert page.locator("#pretrain-stop").is_enabled() and not page.locator("#pretrain-resume").is_enabled()
    page.wait_for_function(has_points, timeout=30_000)
    first = len(plot_data(page, "pretrain-loss")[0]["x"])
    page.wait_for_function(f"() => document.querySelector('#pretrain-loss .js-plotly-plot').data[0].x.length > {first}",
                           timeout=30_000)
    shoot(page, "pretrain-training-en")

    page.locator("#pretrain-stop").click()
    page.locator("#pretrain-download").wait_for(state="visible", timeout=60_000)
    with page.expect_download() as info:
        page.locator("#pretrain-download").click()
    run = state.runner.last
    assert re.fullmatch(rf"{run.name}-step\d+\.safetensors", info.value.suggested_filename)  # not model.safetensors
    saved = tmp_path / "downloaded.safetensors"
    info.value.save_as(saved)
    ckpt = load_model(saved)
    assert ckpt.config.context_length == 32
    shoot(page, "pretrain-stopped-en")


@pytest.mark.slow
def test_continue_a_finished_run_from_the_page(page, app, corpus_file):
    """A finished run goes on for more steps (as `--resume --max_steps` does): Stop is off while
    nothing runs, Continue on; the same run folder and file, the form showing its settings."""
    url, state = app
    state.runner.wait(120)
    open_app(page, url)
    page.locator("#pretrain-upload input[type=file]").set_input_files(str(corpus_file))
    page.wait_for_function("document.querySelector('#pretrain-preview').innerText.includes('tiny_corpus')",
                           timeout=30_000)
    page.locator("#pretrain-tokenizer").get_by_text("characters", exact=True).click()
    for name, value in (("context", 32), ("batch", 4), ("steps", 6), ("eval", 3), ("sample", 0)):
        set_number(page, f"pretrain-{name}", value)
    page.wait_for_timeout(500)
    page.locator("#pretrain-start").click()
    page.wait_for_function("document.querySelector('#pretrain-status').innerText.includes('finished')",
                           timeout=120_000)
    run = state.runner.last
    page.wait_for_function("document.querySelector('#pretrain-stop').disabled", timeout=10_000)
    assert not page.locator("#pretrain-stop").is_enabled() and page.locator("#pretrain-resume").is_enabled()
    shoot(page, "pretrain-finished-1366-en")
    set_number(page, "pretrain-steps", 9)
    page.locator("#pretrain-resume").click()
    page.wait_for_function("document.querySelector('#pretrain-status').innerText.includes('at step 9')",
                           timeout=120_000)
    assert state.runner.last.run_dir == run.run_dir  # the same run, gone on
    events = [json.loads(line) for line in (run.run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if e["kind"] == "finished"] == [6, 9]
    assert page.locator("#pretrain-steps input").first.input_value() == "9"


@pytest.mark.slow
def test_generate_and_look_inside(page, app):
    url, state = app
    if not [r for r in state.checkpoints_table() if task_kind(r["task"]) is TaskKind.PRETRAIN]:
        pytest.skip("needs the checkpoint trained above")
    open_app(page, url)
    tab(page, "Generate")
    page.get_by_role("button", name="Refresh").first.click()
    page.wait_for_timeout(500)
    page.locator("#gen-prompt textarea").fill("The quick brown fox")
    set_number(page, "gen-max-new", 30)
    page.locator("#gen-preset input").click()  # the core's sampler presets
    page.get_by_role("option", name="creative (built in)").click()
    page.wait_for_function("document.querySelector('#gen-temperature input[type=number]').value === '1.1'")
    page.locator("#gen-go").click()
    page.wait_for_function("document.querySelector('#gen-note').innerText.includes('Generated')", timeout=60_000)
    assert len(page.locator("#gen-output textarea").input_value()) > 0
    shoot(page, "generate-output-en")

    page.get_by_text("Look inside the model").click()
    page.locator("#gen-look").click()
    page.wait_for_function("() => { const el = document.querySelector('#gen-next .js-plotly-plot');"
                           " return el && el.data && el.data.length >= 2; }", timeout=60_000)  # (+ legend entries)
    before = plot_data(page, "gen-next")[1]["x"]
    # top-p off first: a model of a repetitive text can be sure enough for top-p 0.98 to keep one token.
    set_number(page, "gen-top-p", 1)
    set_number(page, "gen-min-p", 0)  # the built-in "creative" preset has min-p 0.05: off, so top-k alone cuts
    set_number(page, "gen-top-k", 2)
    kept_two = ("() => { const el = document.querySelector('#gen-next .js-plotly-plot');"
                " return el.data[1].x.filter(p => p > 0).length === 2; }")
    page.wait_for_function(kept_two, timeout=30_000)
    after = plot_data(page, "gen-next")[1]["x"]
    assert after != before
    assert page.locator("#gen-strip .pl-tok").count() >= 4
    assert plot_data(page, "gen-attention")[0]["type"] == "heatmap"
    assert plot_data(page, "gen-lens")[0]["type"] == "heatmap"
    shoot(page, "generate-inside-en")


@pytest.mark.slow
def test_weights_import_export_delete(page, app, hf_gpt2_file, tmp_path):
    url, state = app
    open_app(page, url)
    tab(page, "Weights")
    page.locator("#w-import-name input, #w-import-name textarea").first.fill("browser-gpt2")
    page.locator("#w-import-file input[type=file]").set_input_files(str(hf_gpt2_file))
    page.wait_for_timeout(500)
    page.locator("#w-import").click()
    page.wait_for_function("document.querySelector('#w-message').innerText.includes('browser-gpt2')", timeout=60_000)
    target = state.checkpoints / "imported" / "browser-gpt2.safetensors"
    assert target.is_file()
    assert "browser-gpt2" in page.locator("#w-table").inner_text()

    page.locator("#w-export").click()
    link = page.locator("#w-export-file a").first
    link.wait_for(timeout=60_000)
    with page.expect_download() as info:
        link.click()
    archive = tmp_path / "export.zip"
    info.value.save_as(archive)
    assert archive.stat().st_size > 1000
    shoot(page, "weights-export-en")

    page.locator("#w-delete").click()
    page.locator("#w-confirm-yes").click()
    page.wait_for_function("document.querySelector('#w-message').innerText.includes('Deleted')", timeout=30_000)
    assert not target.exists()
