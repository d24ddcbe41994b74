"""User text shown as text: the one place the page escapes what it did not write.

Markdown, Chatbot and toast components render HTML, and Gradio's sanitizer keeps `<style>`,
`<img>`, `<a>`, `<form>`, `<input>`, `<link>` and `<meta>`: a class label, a run or file name,
a chat message or a value in an error message that holds `<style>body{display:none}</style>`
would blank the page for everyone who opens it.  So every string the page did not write itself
is escaped before it reaches one of them:

- `escape(text)`: the text, literally.  Characters that HTML or Markdown would act on become
  character references (`<` -> `&lt;`, `*` -> `&#42;`, ...).  A reference is decoded by the
  browser as the character and is never markup, so the same escaped text reads right in a
  Markdown component, a Chatbot and a toast (which renders HTML, not Markdown).
- `fill(template, values)`: our template with its values escaped where they stand (inside a
  backtick code span a value only loses its backticks and line breaks: there the text is
  already literal, and a reference would show as `&lt;`).  `ui.i18n.t` fills every text with
  it, so a value from a user or a file is escaped by default; a value that is our own markup
  (another `t()`, a translated core message) is a `Markup` and passes as it is.
- `fenced(text)`: a ```text block: literal already, only a run of backticks cannot close it.
- `literal(text)`: an English message we wrote whose values can no longer be told apart (a
  run's failure read back from events.jsonl): all of it escaped, its `code` spans kept as code.
- `plain(markup)`: back to the text, for components that show text as text (Textbox, Dropdown,
  Dataframe, Label, plot titles): they escape it themselves, and would show `&lt;` literally.

Escaping at `t()` (and at the core-message chokepoint, `ui/core_errors.py`) rather than at each
handler means a new message with a name in it is safe without anyone remembering to escape it;
the few places that need the plain text say so with `plain()` / `t_plain()`.
"""
from __future__ import annotations

import html
import re
import string

# Characters HTML or Markdown act on, as character references.  `_` is escaped only where it
# could start or end emphasis (not inside a word: `tiny_corpus.txt` stays readable in the API).
_REFS = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "&#92;", "`": "&#96;", "*": "&#42;", "[": "&#91;",
         "]": "&#93;", "$": "&#36;", "~": "&#126;", "|": "&#124;"}
_TABLE = str.maketrans(_REFS)
_LONE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # not between two letters or digits
_LINE_START = re.compile(r"(?m)^([ \t]*)([#\t ])")  # a heading, or the indent of a code block
_AUTOLINK = re.compile(r"(?i)(://|www\.)")
CODE_TICK = "ˋ"  # U+02CB, a backtick look-alike: a value inside `...` must not close it
FENCE_TICKS = "ʼʼʼ"  # what a run of three backticks becomes inside a ```text block


class Markup(str):
    """Text that is already safe for Markdown and HTML: our own texts and escaped values.
    `fill` (so `t()`) passes it unchanged, and `escape` does not escape it twice."""


def escape(value) -> Markup:
    """`value` as literal text in a Markdown, Chatbot or toast (see the module's docstring)."""
    if isinstance(value, Markup):
        return value
    text = str(value).replace("\r\n", "\n").translate(_TABLE)
    text = _LONE_UNDERSCORE.sub("&#95;", text)
    text = _LINE_START.sub(lambda m: m.group(1) + f"&#{ord(m.group(2))};", text)
    text = _AUTOLINK.sub(lambda m: m.group(1).replace(":", "&#58;").replace(".", "&#46;"), text)
    return Markup(text)


def in_code(value) -> str:
    """`value` inside a template's inline `code span`: literal there already; only a backtick
    (which would close the span) and a line break (which could end the paragraph) are replaced."""
    return re.sub(r"\s*[\r\n]+\s*", " ", str(value)).replace("`", CODE_TICK)


def in_fence(value) -> str:
    """`value` inside a ```text block: literal, with no run of backticks that could close it."""
    return str(value).replace("```", FENCE_TICKS)


def fenced(text, info: str = "text") -> Markup:
    """`text` as a fenced code block (shown exactly, in a monospace box)."""
    return Markup(f"```{info}\n{in_fence(text)}\n```")


