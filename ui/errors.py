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

import errno
import functools
import inspect
import logging
from pathlib import Path

import gradio as gr
import torch

from pocketllm import PocketLLMError

from .core_errors import core_message
from .i18n import t
from .markup import Markup

log = logging.getLogger("pocketllm.ui")


def _lang_of(fn, args, kwargs) -> str:
    if "lang" in kwargs:
        return kwargs["lang"]
    names = list(inspect.signature(fn).parameters)
    if "lang" in names and names.index("lang") < len(args):
        return args[names.index("lang")]
    return "en"


# A file the app could not write or read: what the page says for the errno (the OS's own words are
# English, and "Something went wrong (OSError)" says nothing).
DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}


def file_message(exc: OSError, lang) -> Markup:
    """An OSError in the page's language: the disk is full, no permission, a file gone, or the OS's reason."""
    name = Path(exc.filename).name if isinstance(exc.filename, (str, Path)) and str(exc.filename) else "—"
    if exc.errno in DISK_FULL:
        return t(lang, "common.disk_full", name=name)
    if exc.errno in NO_PERMISSION:
        return t(lang, "common.no_permission", name=name)
    if exc.errno == errno.ENOENT:
        return t(lang, "common.file_missing", name=name)
    return t(lang, "common.file_error", name=name, reason=exc.strerror or type(exc).__name__)


WRITE_FAILED = ("files.write_failed", "files.write_failed_new")  # the core's atomic_write: nothing half-written


def upload_refusal(exc: BaseException, name, lang) -> PocketLLMError | None:
    """The page's words for an upload whose copy failed (the core's write error, or an OSError):
    the upload `name` was not saved, why (a full disk said as such), and to free space and upload
    it again, in `lang`.  None for any other error."""
    if isinstance(exc, PocketLLMError) and exc.code in WRITE_FAILED:
        reason = str(exc.values.get("reason", ""))
    elif isinstance(exc, OSError):
        reason = "No space left" if exc.errno in DISK_FULL else (exc.strerror or type(exc).__name__)
    else:
        return None
    if "No space left" in reason or "quota" in reason.lower():
        reason = t(lang, "common.reason_disk_full")
    return PocketLLMError(t(lang, "common.upload_not_saved", name=Path(str(name)).name, reason=reason))


def message_of(exc: BaseException, lang) -> Markup:
    """What the page says about `exc`, in `lang` (core errors translated by their code), as
    Markdown whose values are escaped (`ui.markup`)."""
    if isinstance(exc, gr.Error):
        return Markup(str(exc.message))  # the page's own (`t()`), or Gradio's
    if isinstance(exc, PocketLLMError):
        return core_message(exc, lang)
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return t(lang, "common.out_of_memory")
    if isinstance(exc, OSError):
        log.warning("a file operation failed in the app: %r", exc)
        return file_message(exc, lang)
    log.exception("unexpected error in the app")
    return t(lang, "common.unexpected", kind=type(exc).__name__)


def as_page_error(exc: BaseException, lang) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    return gr.Error(message_of(exc, lang), title=t(lang, "common.error_title"), print_exception=False)


def status_text(message: str, lang) -> Markup:
    """A message for a status area (Markdown: `message` is already escaped, e.g. from `message_of`
    or `t()`): marked as an error, in the page's language."""
    return Markup(f"⚠️ **{t(lang, 'common.error_title')}**: {message}")


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
