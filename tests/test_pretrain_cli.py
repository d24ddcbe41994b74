"""`python -m pocketllm pretrain`: in-process, as a real process, Ctrl-C, and its checkpoint."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import torch

from pocketllm.cli import main
from pocketllm.training import read_events

ROOT = Path(__file__).resolve().parent.parent
WORDS = "the cat dog sat ran on under a mat log and then slept ate fish bread".split()


@pytest.fixture
def files(tmp_path):
    import random
    rng = random.Random(0)
    text = "\n".join(" ".join(rng.choice(WORDS) for _ in range(8)) + "." for _ in range(300))
    (tmp_path / "corpus.txt").write_text(text + "\n", encoding="utf-8")
    (tmp_path / "tiny.json").write_text(json.dumps(dict(
        vocab_size=50257, context_length=32, emb_dim=32, num_heads=4, num_layers=2, drop_rate=0.0,
        qkv_bias=True)))
    return tmp_path


def args(tmp, *extra, steps=3):
    return ["pretrain", "--config", str(tmp / "tiny.json"), "--data_path", str(tmp / "corpus.txt"),
            "--model_path", str(tmp / "out.safetensors"), "--run_dir", str(tmp / "run"),
            "--max_steps", str(steps), "--batch_size", "2", "--context_length", "16",
            "--eval_every", "0", "--sample_every", "0", "--dtype", "fp32", "--threads", "1", "--quiet",
            *extra]


def test_pretrain_in_process_then_generate(files, capsys):
    assert main(args(files)) == 0
    out = capsys.readouterr().out
    assert "finished at step 3" in out
    records = read_events(files / "run" / "events.jsonl")
    assert records[-1]["kind"] == "finished" and records[-1]["step"] == 3
    assert main(["generate", "--model_path", str(files / "out.safetensors"), "--prompt", "the cat",
                 "--max_new_tokens", "5"]) == 0
    assert "the cat" in capsys.readouterr().out


def test_resume_continues_a_run_whose_checkpoint_lies_outside_its_run_folder(files, capsys):
    assert main(args(files)) == 0
    resume = ["pretrain", "--resume", str(files / "out.safetensors"), "--max_steps", "5", "--quiet",
              "--threads", "1"]
    assert main(resume) == 0
    assert "finished at step 5" in capsys.readouterr().out
    records = read_events(files / "run" / "events.jsonl")
    starts = [r for r in records if r["kind"] == "started"]
    assert [s["start_step"] for s in starts] == [0, 3]
    assert [r["step"] for r in records if r["kind"] == "step"] == [1, 2, 3, 4, 5]
    from pocketllm import read_header
    assert read_header(files / "out.safetensors")["facts"]["steps"] == 5


def test_max_steps_goes_past_one_epoch_and_resume_extends_a_run(files, capsys):
    # ~150 windows of 16 tokens, batch 64 → 2 steps per epoch: 5 steps need 3 epochs.
    assert main(args(files, steps=5)[:-1] + ["--batch_size", "64", "--quiet"]) == 0
    steps = [r for r in read_events(files / "run" / "events.jsonl") if r["kind"] == "step"]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5] and steps[-1]["epoch"] == 2
    assert main(["pretrain", "--resume", str(files / "out.safetensors"), "--max_steps", "7", "--quiet"]) == 0
    assert "finished at step 7" in capsys.readouterr().out


def test_resume_with_no_steps_left_says_so_and_writes_nothing(files, capsys):
    assert main(args(files)) == 0
    before = (files / "run" / "events.jsonl").read_bytes()
    resume = ["pretrain", "--resume", str(files / "out.safetensors"), "--max_steps", "3", "--quiet"]
    assert main(resume) == 2
    assert "already at step 3 of 3" in capsys.readouterr().err
    assert (files / "run" / "events.jsonl").read_bytes() == before  # the finished run stays finished


def test_existing_model_path_is_not_overwritten_unless_asked(files, capsys):
    target = files / "out.safetensors"
    target.write_bytes(b"precious")
    assert main(args(files)) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert target.read_bytes() == b"precious"
    assert main(args(files, "--overwrite")) == 0
    assert target.read_bytes() != b"precious"


@pytest.mark.parametrize("flag, value, word", [("--lr", "-0.001", "lr"), ("--batch_size", "0", "batch_size")])
def test_nonsense_flags_get_a_clear_message(files, capsys, flag, value, word):
    assert main(args(files, flag, value)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and word in err and "Traceback" not in err
    assert not (files / "out.safetensors").exists()


def test_bad_config_and_bad_text_get_a_clear_message(files, capsys):
    (files / "tiny.json").write_text(json.dumps({"vocab_size": 50257, "emb_dim": 32, "layers": 2}))
    assert main(args(files)) == 2
    assert "unknown key" in capsys.readouterr().err
    (files / "corpus.txt").write_bytes("你好，世界。\n".encode("gbk") * 50)
    assert main(args(files)[:2] + ["cpu-tiny"] + args(files)[3:]) == 2
    assert "GB18030" in capsys.readouterr().err


def _run_cli(*argv, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "pocketllm", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.slow
def test_real_process_pretrain_then_generate(files):
    p = _run_cli(*args(files))
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    g = _run_cli("generate", "--model_path", str(files / "out.safetensors"), "--prompt", "the dog",
                 "--max_new_tokens", "5")
    out, err = g.communicate(timeout=300)
    assert g.returncode == 0, err
    assert "the dog" in out


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_a_checkpoint(files):
    p = _run_cli(*args(files, steps=100_000))
    events = files / "run" / "events.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and not any(r["kind"] == "step" for r in read_events(events)):
        assert p.poll() is None, p.communicate()[1]
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    records = read_events(events)
    assert records[-1]["kind"] == "stopped"
    assert records[-2]["kind"] == "checkpoint"
    assert (files / "out.safetensors").is_file() and (files / "run" / "train_state.pt").is_file()
    assert "stopped at step" in out


def test_a_fresh_model_takes_a_longer_context_than_its_preset_a_trained_one_does_not(files, capsys):
    """--context_length shapes a fresh model (the preset is where its shape starts); a model given by
    --init_from keeps its own position table, so a longer window is refused with the reason."""
    argv = args(files)
    argv[argv.index("--context_length") + 1] = "64"  # tiny.json says 32
    assert main(argv) == 0
    from pocketllm import load_model
    assert load_model(files / "out.safetensors").config.context_length == 64
    again = args(files, "--init_from", str(files / "out.safetensors"), "--overwrite")
    again[again.index("--context_length") + 1] = "128"
    assert main(again) == 2
    assert "longer than the model's position table (64)" in capsys.readouterr().err


def test_pretraining_keeps_its_best_evaluation_unless_asked_for_the_last(files, capsys):
    """A run that learns a small text by heart (validation loss rising) ends with the weights of its best
    evaluation, says so, and records it; --keep_last keeps the last step's."""
    small = " ".join(WORDS[:6]) + ".\n"
    (files / "corpus.txt").write_text(small * 12 + "dog cat ran log then fish.\n" * 4, encoding="utf-8")
    argv = args(files, "--tokenizer", "char", "--lr", "3e-2", "--eval_every", "5", "--eval_batches", "0",
                "--warmup_steps", "0", steps=40)
    assert main(argv) == 0
    out = capsys.readouterr().out
    records = read_events(files / "run" / "events.jsonl")
    evals = [(r["val"]["loss"], r["step"]) for r in records if r["kind"] == "eval"]
    best_step = min(evals)[1]
    assert best_step != evals[-1][1], evals  # this run does overfit, so the two choices differ
    assert records[-1]["kept_step"] == best_step
    assert f"kept the weights of step {best_step}" in out
    from pocketllm import load_model
    kept = load_model(files / "out.safetensors")
    assert kept.facts["kept_step"] == best_step
    assert main(argv + ["--keep_last", "--overwrite"]) == 0
    assert "kept the weights" not in capsys.readouterr().out
    last = load_model(files / "out.safetensors")
    assert "kept_step" not in last.facts
    assert any(not torch.equal(a, b) for a, b in zip(kept.model.state_dict().values(), last.model.state_dict().values()))
