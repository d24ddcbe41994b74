"""A tab's elements, each named once ("train.lr"), and handlers that take and return dicts
keyed by those names.

A handler is written as `fn(values: dict) -> dict`: it reads `values["train.lr"]` and returns
only what it changes (`{"run.status": "..."}`); every output it leaves out is kept as it was.
So no handler has positional arguments whose order must match a list, and no handler
returns `[gr.skip()] * 12`.  The order of `inputs` is still the order of the event's API
parameters (gradio_client calls them by position).

Errors: a handler that raises shows the message in its `status` element (or a toast when it
has none) and leaves every other output as it was (see `ui/errors.py`).
"""
from __future__ import annotations

import inspect

import gradio as gr

from .errors import message_of, status_text
from .i18n import t
from .limits import Number, real, whole

LANG = "lang"  # every tab's page-language element


class Elements:
    """The named elements of one tab (plus the page's language, as "lang")."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.items: dict[str, gr.components.Component] = {LANG: ctx.lang}
        self.bounds: dict[str, tuple] = {}  # number boxes: (low, high, text key, whole?)
        self.guards: dict[str, object] = {}  # name -> fn(value) -> the value a handler may trust

    def add(self, name: str, component, **texts):
        """Register `component` as `name`; `texts` (label=..., choices=...) are the page's text
        keys, relabelled on a language switch."""
        if name in self.items:
            raise ValueError(f"element {name!r} is named twice")
        self.items[name] = component
        if texts:
            self.ctx.page.add(component, **texts)
        return component

    def number(self, name: str, key: str, value, low, high, *, integer: bool = True, info: str | None = None,
               **kwargs):
        """A number box with its bounds, read back with `read` (the same bounds, the same label)."""
        self.bounds[name] = (low, high, key, integer)
        L = self.ctx.page.text
        box = Number(value, label=L(key), minimum=low, maximum=high, **({"precision": 0} if integer else {}),
                     **({"info": L(info)} if info else {}), **kwargs)
        return self.add(name, box, label=key, **({"info": info} if info else {}))

    def read(self, values: dict, name: str, default=None):
        """A number box's value, checked against its bounds; the message names its label."""
        low, high, key, integer = self.bounds[name]
        check = whole if integer else real
        return check(values[name], low, high, key, values.get(LANG, "en"), default=default)

    def guard(self, name: str, fn):
        """Every handler reads `name` through `fn`: a value that came from the browser (or an API
        call) and that the page must not take on trust, e.g. a path."""
        self.guards[name] = fn

    def _values(self, inputs, args) -> dict:
        values = dict(zip(inputs, args))
        for name, fn in self.guards.items():
            if name in values:
                values[name] = fn(values[name])
        return values

    def __getitem__(self, name: str):
        return self.items[name]

    def __contains__(self, name: str) -> bool:
        return name in self.items

    def names(self, prefix: str) -> list[str]:
        """The names that start with `prefix` ("train."), in the order they were added."""
        return [n for n in self.items if n.startswith(prefix)]

    # ---- wiring -------------------------------------------------------------------------
    def handler(self, fn, inputs: list[str], outputs: list[str], status: str | None = None):
        """`fn(values) -> dict` as a positional Gradio handler over `inputs` / `outputs`."""
        unknown = [n for n in (*inputs, *outputs, *([status] if status else [])) if n not in self.items]
        if unknown:
            raise KeyError(f"unknown elements {unknown}")

        def positional(result: dict):
            extra = set(result) - set(outputs)
            if extra:  # a programming error: fail loudly in tests, not silently in the page
                raise KeyError(f"{fn.__name__} returned elements that are not its outputs: {sorted(extra)}")
            row = tuple(result.get(n, gr.skip()) for n in outputs)
            return row[0] if len(outputs) == 1 else row

        def failed(exc, values):
            lang = values.get(LANG, "en")
            message = message_of(exc, lang)
            if status in outputs:
                return positional({status: status_text(message, lang)})
            gr.Warning(message, title=t(lang, "common.error_title"))
            return positional({})

        if inspect.isgeneratorfunction(fn):
            def gen(*args):
                values = self._values(inputs, args)
                try:
                    for result in fn(values):
                        yield positional(result or {})
                except Exception as exc:  # noqa: BLE001  (shown, never a stack trace in the page)
                    yield failed(exc, values)
            gen.__name__ = fn.__name__  # (not functools.wraps: Gradio would read fn's one-argument signature)
            return gen

        def plain(*args):
            values = self._values(inputs, args)
            try:
                return positional(fn(values) or {})
            except Exception as exc:  # noqa: BLE001
                return failed(exc, values)
        plain.__name__ = fn.__name__
        return plain

    def on(self, triggers, fn, inputs: list[str], outputs: list[str], status: str | None = None, **kwargs):
        """Wire `fn` to one event listener (`button.click`) or several (a list)."""
        handler = self.handler(fn, inputs, outputs, status)
        ins, outs = [self[n] for n in inputs], [self[n] for n in outputs]
        if isinstance(triggers, (list, tuple)):
            return gr.on(list(triggers), handler, ins, outs, **kwargs)
        return triggers(handler, ins, outs, **kwargs)

    def on_load(self, fn, inputs: list[str], outputs: list[str], status: str | None = None, **kwargs):
        """`fn` on page load and on a language switch (`TabContext.on_load`)."""
        self.ctx.on_load(self.handler(fn, inputs, outputs, status), [self[n] for n in inputs],
                         [self[n] for n in outputs], **kwargs)


def choice_update(choices: list, current=None):
    """A dropdown refilled with `choices` ((label, value) pairs or values): it keeps the
    current choice while it is still offered, else takes the first (None when empty)."""
    values = [c[1] if isinstance(c, (list, tuple)) else c for c in choices]
    return gr.update(choices=choices, value=current if current in values else (values[0] if values else None))
