"""No English on the Chinese page: every text of the page, every message the app writes,
and every core error the page can show have Chinese, and that Chinese has no English
sentence left in it.

What may stay in Latin letters: names of things (GPT-2, PyTorch, Hugging Face), formats
and units (JSON, CSV, MB), the names of settings a learner meets in the book and in other
tools (top-k, dropout, AdamW), and commands in `code`.  A Chinese text may give the English
term in brackets after the Chinese one, e.g. "批大小（batch size）".
"""
from __future__ import annotations

import re

import pytest

TERMS = {
    # names
    "PocketLLM", "pocketllm", "GPT", "OpenAI", "Hugging", "Face", "PyTorch", "Gradio", "Alpaca", "SpamAssassin",
    "transformers", "safetensors", "pytorch", "LoRA", "AdamW", "Adam", "Muon", "ChatML", "CTranslate", "Llama", "Qwen", "llama", "qwen",
    # formats and units
    "JSON", "Lines", "CSV", "TSV", "txt", "json", "bin", "config", "model", "MB", "GB", "KB", "GFLOPs", "CPU", "GPU",
    "UTF", "BPE", "int", "bf", "fp", "nats", "endoftext", "gpt", "medium", "large", "xl",
    # settings and ideas named as the book and other tools name them
    "top-k", "top-p", "min-p", "dropout", "emb", "dim", "alpha", "logit", "Logit", "lens", "epochs", "batch",
    "size", "token", "tokens", "softmax", "lr", "val", "loss", "host", "python", "help", "step", "steps",
    "auto", "cpu-tiny", "cpu-small", "cpu-medium", "cpu-tiny-qwen",  # (preset names; the regex stops at "3")
    "English",  # the language switch names each language in its own words
}
WORD = re.compile(r"[A-Za-z][A-Za-z']*(?:-[A-Za-z]+)*")


def english_left(text: str) -> list[str]:
    """The Latin-letter words of `text` that are not allowed terms (placeholders, `code`,
    bracketed English glosses and example inputs aside)."""
    text = re.sub(r"\{[^}]*\}", "", text)             # {placeholders}
    text = re.sub(r"`[^`]*`", "", text)                # `commands`
    text = re.sub(r"（[A-Za-z][^（）]*）", "", text)   # （English gloss）
    text = re.sub(r"“[^”]*”", "", text)                # “an example input”
    text = re.sub(r"\S*/\S*", "", text)                # paths
    return [w for w in WORD.findall(text) if len(w) >= 3 and w not in TERMS]


def test_the_checker_finds_english():
    assert english_left("训练完成。Training finished, see the plot.") == ["Training", "finished", "see", "the", "plot"]
    assert english_left("批大小（batch size）、`python -m pocketllm --help`、{name}") == []


def test_every_page_text_has_chinese_without_english_sentences():
    from ui.i18n import _load, missing_translations
    assert missing_translations() == {"zh": [], "en": []}
    texts = _load()
    examples = {k for k in texts["zh"] if k.endswith(("_placeholder", "input_default", "default_prompt_en"))}
    bad = {k: english_left(v) for k, v in texts["zh"].items() if k not in examples and english_left(v)}
    assert bad == {}
    # ... and the Chinese is not the English copied over
    same = [k for k, v in texts["zh"].items()
            if k not in examples and v == texts["en"][k] and WORD.search(v) and english_left(v)]
    assert same == []


def test_every_core_error_in_chinese_has_no_english_sentence():
    from ui.core_errors import ZH
    bad = {code: english_left(text) for code, text in ZH.items() if english_left(text)}
    assert bad == {}


@pytest.fixture(scope="module")
def zh_page(tmp_path_factory):
    from ui.app import build_app
    demo = build_app(tmp_path_factory.mktemp("ck"), lang="zh")
    return demo


def test_the_built_chinese_page_has_no_english_label(zh_page):
    """Every component's label, info, placeholder and choices as built for a Chinese page."""
    bad = []
    for block in zh_page.blocks.values():
        for prop in ("label", "info", "placeholder"):
            value = getattr(block, prop, None)
            if isinstance(value, str) and english_left(value):
                bad.append((getattr(block, "elem_id", None), prop, value))
        for choice in getattr(block, "choices", None) or []:
            label = choice[0] if isinstance(choice, (list, tuple)) else choice
            if isinstance(label, str) and english_left(label):
                bad.append((getattr(block, "elem_id", None), "choice", label))
    assert bad == []
