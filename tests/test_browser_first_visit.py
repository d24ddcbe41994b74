"""The page as a person first meets it: the plain address, the browser's own language
(`Accept-Language` / `navigator.language` zh-CN or en-US), no `?lang=`.

No error toast; the page in the browser's language; every tab shown (screenshots at
1366 px in tests/screenshots/first-visit-<tab>-<lang>.png); the switch relabels the page,
Gradio's own upload text included, without a round trip to the server.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_fixtures import app  # noqa: F401  (fixture)
from tests.test_browser import ARGS, CHROMIUM, SHOTS, browser  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]

TABS = {"zh": ["预训练", "生成", "分类", "指令微调", "权重"],
        "en": ["Pretrain", "Generate", "Classify", "Instruct", "Weights"]}
UPLOAD = {"zh": "把文件拖到这里", "en": "Drop a file here"}


def tab_names(page) -> list[str]:
    return [t.strip() for t in page.get_by_role("tab").all_inner_texts()][:5]


def upload_text(page) -> str:
    """What Gradio's first upload area says (our words come from a CSS ::after)."""
    return page.evaluate("""() => { const el = document.querySelector('[data-testid="upload-text"]');
        return el ? getComputedStyle(el, '::after').content : ''; }""")


def error_toasts(page) -> list[str]:
    return [t for t in page.locator(".toast-body").all_inner_texts() if t.strip()]


@pytest.mark.parametrize("locale, lang, other", [("zh-CN", "zh", "en"), ("en-US", "en", "zh")])
def test_first_visit_follows_the_browser_language_without_an_error(browser, app, locale, lang, other):
    url = app[0]
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale=locale)
    page = context.new_page()
    messages = []
    page.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
    try:
        page.goto(url)  # the plain address
        page.wait_for_function(f"Array.from(document.querySelectorAll('[role=tab]'))"
                               f".some(t => t.innerText.includes({TABS[lang][0]!r}))", timeout=30_000)
        page.wait_for_timeout(2_000)  # the load events have run
        assert tab_names(page) == TABS[lang]
        assert error_toasts(page) == []
        assert UPLOAD[lang] in upload_text(page)
        for i, name in enumerate(TABS[lang]):
            page.get_by_role("tab", name=name).click()
            page.wait_for_timeout(600)
            assert error_toasts(page) == []
            SHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SHOTS / f"first-visit-{TABS['en'][i].lower()}-{lang}.png"), full_page=True)
        page.get_by_role("tab", name=TABS[lang][0]).click()

        # The switch: labels, choices and Gradio's upload text, in the browser alone.
        page.get_by_text("中文" if other == "zh" else "English", exact=True).click()
        page.wait_for_function(f"Array.from(document.querySelectorAll('[role=tab]'))"
                               f".some(t => t.innerText.includes({TABS[other][0]!r}))", timeout=5_000)
        assert tab_names(page) == TABS[other]
        assert UPLOAD[other] in upload_text(page)
        assert error_toasts(page) == []
        page.wait_for_timeout(1_500)  # the previews the tabs write again in the new language
        assert error_toasts(page) == []
        page.screenshot(path=str(SHOTS / f"first-visit-switched-to-{other}.png"))
        assert not [m for m in messages if "Value:" in m or "not in the list of choices" in m]
    finally:
        context.close()
