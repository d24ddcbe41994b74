"""The app through its API, as gradio_client sees it: the app runs on a free loopback
port with a temporary checkpoints folder (tests/app_fixtures.py)."""
from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest

from pocketllm import TaskKind, load_model
from tests.app_fixtures import app, corpus_file, hf_gpt2_file, refusal, wait_for  # noqa: F401  (fixtures)

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

TINY = dict(preset="custom", layers=1, heads=2, width=32, context=32, dropout=0.0)


@pytest.fixture(scope="module")
def client(app):
    return Client(app[0], verbose=False)


def start_tiny_run(client, steps=400, tokenizer="bpe", vocab=300, source="upload"):
    return client.predict(source, tokenizer, vocab, TINY["preset"], TINY["layers"], TINY["heads"], TINY["width"],
                          TINY["context"], TINY["dropout"], steps, 4, 1e-3, 10, 25, 0, "fp32", "en",
                          api_name="/pretrain_start")


# The form a run fills in when it comes into view, as the API returns it (the uploaded-file state left out).
FORM = ["source", "tokenizer", "vocab_size", "preset", "layers", "heads", "width", "context", "dropout", "steps",
        "batch", "lr", "eval_every", "sample_every", "seed", "dtype"]


def form_values(outputs) -> dict:
    return {name: (v["value"] if isinstance(v, dict) and "value" in v else v)
            for name, v in zip(FORM, outputs) if not (isinstance(v, dict) and v.get("__type__") == "update"
                                                       and "value" not in v)}


def poll(client, unit="nats"):
    """(loss plot, stats, samples, download, status, *the form's values)."""
    return client.predict("en", unit, api_name="/pretrain_poll")


def figure_points(plot) -> int:
    fig = json.loads(plot["plot"]) if isinstance(plot, dict) else plot
    return sum(len(trace.get("x") or []) for trace in fig["data"])


def test_preview_start_poll_stop(client, app, corpus_file):
    state = app[1]
    assert client.predict(handle_file(str(corpus_file)), "en", api_name="/pretrain_upload") == "upload"
    preview, tokens = client.predict("upload", 32, "bpe", 300, "en", api_name="/pretrain_preview")
    assert "tiny_corpus" in preview and "training windows" in preview and "per character" in preview
    assert "pl-tok" in tokens and "tokens per character" in tokens
    # Too short a corpus for the context: a readable message with a context that fits, no trace.
    short, _ = client.predict("upload", 4000, "bpe", 300, "en", api_name="/pretrain_preview")
    assert "Lower “context (tokens)”" in short and "Traceback" not in short  # the form's box, not a CLI flag

    status = start_tiny_run(client)
    assert "Training" in status
    job = state.runner.current
    assert job is not None and job.kind == "pretrain"

    # A second start while the first runs says which job runs, instead of starting one.
    busy = start_tiny_run(client)
    assert job.name in busy and "already running" in busy

    def polled_with_steps():
        plot, stats, samples, download, status, *_ = poll(client)
        return (plot, stats) if stats and "tokens/s" in stats else None
    plot, stats = wait_for(polled_with_steps, timeout=90)
    assert figure_points(plot) > 0

    assert "Stopping" in client.predict("en", api_name="/pretrain_stop")
    state.runner.wait(60)
    assert job.status == "stopped"
    ckpt = load_model(job.model_path)  # the checkpoint was kept and loads
    assert ckpt.config.num_layers == 1 and ckpt.config.emb_dim == 32
    # The page offers it for download once the run has ended.
    def offered():
        out = poll(client)
        return out if out[3] else None
    _, _, _, download, status, *_ = wait_for(offered, timeout=20)
    assert "stopped" in status


def test_resume_continues_the_stopped_run(client, app):
    state = app[1]
    if state.runner.last is None or state.runner.last.status != "stopped":
        pytest.skip("needs the stopped run of the test above")
    run = state.runner.last
    done = json.loads((run.run_dir / "events.jsonl").read_text().splitlines()[-1]).get("step", 0)
    status, *form = client.predict(done + 3, "en", api_name="/pretrain_resume")
    assert run.name in status
    state.runner.wait(60)
    # The form shows the run's settings: its own tokenizer (a model keeps the one it was trained with), its shape.
    form = form_values(form)
    assert form["tokenizer"] == "bpe" and form["vocab_size"] == load_model(run.model_path).tokenizer.vocab_size
    assert form["source"] == "upload" and form["preset"] == "custom" and form["width"] == 32 and form["batch"] == 4
    assert "steps" not in form  # the steps just typed stay
    steps = [json.loads(l) for l in (run.run_dir / "events.jsonl").read_text().splitlines()]
    assert steps[-1]["kind"] == "finished" and steps[-1]["step"] == done + 3