def code(value) -> Markup:
    """`value` shown as inline code: a `code span` (where Markdown shows the text as it is) when
    nothing in it could close the span or split a table cell, else an HTML `<code>` of the
    escaped text."""
    text = str(value)
    if text and not re.search(r"[`|\r\n]", text) and text.strip() == text:
        return Markup(f"`{text}`")
    return Markup(f"<code>{escape(value)}</code>")


def table_cell(value) -> Markup:
    """`value` (escaped, unless it is `Markup`) for a cell of a Markdown table: on one line."""
    return Markup(re.sub(r"\s*[\r\n]+\s*", " ", escape(value)))


_RUNS = re.compile(r"`+")
FIELD = "\0"  # a value's place in a template's skeleton (no template holds a NUL)


def _code_regions(skeleton: str) -> list[tuple[int, int, bool]]:
    """(start, end, fenced) of the code in `skeleton`, as Markdown reads it: a run of 3 or more
    backticks at a line's start opens a fenced block closed by a later run at least as long; any
    other run of n opens an inline span closed by the next run of exactly n, within its
    paragraph.  A run that nothing closes is a plain backtick."""
    regions, runs, i = [], list(_RUNS.finditer(skeleton)), 0
    while i < len(runs):
        n, start, end = len(runs[i].group()), runs[i].start(), runs[i].end()
        line_end = skeleton.find("\n", end) if "\n" in skeleton[end:] else len(skeleton)
        fence = n >= 3 and not skeleton[skeleton.rfind("\n", 0, start) + 1:start].strip(" ") \
            and "`" not in skeleton[end:line_end]
        for j in range(i + 1, len(runs)):
            m = len(runs[j].group())
            if (fence and m >= n) or (not fence and m == n):
                if not fence and "\n\n" in skeleton[end:runs[j].start()]:
                    break  # a blank line ends the paragraph, and the span never closes
                regions.append((end, runs[j].start(), fence))
                i = j
                break
        i += 1
    return regions


def fill(template: str, values: dict) -> Markup:
    """`template.format(**values)` with every value escaped where it stands: `escape` outside
    code, `in_code` inside a code span, `in_fence` inside a fenced block (where Markdown shows
    the text as it is); a `Markup` value outside code as it is.  Numbers keep their format
    specs (`{n:,}`); conversions (`{name!r}`) work."""
    formatter = string.Formatter()
    items = list(formatter.parse(template))
    skeleton = "".join(literal + (FIELD if field is not None else "") for literal, field, _, _ in items)
    places = [k for k, c in enumerate(skeleton) if c == FIELD]
    regions = _code_regions(skeleton)
    out, n = [], 0
    for literal, field, spec, conversion in items:
        out.append(literal)
        if field is None:
            continue
        at, n = places[n], n + 1
        inside = next((fenced_ for start, end, fenced_ in regions if start <= at < end), None)
        value, _ = formatter.get_field(field, (), values)
        value = formatter.convert_field(value, conversion)
        if spec and "{" in spec:
            spec = formatter.vformat(spec, (), values)
        text = format(value, spec or "")
        if inside is None:
            out.append(text if isinstance(value, Markup) else escape(text))
        else:
            text = plain(Markup(text)) if isinstance(value, Markup) else text  # code shows it as it is
            out.append(in_fence(text) if inside else in_code(text))
    return Markup("".join(out))


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def literal(text) -> Markup:
    """An English message we wrote, whose values we cannot tell apart any more: every character
    escaped, and each single-line `code span` kept as `<code>` (so nothing the values held can
    open or close one)."""
    if isinstance(text, Markup):
        return text
    text, out, at = str(text), [], 0
    for m in _CODE_SPAN.finditer(text):
        out += [escape(text[at:m.start()]), code(m.group(1))]
        at = m.end()
    out.append(escape(text[at:]))
    return Markup("".join(out))


_CODE_TAG = re.compile(r"</?code>")


def plain(text):
    """Escaped text back to the text itself (character references decoded, `<code>` as
    backticks), for a component that shows text as text.  Our texts hold no `&`-names of
    their own, so only what `escape` wrote is decoded.  Anything but `Markup` is returned as
    it is."""
    if not isinstance(text, Markup):
        return text
    return html.unescape(_CODE_TAG.sub("`", text))
