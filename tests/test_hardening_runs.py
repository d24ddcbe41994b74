"""Issue 19, second round: templates are data, headers are bounded, a run folder is one run's,
uploads are copied whole or not at all, and SIGTERM/SIGHUP stop a CLI run the way Ctrl-C does.

Crafted files are written by the tests; where the failure was memory or time, it is checked in a
subprocess under an address-space cap (RLIMIT_AS) and a time bound."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file

from pocketllm import PocketLLMError, TaskKind, load_model, read_header
from pocketllm.catalog import delete_checkpoint, list_checkpoints
from pocketllm.cli import main
from pocketllm.data.instructions import TEMPLATES, PromptTemplate, load_instructions
from pocketllm.files import OutputClaim, RunFolderClaim, json_depth
from pocketllm.training import read_events
from tests.test_pretrain_cli import files  # noqa: F401  (a corpus and a tiny config)

ROOT = Path(__file__).resolve().parent.parent
DEEP = "[" * 200_000 + "]" * 200_000
CAP = 1536 * 2**20  # the address space a capped subprocess gets: pocketllm imports in ~650 MB


def pretrain(tmp, *extra, steps=3, run="R", model="R/a.safetensors"):
    return ["pretrain", "--config", str(tmp / "tiny.json"), "--data_path", str(tmp / "corpus.txt"),
            "--tokenizer", "char", "--model_path", str(tmp / model), "--run_dir", str(tmp / run),
            "--max_steps", str(steps), "--batch_size", "2", "--context_length", "16",
            "--eval_every", "0", "--sample_every", "0", "--dtype", "fp32", "--threads", "1", "--quiet", *extra]


def capped(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python whose address space is capped at CAP."""
    prelude = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({CAP}, {CAP}))\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


# ---- cause 4: templates are data, not format strings --------------------------------------------

GOOD = {"name": "x", "head": "Q: {instruction}", "input": " ({input})", "response": "\nA: "}


@pytest.mark.parametrize("head, code", [
    ("{instruction:>1000000000}", "template.bad_slot"),   # 22 GB through str.format
    ("{instruction:{input}}", "template.lone_brace"),     # nested: passed the old check
    ("{instruction!r}", "template.bad_slot"),
    ("{instruction.__class__}", "template.bad_slot"),
    ("{instruction[0]}", "template.bad_slot"),
    ("{0}", "template.bad_slot"),
    ("{}", "template.bad_slot"),
    ("{instruction}{instruction}", "template.bad_slot"),  # each slot once: a prompt stays template + values
    ("Q: {instruction", "template.lone_brace"),
    ("Q: }", "template.lone_brace"),
])
def test_a_template_is_text_with_named_slots_and_anything_else_is_refused(head, code):
    t0 = time.time()
    with pytest.raises(PocketLLMError, match="Damaged prompt template") as caught:
        PromptTemplate.from_dict({**GOOD, "head": head})
    assert caught.value.code == code and time.time() - t0 < 1
    with pytest.raises(PocketLLMError) as caught:
        PromptTemplate.from_dict({**GOOD, "response": "{input}"})
    assert caught.value.code == "template.slot_not_allowed"
    with pytest.raises(PocketLLMError) as caught:
        PromptTemplate.from_dict({**GOOD, "input": ["{input}"]})
    assert caught.value.code == "template.not_text"


def test_a_template_fills_its_slots_literally_and_doubled_braces_are_braces():
    t = PromptTemplate.from_dict({**GOOD, "head": "{{json}} {instruction} }}"})
    # a value is never read as a template: its braces and format-like text stay as they are
    assert t.prompt("{input:>99999999} {0}", "{x}") == "{json} {input:>99999999} {0} } ({x})\nA: "
    assert TEMPLATES["alpaca"].prompt("Do.", "x").endswith("### Input:\nx\n\n### Response:\n")
    for name, template in TEMPLATES.items():  # the bundled ones read as str.format read them
        assert template.prompt("I", "J") == (template.head.format(instruction="I") + template.input.format(input="J")
                                             + template.response)


