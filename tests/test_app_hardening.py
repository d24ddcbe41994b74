"""No file or number hangs the app or eats the machine (the app's side; tests/test_hardening.py
has the core's): a crafted checkpoint is listed as damaged and never loaded, huge prompts are cut
and answered at once, numbers out of range are refused in the page's language without blanking
what the page showed, runs save as they go and an interrupted one names where Resume starts,
and launch.py warns when it listens on the network and cleans up on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import pytest

from pocketllm import GPTModel, ModelConfig, save_checkpoint
from tests.app_fixtures import free_port, refusal, wait_for

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HUGE = 2_000_000


def crafted(path: Path) -> Path:
    """A file that says it is a PocketLLM checkpoint of a model with a 10**12-wide embedding."""
    import torch
    from safetensors.torch import save_file
    c = dict(vocab_size=50257, context_length=128, emb_dim=10**12 + 1, num_heads=2, num_layers=2, drop_rate=0.0,
             qkv_bias=True, tie_embeddings=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"x": torch.zeros(1)}, str(path),
              metadata={"format": "pt", "pocketllm": "1", "config": json.dumps(c), "task": "{}", "facts": "{}"})
    return path


def tiny(path: Path, vocab=50257) -> Path:
    import torch
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=vocab, context_length=64, emb_dim=32, num_heads=2, num_layers=1, drop_rate=0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, GPTModel(cfg))
    return path


@pytest.fixture(scope="module")
def hard_app(tmp_path_factory):
    """An app started with a crafted checkpoint and a dead save's temp file in its folder:
    yields (url, state, seconds it took to start)."""
    from ui.app import build_app, launch_options, prepare_queue
    root = tmp_path_factory.mktemp("hard")
    folder = root / "checkpoints"
    crafted(folder / "evil.safetensors")
    tiny(folder / "tiny.safetensors")
    stale = folder / "run-x" / ".model.safetensors.4194999-ab12cd34.tmp"  # pid 4194999: beyond any pid_max
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a save")
    began = time.time()
    demo = prepare_queue(build_app(folder, temp_dir=root / "temp"))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(demo.pocketllm_state))
    yield f"http://127.0.0.1:{port}/", demo.pocketllm_state, time.time() - began, demo
    demo.pocketllm_state.runner.stop()
    demo.pocketllm_state.runner.wait(30)
    demo.close()


@pytest.fixture(scope="module")
def client(hard_app):
    return Client(hard_app[0], verbose=False)


def handler(demo, api_name):
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == api_name)


# ---- 6: a crafted file --------------------------------------------------------------------

def test_a_crafted_file_is_listed_as_damaged_and_offered_nowhere(hard_app, client):
    url, state, started_in, _ = hard_app
    assert started_in < 30  # the header is read, never the 10**12-wide model built
    evil = str(state.checkpoints / "evil.safetensors")
    for lang, label in (("en", "damaged"), ("zh", "已损坏")):
        table, picker = client.predict(None, lang, api_name="/weights_list")
        rows = {r[0]: r for r in table["data"]}
        from ui.tabs.weights import COLUMNS
        problem = COLUMNS.index("score")  # a damaged file's problem stands where a model's best score does
        assert label in rows["evil.safetensors"][1] and "emb_dim" in rows["evil.safetensors"][problem]
        assert rows["tiny.safetensors"][2] == "gpt2"  # the tokenizer column
        assert rows["evil.safetensors"][2] == "—"
    # The model pickers never offer it.
    for api in ("/generate_models", "/classify_models", "/instruct_models"):
        assert evil not in json.dumps(client.predict(None, api_name=api))
    for api in ("/classify_bases", "/instruct_bases"):
        assert evil not in json.dumps(client.predict(None, "en", api_name=api))
    # Picked by hand anyway: a message, nothing loaded, no download.
    message = refusal(lambda: client.predict(evil, "The", 0.0, 0, 1.0, 3, 1, "en", api_name="/generate"))
    assert "not in the list of choices" in message  # Gradio's picker check, before the handler
    demo = hard_app[3]
    message = refusal(lambda: list(handler(demo, "generate")(evil, "The", 0.0, 0, 1.0, 3, 1, "en")))
    assert "emb_dim" in message, message  # past the picker, the handler loads nothing that big
    download, stem, note = client.predict(evil, "en", api_name="/weights_select")[:3]
    assert "damaged" in note and stem == "evil"


def test_a_dead_saves_temp_file_was_swept_at_start(hard_app):
    state = hard_app[1]
    assert not list(state.checkpoints.rglob("*.tmp"))


def test_a_damaged_file_can_be_deleted(hard_app, client):
    state = hard_app[1]
    doomed = crafted(state.checkpoints / "doomed.safetensors")
    client.predict(None, "en", api_name="/weights_list")  # as Refresh does: the picker lists it
    note = client.predict(str(doomed), "en", api_name="/weights_delete_ask")  # (and the confirm row)
    assert "doomed" in note
    table, picker, message = client.predict(str(doomed), "en", api_name="/weights_delete")
    assert not doomed.exists() and "Deleted" in message


# ---- 4: huge texts -------------------------------------------------------------------------

def timed(fn):
    began = time.time()
    out = fn()
    return out, time.time() - began


def test_a_huge_prompt_is_cut_and_answered_at_once(hard_app, client):
    state = hard_app[1]
    path = str(state.checkpoints / "tiny.safetensors")
    prompt = "All work and no play makes Jack a dull boy. " * (HUGE // 44 + 1)
    out, took = timed(lambda: client.predict(path, prompt, 1.0, 0, 1.0, 1, 0, "en", True, api_name="/look_inside"))
    size = len(json.dumps(out))
    assert took < 15 and size < 1_500_000, (took, size)
    assert "last 4,000 characters" in out[1]  # the page says what it looked at
    zh = client.predict(path, prompt, 1.0, 0, 1.0, 1, 0, "zh", True, api_name="/look_inside")[1]
    assert "最后 4,000 个字符" in zh

    (text, note), took = timed(lambda: client.predict(path, prompt, 0.0, 0, 1.0, 3, 1, "en", api_name="/generate"))
    assert took < 15 and "last 100,000 characters" in note and len(text) < 1000

    out, took = timed(lambda: client.predict(path, prompt, prompt, 0, 3, "en", api_name="/instruct_respond"))
    assert took < 20 and "first 100,000 characters" in out[2]
    assert len(json.dumps(out)) < 1_000_000


# ---- 7 and 8: numbers out of range -------------------------------------------------------------

def test_every_number_box_has_a_maximum(hard_app):
    demo = hard_app[3]
    boxes = [b for b in demo.blocks.values() if isinstance(b, (gr.Number, gr.Slider))]
    assert len(boxes) > 30
    unbounded = [(b.label, b.elem_id) for b in boxes if b.maximum is None]
    assert not unbounded, unbounded


PRETRAIN_FACTS = dict(preset="custom", layers=2, heads=2, width=32, context=32, dropout=0.0, batch=4,
                      source="shakespeare", kind="gpt2", vocab=None)  # (the uploaded file is page state)


def facts(client, lang="en", **change):
    args = {**PRETRAIN_FACTS, **change}
    return client.predict(*args.values(), lang, api_name="/pretrain_facts")


def test_a_huge_width_is_answered_at_once_in_the_pages_language(client):
    assert "parameters" in facts(client)
    # The page checks only that a box holds a number; the core checks the range, in the page's language.
    for lang, words in (("en", "emb_dim must be at most 16,384"), ("zh", "最大为 16,384")):
        text, took = timed(lambda: facts(client, lang, width=10**12))
        assert took < 5 and words in text, text
    assert "65,536" in facts(client, batch=10**9)
    assert "512" in facts(client, layers=10**6)
    assert "1,024" in facts(client, heads=10**6)
    assert "at most 65,536" in facts(client, kind="char", vocab=10**9)  # the tokenizer's real bound


START = ["shakespeare", "char", None, "custom", 1, 2, 32, 32, 0.0, 3, 4, 1e-3, 0, 0, 0, "fp32"]


def start_args(**change):
    names = ["source", "tokenizer", "vocab", "preset", "layers", "heads", "width", "context", "dropout", "steps",
             "batch", "lr", "eval_every", "sample_every", "seed", "dtype"]
    values = dict(zip(names, START))
    values.update(change)
    return list(values.values())


@pytest.mark.parametrize("change, words", [
    (dict(batch=10**9), "batch"), (dict(steps=10**12), "steps"), (dict(seed=2**40), "seed"),
    (dict(width=10**12), "emb_dim"), (dict(context=10**9), "context"), (dict(lr=50.0), "lr must be"),
])
def test_pretrain_start_refuses_out_of_range_numbers(hard_app, client, change, words):
    state = hard_app[1]
    before = state.runner.last
    status = client.predict(*start_args(**change), "en", api_name="/pretrain_start")  # (the run folder is state)
    assert words in status and "Something went wrong" not in status and "⚠️" in status
    assert state.runner.last is before  # nothing started


def test_finetune_and_sampling_numbers_are_refused_in_the_status(hard_app, client):
    path = str(hard_app[1].checkpoints / "tiny.safetensors")
    for args, words in (((path, "The", 0.0, 0, 1.0, 3, 2**70, "en"), "seed"),
                        ((path, "The", 0.0, 0, 1.0, 10**9, 1, "en"), "max new tokens"),
                        ((path, "The", 9.0, 0, 1.0, 3, 1, "zh"), "之间")):
        text, note = client.predict(*args, api_name="/generate")
        assert words in note.lower() or words in note, note
    cls = ["bundled", "", "", False, "fresh:cpu-tiny", "lora", 1, 10**9, 16, 0, 1, 0, 4, 5e-3, 2, 7]
    status = client.predict(*cls, "en", api_name="/classify_start")
    assert "LoRA rank" in status, status
    cls[7], cls[12] = 8, 10**9  # a fine rank, a huge batch
    status = client.predict(*cls, "zh", api_name="/classify_start")
    assert "之间的整数" in status and "批大小" in status
    ins = ["bundled", "fresh:cpu-tiny", "alpaca", False, False, 8, 16, 0, 1, 2, 4, 5e-4, 0, 0, 0, 2**33]
    status = client.predict(*ins, "en", api_name="/instruct_start")
    assert "seed" in status and "2,147,483,647" in status


def test_a_refusal_keeps_what_the_page_showed(hard_app):
    """A refused rename leaves the table and the picker as they were and says why."""
    demo, state = hard_app[3], hard_app[1]
    table, picker, message = handler(demo, "weights_rename")(str(state.checkpoints / "tiny.safetensors"),
                                                             "../up", "en")
    assert table == gr.skip() and picker == gr.skip()
    assert "plain file name" in message and message.startswith("⚠️")
    # The same for a start with a bad number: the run folder the live view follows stays.
    args = start_args(batch=0)
    run_dir, status = handler(demo, "pretrain_start")(args[0], "", *args[1:], "en")  # "": no upload
    assert run_dir == gr.skip() and "batch" in status


# ---- 5: runs save as they go; an interrupted one names where Resume starts ---------------------

def test_runs_save_every_few_minutes_and_an_interrupt_names_the_resume_step(hard_app, client):
    state = hard_app[1]
    state.runner.wait(120)
    status = client.predict(*start_args(steps=4, batch=2), "en", api_name="/pretrain_start")
    assert "Training" in status, status
    job = state.runner.current or state.runner.last
    state.runner.wait(180)
    run_dir = job.run_dir
    settings = json.loads((Path(run_dir) / "run.json").read_text())
    assert json.dumps(settings).count('"checkpoint_minutes": 5') >= 1, settings
    # Simulate a crash after the last save: steps were logged past it and no end was written.
    events_path = Path(run_dir) / "events.jsonl"
    events = [json.loads(line) for line in events_path.read_text().splitlines() if line.strip()]
    saved = max(e["step"] for e in events if e["kind"] == "checkpoint")
    events = [e for e in events if e["kind"] not in ("finished", "stopped", "failed")]
    last = dict(next(e for e in reversed(events) if e["kind"] == "step"))
    last["step"] = saved + 7
    events.append(last)
    events_path.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert job is not None
    for lang, words in (("en", [f"interrupted at step {saved + 7}", f"continues from step {saved}"]),
                        ("zh", [f"第 {saved + 7} 步被中断", f"从第 {saved} 步"])):
        status = client.predict(lang, "nats", api_name="/pretrain_poll")[4]
        assert all(w in status for w in words), status


# ---- 2 and 3: launch.py on the network, and SIGTERM -------------------------------------------

def test_launch_warns_on_the_network_and_cleans_up_on_sigterm(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    folder = tmp_path / "checkpoints"
    crafted(folder / "evil.safetensors")
    port = free_port()
    env = {**os.environ, "TMPDIR": str(temp), "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    env.pop("GRADIO_TEMP_DIR", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "--host", "0.0.0.0", "--port", str(port),
                             "--checkpoints", str(folder)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        end = time.time() + 120
        while time.time() < end and "PocketLLM:" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert f"0.0.0.0:{port}" in line and "127.0.0.1" in line, line
        wait_for(lambda: list(temp.glob("pocketllm-app-*")), timeout=30)
        import urllib.request

        def up():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(up, timeout=90)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        err = proc.stderr.read()
        assert "WARNING" in err and "reachable from the network" in err and "no password" in err, err
        assert not list(temp.glob("pocketllm-app-*")), list(temp.iterdir())  # the app's temp folder is gone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_no_warning_on_loopback():
    import launch
    assert launch.network_warning("127.0.0.1", False) is None
    assert "no password" in launch.network_warning("0.0.0.0", False)
    assert "gradio.live" in launch.network_warning("127.0.0.1", True)