def test_generation_streams(client, app):
    state = app[1]
    models = state.checkpoints_table()
    if not models:
        pytest.skip("needs the run of the tests above")
    path = models[0]["path"]
    client.predict(None, api_name="/generate_models")  # the picker takes only what it lists
    job = client.submit(path, "The", 1.0, 0, 1.0, 25, 1, "en", api_name="/generate")
    outputs = []
    for out in job:
        outputs.append(out)
    texts = [o[0] for o in outputs]
    assert len(texts) >= 3, texts  # partial outputs arrive one by one
    assert all(texts[i + 1].startswith(texts[i]) for i in range(len(texts) - 1))
    assert len(texts[-1]) > len(texts[1])
    # The same seed gives the same text; an empty prompt says so.
    again = client.predict(path, "The", 1.0, 0, 1.0, 25, 1, "en", api_name="/generate")
    assert again[0] == texts[-1]
    empty = client.predict(path, "", 0.0, 0, 1.0, 5, 1, "en", api_name="/generate")
    assert "empty" in empty[1]
    assert "No model chosen" in refusal(lambda: client.predict(None, "x", 0.0, 0, 1.0, 5, 1, "en",
                                                               api_name="/generate"))
    # Faster precisions generate too, from a separately cached copy (fp32 stays exact).
    for precision in ("bf16", "int8"):
        text, note = client.predict(path, "The", 0.0, 0, 1.0, 10, 1, "en", precision, api_name="/generate")
        assert isinstance(text, str) and note
    assert {k[2] for k in state.models._items} == {"bf16", "int8"}  # the two most recent loads
    assert client.predict(path, "The", 1.0, 0, 1.0, 25, 1, "en", "fp32", api_name="/generate")[0] == texts[-1]


def test_look_inside_follows_the_sliders(client, app):
    models = app[1].checkpoints_table()
    if not models:
        pytest.skip("needs the run of the tests above")
    path = models[0]["path"]
    client.predict(None, api_name="/generate_models")
    out = client.predict(path, "the quick brown fox", 1.0, 0, 1.0, 1, 0, "en", True, api_name="/look_inside")
    strip, note, next_plot, next_note, params_plot, layer, head, attn, lens = out
    n = len(load_model(path).tokenizer.encode("the quick brown fox"))
    assert n > 4  # a 300-token BPE cuts finer than GPT-2 (4 tokens): the strip is the model's own tokens
    assert strip.count("class='pl-tok'") == n and f"{n} tokens" in strip
    wide = json.loads(next_plot["plot"])
    narrow = json.loads(client.predict(path, "the quick brown fox", 1.0, 3, 1.0, "en", True,
                                       api_name="/next_token")[0]["plot"])
    after_wide = wide["data"][1]["x"]
    after_narrow = narrow["data"][1]["x"]
    assert after_wide != after_narrow  # top-k 3 cut the others...
    assert sum(1 for p in after_narrow if p > 0) == 3  # ...and kept three
    assert "✂" in "".join(narrow["data"][0]["y"])
    assert json.loads(attn["plot"])["data"][0]["type"] == "heatmap"
    assert json.loads(lens["plot"])["data"][0]["type"] == "heatmap"


def test_weights_import_list_rename_export_delete(client, app, hf_gpt2_file):
    state = app[1]
    table, selected, msg = client.predict(handle_file(str(hf_gpt2_file)), "", "tiny-gpt2", "en",
                                          api_name="/weights_import")
    target = state.checkpoints / "imported" / "tiny-gpt2.safetensors"
    assert target.is_file() and "Imported" in msg
    assert "imported/tiny-gpt2.safetensors" in json.dumps(table)
    # Importing again under the same name never overwrites.
    assert "already exists" in refusal(lambda: client.predict(handle_file(str(hf_gpt2_file)), "", "tiny-gpt2", "en",
                                                              api_name="/weights_import"))
    # Offline download by name: a clear message.
    assert "download" in refusal(lambda: client.predict(None, "gpt2", "from-hub", "en", api_name="/weights_import"))

    info = client.predict(str(target), "en", api_name="/weights_info")
    assert "| read from | PocketLLM |" in info  # saved again by the import, so ours

    exported, msg = client.predict(str(target), "en", api_name="/weights_export")
    archive = Path(exported["value"] if isinstance(exported, dict) else exported)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert any(n.endswith("config.json") for n in names) and any(n.endswith("model.safetensors") for n in names)

    table, selected, msg = client.predict(str(target), "renamed-gpt2", "en", api_name="/weights_rename")
    renamed = state.checkpoints / "imported" / "renamed-gpt2.safetensors"
    assert renamed.is_file() and not target.exists()

    table, selected, msg = client.predict(str(renamed), "en", api_name="/weights_delete")
    assert not renamed.exists() and "Deleted" in msg
    assert "renamed-gpt2" not in json.dumps(table)


