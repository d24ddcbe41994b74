"""How big a number or a text from the page may be, and the check a handler makes.

The page's boxes carry these bounds (the browser keeps a person inside them), but any
endpoint can be called with any value.  A handler reads a box with `whole` / `real`, which
check only what the box itself needs: a number at all (not text, not NaN or infinity), and
whole where it must be.  The range is the core's to check when the bound is the core's own
(`CoreBound`: a model's shape, the training settings, sampling, LoRA) — the core names
every problem at once and the page says its answer in its language (`ui/core_errors.py`),
so the page keeps no second copy of those checks.  A bound the page alone sets (how many
tokens a Generate press writes, a LoRA alpha's top) is a plain number, checked here.

`Number` and `Slider` make Gradio's, except that a value past the bounds reaches the
handler (Gradio's own check would answer in English, as an error badge on the box).
"""
from __future__ import annotations

import math

import gradio as gr

from pocketllm import CONFIG_LIMITS as LIMITS
from pocketllm import MAX_SEED, TRAIN_LIMITS, TRAIN_REAL_RANGES, PocketLLMError

from .i18n import t


class CoreBound(int):
    """A box's bound that is the core's own limit: the box shows it, and the core checks it
    (with a message in the page's language), so `whole` / `real` leave the range alone."""


MAX_VOCAB = CoreBound(LIMITS["vocab_size"])          # 262,144
MAX_CONTEXT = CoreBound(LIMITS["context_length"])    # 65,536
MAX_WIDTH = CoreBound(LIMITS["emb_dim"])             # 16,384
MAX_HEADS = CoreBound(LIMITS["num_heads"])           # 1,024
MAX_LAYERS = CoreBound(LIMITS["num_layers"])         # 512
MAX_BATCH = CoreBound(TRAIN_LIMITS["batch_size"])
MAX_STEPS = CoreBound(TRAIN_LIMITS["max_steps"])
MAX_EPOCHS = CoreBound(TRAIN_LIMITS["epochs"])
MAX_EVERY = CoreBound(TRAIN_LIMITS["eval_every"])    # evaluate / sample every N steps
MAX_TEST_GENERATE = 1_000_000                        # (the test split bounds it anyway)
MAX_TRAIN_SEED = CoreBound(TRAIN_LIMITS["seed"])
MAX_SAMPLING_SEED = CoreBound(MAX_SEED)
MAX_LORA_RANK = MAX_WIDTH                  # and at most the model's width: the core checks that
MAX_LORA_ALPHA = 1_000_000
MAX_LR = CoreBound(1)
MAX_MINUTES = CoreBound(TRAIN_REAL_RANGES["max_minutes"][1])  # a time budget

# Texts that reach a model or come back in the page.
PROMPT_CHARS = 100_000   # a prompt, a message to classify, an instruction or its input
INSIDE_CHARS = 4_000     # Look inside reads the prompt's last characters up to this
NAME_CHARS = 100         # a checkpoint's new name (the core's limit)
SOURCE_CHARS = 1_000     # a model name or a path typed in the import box
COLUMN_CHARS = 200       # a column name of a table


def _lenient(box):
    """`box` (a gr.Number or gr.Slider) with Gradio's bounds check taken out of its
    preprocessing: the browser still keeps a person inside the bounds, and a value sent past
    them reaches the handler, which says what is wrong in the page's language."""
    def preprocess(payload):
        if payload is None:
            return None
        try:
            return gr.Number.round_to_precision(payload, box.precision)
        except (OverflowError, ValueError, TypeError):  # inf, nan, a string: the handler says so
            return payload
    box.preprocess = preprocess  # on the instance: a subclass would make Gradio write a .pyi beside this file
    return box


def Number(*args, **kwargs) -> gr.Number:  # noqa: N802  (used as the component it makes)
    """A gr.Number whose bounds the browser keeps while the handler checks what it gets."""
    return _lenient(gr.Number(*args, **kwargs))


def Slider(*args, **kwargs) -> gr.Slider:  # noqa: N802
    """A gr.Slider whose bounds the browser keeps while the handler checks what it gets."""
    return _lenient(gr.Slider(*args, **kwargs))


def _shown(value) -> str:
    try:
        text = str(value)
    except ValueError:  # an int too long to print
        text = "…"
    return text if len(text) <= 24 else text[:21] + "…"


def _refuse(key: str, value, low, high, what: str, lang, fmt: str):
    return PocketLLMError(t(lang, key, what=t(lang, what), low=format(low, fmt), high=format(high, fmt),
                            value=_shown(value)))


def whole(value, low: int, high: int, what: str, lang, default=None) -> int:
    """`value` as a whole number, else a PocketLLMError in the page's language naming the box
    (`what`: the box's label key).  The range `low`..`high` is checked here only when `high` is
    the page's own (not a `CoreBound`).  Empty gives `default` if set."""
    if (value is None or value == "") and default is not None:
        return default
    number = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, (float, str)):
        try:
            f = float(value)
            if math.isfinite(f) and f == int(f):
                number = int(f)
        except (TypeError, ValueError, OverflowError):
            number = None
    if number is None or not (isinstance(high, CoreBound) or low <= number <= high):
        raise _refuse("common.out_of_range", value, low, high, what, lang, ",")
    return number


def real(value, low: float, high: float, what: str, lang, default=None) -> float:
    """`value` as a finite number, else a PocketLLMError in the page's language; the range as in
    `whole` (here only when `high` is the page's own)."""
    if (value is None or value == "") and default is not None:
        return default
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not (math.isfinite(number) and (isinstance(high, CoreBound) or low <= number <= high)):
        raise _refuse("common.out_of_range_real", value, low, high, what, lang, "g")
    return number


def text_cap(text, limit: int, keep: str = "end") -> tuple[str, int]:
    """(`text` cut to at most `limit` characters, how many were left out); `keep` the
    text's "end" (a prompt: the model reads its end) or its "start"."""
    text = text if isinstance(text, str) else ("" if text is None else str(text))
    if len(text) <= limit:
        return text, 0
    return (text[-limit:] if keep == "end" else text[:limit]), len(text) - limit
