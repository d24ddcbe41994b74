"""The app: a language switch and the tabs, assembled from `TABS`.

Each entry of `TABS` names a module `ui.tabs.<name>` with a `build(ctx)`
function.  A module that does not exist yet shows as a placeholder tab, so
adding `ui/tabs/<name>.py` (and `ui/strings/<name>.py`) is all it takes to
fill it in.  See ui/README.md.
"""
from __future__ import annotations

import importlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from .i18n import LANGS, Page, normalize, t
from .state import MAX_UPLOAD, AppState, is_loopback

log = logging.getLogger("pocketllm.ui")

TABS = ["pretrain", "generate", "classify", "instruct", "weights"]

CSS = """
.pl-strip { line-height: 2.1; font-size: 1.05rem; }
.pl-tok { padding: 2px 3px; margin: 0 1px; border-radius: 4px; white-space: pre; }
.pl-strip-note { color: #6b7280; font-size: 0.85rem; }
.pl-tokenizer .pl-strip { margin: 4px 0; }
.pl-tok-what { color: #4b5563; font-size: 0.9rem; margin-right: 4px; }
.pl-tok-head { margin: 6px 0 2px 0; }
#pl-lang { max-width: 260px; }
"""

# Sends the page's language to Python on load: ?lang=zh in the address first,
# then the browser's language.  Reduced to a choice of the selector ("zh-CN" -> "zh")
# here, in the page: the Radio refuses any other value before Python sees it.
DETECT_LANG_JS = """
(current) => {
  const asked = new URLSearchParams(window.location.search).get("lang");
  const lang = String(asked || navigator.language || current || "en").toLowerCase();
  return lang.startsWith("zh") ? "zh" : "en";
}
"""


@dataclass
class TabContext:
    """What a tab's `build(ctx)` gets."""
    state: AppState          # checkpoints folder, the job runner, the model cache
    page: Page               # register translatable components: ctx.page.add(comp, label="key")
    lang: gr.Radio           # the page language ("en"/"zh"): an input of every handler that reports
    loads: list = field(default_factory=list)
    tab: gr.Tab | None = None  # the tab being built (its `select` event: the learner opened it)

    def on_load(self, fn, inputs=None, outputs=None, **kwargs):
        """Run `fn` when a page (re)loads and when the language changes (so text it
        writes, e.g. a preview, follows the switch).  Include `ctx.lang` in `inputs`."""
        self.loads.append((fn, inputs, outputs, kwargs))


