"""Page texts in English and Chinese, and the language switch.

Texts live in `ui/strings/<module>.py`, each module defining two dicts, `EN` and
`ZH`, with the same keys (by convention prefixed with the module name:
"pretrain.start").  Every module in `ui/strings/` is loaded, so a new tab only
adds its own strings file.

How the language is chosen and switched
--------------------------------------
Gradio's `gr.I18n` translates labels in the browser from the browser's locale,
but the Python side never learns which language was picked, so status lines
and error messages could not follow it, and it has no switch of its own in the
page.  So:

- each tab registers its translatable components with `Page.add(component,
  label=key, value=key, ...)`;
- on page load a small script picks the language (`?lang=zh` in the address, else
  the browser's language, or the `--lang` the app was launched with), and the
  selector at the top is the user's switch; both run `Page.switch_js` in the
  browser, which holds every registered component's texts in both languages, so
  relabelling needs no round trip to the server;
- the selector's value ("en" / "zh") is an input of every event that reports
  something, so runtime messages use `t(lang, key)` too, and the handlers a tab
  registers with `ctx.on_load` run again on a switch to redo texts they wrote.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
from dataclasses import dataclass, field

import gradio as gr

from .markup import Markup, fill, plain

LANGS = ("en", "zh")
DEFAULT_LANG = "en"
_TEXTS: dict[str, dict[str, str]] | None = None


def _load() -> dict[str, dict[str, str]]:
    global _TEXTS
    if _TEXTS is None:
        from . import strings
        texts = {lang: {} for lang in LANGS}
        for info in pkgutil.iter_modules(strings.__path__):
            mod = importlib.import_module(f"{strings.__name__}.{info.name}")
            for lang, table in (("en", mod.EN), ("zh", mod.ZH)):
                clash = set(table) & set(texts[lang])
                if clash:
                    raise RuntimeError(f"ui/strings/{info.name}.py repeats keys {sorted(clash)}")
                texts[lang].update(table)
        _TEXTS = texts
    return _TEXTS


def normalize(lang) -> str:
    """'zh-CN', 'zh_TW', 'ZH' -> 'zh'; anything unknown -> English."""
    code = str(lang or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGS else DEFAULT_LANG


def _template(lang, key: str) -> str:
    texts = _load()
    return texts[normalize(lang)].get(key) or texts["en"].get(key) or key


def t(lang, key: str, **values) -> Markup:
    """The text for `key` in `lang` (falling back to English, then to the key itself), for the
    page's Markdown, Chatbot and toasts.  Its values are escaped (`ui.markup.fill`): a name, a
    label or a message from a user or a file shows as text and never as markup; a value that
    is our own markup (another `t()`, a translated core message) is a `Markup` and passes."""
    template = _template(lang, key)
    return fill(template, values) if values else Markup(template)


def t_plain(lang, key: str, **values) -> str:
    """The same text, unescaped, for a component that shows text as text (a Textbox, Dropdown,
    Dataframe or Label, a plot's title or hover): it escapes on its own."""
    template = _template(lang, key)
    return template.format(**{k: plain(v) if isinstance(v, Markup) else v for k, v in values.items()}) if values else template


def page_template(code: str, lang) -> str | None:
    """The page's own wording of a core error `code` in `lang` (`ui/strings/core_page.py`:
    the form's boxes where the core names command-line flags), or None."""
    texts, key = _load(), f"core_page.{code}"
    return texts[normalize(lang)].get(key) or texts["en"].get(key)


def missing_translations() -> dict[str, list[str]]:
    """Keys present in one language and not the other (tests keep this empty)."""
    texts = _load()
    return {"zh": sorted(set(texts["en"]) - set(texts["zh"])),
            "en": sorted(set(texts["zh"]) - set(texts["en"]))}


@dataclass
class _Entry:
    component: gr.components.Component | gr.blocks.BlockContext
    keys: dict            # property -> text key (label, value, info, placeholder)
    choices: list | None  # [(text key, value), ...] for Radio / Dropdown


@dataclass
class Page:
    """The translatable components of the page, relabelled together on a switch."""
    lang: str = DEFAULT_LANG  # language the components are built with
    entries: list[_Entry] = field(default_factory=list)

    def add(self, component, *, choices: list | None = None, **keys):
        """Register `component`; `keys` maps a property (label, value, info, placeholder)
        to a text key; `choices` is a list of (text key, value) pairs.  Returns it."""
        self.entries.append(_Entry(component, keys, choices))
        return component

    def text(self, key: str, **values) -> str:
        return t(self.lang, key, **values)

    @property
    def components(self) -> list:
        return [e.component for e in self.entries]

    def texts(self, lang) -> list[dict]:
        """Each registered component's texts in `lang`: {property: text} (choices as [text, value])."""
        lang = normalize(lang)
        out = []
        for e in self.entries:
            props = {prop: t(lang, key) for prop, key in e.keys.items()}
            if e.choices is not None:
                props["choices"] = [[t(lang, key), value] for key, value in e.choices]
            out.append(props)
        return out

    def switch_js(self, built_in: str | None = None) -> str:
        """A browser function `(lang) => updates` that relabels every registered component
        with no round trip to the server: both languages' texts travel with the page, so a
        switch is instant.  With `built_in`, that language returns no-op updates (the page
        was built in it).  It also marks `<html data-pl-lang>`, which words Gradio's own
        upload areas (see `upload_text_css` in app.py)."""
        table = {lang: [{"__type__": "update", **props} for props in self.texts(lang)] for lang in LANGS}
        if built_in:
            table[normalize(built_in)] = [{"__type__": "update"} for _ in self.entries]
        return SWITCH_JS.replace("__TABLE__", json.dumps(table, ensure_ascii=False))


SWITCH_JS = """
(lang) => {
  const table = __TABLE__;
  const code = String(lang || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  document.documentElement.dataset.plLang = code;  // the CSS that words Gradio's upload areas
  return table[code];
}
"""
