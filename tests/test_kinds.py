"""One name per task kind: TaskKind, and the older spellings files still carry."""
import json

import pytest

from pocketllm import TaskKind, task_kind
from pocketllm.cli import build_parser


@pytest.mark.parametrize("name, kind", [("pretrain", TaskKind.PRETRAIN), ("language_model", TaskKind.PRETRAIN),
                                        ("classify", TaskKind.CLASSIFY), ("classifier", TaskKind.CLASSIFY),
                                        ("instruct", TaskKind.INSTRUCT), ("instruction", TaskKind.INSTRUCT)])
def test_every_spelling_reads_as_its_kind(name, kind):
    assert task_kind(name) is kind


def test_an_unknown_name_is_no_kind():
    assert task_kind("damaged") is None and task_kind(None) is None and task_kind(3) is None


def test_a_kind_is_its_name_in_json_text_and_comparisons():
    assert json.dumps({"type": TaskKind.CLASSIFY}) == '{"type": "classify"}'
    assert f"{TaskKind.INSTRUCT}" == "instruct" and str(TaskKind.PRETRAIN) == "pretrain"
    assert TaskKind.CLASSIFY == "classify" and {"classify": 1}[TaskKind.CLASSIFY] == 1


def test_each_kind_names_a_training_command_the_cli_has():
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    for kind in TaskKind:
        assert kind.train_command in commands
    assert [k.train_command for k in TaskKind] == ["pretrain", "classify-train", "instruct-train"]
