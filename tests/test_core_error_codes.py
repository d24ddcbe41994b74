"""Every error the core can raise has a stable code, and the page can say it in Chinese.

Reads the source of `pocketllm/` (ast): each call of `PocketLLMError` or a subclass must
give its English template as a literal and a literal `code=`; `ui/core_errors.py` must
hold a Chinese template for that code with the same `{names}`.
"""
from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

import pocketllm
from pocketllm import PocketLLMError

ROOT = Path(__file__).resolve().parent.parent


def error_classes() -> set[str]:
    names, todo = {"PocketLLMError"}, [PocketLLMError]
    while todo:
        for sub in todo.pop().__subclasses__():
            names.add(sub.__name__)
            todo.append(sub)
    return names


def raise_sites():
    """(file:line, template or None, code or None) for every error built in pocketllm/."""
    import pocketllm.jobs  # noqa: F401  (modules that define subclasses)
    import pocketllm.checkpoint  # noqa: F401
    classes = error_classes()
    for path in sorted((ROOT / "pocketllm").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in classes | {"Phrase"}:  # a Phrase is a coded part of a message
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            template = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
            code = next((k.value.value for k in node.keywords
                         if k.arg == "code" and isinstance(k.value, ast.Constant)), None)
            yield where, template, code


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_core_error_has_a_literal_template_and_a_code():
    missing = [where for where, template, code in raise_sites() if template is None or not code]
    assert not missing, f"errors without a literal template and code= (see pocketllm/errors.py): {missing}"


def test_a_code_means_one_message():
    seen: dict[str, set[str]] = {}
    for _, template, code in raise_sites():
        if code:
            seen.setdefault(code, set()).add(template)
    assert {c: t for c, t in seen.items() if len(t) > 1} == {}


def test_every_code_has_a_chinese_template_with_the_same_values():
    from ui.core_errors import ZH
    problems = []
    for where, template, code in raise_sites():
        if not code or template is None:
            continue
        if code not in ZH:
            problems.append(f"{where}: no Chinese for {code!r}")
        elif fields(ZH[code]) != fields(template):
            problems.append(f"{where}: {code!r} has {sorted(fields(ZH[code]))}, English {sorted(fields(template))}")
    assert not problems, "\n".join(problems)


def test_the_page_says_a_core_error_in_its_language():
    from ui.core_errors import ZH
    from ui.errors import message_of
    with pytest.raises(PocketLLMError) as caught:
        pocketllm.ModelConfig(vocab_size=100, context_length=16, emb_dim=10**12 + 1, num_heads=2, num_layers=1)
    exc = caught.value
    assert exc.code in ZH and exc.values
    zh = message_of(exc, "zh")
    assert zh != str(exc) and any("\u4e00" <= ch <= "\u9fff" for ch in zh)
    assert message_of(exc, "en") == str(exc)
    from ui.core_errors import say
    assert zh == ZH[exc.code].format(**{k: say(v, "zh") for k, v in exc.values.items()})  # the same values
    assert "16,384" in zh and "最大为" in zh  # the problem itself is said in Chinese too


def test_a_failed_write_is_all_chinese_on_the_chinese_page(tmp_path):
    """The outcome of a failed write is part of the code, not an English phrase passed in as a value."""
    from pocketllm.files import write_text_atomic
    from tests.test_chinese_page import english_left
    from ui.errors import message_of
    with pytest.raises(PocketLLMError) as caught:
        write_text_atomic(tmp_path / "no-such-folder" / "x.json", "{}")  # nothing there before
    assert caught.value.code == "files.write_failed_new" and "Nothing was written" in str(caught.value)
    zh = message_of(caught.value, "zh")
    assert "什么也没有写入" in zh
    assert [w for w in english_left(zh.split("（")[0] + zh.split("）")[-1])] == []


def test_counts_and_empty_lists_are_said_in_chinese_too(tmp_path):
    """Values are numbers and names, never English phrases the Chinese page would show as they are."""
    from pocketllm.data.tables import read_table
    from pocketllm.presets import load_training_preset
    from tests.test_chinese_page import english_left
    from ui.errors import message_of
    table = tmp_path / "messages.csv"
    table.write_text("text,label\n,spam\nhello,\nonly-one-column\n", encoding="utf-8")
    with pytest.raises(PocketLLMError) as caught:
        read_table(table)
    assert caught.value.code == "table.no_usable_rows"
    assert "1 with too few columns, 1 with empty text, 1 without a label" in str(caught.value)
    zh = message_of(caught.value, "zh")
    assert "1 行列数不够" in zh and english_left(zh.replace("messages.csv", "")) == []
    with pytest.raises(PocketLLMError) as caught:
        load_training_preset("pretrain", "mine", root=tmp_path)
    assert caught.value.code == "presets.no_training_yet"
    zh = message_of(caught.value, "zh")
    assert "还没有保存过" in zh and english_left(zh.replace("pretrain", "").replace("'mine'", "")) == []


def test_skipped_records_are_said_in_the_pages_language(tmp_path):
    """The Instruct preview lists why records were skipped; the Chinese page says each reason in Chinese."""
    import json
    from pocketllm.data.instructions import load_instructions
    from tests.test_chinese_page import english_left
    from ui.core_errors import say
    from ui.errors import message_of
    items = [{"instruction": "Sum.", "input": 3, "output": "3"}, "text", {"instruction": "", "input": "x"}]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    with pytest.raises(PocketLLMError) as caught:
        load_instructions(path)
    english = str(caught.value)
    assert "record at index 2: 'instruction' is empty; no 'output'" in english
    zh = message_of(caught.value, "zh")
    assert "索引 2 处的记录：'instruction' 是空的；缺少 'output'" in zh
    assert english_left(zh.replace("tasks.json", "").replace("'instruction'", "").replace("'output'", "")
                        .replace("'input'", "").replace(" str", "")) == []  # a JSON value's type stays as Python names it
    lines = tmp_path / "tasks.jsonl"
    lines.write_text('{"instruction": "a", "output": "b"}\n{broken\n', encoding="utf-8")
    problem = load_instructions(lines).problems[0]
    assert problem.startswith("line 2: not valid JSON (")
    assert say(problem, "zh").startswith("第 2 行：不是有效的 JSON（") and say(problem, "en") == problem


def test_phrases_survive_copies_and_pickles():
    """Gradio deep-copies state; a phrase must keep what the page needs to translate it."""
    import copy
    import pickle
    from pocketllm.errors import Phrase, PhraseList
    from ui.core_errors import say
    reasons = PhraseList([Phrase("no {field!r}", code="instructions.field_missing", field="output")])
    record = Phrase("{place}: {reasons}", code="instructions.skipped",
                    place=Phrase("line {n}", code="instructions.at_line", n=4), reasons=reasons)
    for again in (copy.deepcopy(record), pickle.loads(pickle.dumps(record))):
        assert again == "line 4: no 'output'" and again.code == "instructions.skipped"
        assert say(again, "zh") == "第 4 行：缺少 'output'"


def test_every_problem_of_a_config_is_said_in_chinese():
    from tests.test_chinese_page import english_left
    from ui.errors import message_of
    with pytest.raises(PocketLLMError) as caught:
        pocketllm.ModelConfig(vocab_size=0, context_length=16, emb_dim=64, num_heads=2, num_layers=1, drop_rate=2.0)
    english = str(caught.value)
    assert english == ("Invalid model config: vocab_size must be a positive whole number (got 0); "
                       "drop_rate must be between 0 and 1 (got 2.0).")
    zh = message_of(caught.value, "zh")
    assert zh == "模型配置无效：vocab_size 必须是正整数（收到的是 0）；`drop_rate` 必须在 0 到 1 之间（收到的是 2.0）。"
    assert english_left(zh.replace("vocab_size", "")) == []
