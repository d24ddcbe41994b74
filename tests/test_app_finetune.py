"""The Classify and Instruct tabs through the app's API, as gradio_client sees them: the app
runs on a free loopback port with a temporary checkpoints folder (tests/app_fixtures.py), and
a tiny language model saved there is the base of every run."""
from __future__ import annotations

import json

import pytest

from pocketllm import GPTModel, ModelConfig, load_model, save_checkpoint
from tests.app_fixtures import app, refusal, wait_for  # noqa: F401  (fixtures)

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

SPAM = ["win a free prize now", "free money click here now", "claim your free cash prize", "cheap pills win big now",
        "you won a free cruise click", "urgent free prize claim now"]
HAM = ["see you at lunch tomorrow", "the meeting moved to noon", "can you send the report",
       "dinner with mom on sunday", "notes from the class today", "call me when you land"]


def tiny_base(folder, name="tiny-base"):
    """A language model of GPT-2's vocabulary, as small as a model gets: 1 block, width 32."""
    import torch
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=50257, context_length=64, emb_dim=32, num_heads=2, num_layers=1, drop_rate=0.0)
    path = folder / f"{name}.safetensors"
    save_checkpoint(path, GPTModel(cfg))
    return path


@pytest.fixture(scope="module")
def client(app):
    return Client(app[0], verbose=False)


@pytest.fixture(scope="module")
def base(app, client):
    path = str(tiny_base(app[1].checkpoints))
    # The pickers only take what they list: refresh them, as the page's Refresh buttons do.
    client.predict(None, "en", api_name="/classify_bases")
    client.predict(None, "en", api_name="/instruct_bases")
    return path


