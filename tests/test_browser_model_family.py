"""The model family from the page, in a zh-CN browser over a fresh checkpoints folder: pick
Qwen3 in the Pretrain tab (a tiny shape, a few steps), train it, see it in Weights (its
architecture and report card), then open Look inside on it in Generate: the attention and
logit-lens views render.  Screenshots go to a temp folder (printed).  About 2 minutes on 2 cores."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from pocketllm import load_model
from tests.app_fixtures import app  # noqa: F401  (fixture: the app on a free loopback port, fresh folder)
from tests.test_browser import CHROMIUM, browser, plot_data, set_number  # noqa: F401  (fixture)
from tests.test_browser_default_paths import open_tab, page, text_has, toasts, wait_finished  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]

SHOTS = Path(tempfile.gettempdir()) / "pocketllm-model-family-shots"
TINY = {"pretrain-layers": 2, "pretrain-heads": 2, "pretrain-width": 32, "pretrain-context": 32,
        "pretrain-steps": 12, "pretrain-batch": 4, "pretrain-eval": 6, "pretrain-sample": 0}


def shoot(page, name):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"family-{name}-zh.png"), full_page=True)
    print("screenshot:", SHOTS / f"family-{name}-zh.png")


def test_pretrain_a_qwen3_model_from_the_page_and_look_inside_it(page, app):
    url, state = app
    page.goto(url)
    page.wait_for_function("document.querySelector('#pretrain-preview') && "
                           "document.querySelector('#pretrain-preview').innerText.length > 10", timeout=90_000)
    # The picker starts at the core's family (the default recipe's cpu-tiny-qwen3 is a Qwen3) and says what each
    # family changes; GPT-2 first, then Qwen3 picked by hand.
    from pocketllm import ModelConfig, PretrainSettings
    start = ModelConfig.load(PretrainSettings().config).arch
    assert page.locator(f"#pretrain-arch input[value={start}]").is_checked()
    assert "旋转位置编码" in page.locator("#pretrain-arch-about").inner_text()

    page.locator("#pretrain-tokenizer").get_by_text("字符", exact=True).click()  # the quickest to learn
    for elem_id, value in TINY.items():
        set_number(page, elem_id, value)
    page.locator("#pretrain-arch").get_by_text("GPT-2", exact=True).click()
    page.wait_for_timeout(500)
    page.locator("#pretrain-arch").get_by_text("Qwen3", exact=True).click()
    page.wait_for_timeout(1_500)
    page.get_by_text("用命令行做同样的训练").first.click()  # the command line's accordion
    page.wait_for_function(text_has("pretrain-cli", "--arch qwen3"), timeout=30_000)
    shoot(page, "pretrain-form")

    page.locator("#pretrain-start").click()
    page.wait_for_timeout(3_000)
    assert toasts(page) == []
    wait_finished(page, "pretrain-status", state, timeout_min=3)
    run_dir = Path(state.live_or_latest_run("pretrain"))
    assert json.loads((run_dir / "run.json").read_text())["arch"] == "qwen3"
    ckpt = load_model(run_dir / "model.safetensors")
    assert ckpt.config.arch == "qwen3" and ckpt.config.qk_norm and ckpt.config.position == "rope"
    shoot(page, "pretrain-finished")

    # ---- Weights: the table's report card, the detail view's architecture and card --------------
    open_tab(page, "权重")
    page.wait_for_function(text_has("w-table", "每字符比特"), timeout=30_000)
    page.wait_for_function("!document.querySelector('#w-load').disabled", timeout=20_000)
    page.locator("#w-load").click()
    page.wait_for_function(text_has("w-info", "成绩单"), timeout=60_000)
    info = page.locator("#w-info").inner_text()
    assert "Qwen3" in info and "留出集每字符比特" in info
    shoot(page, "weights")

    # ---- Generate › Look inside on it --------------------------------------------------------------
    page.reload()  # the page's load lists the new model in Generate's picker
    page.wait_for_function("document.querySelector('#pretrain-facts') && "
                           "document.querySelector('#pretrain-facts').innerText.length > 10", timeout=60_000)
    open_tab(page, "生成")
    box = page.locator("#gen-model input").first
    box.click()
    box.fill(run_dir.name)
    page.get_by_role("option").filter(has_text=run_dir.name).first.click()
    page.locator("#gen-prompt textarea").fill("学而时习之，不亦说乎？有朋自远方来")
    page.get_by_text("看看模型内部").first.click()
    page.locator("#gen-look").click()
    page.wait_for_function("() => { const el = document.querySelector('#gen-lens .js-plotly-plot');"
                           " return el && el.data && el.data.length; }", timeout=90_000)
    page.wait_for_timeout(1_000)
    assert plot_data(page, "gen-attention")[0]["type"] == "heatmap"
    assert plot_data(page, "gen-lens")[0]["type"] == "heatmap"
    assert toasts(page) == []
    page.locator("#gen-attention").scroll_into_view_if_needed()
    shoot(page, "look-inside")
