"""Turning exceptions into messages in the page — never a stack trace.

`friendly(handler)` wraps an event handler whose arguments include the page
language as a keyword or as its last positional argument named `lang`:

- a `PocketLLMError` (bad input: its message already says what to do) becomes
  `gr.Error(message)`;
- running out of memory becomes a message that says what to lower;
- anything else is logged with its traceback on the server, and the page gets
  a short generic message.
"""
from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr
import torch

from pocketllm import PocketLLMError

from .i18n import t

log = logging.getLogger("pocketllm.ui")


def _lang_of(fn, args, kwargs) -> str:
    if "lang" in kwargs:
        return kwargs["lang"]
    names = list(inspect.signature(fn).parameters)
    if "lang" in names and names.index("lang") < len(args):
        return args[names.index("lang")]
    return "en"


def as_page_error(exc: BaseException, lang) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, PocketLLMError):
        return gr.Error(str(exc), title=t(lang, "common.error_title"), print_exception=False)
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return gr.Error(t(lang, "common.out_of_memory"), title=t(lang, "common.error_title"),
                        print_exception=False)
    log.exception("unexpected error in the app")
    return gr.Error(t(lang, "common.unexpected", kind=type(exc).__name__),
                    title=t(lang, "common.error_title"), print_exception=False)


def friendly(fn):
    """Show errors of `fn` (a function or a generator) as readable page messages."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise as_page_error(exc, _lang_of(fn, args, kwargs)) from None
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise as_page_error(exc, _lang_of(fn, args, kwargs)) from None
    return wrapper