@pytest.fixture(scope="module")
def spam_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cls") / "tiny_spam.csv"
    rows = ["label,text"] + [f"spam,{t}" for t in SPAM * 3] + [f"ham,{t}" for t in HAM * 3] + ["ham,", ",orphan text"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def figure_points(plot) -> int:
    fig = json.loads(plot["plot"]) if isinstance(plot, dict) else plot
    return sum(len(trace.get("x") or []) for trace in fig["data"])


def figure(plot) -> dict:
    return json.loads(plot["plot"]) if isinstance(plot, dict) else plot


def wait_end(state, timeout=120):
    job = state.runner.last
    state.runner.wait(timeout)
    assert job.status in ("finished", "stopped"), job.error
    return job


# ---- classify ---------------------------------------------------------------------------

def test_classify_preview_train_report_and_classify(client, app, base, spam_csv):
    state = app[1]
    assert client.predict(handle_file(str(spam_csv)), "en", api_name="/classify_upload")[0] == "upload"
    md, balance_plot, sample, text_col, label_col = client.predict("upload", "", "", False, "en",
                                                                   api_name="/classify_preview")
    assert "tiny_spam" in md and "36" in md  # 38 data rows, 36 usable
    assert "empty text" in md and "missing label" in md  # rows dropped are said, with the reason
    bars = figure(balance_plot)["data"][0]
    assert dict(zip(bars["x"], bars["y"])) == {"ham": 18, "spam": 18}
    assert len(sample["data"]) > 0

    status = client.predict("upload", "", "", False, base, "last", 1, 8, 16, 0, 1, 0, 4, 5e-3, 2, 7, "en",
                            api_name="/classify_start")
    assert "Training" in status
    job = state.runner.current or state.runner.last
    assert job.kind == "classify"
    wait_end(state)

    def finished():
        out = client.predict("en", api_name="/classify_poll")
        return out if "finished" in out[3] and "Test accuracy" in out[4] else None
    loss, acc, stats, status, report, per_class, confusion, download, classifier, *form_and_buttons = \
        wait_for(finished, timeout=30)
    assert figure_points(loss) > 0 and figure_points(acc) > 0
    # Loss and accuracy share the x-axis (steps); each batch's curve smoothed, the raw one faint beneath.
    for plot in (loss, acc):
        fig = figure(plot)
        assert "step" in json.dumps(fig["layout"]["xaxis"]["title"])
        faint = [tr for tr in fig["data"] if tr.get("opacity") == 0.25]
        assert len(faint) == 1 and faint[0]["showlegend"] is False
    # Every score in one format (percentages), and the download named after the run and its step.
    assert all(str(cell).endswith("%") for row in per_class["data"] for cell in row[1:4])
    assert "%" in report and "0." not in report.split("F1")[1].split("·")[0]
    end = [json.loads(line) for line in (job.run_dir / "events.jsonl").read_text().splitlines()][-1]
    steps = end.get("kept_step") or end["step"]  # with keep_best: the step whose weights the file holds
    shown = download.get("value", download) if isinstance(download, dict) else download  # (an update)
    shown = (shown.get("orig_name") or shown.get("path")) if isinstance(shown, dict) else shown
    assert shown.endswith(f"{job.name}-step{steps}.safetensors"), download
    # A second browser tab sees the run's settings in its form (its own Start sent them in this one).
    form = Client(app[0], verbose=False).predict("en", api_name="/classify_poll")[9:]
    values = [f.get("value") if isinstance(f, dict) else f for f in form]
    assert values[0] == "upload" and values[4] == base and values[5] == "last"
    assert values[10:16] == [1, 0, 4, 0.005, 2, 7]  # epochs, max steps, batch, lr, evaluate every, seed
    cm = figure(confusion)["data"][0]
    assert cm["type"] == "heatmap" and sorted(cm["x"]) == ["ham", "spam"]
    assert sum(map(sum, cm["text"])) == 8  # the test split: 20% of 36, stratified
    assert {r[0] for r in per_class["data"]} == {"ham", "spam"}
    assert download  # the checkpoint is offered
    ckpt = load_model(job.model_path)
    assert ckpt.task["labels"] == ["ham", "spam"]

    # A second browser tab (a new session) sees the same run: the page reads the run folder.
    other = Client(app[0], verbose=False).predict("zh", api_name="/classify_poll")
    assert job.name in other[3] and "测试准确率" in other[4]

    label, note = client.predict(str(job.model_path), "win a free prize now", "en", api_name="/classify_message")
    probs = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(probs) == {"ham", "spam"} and abs(sum(probs.values()) - 1) < 1e-4
    assert label["label"] == max(probs, key=probs.get)


def test_classify_bad_inputs_are_readable(client, app, base, tmp_path):
    one_class = tmp_path / "one_class.csv"
    one_class.write_text("label,text\n" + "\n".join(f"ham,message number {i}" for i in range(10)), encoding="utf-8")
    client.predict(handle_file(str(one_class)), "en", api_name="/classify_upload")
    md = client.predict("upload", "", "", False, "en", api_name="/classify_preview")[0]
    assert "two classes" in md and "Traceback" not in md
    message = refusal(lambda: client.predict("upload", "", "", False, base, "head", 1, 8, 16, 0, 1, 0, 4, 5e-3, 2, 7,
                                             "en", api_name="/classify_start"))  # the same message, in the status
    assert "two classes" in message and "Traceback" not in message
    message = refusal(lambda: client.predict(base, "hello", "en", api_name="/classify_message"))
    assert "Traceback" not in message  # a language model is not one (not even among the choices)


# ---- instruct -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def records(tmp_path_factory):
    words = ["cat", "dog", "sun", "pen", "map", "cup", "box", "hat", "car", "bed", "fox", "owl"]
    recs = [{"instruction": "Reverse the word.", "input": w, "output": w[::-1]} for w in words]
    recs += [{"instruction": "Upper-case the word.", "input": w, "output": w.upper()} for w in words[:8]]
    recs.append({"instruction": "No output here."})  # reported, not fatal
    path = tmp_path_factory.mktemp("ins") / "tiny_tasks.json"
    path.write_text(json.dumps(recs), encoding="utf-8")
    return path


def test_instruct_preview_train_answers_and_stream(client, app, base, records):
    state = app[1]
    state.runner.wait(120)  # one job at a time
    assert client.predict(handle_file(str(records)), "en", api_name="/instruct_upload") == "upload"
    md = client.predict("upload", "short", "en", api_name="/instruct_preview")
    assert "**20** usable" in md and "1 skipped" in md and "no 'output'" in md
    assert "### Instruction:\nReverse the word." in md and "tac<|endoftext|>" in md  # the template applied

    status = client.predict("upload", base, "short", False, False, 8, 16, 0, 1, 0, 4, 1e-3, 2, 0, 10, 7, "en",
                            api_name="/instruct_start")
    assert "Training" in status
    job = wait_end(state)
    assert job.kind == "instruct"

    def finished():
        out = client.predict("en", api_name="/instruct_poll")
        return out if "finished" in out[2] and "Exact match" in out[4] else None
    loss, stats, status, samples, results, answers, download, model, *form_and_buttons = wait_for(finished, timeout=30)
    assert "step" in json.dumps(figure(loss)["layout"]["xaxis"]["title"])
    assert figure_points(loss) > 0
    assert answers["data"] and len(answers["headers"]) == 5  # expected vs generated per held-out prompt
    saved = json.loads(job.model_path.with_name(job.model_path.stem + ".test_responses.json").read_text())
    assert [r[2] for r in answers["data"]] == [a["expected"] for a in saved]
    assert load_model(job.model_path).task["type"] == "instruct"

    # The response streams: several updates, each extending the last.
    stream = client.submit(str(job.model_path), "Reverse the word.", "cat", 0, 12, "en",
                           api_name="/instruct_respond")
    updates = [u[0] for u in stream]
    assert len(updates) >= 3 and all(b.startswith(a) for a, b in zip(updates, updates[1:]))
    prompt = stream.outputs()[-1][1]
    assert prompt.startswith("### Instruction:\nReverse the word.")  # the checkpoint's own template


def test_instruct_bad_json_is_readable(client, tmp_path):
    not_a_list = tmp_path / "object.json"
    not_a_list.write_text(json.dumps({"name": "my tasks", "count": 2}), encoding="utf-8")
    client.predict(handle_file(str(not_a_list)), "en", api_name="/instruct_upload")
    md = client.predict("upload", "alpaca", "en", api_name="/instruct_preview")
    assert "must be a list of records" in md and "Traceback" not in md
    zh = client.predict("upload", "alpaca", "zh", api_name="/instruct_preview")
    assert zh.startswith("问题：")  # marked in words, not with an emoji that needs its own font
    assert "No instruction model chosen" in refusal(lambda: client.predict(None, "Reverse the word.", "cat", 0, 5, "en",
                                                                           api_name="/instruct_respond"))


def test_one_job_at_a_time_names_the_running_one_and_stops(client, app, base):
    state = app[1]
    state.runner.wait(120)
    client.predict("bundled", "short", "en", api_name="/instruct_preview")
    status = client.predict("bundled", base, "short", False, False, 8, 16, 32, 100, 100000, 2, 1e-3, 0, 0, 0, 7,
                            "en", api_name="/instruct_start")
    job = state.runner.current
    assert job is not None and job.name in status
    busy = client.predict("bundled", "", "", False, base, "head", 1, 8, 16, 0, 1, 0, 4, 5e-3, 2, 7, "zh",
                          api_name="/classify_start")
    assert job.name in busy and "停止" in busy  # names the running job, in the page's language, offers Stop
    assert "Stopping" in client.predict("en", api_name="/classify_stop")
    state.runner.wait(60)
    assert job.status == "stopped" and load_model(job.model_path).task["type"] == "instruct"
