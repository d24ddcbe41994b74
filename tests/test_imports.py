"""The package's import graph points one way: no module imports itself back, however late.

The graph is read from the source (ast), with imports inside functions counted too: a
late import hides a cycle from Python, not from a reader. A second check imports every
module on its own (without the package's `__init__` importing everything first), so a
module that only works after its neighbours were loaded is caught.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pocketllm"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path, known) -> set[str]:
    """The package's modules that `name` imports (`from .x import y`: x.y if that is a module, else x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in known:
                continue
            for alias in node.names:
                child = f"{target}.{alias.name}"
                found.add(child if child in known else target)
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(name, path, MODULES) for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None. Depth first, with the path on a stack."""
    done, stack, on_stack = set(), [], set()

    def visit(node):
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_stack:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in done:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_relative_and_late_imports():
    graph = import_graph()
    assert "pocketllm.hf_layout" in graph["pocketllm.checkpoint"]
    assert "pocketllm.inspect" in graph["pocketllm.cli.inspect"]  # `from .. import inspect`, inside a function
    assert "pocketllm.errors" in graph["pocketllm.data.tables"]


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_hf_layout_and_kinds_are_leaves():
    graph = import_graph()
    assert graph["pocketllm.hf_layout"] <= {"pocketllm.errors"} and not graph["pocketllm.kinds"]
    assert "pocketllm.hf_layout" in graph["pocketllm.gpt2"]


def test_no_module_imports_another_ones_private_names():
    private = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("pocketllm")):
                private += [f"{name}: {a.name}" for a in node.names
                            if a.name.startswith("_") and not a.name.startswith("__")]
    assert not private, private


def test_every_module_imports_on_its_own():
    # One interpreter (torch is imported once), but before each module every pocketllm module
    # is forgotten, and the top package is a bare namespace, so only what the module itself
    # imports is loaded.
    script = f"""
import importlib, sys, types
failed = []
for name in {sorted(MODULES)!r}:
    for loaded in [m for m in sys.modules if m == "pocketllm" or m.startswith("pocketllm.")]:
        del sys.modules[loaded]
    if name != "pocketllm":
        bare = types.ModuleType("pocketllm")
        bare.__path__ = [{str(PACKAGE)!r}]
        sys.modules["pocketllm"] = bare
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{{name}}: {{type(exc).__name__}}: {{exc}}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=PACKAGE.parent, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]

