"""Watch it learn in the browser: a zh-CN browser on the plain address, a fresh checkpoints folder with
one finished tiny run (Chinese classics, character tokenizer) that kept snapshots; Generate → Look
inside → the timeline.  The slider is moved across the run and every view (the next-token chart,
the logit lens, the attention map, the probes' chart with the slider's place) redraws for the model
of each step.  Screenshots of three steps: tests/screenshots/timeline-step-<step>-zh.png.  About a
minute on 2 cores."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pocketllm import snapshot_steps
from pocketllm.cli import main
from tests.app_fixtures import app  # noqa: F401  (fixture)
from tests.test_browser import CHROMIUM, SHOTS, browser  # noqa: F401  (fixture)
from tests.test_chinese_page import english_left

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]

ZH_TEXT = Path(__file__).resolve().parents[1] / "data" / "pretrain" / "zh_classics.txt"
VIEWS = ("gen-tl-next", "gen-tl-lens", "gen-tl-attention")  # (the chart above them: its marked step)


@pytest.fixture(scope="module")
def run(app, tmp_path_factory):
    """A finished run of 150 steps in the app's checkpoints folder: snapshots at 0, 10, 20, 50, 100, 150."""
    url, state = app
    root = tmp_path_factory.mktemp("tl-run")
    shape = root / "shape.json"
    shape.write_text(json.dumps(dict(vocab_size=3000, context_length=64, emb_dim=64, num_heads=4, num_layers=2,
                                     drop_rate=0.0, qkv_bias=True)))
    run_dir = state.checkpoints / "pretrain-classics"
    assert main(["pretrain", "--config", str(shape), "--data_path", str(ZH_TEXT), "--tokenizer", "char",
                 "--run_dir", str(run_dir), "--max_steps", "150", "--batch_size", "8", "--lr", "0.003",
                 "--eval_every", "25", "--eval_batches", "2", "--sample_every", "0", "--dtype", "fp32",
                 "--threads", "1", "--quiet"]) == 0
    assert snapshot_steps(run_dir) == [0, 10, 20, 50, 100, 150]
    return run_dir


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()


def plot_data(page, elem_id):
    return page.evaluate(f"() => {{ const el = document.querySelector('#{elem_id} .js-plotly-plot');"
                         f" return el && el.data ? JSON.parse(JSON.stringify(el.data)) : null; }}")


def marked_step(page):
    """The step the chart marks (its black line)."""
    return page.evaluate("() => { const el = document.querySelector('#gen-tl-chart .js-plotly-plot');"
                         " const s = el && el.layout && el.layout.shapes; return s && s.length ? s[s.length - 1].x0 : null; }")


def text_of(page, elem_id) -> str:
    return page.locator(f"#{elem_id}").inner_text()


def shoot(page, step: int):
    """The timeline (chart, slider and views) at `step`."""
    SHOTS.mkdir(exist_ok=True)
    page.locator("#gen-timeline").scroll_into_view_if_needed()
    page.locator("#gen-timeline").screenshot(path=str(SHOTS / f"timeline-step-{step}-zh.png"))


def move_slider(page, k: int):
    box = page.locator("#gen-tl-step input[type=number]")
    box.fill(str(k))
    box.press("Enter")


def test_the_slider_moves_across_the_run_and_every_view_redraws(page, app, run):
    url, state = app
    page.goto(url)  # the plain address: the page follows the browser's language
    page.get_by_role("tab", name="生成").click()
    page.get_by_text("看看模型内部", exact=True).click()
    page.get_by_text("看着它学习：训练过程中每个阶段的模型", exact=True).click()
    # the newest run is picked on load; its first snapshot is drawn
    page.wait_for_function("() => { const el = document.querySelector('#gen-tl-next .js-plotly-plot');"
                           " return el && el.data && el.data.length; }", timeout=60_000)
    page.wait_for_function("document.querySelector('#gen-tl-step-note').innerText.includes('第 0 步')",
                           timeout=30_000)
    assert "pretrain-classics" in page.locator("#gen-tl-run input").input_value()
    assert "6 个快照" in page.locator("#gen-tl-run input").input_value()
    note = text_of(page, "gen-tl-note")
    assert "相变" in note  # no phase change in so short a run, and the page says so
    # no English sentence in the timeline (captions, notes, the chart's legend)
    words = english_left(text_of(page, "gen-timeline"))
    assert not [w for w in words if w not in ("nats",)], words
    legend = [tr.get("name") or "" for tr in plot_data(page, "gen-tl-chart")]
    assert not [w for name in legend for w in english_left(name)], legend

    steps = snapshot_steps(run)
    page.wait_for_timeout(600)
    shoot(page, 0)
    seen = {0: {v: plot_data(page, v) for v in VIEWS}}
    for k in (4, 6, 2):  # across the run, and back
        before = {v: plot_data(page, v) for v in VIEWS}
        move_slider(page, k)
        step = steps[k - 1]
        page.wait_for_function(f"document.querySelector('#gen-tl-step-note').innerText.includes('第 {step} 步')",
                               timeout=30_000)
        page.wait_for_function(f"() => {{ const el = document.querySelector('#gen-tl-chart .js-plotly-plot');"
                               f" const s = el && el.layout && el.layout.shapes;"
                               f" return s && s.length && s[s.length - 1].x0 == {step}; }}", timeout=30_000)
        page.wait_for_timeout(600)
        after = {v: plot_data(page, v) for v in VIEWS}
        assert all(after[v] != before[v] for v in VIEWS), [v for v in VIEWS if after[v] == before[v]]
        assert marked_step(page) == step
        seen[step] = after
        if k != 2:
            shoot(page, step)
    # step 0 guesses evenly; the last snapshot does not
    assert max(seen[150]["gen-tl-next"][0]["x"]) > 3 * max(seen[0]["gen-tl-next"][0]["x"])

    # Play runs the slider to the last snapshot
    move_slider(page, 4)
    page.wait_for_function("document.querySelector('#gen-tl-step-note').innerText.includes('第 50 步')",
                           timeout=30_000)
    page.locator("#gen-tl-play").click()
    page.wait_for_function("document.querySelector('#gen-tl-step-note').innerText.includes('第 150 步')",
                           timeout=30_000)
    page.wait_for_function("document.querySelector('#gen-tl-play').innerText.includes('播放')", timeout=10_000)
