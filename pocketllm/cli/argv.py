"""A task's settings as the command line that runs the same task: `to_argv`, `command_line`.

The flags are not listed here: they are read from the real parsers (`build_parser`).
A flag whose destination names a settings field (or a field of a nested settings
object, such as `.train`) is written when the field's value differs from what the
command would take without it. A flag added to a command later is written with no
change here.

"Without it" is the parser's default, or, where that is None, the settings' own
default (the commands fill an absent flag from the settings' defaults: the bundled
data file, LoRA's rank).

A few fields are spelled differently on the command line; `FLAG_TEXT` and
`INVERTED_FLAGS` say how. A value no flag can say (e.g. a field with no flag) is
listed by `unexpressed`; `to_argv(strict=True)` refuses such settings.
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
from functools import lru_cache

from ..errors import PocketLLMError
from ..kinds import TaskKind
from . import build_parser

PROGRAM = ["python", "-m", "pocketllm"]

# Settings classes (of pocketllm.tasks) by name, so this module need not import torch.
KIND_OF_SETTINGS = {"PretrainSettings": TaskKind.PRETRAIN, "ClassifySettings": TaskKind.CLASSIFY,
                    "InstructSettings": TaskKind.INSTRUCT}

# field -> (settings value -> flag text) for the fields the CLI spells its own way.
FLAG_TEXT = {
    "split": lambda parts: ",".join(repr(float(p)) for p in parts),
    "header": lambda value: {None: "auto", True: "yes", False: "no"}[value],
    "delimiter": lambda value: {"\t": "tab"}.get(value, value),
}
# store_true flags that switch a settings field off: flag destination -> field.
INVERTED_FLAGS = {"no_adapter_file": "keep_adapters"}
# A run's length is one choice on the command line (cli/pretrain.py: naming --max_steps or --max_minutes
# replaces both of the recipe's; the one not named is off): when one must be said, so is every other one
# that is not off.  field -> its "off" value.
SAID_TOGETHER = {"max_steps": None, "max_minutes": 0.0}


@lru_cache(maxsize=None)
def command_parser(command: str) -> argparse.ArgumentParser:
    """The real parser of one command (built once; parsing does not change it)."""
    parser = build_parser()
    for action in parser._actions:  # argparse has no public way to reach its subcommands
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    raise KeyError(command)


def command_of(settings) -> str:
    """The command that runs `settings`: `pretrain`, `classify-train` or `instruct-train`."""
    kind = getattr(settings, "kind", None) or KIND_OF_SETTINGS.get(type(settings).__name__)
    if kind is None:
        raise TypeError(f"no command runs {type(settings).__name__}")
    return TaskKind(kind).train_command


def _fields(settings) -> dict[str, tuple]:
    """name -> (value, the settings class's default) for every field, nested ones flattened."""
    defaults = type(settings)()
    found = {}
    for f in dataclasses.fields(settings):
        value, default = getattr(settings, f.name), getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            for name, pair in _fields(value).items():
                found.setdefault(name, (pair[0], getattr(default, name)))
        found[f.name] = (value, default)
    return found


def _text(name: str, value) -> str:
    if name in FLAG_TEXT:
        return FLAG_TEXT[name](value)
    return repr(value) if isinstance(value, float) else str(value)


def _plan(settings):
    """(argv after the command, fields no flag can say)."""
    parser = command_parser(command_of(settings))
    fields = _fields(settings)
    together = any(fields[n][0] != fields[n][1] for n in SAID_TOGETHER if n in fields)
    all_off = all(fields[n][0] == off for n, off in SAID_TOGETHER.items() if n in fields)
    argv, said, unsaid = [], set(), []
    for action in parser._actions:
        flag = next((s for s in action.option_strings if s.startswith("--")), None)
        name = INVERTED_FLAGS.get(action.dest, action.dest)
        if flag is None or name not in fields or name in said:
            continue
        said.add(name)
        value, default = fields[name]
        if together and name in SAID_TOGETHER:
            if value == SAID_TOGETHER[name] and (value is None or not all_off):
                continue  # off: what naming the other one gives (all off: `--max_minutes 0` says it)
            default = _Never()  # said even when it is the default: naming the other one would turn it off
        words = _words(action, flag, name, value, default, parser.get_default(action.dest))
        if words is None:
            unsaid.append(name)
        else:
            argv += words
    unsaid += [n for n, (value, default) in fields.items()
               if n not in said and value != default and not dataclasses.is_dataclass(value)]
    return argv, unsaid


def _words(action, flag: str, name: str, value, settings_default, parser_default) -> list[str] | None:
    """What the command line needs to say for this field: [] if nothing, None if it cannot."""
    if isinstance(action, argparse.BooleanOptionalAction):  # --flag / --no-flag
        absent = settings_default if parser_default is None and value is not None else parser_default
        if value == absent:
            return []
        return [flag] if value else ["--no-" + flag[2:]]
    if action.nargs == 0:  # a switch (store_true / store_false)
        inverted = action.dest in INVERTED_FLAGS
        given = not action.const if inverted else action.const  # the field's value with the switch
        absent = not parser_default if inverted else parser_default
        if value == given and absent != given:
            return [flag]
        return [] if value == absent else None
    if _is_absent(name, value, parser_default, settings_default):
        return []
    if value is None and name not in FLAG_TEXT:
        return None  # the flag has no way to say "none" where the command's default is not
    many = action.nargs in ("*", "+") or isinstance(action, argparse._AppendAction)
    words = []
    for item in (value if many else [value]):
        text = _text(name, item)
        # "--flag=-x": a value that starts with a dash would be read as a flag
        words += [f"{flag}={text}"] if text.startswith("-") and not _is_number(text) else [flag, text]
    return words


def _is_absent(name: str, value, parser_default, settings_default) -> bool:
    """Would the command, without the flag, give the field this value?"""
    if parser_default is None:  # the command leaves the field at the settings' default
        return value == settings_default
    if value is None and name not in FLAG_TEXT:
        return False
    default_text = parser_default if isinstance(parser_default, str) else _text(name, parser_default)
    return _text(name, value) == default_text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Never:
    """A default no value equals (a field that must be said)."""
    def __eq__(self, other):
        return False

    __hash__ = None


def to_argv(settings, *, strict: bool = False) -> list[str]:
    """The arguments of `python -m pocketllm` that run `settings`, the command first.

    `strict`: refuse settings with a value no flag can say, rather than leave it out.
    """
    argv, unsaid = _plan(settings)
    if strict and unsaid:
        raise PocketLLMError("These settings have no command-line flag: {fields}.", code="cli.no_flag",
                             fields=", ".join(unsaid))
    return [command_of(settings)] + argv


def unexpressed(settings) -> list[str]:
    """The fields whose value the command line cannot say (left out by `to_argv`)."""
    return _plan(settings)[1]


def command_line(settings) -> str:
    """`to_argv` as one line to paste into a shell, quoted where needed."""
    return shlex.join(PROGRAM + to_argv(settings))