def test_a_checkpoint_with_a_huge_width_template_is_refused_in_bounded_memory():
    """respond() with the template of a crafted header: 22 GB and the OOM killer before."""
    code = """
from pocketllm import ModelConfig, GPTModel, PocketLLMError
from pocketllm.tasks.instruction import respond, template_of
task = {"type": "instruct", "template": {"name": "x", "head": "{instruction:>1000000000}", "input": "{input}",
                                         "response": ""}}
model = GPTModel(ModelConfig(vocab_size=256, context_length=16, emb_dim=16, num_heads=2, num_layers=1))
for call in (lambda: template_of(task), lambda: list(respond(model, "hi", "", task["template"], max_new_tokens=1))):
    try:
        call()
    except PocketLLMError as exc:
        print(exc.code)
"""
    t0 = time.time()
    done = capped(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["template.bad_slot", "template.bad_slot"]
    assert time.time() - t0 < 60


FUZZ = r"""
import json, random, sys, time, resource
from pocketllm import PocketLLMError
from pocketllm.data.instructions import PromptTemplate
imported_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # torch and friends, machine-dependent
rng = random.Random(19)
names = ["instruction", "input", "output", "0", "", "x", "__class__", "instruction.__class__",
         "instruction[0]", "input.__init__.__globals__", "instruction!r", "instruction!s", "instruction!a"]
specs = ["", ":>1000000000", ":<99999999", ":^2000000000", ":{input}", ":{instruction}", ":x", ":.99999999",
         ":010000000000", ":,", "!r", "!s:>50000000", ":{0}", ":{input:>99999}", ":%", ":{}"]
bits = ["{", "}", "{{", "}}", "{{{", "}}}", "text ", "\n### ", "\\u4e2d", "{}" , "{:}", "{!}", "{{instruction}}"]
def piece():
    kind = rng.random()
    if kind < 0.6:
        return "{" + rng.choice(names) + rng.choice(specs) + "}"
    if kind < 0.9:
        return rng.choice(bits)
    return "{" * rng.randint(1, 50) + rng.choice(names) + "}" * rng.randint(1, 50)
def part():
    return "".join(piece() if rng.random() < 0.5 else rng.choice(["Q: ", "A", " ", "\n"]) for _ in range(rng.randint(0, 6)))
cases = [{"name": "f", "head": part(), "input": part(), "response": part()} for _ in range(400)]
cases += [{"name": "f", "head": "{instruction" + s + "}", "input": "{input}", "response": ""} for s in specs]
cases += [{"name": "f", "head": "{instruction}", "input": "{input" + s + "}", "response": ""} for s in specs]
cases += [{"name": "f", "head": "x" * 30_000, "input": "", "response": ""}, {"head": 5, "input": "", "response": ""},
          {"head": "{instruction}"}, [], "nope-template"]
accepted = refused = 0
for case in cases:
    t0 = time.time()
    try:
        t = PromptTemplate.from_dict(case)
        text = t.prompt("I" * 1000, "J" * 1000)
        assert len(text) <= sum(len(t.to_dict()[k]) for k in ("head", "input", "response")) + 2000, case
        accepted += 1
    except PocketLLMError:
        refused += 1
    assert time.time() - t0 < 2, case
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"cases": len(cases), "accepted": accepted, "refused": refused, "peak_mb": peak,
                  "grew_mb": peak - imported_mb}))
"""


def test_fuzz_templates_are_refused_with_our_error_or_accepted_quickly_in_bounded_memory():
    done = capped(FUZZ, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]  # any other exception type (or a MemoryError) fails here
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["cases"] >= 300 and result["accepted"] > 0 and result["refused"] > 100
    # What the templates themselves cost: the imports' own size differs from machine to machine
    # (1.1 GB here, 1.46 GB on CI); a 1e9-wide pad alone would add gigabytes.
    assert result["grew_mb"] < 300, result


# ---- cause 5: a nested header is a damaged checkpoint ---------------------------------------------

def crafted_checkpoint(path: Path, **parts) -> Path:
    config = dict(vocab_size=256, context_length=16, emb_dim=16, num_heads=2, num_layers=1, drop_rate=0.0,
                  qkv_bias=False)
    meta = {"format": "pt", "pocketllm": "1", "config": json.dumps(config), "task": '{"type": "pretrain"}',
            "facts": "{}", **parts}
    save_file({"tok_emb.weight": torch.zeros(256, 16)}, str(path), metadata=meta)
    return path


@pytest.mark.parametrize("part", ["task", "facts", "tokenizer", "config"])
def test_a_deeply_nested_header_is_a_damaged_file_listed_and_deletable(tmp_path, part):
    deep = DEEP if part != "config" else "[" * 20_000 + "]" * 20_000  # (a config has 64 KB at most)
    bad = crafted_checkpoint(tmp_path / "deep.safetensors", **{part: deep})
    t0 = time.time()
    with pytest.raises(PocketLLMError) as caught:
        read_header(bad)
    assert caught.value.code == "checkpoint.header_too_deep" and part in str(caught.value)
    with pytest.raises(PocketLLMError):
        load_model(bad)
    rows = list_checkpoints(tmp_path)  # every model list of the app reads this: no RecursionError
    assert [r["damaged"] for r in rows] == [True] and rows[0]["error_code"] == "checkpoint.header_too_deep"
    delete_checkpoint(tmp_path, bad)
    assert not bad.exists() and time.time() - t0 < 10


def test_an_oversized_header_part_is_damaged_and_a_normal_one_still_reads(tmp_path):
    big = crafted_checkpoint(tmp_path / "big.safetensors", facts=json.dumps({"x": "a" * (5 * 2**20)}))
    with pytest.raises(PocketLLMError) as caught:
        read_header(big)
    assert caught.value.code == "checkpoint.header_too_big"
    fine = crafted_checkpoint(tmp_path / "fine.safetensors", facts=json.dumps({"a": [[[{"b": "[[[["}]]]}))
    assert read_header(fine)["facts"] == {"a": [[[{"b": "[[[["}]]]}


def test_json_depth_counts_brackets_outside_strings():
    assert json_depth('{"a": [1, {"b": "[[[[\\"]]"}]}') == 3
    assert json_depth(DEEP) == 65 and json_depth("[" * 10_000) == 65  # counted up to the limit + 1
    assert json_depth('"[[["') == 0 and json_depth("[1, 2") == 1


def test_nested_json_in_an_instruction_file_is_a_message(tmp_path):
    whole = tmp_path / "deep.json"
    whole.write_text(DEEP, encoding="utf-8")
    with pytest.raises(PocketLLMError) as caught:
        load_instructions(whole)
    assert caught.value.code == "instructions.too_deep" and "nest more than 64" in str(caught.value)
    lines = tmp_path / "deep.jsonl"
    lines.write_text('{"instruction": "a", "output": "b"}\n{"x": ' + DEEP + "}\n", encoding="utf-8")
    data = load_instructions(lines)
    assert len(data.records) == 1 and data.problems == ["line 2: its brackets nest more than 64 levels deep"]


# ---- cause 8: a run folder is one run's -----------------------------------------------------------

def test_a_second_run_into_a_folder_that_holds_another_run_is_refused(files, capsys):
    assert main(pretrain(files)) == 0
    record, state = (files / "R" / "run.json").read_bytes(), (files / "R" / "train_state.pt").read_bytes()
    capsys.readouterr()
    assert main(pretrain(files, model="R/b.safetensors")) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "another --run_dir" in err
    assert (files / "R" / "run.json").read_bytes() == record and (files / "R" / "train_state.pt").read_bytes() == state
    assert not (files / "R" / "b.safetensors").exists() and not list((files / "R").glob("*.claim"))
    assert main(["pretrain", "--resume", str(files / "R" / "a.safetensors"), "--max_steps", "4", "--quiet",
                 "--threads", "1"]) == 0  # the run it holds goes on
    assert main(pretrain(files, "--overwrite", steps=2)) == 0  # the same model replaced, as asked
    from pocketllm.tasks.run_setup import check_run_folder
    with pytest.raises(PocketLLMError) as caught:  # a finetuning run is not resumed: it says how to replace it
        check_run_folder(files / "R", files / "R" / "c.safetensors", False, kind=TaskKind.CLASSIFY)
    assert caught.value.code == "run.folder_taken_replace" and "--overwrite" in str(caught.value)


def test_a_run_folder_is_refused_while_its_run_trains_or_is_being_set_up(files, capsys):
    from pocketllm import PretrainSettings, prepare_pretraining
    from pocketllm.training import TrainSettings
    stop = threading.Event()
    first = prepare_pretraining(PretrainSettings(
        data_path=str(files / "corpus.txt"), config=str(files / "tiny.json"), tokenizer="char", context_length=16,
        model_path=str(files / "R" / "a.safetensors"), run_dir=str(files / "R"),
        train=TrainSettings(max_steps=10_000, batch_size=2, eval_every=0, sample_every=0, dtype="fp32", threads=1)),
        stop_event=stop)
    events = first.run()
    next(events)
    try:
        for extra in ((), ("--overwrite",)):
            assert main(pretrain(files, *extra, model="R/b.safetensors")) == 2
            assert "training now" in capsys.readouterr().err
    finally:
        stop.set()
        for _ in events:
            pass
    assert load_model(files / "R" / "a.safetensors").facts["steps"] == first.step
    with RunFolderClaim(files / "S"):  # a run being set up there (tokenizing its corpus, say)
        assert main(pretrain(files, run="S", model="S/m.safetensors")) == 2
        err = capsys.readouterr().err
        assert "being written by another run" in err and "--run_dir" in err and "run.json.claim" in err


def test_a_claim_naming_a_reused_pid_is_stale_and_swept(files, capsys):
    (files / "R").mkdir()
    parent = os.getppid()  # alive, but it is not the process that made the claim
    claim = {"pid": parent, "host": os.uname().nodename, "pid_start": "1", "since": "then"}
    (files / "R" / "a.safetensors.claim").write_text(json.dumps(claim))
    (files / "R" / "run.json.claim").write_text(json.dumps(claim))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (files / "R" / f".a.safetensors.{dead.pid}-abcd1234.tmp").write_bytes(b"half a model")
    assert OutputClaim(files / "R" / "a.safetensors").owner() is None
    assert main(pretrain(files)) == 0
    assert sorted(p.name for p in (files / "R").iterdir() if p.name.startswith(".") or p.suffix == ".claim") == []
    # a live claim (here: this very process, as another run of it) says how to remove it if it is not live
    with OutputClaim(files / "out.safetensors"):
        assert main(pretrain(files, run="S", model="out.safetensors")) == 2
        err = capsys.readouterr().err
        assert "being written by another run" in err and "delete" in err and "out.safetensors.claim" in err


def test_a_kill_between_the_model_and_its_state_leaves_a_resumable_pair(files, monkeypatch):
    import pocketllm.training.trainer as trainer
    assert main(pretrain(files, steps=3)) == 0
    real = os.replace

    def killed(src, dst):  # the process dies after the new model, before the new state is in place
        if Path(src).name == trainer.PENDING_STATE_FILE:
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(trainer.os, "replace", killed)
    resume = ["pretrain", "--resume", str(files / "R" / "a.safetensors"), "--quiet", "--threads", "1"]
    assert main([*resume, "--max_steps", "5"]) == 130
    assert load_model(files / "R" / "a.safetensors").facts["steps"] == 5
    assert torch.load(files / "R" / "train_state.pt", weights_only=True)["step"] == 3
    monkeypatch.setattr(trainer.os, "replace", real)
    assert main([*resume, "--max_steps", "7"]) == 0  # the pending state of step 5 is put in place
    starts = [r["start_step"] for r in read_events(files / "R" / "events.jsonl") if r["kind"] == "started"]
    assert starts == [0, 3, 5]
    assert not (files / "R" / trainer.PENDING_STATE_FILE).exists()


def test_a_folder_that_cannot_be_written_is_refused_before_anything_is_made(files, capsys):
    assert main(pretrain(files, run="corpus.txt/R", model="corpus.txt/R/m.safetensors")) == 2
    assert "Cannot write in" in capsys.readouterr().err
    assert main(pretrain(files, run="fresh", model="corpus.txt/m.safetensors")) == 2
    assert "--model_path" in capsys.readouterr().err and not (files / "fresh").exists()


READ_ONLY_RUN = """
import os, sys
import pocketllm, pocketllm.cli, pocketllm.cli.pretrain, pocketllm.tasks.language_modeling, pocketllm.jobs
if os.getuid() == 0:  # root writes anywhere: run as nobody (everything is imported already)
    os.setgid(65534)
    os.setuid(65534)
sys.exit(pocketllm.cli.main(sys.argv[1:]))
"""


def test_a_read_only_run_folder_is_a_message_and_leaves_no_folder(files):
    import shutil
    import tempfile
    home = Path(tempfile.mkdtemp(prefix="pocketllm-ro-", dir="/tmp"))  # a folder others may enter
    try:
        os.chmod(home, 0o755)
        for name in ("corpus.txt", "tiny.json"):
            shutil.copy(files / name, home / name)
            os.chmod(home / name, 0o644)
        (home / "ro").mkdir()
        os.chmod(home / "ro", 0o555)
        args = pretrain(home, run="ro/run", model="ro/run/m.safetensors")
        done = subprocess.run([sys.executable, "-c", READ_ONLY_RUN, *args], capture_output=True, text=True,
                              timeout=120, cwd=home, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 2, done.stderr[-2000:]
        assert "Cannot write in" in done.stderr and "Permission denied" in done.stderr
        assert "Traceback" not in done.stderr and list((home / "ro").iterdir()) == []
    finally:
        os.chmod(home / "ro", 0o755)
        shutil.rmtree(home, ignore_errors=True)


def test_nan_settings_and_a_damaged_run_record_are_messages(files, capsys):
    assert main(pretrain(files, "--val_fraction", "nan", run="N", model="N/m.safetensors")) == 2
    err = capsys.readouterr().err
    assert "val_fraction must be a finite number" in err and not (files / "N").exists()
    (files / "D").mkdir()
    (files / "D" / "run.json").write_text('{"model_path": ' + DEEP, encoding="utf-8")
    assert main(pretrain(files, run="D", model="D/m.safetensors")) == 2
    err = capsys.readouterr().err
    assert "run.json is damaged" in err and "no run.json" not in err


# ---- cause 9: an upload is kept whole or not at all ------------------------------------------------

def test_an_upload_that_fails_midway_leaves_nothing_and_a_half_copy_is_never_reused(tmp_path, monkeypatch):
    import shutil

    from ui.runs import keep_upload
    state = SimpleNamespace(corpora=tmp_path / "corpora")
    state.corpora.mkdir()
    upload = tmp_path / "up" / "story.txt"
    upload.parent.mkdir()
    upload.write_text("once upon a time " * 10_000, encoding="utf-8")
    real = shutil.copyfile

    def disk_full(src, dst, **kw):
        Path(dst).write_bytes(Path(src).read_bytes()[:98_304])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", disk_full)
    with pytest.raises(PocketLLMError) as caught:
        keep_upload(state, str(upload), [".txt"])
    assert caught.value.code == "files.write_failed_new" and "No space left" in str(caught.value)
    assert list(state.corpora.iterdir()) == []  # no half file, no temp file
    monkeypatch.setattr(shutil, "copyfile", real)
    kept = Path(keep_upload(state, str(upload), [".txt"]))
    assert kept.read_bytes() == upload.read_bytes()
    kept.write_bytes(upload.read_bytes()[:98_304])  # a half copy an older version left
    assert Path(keep_upload(state, str(upload), [".txt"])).read_bytes() == upload.read_bytes()


# ---- SIGTERM and SIGHUP stop a CLI run the way Ctrl-C does ------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_finish_the_step_save_and_exit(files, signum):
    args = pretrain(files, steps=100_000)
    p = subprocess.Popen([sys.executable, "-m", "pocketllm", *args], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    events = files / "R" / "events.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not any(r["kind"] == "step" for r in read_events(events)):
        assert p.poll() is None, p.communicate()[1]
        time.sleep(0.1)
    p.send_signal(signum)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    records = read_events(events)
    assert records[-1]["kind"] == "stopped" and records[-2]["kind"] == "checkpoint"
    ckpt = load_model(files / "R" / "a.safetensors")
    assert ckpt.facts["steps"] == records[-1]["step"] >= 1
    assert (files / "R" / "train_state.pt").is_file() and not list((files / "R").glob("*.claim"))


def test_a_crafted_run_folder_does_not_take_the_run_lists_down(tmp_path):
    """run.json, results.json or an events line nested a million deep (or huge) is read as damaged:
    the run lists still answer (they raised RecursionError for every run)."""
    from pocketllm import list_runs, read_run
    deep = "[" * 1_000_000 + "]" * 1_000_000
    run = tmp_path / "pretrain-crafted"
    run.mkdir()
    (run / "run.json").write_text(deep, encoding="utf-8")
    (run / "results.json").write_text('{"a": ' + deep + "}", encoding="utf-8")
    good = json.dumps({"kind": "started", "time": 1.0, "total_steps": 3, "steps_per_epoch": 3, "tokens_per_step": 8})
    (run / "events.jsonl").write_text(good + "\n" + deep + "\n" + '"just a string"\n', encoding="utf-8")
    view = read_run(run)
    assert view.settings == {} and view.results == {}
    assert [e["kind"] for e in view.events] == ["started"]  # the crafted lines skipped, the good one kept
    assert read_events(run / "events.jsonl")[0]["total_steps"] == 3
    assert list_runs(tmp_path) == [run] and list_runs(tmp_path, kind="pretrain") == []  # its kind is unknown
