"""The core's error messages in the page's language.

A `PocketLLMError` carries a stable `code` and the `values` of its English template
(see pocketllm/errors.py).  The page shows the Chinese template of that code with the
same values; an error without a translation (a code added later) shows in English.
tests/test_core_error_codes.py checks that every code raised in `pocketllm/` is here,
with the same `{names}` as its English template.
"""
from __future__ import annotations

from pocketllm import PocketLLMError

from .i18n import normalize

# code -> Chinese template, same {names} as the English one at the raise site.
ZH: dict[str, str] = {
}


def core_message(exc: PocketLLMError, lang) -> str:
    """`exc`'s message in `lang` (English where no translation exists)."""
    template = ZH.get(exc.code) if normalize(lang) == "zh" else None
    if template is None:
        return str(exc)
    try:
        return template.format(**exc.values)
    except (KeyError, IndexError, ValueError):  # a translation that lost a value: never hide the error
        return str(exc)
