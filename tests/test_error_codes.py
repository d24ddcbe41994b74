"""Coded errors (`PocketLLMError(template, code=..., **values)`) fill every `{name}` they use.

Read from the source: a template naming a value that is not given would fail only when the
error is raised, which for a rare error may be never in the tests.
"""
import ast
import re
import string
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pocketllm"
ERRORS = {"PocketLLMError", "NotACheckpoint", "JobBusy"}
CODE = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")


def literal(node):
    """The text of a string literal or of literals joined with +, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = literal(node.left), literal(node.right)
        return None if left is None or right is None else left + right
    return None


def coded_errors():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(node, "func", None)
            name = getattr(name, "id", None) or getattr(name, "attr", None)
            if isinstance(node, ast.Call) and name in ERRORS and any(k.arg == "code" for k in node.keywords):
                yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", node


def test_every_coded_error_names_the_values_its_template_uses():
    wrong = []
    for where, call in coded_errors():
        keywords = {k.arg for k in call.keywords} - {"code"}
        code = next(k.value for k in call.keywords if k.arg == "code")
        if isinstance(code, ast.Constant) and not CODE.match(code.value):
            wrong.append(f"{where}: code {code.value!r} is not <area>.<what>")
        if not call.args or isinstance(call.args[0], ast.JoinedStr):
            wrong.append(f"{where}: the template is an f-string; give the values as keywords")
            continue
        template = literal(call.args[0])
        if template is None or None in keywords:  # built at run time, or **values passed on
            continue
        fields = {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(template) if f}
        if fields != keywords and (keywords or fields):
            wrong.append(f"{where}: template uses {sorted(fields)}, values given {sorted(keywords)}")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_the_errors():
    assert sum(1 for _ in coded_errors()) > 50  # the checkpoint, config, data and tokenizer errors at least
