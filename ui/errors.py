"""Turning exceptions into messages in the page — never a stack trace, never a blanked output.

`friendly` wraps an event handler whose arguments include the page language as a
keyword or as a positional argument named `lang`:

- a `PocketLLMError` (bad input: its message already says what to do) becomes a message;
- running out of memory becomes a message that says what to lower;
- anything else is logged with its traceback on the server, and the page gets a short
  generic message.

How the message reaches the page:

- `@friendly(outputs=N, status=i)`: the handler returns N outputs and output `i` is its
  status area (a Markdown next to the button).  On an error every output keeps what it
  showed (`gr.skip()`) and the status area shows the message — a refused rename leaves
  the table as it was.  With `status=None` the message is a toast (`gr.Warning`) and
  every output is kept.  A generator yields that tuple once and ends.
- bare `@friendly`: the message is raised as `gr.Error` (a toast; the outputs show an
  error badge).  Kept for handlers whose only output is the thing that failed.
"""
from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr
import torch

from pocketllm import PocketLLMError

from .core_errors import core_message
from .i18n import t

log = logging.getLogger("pocketllm.ui")


def _lang_of(fn, args, kwargs) -> str:
    if "lang" in kwargs:
        return kwargs["lang"]
    names = list(inspect.signature(fn).parameters)
    if "lang" in names and names.index("lang") < len(args):
        return args[names.index("lang")]
    return "en"


def message_of(exc: BaseException, lang) -> str:
    """What the page says about `exc`, in `lang` (core errors translated by their code)."""
    if isinstance(exc, gr.Error):
        return str(exc.message)
    if isinstance(exc, PocketLLMError):
        return core_message(exc, lang)
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return t(lang, "common.out_of_memory")
    log.exception("unexpected error in the app")
    return t(lang, "common.unexpected", kind=type(exc).__name__)


def as_page_error(exc: BaseException, lang) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    return gr.Error(message_of(exc, lang), title=t(lang, "common.error_title"), print_exception=False)


def status_text(message: str, lang) -> str:
    """A message for a status area: marked as an error, in the page's language."""
    return f"⚠️ **{t(lang, 'common.error_title')}**: {message}"


def kept(outputs: int, status: int | None, message: str, lang):
    """Every output as it was, and `message` in the status area (or as a toast)."""
    if status is None:
        gr.Warning(message, title=t(lang, "common.error_title"))
    values = [gr.skip()] * outputs
    if status is not None:
        values[status] = status_text(message, lang)
    return values[0] if outputs == 1 else tuple(values)


def friendly(fn=None, *, outputs: int | None = None, status: int | None = None):
    """Show errors of `fn` (a function or a generator) as readable page messages; see above."""
    if fn is None:
        return functools.partial(friendly, outputs=outputs, status=status)

    def failed(exc, args, kwargs):
        lang = _lang_of(fn, args, kwargs)
        if outputs is None:
            raise as_page_error(exc, lang) from None
        return kept(outputs, status, message_of(exc, lang), lang)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                yield failed(exc, args, kwargs)
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            return failed(exc, args, kwargs)
    return wrapper