def test_upload_checkpoint_validates_and_never_overwrites(client, app, tmp_path):
    state = app[1]
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    assert "not a readable" in refusal(lambda: client.predict(handle_file(str(bad)), "en", api_name="/weights_upload"))
    models = [m for m in state.checkpoints_table() if m["task"] == TaskKind.PRETRAIN]
    if not models:
        pytest.skip("needs a checkpoint")
    good = tmp_path / "mine.safetensors"
    good.write_bytes(Path(models[0]["path"]).read_bytes())
    client.predict(handle_file(str(good)), "en", api_name="/weights_upload")
    assert (state.checkpoints / "uploads" / "mine.safetensors").is_file()
    assert "already exists" in refusal(lambda: client.predict(handle_file(str(good)), "en",
                                                              api_name="/weights_upload"))


def test_language_switch_relabels_and_translates_messages(client):
    """The switch runs in the browser from a table of both languages that travels with the page."""
    demo_js = [d.get("js") or "" for d in client.config["dependencies"]]
    switch = [js for js in demo_js if "data-pl-lang" in js or "plLang" in js]
    assert len(switch) == 2  # on load (no-op in the built language) and on the switch
    table = json.loads(switch[-1][switch[-1].index("const table = ") + 14:switch[-1].index(";\n  const code")])
    zh, en = json.dumps(table["zh"], ensure_ascii=False), json.dumps(table["en"], ensure_ascii=False)
    assert "开始" in zh and "续写" in zh and "Start" not in zh
    assert "Start" in en and len(table["zh"]) == len(table["en"]) > 100
    assert all(u["__type__"] == "update" for u in table["zh"])
    assert "没有" in client.predict("zh", api_name="/pretrain_stop") or "停止" in \
        client.predict("zh", api_name="/pretrain_stop")


def test_every_string_has_both_languages():
    from ui.i18n import missing_translations
    assert missing_translations() == {"zh": [], "en": []}


def test_look_inside_reads_the_prompts_end_and_caches_attention(tmp_path):
    """Attention and logit lens read at most the prompt's last 64 tokens (whole characters);
    the maps are kept per (model file, prompt) so the block/head pickers only re-slice."""
    from pocketllm import gpt2_tokenizer
    from ui.tabs.generate import INSIDE_TOKENS, AttentionCache, prompt_tail
    tok = gpt2_tokenizer()
    for prompt in ("short prompt", "学而时习之，不亦说乎。" * 20, "🙂 and text " * 40):
        tail, cut = prompt_tail(prompt, tok)
        n = len(tok.encode(prompt))
        assert prompt.endswith(tail) and len(tok.encode(tail)) <= INSIDE_TOKENS
        assert (cut == 0) == (n <= INSIDE_TOKENS) and "\ufffd" not in tail
        assert cut == n - len(tok.encode(tail))

    cache, calls = AttentionCache(size=2), []
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"v1")
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get(model, "p", compute) == cache.get(model, "p", compute) == 1  # a picker change: no rerun
    cache.get(model, "other prompt", compute)
    assert len(calls) == 2
    import os
    os.utime(model, ns=(1, 1))  # the file replaced: computed again
    assert cache.get(model, "p", compute) == 3


def test_a_checkpoint_deleted_elsewhere_says_so(tmp_path):
    from pocketllm import GPTModel, ModelConfig, PocketLLMError, save_checkpoint
    from ui.state import AppState
    state = AppState(tmp_path / "checkpoints", tmp_path / "temp")
    path = state.checkpoints / "m.safetensors"
    save_checkpoint(path, GPTModel(ModelConfig(vocab_size=64, context_length=8, emb_dim=8, num_heads=1,
                                               num_layers=1)))
    assert state.load(path).config.emb_dim == 8
    path.unlink()
    for load in (state.load, state.models.get):
        with pytest.raises(PocketLLMError, match="no longer exists; press Refresh"):
            load(path)
