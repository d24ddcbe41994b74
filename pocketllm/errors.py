"""One exception type for everything a user can get wrong.

The CLI and the app show its message as is, so every message says what is
wrong and what to do about it.  Programming errors stay ordinary exceptions.

Every error has a stable `code` and the `values` its message is made of:

    raise PocketLLMError("Width {emb_dim} is more than {limit}. Lower --emb_dim.",
                         code="config.too_wide", emb_dim=width, limit=LIMIT)

The English message is the template filled in (what the CLI prints and `str()` gives).
The app shows the page's language: `ui/core_errors.py` holds the same template
in Chinese under the same code, with the same `{names}` (a test checks both: every
code raised in `pocketllm/` has a translation, and no translation lost a value).
Codes are `<area>.<what>`, lower case; once released, a code keeps its meaning.
A value that is itself a sentence part (a place in a file, one of several problems)
is a `Phrase` with a code of its own, so it is translated too — never English text.

Settings (a model config, training settings, sampling, LoRA, a corpus's split) are checked
in one style: every problem is a `Phrase`, and all of them are raised together as one
error whose `problems` value is a `PhraseList` (e.g. code `train.invalid_settings`), so a
person fixes everything in one go and the page says each problem in its language.
"""
from __future__ import annotations


class PocketLLMError(ValueError):
    """Bad input from the user: a file, a config, a hyper-parameter."""

    def __init__(self, message: str, code: str = "", **values):
        self.template = message
        self.code = code
        self.values = values
        super().__init__(message.format(**values) if values else message)


class Phrase(str):
    """A part of a message with a code of its own (a place in a file, a skipped record's
    reason): the English text as a `str` (what the CLI prints, what JSON keeps), plus the
    `code` and `values` the page uses to say it in its language.  Used as a value of a
    `PocketLLMError` or in a list the page shows; `ui/core_errors.py` translates them."""

    def __new__(cls, template: str, code: str, **values):
        self = super().__new__(cls, template.format(**values))
        self.code, self.values = code, values
        return self

    def __reduce__(self):  # copies and pickles (Gradio's state deep-copies) keep the code and values
        return _phrase, (str(self), self.code, self.values)


class PhraseList(str):
    """Several phrases as one value: "; "-joined in English, each said in the page's language."""

    def __new__(cls, phrases):
        self = super().__new__(cls, "; ".join(phrases))
        self.phrases = tuple(phrases)
        return self

    def __reduce__(self):
        return PhraseList, (self.phrases,)


def shown(value, limit: int = 40) -> str:
    """A value for a message, cut short: a crafted file may hold a megabyte in one field."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (Python refuses past 4,300 digits)
        text = f"a {value.bit_length():,}-bit number"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def value_record(value):
    """An error's value as JSON can hold it (a run's events.jsonl), phrases with their codes, so a
    page reading the file later still says them in its language (`value_from_record` inverts it)."""
    if isinstance(value, PhraseList):
        return {"phrases": [value_record(p) for p in value.phrases]}
    if isinstance(value, Phrase):
        return {"phrase": str(value), "code": value.code, "values": {k: value_record(v) for k, v in value.values.items()}}
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def value_from_record(value):
    if isinstance(value, dict) and isinstance(value.get("phrases"), list):
        return PhraseList([value_from_record(p) for p in value["phrases"]])
    if isinstance(value, dict) and {"phrase", "code", "values"} <= set(value):
        return _phrase(str(value["phrase"]), str(value["code"]),
                       {k: value_from_record(v) for k, v in (value["values"] or {}).items()})
    return value


def _phrase(text: str, code: str, values: dict) -> Phrase:
    """A Phrase rebuilt from its text (for copies and pickles: its template is not kept)."""
    self = str.__new__(Phrase, text)
    self.code, self.values = code, values
    return self
