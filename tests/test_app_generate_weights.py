"""Generate and Weights as a learner uses them (through gradio_client, as the page calls them):
the token count is the tokens made, Stop says how far it got, and the Weights table tells
checkpoints apart by what they learnt from, their base and when they were trained."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, Sampling, TaskKind, load_model, save_checkpoint, stream
from tests.app_fixtures import free_port, refusal

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402


def tiny_model(layers=1, width=32, context=64, seed=0, classes=None) -> GPTModel:
    torch.manual_seed(seed)
    model = GPTModel(ModelConfig(vocab_size=50257, context_length=context, emb_dim=width, num_heads=2,
                                 num_layers=layers, drop_rate=0.0)).eval()
    if classes:
        model.set_classifier_head(classes)
    return model


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app over a folder with: a run's model.safetensors (pretrained on a corpus), a
    finetuned classifier with a base, and a bigger model for Stop."""
    from ui.app import build_app, launch_options, prepare_queue
    root = tmp_path_factory.mktemp("gw")
    folder = root / "checkpoints"
    save_checkpoint(folder / "pretrain-20261129-101500" / "model.safetensors", tiny_model(),
                    facts={"data": "zh_classics.txt", "steps": 400, "saved_at": "2026-11-28T10:15:00+0000",
                           "best_val_loss": 3.2145})
    save_checkpoint(folder / "classify-20261129-111500" / "model.safetensors", tiny_model(seed=1, classes=2),
                    task={"type": "classifier", "labels": ["ham", "spam"]},  # an older file's name for the kind
                    facts={"data": "spam.csv", "steps": 60, "base": str(folder / "base" / "mybase.safetensors"),
                           "val_accuracy": 0.9567, "saved_at": "2026-11-29T11:15:00+0000"})
    save_checkpoint(folder / "slow.safetensors", tiny_model(layers=6, width=256, context=1024))
    demo = prepare_queue(build_app(folder, temp_dir=root / "temp"))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(demo.pocketllm_state))
    yield f"http://127.0.0.1:{port}/", demo.pocketllm_state
    demo.close()


@pytest.fixture(scope="module")
def client(app):
    c = Client(app[0], verbose=False)
    c.predict(None, api_name="/generate_models")  # the picker takes only what it lists
    return c


def test_the_count_is_the_tokens_the_model_made(client, app):
    """Chinese from a GPT-2-vocabulary model: most characters are 2-3 byte tokens, so
    counting pieces or tokenizing the text again would give another number."""
    path = str(app[1].checkpoints / "pretrain-20261129-101500" / "model.safetensors")
    text, note = client.predict(path, "学而时习之", 0.0, 0, 1.0, 30, 1, "en", api_name="/generate")
    made = stream(load_model(path), "学而时习之", 30, Sampling(temperature=0.0))
    assert "".join(made) == text
    assert f"Generated {made.new_tokens} tokens" in note
    zh = client.predict(path, "学而时习之", 0.0, 0, 1.0, 30, 1, "zh", api_name="/generate")[1]
    assert f"共生成 {made.new_tokens} 个词元" in zh


def test_stop_ends_the_generation_and_says_how_far_it_got(client, app):
    path = str(app[1].checkpoints / "slow.safetensors")
    job = client.submit(path, "Once upon a time", 1.0, 0, 1.0, 500, 1, "en", api_name="/generate")
    end = time.time() + 60
    while len(job.outputs()) < 3 and time.time() < end:  # it is generating
        time.sleep(0.05)
    client.predict(api_name="/generate_stop")
    text, note = job.result(timeout=60)
    assert "Stopped after" in note and "Generated" not in note
    n = int(note.split("Stopped after ")[1].split()[0])
    assert 0 < n < 500


def row_of(table, name):
    headers = table["headers"]
    for row in table["data"]:
        if row[0] == name:
            return dict(zip(headers, row))
    raise AssertionError(f"{name} not listed")


def test_the_table_tells_checkpoints_apart(client):
    table, _ = client.predict(None, "en", api_name="/weights_list")
    lm = row_of(table, "pretrain-20261129-101500/model.safetensors")
    assert lm["task"] == "language model" and lm["trained on"] == "zh_classics.txt" and lm["base model"] == "—"
    assert lm["trained"] == "2026-11-28 10:15" and lm["best score"] == "val loss 3.215"
    clf = row_of(table, "classify-20261129-111500/model.safetensors")
    assert clf["task"] == "classifier" and clf["base model"] == "base/mybase.safetensors"  # as the name column would
    assert clf["best score"] == "val accuracy 95.7%" and clf["trained on"] == "spam.csv"
    zh, _ = client.predict(None, "zh", api_name="/weights_list")
    assert row_of(zh, "classify-20261129-111500/model.safetensors")["最佳成绩"] == "验证准确率 95.7%"


def test_a_selected_run_model_is_offered_under_a_name_that_says_what_it_is(client, app):
    path = str(app[1].checkpoints / "pretrain-20261129-101500" / "model.safetensors")
    download, name, message, *buttons = client.predict(path, "en", api_name="/weights_select")
    assert name == "pretrain-zh_classics-step400"
    assert Path(download["value"] if isinstance(download, dict) else download).name.startswith(name)
    assert Path(path).is_file()  # the checkpoint itself stays where and what it was


def test_a_hugging_face_file_uploaded_as_a_checkpoint_points_to_import(client, tmp_path):
    from safetensors.torch import save_file
    hf = tmp_path / "model.safetensors"
    save_file({"wte.weight": torch.zeros(4, 2)}, str(hf), metadata={"format": "pt"})
    message = refusal(lambda: client.predict(handle_file(str(hf)), "en", api_name="/weights_upload"))
    assert "Import OpenAI GPT-2 weights" in message
    zh = refusal(lambda: client.predict(handle_file(str(hf)), "zh", api_name="/weights_upload"))
    assert "导入 OpenAI GPT-2 权重" in zh


def test_task_kinds_old_and_new_are_one_kind(app):
    kinds = {r["name"]: r["task"] for r in app[1].checkpoints_table()}
    assert kinds["classify-20261129-111500/model.safetensors"] == TaskKind.CLASSIFY
    assert not TaskKind.CLASSIFY.generates and TaskKind.PRETRAIN.generates and TaskKind.INSTRUCT.generates
    from ui.tabs.generate import model_choices
    offered = [path for _, path in model_choices(app[1])]
    assert len(offered) == 2 and not any("classify-" in p for p in offered)


def test_describe_speaks_the_pages_language(client, app):
    from tests.test_chinese_page import english_left
    path = str(app[1].checkpoints / "classify-20261129-111500" / "model.safetensors")
    zh = client.predict(path, "zh", api_name="/weights_info")
    assert "分类器 (ham, spam)" in zh and "验证准确率 | 95.7%" in zh and "基础模型 | base/mybase.safetensors" in zh
    cells = [cell.strip() for line in zh.splitlines() for cell in line.split("|")]
    data = ("分类器 (ham, spam)", "spam.csv", "base/mybase.safetensors")  # the labels and file names are the user's
    assert [c for c in cells if english_left(c) and c not in data] == []
    en = client.predict(path, "en", api_name="/weights_info")
    assert "val accuracy | 95.7%" in en and "1 layers × 32 wide" in en
