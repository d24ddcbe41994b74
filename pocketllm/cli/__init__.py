"""`python -m pocketllm <command>`: the command line, the second face of the public API.

Each module in this folder adds its commands through `register(subparsers)`;
they are found automatically, so adding a command means adding one file.
This is the only part of PocketLLM that prints.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..errors import PocketLLMError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pocketllm",
        description="PocketLLM: build, train, finetune and look inside a GPT-2-class model.")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv=None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a terminal without UTF-8 must not crash on Chinese
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except PocketLLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head` closed the pipe: not an error
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