def _module(name: str):
    try:
        return importlib.import_module(f"ui.tabs.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"ui.tabs.{name}":
            raise  # the tab exists but something it imports is missing: a real error
        return None


def build_app(checkpoints="checkpoints", lang: str | None = None, temp_dir=None, host="127.0.0.1",
              share=False) -> gr.Blocks:
    """The whole page.  `lang` forces the language ("en"/"zh"); None follows the browser.
    `host` and `share` are how it will be launched: files on the server may be named by
    path in the page only when it listens on this computer alone."""
    state = AppState(checkpoints, temp_dir, local_paths=is_loopback(host) and not share)
    forced = normalize(lang) if lang else None
    page = Page(lang=forced or "en")
    L = page.text

    with gr.Blocks(title="PocketLLM", analytics_enabled=False) as demo:
        with gr.Row(equal_height=True):
            page.add(gr.Markdown(L("common.title")), value="common.title")
            lang_radio = gr.Radio([("English", "en"), ("中文", "zh")], value=page.lang, show_label=False,
                                  container=False, elem_id="pl-lang", scale=0, min_width=200)
        ctx = TabContext(state, page, lang_radio)
        with gr.Tabs():
            for name in TABS:
                module = _module(name)
                with page.add(gr.Tab(L(f"common.tab_{name}"), id=name, elem_id=f"tab-{name}"),
                              label=f"common.tab_{name}") as tab:
                    ctx.tab = tab
                    if module is None:
                        page.add(gr.Markdown(L("common.coming_soon")), value="common.coming_soon")
                    else:
                        module.build(ctx)
        page.add(gr.Markdown(L("common.footer")), value="common.footer")

        # On load the page's language is settled first, then the page is filled in it: filling it
        # at the same time raced with the language detection, and a zh-CN visit could end with a
        # table written in English.  A person's switch (`input`, not `change`: the detection's
        # own change is not one) relabels and fills the page again.
        if forced:
            ready = demo.load(lambda: forced, None, lang_radio)
        else:
            ready = demo.load(lambda v: normalize(v), lang_radio, lang_radio, js=DETECT_LANG_JS)

        # The switch itself runs in the browser (both languages travel with the page): instant.
        ready.then(None, lang_radio, page.components, js=page.switch_js(built_in=page.lang))
        lang_radio.input(None, lang_radio, page.components, js=page.switch_js())
        for fn, inputs, outputs, kwargs in ctx.loads:  # and again in the new language on a switch
            ready.then(fn, inputs, outputs, show_progress="hidden", **kwargs)
            lang_radio.input(fn, inputs, outputs, show_progress="hidden", **kwargs)

    _hide_unnamed_endpoints(demo)
    demo.pocketllm_state = state  # for launch.py and tests
    return demo


def _hide_unnamed_endpoints(demo: gr.Blocks):
    """Events given an `api_name` are the app's API (gradio_client, tests); the rest
    (relabelling, previews on every keystroke, ...) are made private: unlisted, and not
    callable by name from gradio_client.  The page itself still calls them (by index),
    and so could anyone who speaks the page's protocol: Gradio does not refuse those
    calls, so every handler checks what it is given (`AppState.checkpoint`)."""
    for fn in demo.fns.values():
        auto = re.sub(r"[^a-zA-Z0-9_]", "", fn.name or "") or "unnamed"
        if fn.api_name and re.fullmatch(re.escape(auto) + r"(_\d+)?", fn.api_name) \
                and fn.api_visibility == "public":
            fn.api_visibility = "private"


class CheckpointFilesOnly:
    """ASGI middleware in front of Gradio's file routes (`/gradio_api/file=<path>`, `/file=`,
    `/file/`): in the checkpoints folder only checkpoints (`.safetensors`, not a hidden temp
    file of a save) are handed out; a run's training state, settings, events, notes and the
    kept corpora answer 403.  Outside the folder Gradio's own rules apply (its temp and
    upload folders: the app's own files; nothing else).

    The folder must stay in `allowed_paths`: a Download button's checkpoint is copied into
    Gradio's cache from there."""

    FILE_ROUTE = re.compile(r"/file[=/](.+)$")

    def __init__(self, app, folder):
        self.app = app
        self.folder = Path(folder).resolve()

    def allowed(self, url_path: str) -> bool:
        match = self.FILE_ROUTE.search(url_path or "")
        if not match:
            return True
        try:
            path = Path(os.path.abspath(match.group(1))).resolve()
        except (OSError, ValueError, RuntimeError):
            return False
        if path != self.folder and self.folder not in path.parents:
            return True  # not ours to judge: Gradio's checks follow
        return path.suffix == ".safetensors" and not path.name.startswith(".") and path.is_file()

    async def __call__(self, scope, receive, send):
        if scope.get("type") == "http" and not self.allowed(scope.get("path", "")):
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send({"type": "http.response.body", "body": b"File not allowed."})
            return
        await self.app(scope, receive, send)


def upload_text_css() -> str:
    """Gradio's upload areas say "Drop File Here" in the browser's language, whatever the
    switch says; once the page's script has set `<html data-pl-lang>`, they say ours."""
    rules = ['html[data-pl-lang] [data-testid="upload-text"] { font-size: 0; }',
             'html[data-pl-lang] [data-testid="upload-text"] .or { display: none; }']
    for lang in LANGS:
        text = t(lang, "common.upload_drop").replace('"', "'")
        rules.append(f'html[data-pl-lang="{lang}"] [data-testid="upload-text"]::after '
                     f'{{ content: "{text}"; font-size: var(--text-lg); display: block; }}')
    return "\n".join(rules)


def launch_options(state: AppState) -> dict:
    """Keyword arguments for `demo.launch` that the app needs whoever launches it.  No Gradio
    footer: its links follow the browser's language, not the page's (ours says the same)."""
    return dict(max_file_size=MAX_UPLOAD, allowed_paths=[str(state.checkpoints)], css=CSS + upload_text_css(),
                show_error=False, footer_links=[],
                app_kwargs={"middleware": [Middleware(CheckpointFilesOnly, folder=state.checkpoints)]})


def prepare_queue(demo: gr.Blocks) -> gr.Blocks:
    # Generations and look-inside share the CPU with training: two at a time at most.
    return demo.queue(default_concurrency_limit=2)
