"""No file or number hangs the program or eats the machine; runs never overwrite each other."""
import json
import math
import os
import pickle
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pocketllm import ModelConfig, PocketLLMError, load_model, read_header
from pocketllm.cli import main
from pocketllm.files import OutputClaim, atomic_write
from tests.test_pretrain_cli import files  # noqa: F401  (fixture: a small corpus and a tiny config)

ROOT = Path(__file__).resolve().parent.parent
GOOD = dict(vocab_size=50257, context_length=128, emb_dim=64, num_heads=2, num_layers=2, drop_rate=0.0,
            qkv_bias=True, tie_embeddings=True)


def crafted(path, config, tensors=None, **meta):
    header = {"format": "pt", "pocketllm": "1", "config": config if isinstance(config, str) else json.dumps(config),
              "task": "{}", "facts": "{}", **meta}
    save_file(tensors or {"x": torch.zeros(1)}, str(path), metadata=header)
    return path


@pytest.mark.parametrize("change, words", [
    ({"emb_dim": 10**12 + 1}, "emb_dim must be at most"),
    ({"num_layers": 3_000_000}, "num_layers must be at most"),
    ({"vocab_size": 10**9}, "vocab_size must be at most"),
    ({"emb_dim": 16384, "num_layers": 512}, "parameters"),
    ({"num_layers": 500}, "does not describe its weights"),
])
def test_a_crafted_header_is_refused_at_once(tmp_path, change, words):
    path = crafted(tmp_path / "evil.safetensors", {**GOOD, **change})
    start = time.perf_counter()
    with pytest.raises(PocketLLMError, match=words):
        load_model(path)
    assert time.perf_counter() - start < 2


