"""The task kinds, each named once: in checkpoint headers, run folders, presets, the CLI and the page.

    TaskKind.PRETRAIN  "pretrain"  a language model: predicts the next token
    TaskKind.CLASSIFY  "classify"  a model with a classification head: one label per text
    TaskKind.INSTRUCT  "instruct"  a language model finetuned to follow instructions

A `TaskKind` is a `str`, so it is written to JSON as its name and compares equal to it.
Files written before these names were settled spell them otherwise
(`language_model`, `classifier` in checkpoint headers); `task_kind` reads both.
"""
from __future__ import annotations

from enum import Enum


class TaskKind(str, Enum):
    PRETRAIN = "pretrain"
    CLASSIFY = "classify"
    INSTRUCT = "instruct"

    # Show the name itself, not "TaskKind.CLASSIFY", in f-strings and messages.
    __str__ = str.__str__
    __format__ = str.__format__

    @property
    def train_command(self) -> str:
        """The CLI command that trains this kind: `pretrain`, `classify-train`, `instruct-train`."""
        return self.value if self is TaskKind.PRETRAIN else f"{self.value}-train"

    @property
    def generates(self) -> bool:
        """True for the kinds whose model writes text: offered by Generate, and as a base for instructions."""
        return self is not TaskKind.CLASSIFY


# Older spellings, still read from files: checkpoint headers and module names of before.
OLD_NAMES = {"language_model": TaskKind.PRETRAIN, "classifier": TaskKind.CLASSIFY,
             "classification": TaskKind.CLASSIFY, "instruction": TaskKind.INSTRUCT}


def task_kind(name) -> TaskKind | None:
    """The kind a stored name means (old spellings included), or None for a name it is not."""
    if isinstance(name, TaskKind):
        return name
    try:
        return TaskKind(name)
    except ValueError:
        return OLD_NAMES.get(name) if isinstance(name, str) else None
