"""The core commands, run as a user runs them: `python -m pocketllm ...` in a subprocess.

Each subprocess pays for importing torch, so the few runs start together in one
fixture and the tests read their results.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, Sampling, describe, generate, load_model, save_checkpoint
from pocketllm.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ["Hello, my name is", "今天天气"]
NEW_TOKENS = 6


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=50257, context_length=32, emb_dim=32, num_heads=4,
                      num_layers=2, drop_rate=0.0, qkv_bias=True)
    path = tmp_path_factory.mktemp("cli") / "tiny.safetensors"
    save_checkpoint(path, GPTModel(cfg).eval(), facts={"steps": 7})
    return path


@pytest.fixture(scope="module")
def runs(model_file):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "HF_HUB_OFFLINE": "1"}
    commands = {
        "info": (["info", "--model_path", str(model_file)], None),
        "missing": (["generate", "--model_path", str(model_file.parent / "no-such-model.safetensors"),
                     "--prompt", "hi"], None),
        "interactive": (["generate", "--model_path", str(model_file), "--max_new_tokens", str(NEW_TOKENS)],
                        "".join(p + "\n" for p in PROMPTS)),  # then EOF
    }
    procs = {name: subprocess.Popen([sys.executable, "-m", "pocketllm", *args], cwd=ROOT, env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, (args, _) in commands.items()}
    results = {}
    for name, proc in procs.items():
        stdin = commands[name][1]
        out, err = proc.communicate((stdin or "").encode(), timeout=120)
        results[name] = (proc.returncode, out.decode("utf-8"), err.decode("utf-8"))
    return results


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(action.choices)


def test_top_level_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in ("generate", "info", "import-gpt2", "export-hf"):
        assert command in out and command in subcommands()


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("command", subcommands())
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and command in out


def test_info_describes_the_checkpoint(runs, model_file):
    code, out, err = runs["info"]
    assert code == 0, err
    ckpt = load_model(model_file)
    info = describe(ckpt)
    for key, value in info["summary"].items():
        assert f"{key}" in out and str(value) in out, key
    assert "on disk" in info["summary"] and "in memory" in info["summary"]
    for row in info["components"]:
        assert f"{row['parameters']:,}" in out, row["component"]
    assert f"{ckpt.config.num_parameters():,}" in out
    config_line = next(line for line in out.splitlines() if line.startswith("config:"))
    assert json.loads(config_line.removeprefix("config:")) == ckpt.config.to_dict()
    assert '"pretrain"' in out and '"steps": 7' in out
    assert out.count(ckpt.tokenizer.describe()) == 1  # said once (it was also repeated after task:)


def test_generate_with_a_missing_model_is_one_clear_line(runs):
    code, out, err = runs["missing"]
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "no-such-model.safetensors" in lines[0]
    assert "Traceback" not in err and out == ""


def test_interactive_generate_reads_lines_until_eof(runs, model_file):
    code, out, err = runs["interactive"]
    assert code == 0, err
    model = load_model(model_file).model
    for prompt in PROMPTS:
        expected = generate(model, prompt, NEW_TOKENS, Sampling())
        assert expected  # the continuation is not empty, so the check below means something
        assert prompt + expected in out
    assert out.count("模型: ") == len(PROMPTS)