def test_info_on_the_660_byte_checkpoint_returns(tmp_path):
    path = crafted(tmp_path / "evil.safetensors", {**GOOD, "emb_dim": 10**12 + 1})
    out = subprocess.run([sys.executable, "-m", "pocketllm", "info", "--model_path", str(path)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 2 and "emb_dim must be at most 16,384" in out.stderr


def _junk(rng):
    return rng.choice([10**12, -5, 0, float("nan"), float("inf"), 1e308, "1024", None, True, [1, 2], {"a": {"b": []}},
                       "x" * 5000, 2**63, -(2**63), 3.5, 10**6])


def test_fuzzed_headers_each_end_fast_with_a_message_and_little_memory(tmp_path):
    rng = random.Random(0)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    keys = list(GOOD)
    for i in range(300):
        config = dict(GOOD)
        for key in rng.sample(keys, rng.randint(1, 3)):
            config[key] = _junk(rng)
        if rng.random() < 0.1:
            config = rng.choice(["[]", "{", '"text"', "null", "1e999", json.dumps({"nested": config})])
        extra = {}
        if rng.random() < 0.2:
            extra["task"] = rng.choice(["[]", '{"type": "classifier"}', '{"type": "classifier", "labels": 5}', "{"])
        if rng.random() < 0.2:
            extra["tokenizer"] = rng.choice(["{", '{"kind": "bpe"}', '{"kind": "zzz"}', "[1]",
                                             '{"kind": "bpe", "tokenizer_json": {"model": 1}}'])
        path = crafted(tmp_path / f"f{i}.safetensors", config, **extra)
        start = time.perf_counter()
        try:
            load_model(path)
        except PocketLLMError:
            pass
        else:
            pytest.fail(f"case {i} loaded: {config} {extra}")
        assert time.perf_counter() - start < 2, (i, config)
        path.unlink()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024
    assert grown_mb < 64, grown_mb


@pytest.mark.parametrize("value", [10**12, float("nan"), -1, "wide", 2**70])
def test_config_values_get_a_message_not_a_hang(value):
    start = time.perf_counter()
    with pytest.raises(PocketLLMError):
        ModelConfig(**{**GOOD, "emb_dim": value})
    assert time.perf_counter() - start < 0.1


# ---- runs own their output -------------------------------------------------------------

def pretrain_args(tmp, *extra, steps=3, run="run"):
    return ["pretrain", "--config", str(tmp / "tiny.json"), "--data_path", str(tmp / "corpus.txt"),
            "--tokenizer", "char", "--model_path", str(tmp / "out.safetensors"), "--run_dir", str(tmp / run),
            "--max_steps", str(steps), "--batch_size", "2", "--context_length", "16",
            "--eval_every", "0", "--sample_every", "0", "--dtype", "fp32", "--threads", "1", "--quiet", *extra]


def test_a_second_run_on_the_same_model_path_is_refused_while_the_first_runs(files, capsys):
    from pocketllm import PretrainSettings, prepare_pretraining
    from pocketllm.training import TrainSettings
    stop = threading.Event()
    first = prepare_pretraining(PretrainSettings(
        data_path=str(files / "corpus.txt"), config=str(files / "tiny.json"), tokenizer="char",
        context_length=16, model_path=str(files / "out.safetensors"), run_dir=str(files / "a"),
        train=TrainSettings(max_steps=10_000, batch_size=2, eval_every=0, sample_every=0, dtype="fp32",
                            threads=1)), stop_event=stop)
    events = first.run()
    next(events)  # started: the claim is held from here to the end
    assert (files / "out.safetensors.claim").is_file()
    assert main(pretrain_args(files, "--overwrite", run="b")) == 2
    assert "being written by another run" in capsys.readouterr().err
    assert not (files / "b" / "events.jsonl").exists()
    stop.set()
    for _ in events:
        pass
    assert not (files / "out.safetensors.claim").exists()
    assert load_model(files / "out.safetensors").facts["steps"] == first.step  # the first run's file is whole


def test_a_claim_left_by_a_dead_process_is_taken_over(files):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (files / "out.safetensors.claim").write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    claim = OutputClaim(files / "out.safetensors")
    claim.check()  # stale: no complaint
    assert main(pretrain_args(files)) == 0
    assert not (files / "out.safetensors.claim").exists()


def test_a_save_interrupted_between_model_and_state_is_refused_on_resume(files, capsys):
    from pocketllm import save_checkpoint
    assert main(pretrain_args(files, steps=3)) == 0
    ckpt = load_model(files / "out.safetensors")
    # as if the process died after writing the model at step 19 but before the state
    save_checkpoint(files / "out.safetensors", ckpt.model, ckpt.task, {**ckpt.facts, "steps": 19},
                    tokenizer=ckpt.tokenizer)
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(files / "out.safetensors"), "--max_steps", "30", "--quiet",
                 "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "step 19" in err and "step 3" in err and "--init_from" in err


def test_a_malicious_train_state_never_runs_and_never_suggests_weights_only_false(files, tmp_path, capsys):
    assert main(pretrain_args(files, steps=2)) == 0
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    with open(files / "run" / "train_state.pt", "wb") as fh:
        pickle.dump({"step": 2, "optimizer": Evil()}, fh)
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(files / "out.safetensors"), "--max_steps", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "damaged or was not written by PocketLLM" in err and "weights_only" not in err
    assert not marker.exists()


def test_a_full_disk_says_the_previous_file_is_unchanged(tmp_path):
    target = tmp_path / "state.pt"
    target.write_bytes(b"old")

    def full(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing "
                           "file data/0: file write failed; No space left on device")
    with pytest.raises(PocketLLMError, match="No space left on device.*previous file there is unchanged"):
        atomic_write(target, full)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_temp_files_of_killed_writers_are_swept_at_the_next_save(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".model.safetensors.{dead.pid}.tmp"
    stale.write_bytes(b"\0" * 1000)
    atomic_write(tmp_path / "model.safetensors", lambda tmp: tmp.write_bytes(b"new"))
    assert not stale.exists() and (tmp_path / "model.safetensors").read_bytes() == b"new"


# ---- messages instead of tracebacks -------------------------------------------------------

@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    from pocketllm import GPTModel, save_checkpoint
    tmp = tmp_path_factory.mktemp("m")
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=50257, context_length=32, emb_dim=32, num_heads=2, num_layers=1, drop_rate=0.0)
    return save_checkpoint(tmp / "m.safetensors", GPTModel(cfg))


@pytest.mark.parametrize("argv, words", [
    (["generate", "--prompt", "hi", "--temperature", "nan"], "temperature must be a number from 0"),
    (["generate", "--prompt", "hi", "--temperature", "1e-45", "--max_new_tokens", "3"], None),  # works: ~greedy
    (["generate", "--prompt", "hi", "--temperature", "1", "--seed", str(10**23)], "seed must be a whole number"),
    (["generate", "--prompt", "hi", "--top_p", "nan"], "top_p must be above 0 and at most 1"),
    (["export-hf", "--out_dir", "{file}"], "is a file; --out_dir must be a folder"),
    (["pretrain", "--data_path", "{dir}", "--max_steps", "1"], "is a folder; give a UTF-8 text file"),
    (["pretrain", "--data_path", "{dir}/missing.txt", "--max_steps", "1"], "Text file not found"),
    (["pretrain", "--config", "gpt2-1558M", "--tokenizer", "gpt2", "--batch_size", "4096", "--max_steps", "1"],
     "Lower --batch_size"),
    (["pretrain", "--batch_size", "10000000", "--max_steps", "1"], "batch_size must be a whole number from 1 to 65,536"),
    (["classify-train", "--lora_rank", "1000000", "--trainable", "lora", "--max_steps", "1"],
     "LoRA rank must be a whole number from 1 to"),
])
def test_bad_numbers_and_paths_get_a_message(small_model, tmp_path, capsys, argv, words):
    (tmp_path / "afile").write_text("x")
    argv = [a.replace("{file}", str(tmp_path / "afile")).replace("{dir}", str(tmp_path)) for a in argv]
    if argv[0] in ("generate", "export-hf"):
        argv += ["--model_path", str(small_model)]
    if argv[0] in ("pretrain", "classify-train"):
        argv += ["--run_dir", str(tmp_path / "run"), "--quiet"]
    code = main(argv)
    err = capsys.readouterr().err
    if words is None:
        assert code == 0 and "Traceback" not in err
    else:
        assert code == 2 and words in err, err
        assert not (tmp_path / "run" / "events.jsonl").exists()  # a refused start writes nothing


def test_the_catalog_lists_a_crafted_file_as_damaged_without_building_it(tmp_path):
    from pocketllm import GPTModel, list_checkpoints, save_checkpoint
    crafted(tmp_path / "evil.safetensors", {**GOOD, "emb_dim": 10**12 + 1})
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    save_file({"wte": torch.zeros(1)}, str(tmp_path / "hf.safetensors"))  # not ours: not listed
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "good.safetensors", GPTModel(ModelConfig(**{**GOOD, "num_layers": 1})))
    start = time.perf_counter()
    rows = {r["name"]: r for r in list_checkpoints(tmp_path)}
    assert time.perf_counter() - start < 2
    assert set(rows) == {"evil.safetensors", "cut.safetensors", "good.safetensors"}
    assert rows["evil.safetensors"]["task"] == "damaged" and "emb_dim" in rows["evil.safetensors"]["score"]
    assert rows["evil.safetensors"]["error_code"] == "config.invalid"  # the page says it in its language
    [problem] = rows["evil.safetensors"]["error_values"]["problems"].phrases
    assert problem.code == "config.too_large" and problem.values["name"] == "emb_dim"
    assert rows["cut.safetensors"]["task"] == "damaged"
    assert rows["cut.safetensors"]["error_code"] == "checkpoint.unreadable_safetensors"
    assert rows["good.safetensors"]["task"] == "pretrain" and rows["good.safetensors"]["tokenizer"] == "gpt2"


@pytest.mark.parametrize("extra", [["--batch_size", "5000"],            # more than the data has
                                   ["--context_length", "4096"],        # longer than the position table
                                   ["--vocab_size", "100"]])             # too small a vocabulary
def test_a_refused_start_leaves_no_run_folder(files, capsys, extra):
    argv = pretrain_args(files, *extra)
    assert main(argv) == 2
    assert not (files / "run").exists()
    assert not list(files.glob("**/*.tmp")) and not (files / "out.safetensors").exists()


@pytest.mark.parametrize("content, words", [
    ("text,label\n", "only one row"),
    ('text,label\n"hello,spam\nfoo,ham\nbar,ham\n', "opened on line 2 that is never closed"),
])
def test_tables_that_cannot_train_a_classifier_say_why(tmp_path, content, words):
    from pocketllm import read_table
    path = tmp_path / "t.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PocketLLMError, match=words):
        read_table(path)


def test_a_300_character_rename_is_refused_and_nothing_moves(tmp_path):
    from pocketllm import GPTModel, rename_checkpoint, save_checkpoint
    path = save_checkpoint(tmp_path / "m.safetensors", GPTModel(ModelConfig(**{**GOOD, "num_layers": 1})))
    with pytest.raises(PocketLLMError, match="at most 100 characters"):
        rename_checkpoint(tmp_path, path, "x" * 300)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_runs_save_every_few_minutes_and_the_view_names_the_step_a_resume_starts_from(files):
    from pocketllm import PretrainSettings, prepare_pretraining, read_run
    from pocketllm.training import TrainSettings
    trainer = prepare_pretraining(PretrainSettings(
        data_path=str(files / "corpus.txt"), config=str(files / "tiny.json"), tokenizer="char", context_length=16,
        run_dir=str(files / "run"), train=TrainSettings(max_steps=6, batch_size=2, eval_every=0, sample_every=0,
                                                        dtype="fp32", threads=1, checkpoint_minutes=1e-6)))
    kinds = [e.kind for e in trainer.run()]
    assert kinds.count("checkpoint") == 6  # after every step (the time is always up), and at the end
    # as if the process had died during step 5's save: events end with step 5, the last save was step 4
    lines = (files / "run" / "events.jsonl").read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if json.loads(line).get("step") == 5)
    (files / "run" / "events.jsonl").write_text("\n".join(lines[:cut + 1]) + "\n")
    view = read_run(files / "run")
    assert view.last_step["step"] == 5 and view.resume_step == 4


def test_the_app_start_sweep_removes_only_dead_writers_temp_files(tmp_path):
    from pocketllm.files import sweep_stale_temps
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "run").mkdir()
    stale = tmp_path / "run" / f".model.safetensors.{dead.pid}-abcd1234.tmp"
    live = tmp_path / "run" / f".model.safetensors.{os.getpid()}-00000000.tmp"
    stale.write_bytes(b"x")
    live.write_bytes(b"x")
    assert sweep_stale_temps(tmp_path) == 1
    assert not stale.exists() and live.exists()


def test_the_time_split_of_a_run(files, capsys):
    from pocketllm import read_run
    assert main(pretrain_args(files, "--eval_every", "2", "--sample_every", "2", steps=4)) == 0
    assert "time: train" in capsys.readouterr().out
    split = read_run(files / "run").time_split()
    assert set(split) == {"train", "eval", "sample", "save"} and all(v >= 0 for v in split.values())
    assert split["train"] > 0 and split["eval"] > 0 and split["sample"] > 0
