"""Finetuning from the page keeps the base model's own tokenizer: a char base becomes a char
classifier, a bpe base a bpe instruction model, and both answer in whole characters."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, TaskKind, load_model, save_checkpoint, task_kind, train_tokenizer
from tests.app_fixtures import app, wait_for  # noqa: F401  (fixtures)
from tests.test_app_finetune import HAM, SPAM, wait_end

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

ZH = (Path(__file__).resolve().parent.parent / "data" / "pretrain" / "zh_classics.txt").read_text(encoding="utf-8")


def base_with(folder, kind, size):
    tok = train_tokenizer([ZH[:30000] + " ".join(SPAM + HAM) * 5], kind, size)
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=tok.vocab_size, context_length=64, emb_dim=32, num_heads=2, num_layers=1,
                      drop_rate=0.0)
    path = folder / f"tiny-{kind}.safetensors"
    save_checkpoint(path, GPTModel(cfg), tokenizer=tok)
    return str(path), tok


@pytest.fixture(scope="module")
def client(app):
    return Client(app[0], verbose=False)


def test_classify_and_instruct_from_the_page_keep_the_bases_tokenizer(client, app, tmp_path):
    state = app[1]
    char_base, char_tok = base_with(state.checkpoints, "char", 700)
    bpe_base, bpe_tok = base_with(state.checkpoints, "bpe", 500)
    client.predict(None, "en", api_name="/classify_bases")
    client.predict(None, "en", api_name="/instruct_bases")

    table = tmp_path / "msgs.csv"
    table.write_text("label,text\n" + "".join(f"spam,{t}\n" for t in SPAM * 3) + "".join(f"ham,{t}\n" for t in HAM * 3),
                     encoding="utf-8")
    client.predict(handle_file(str(table)), "en", api_name="/classify_upload")
    client.predict("upload", "", "", False, "en", api_name="/classify_preview")
    assert "Training" in client.predict("upload", "", "", False, char_base, "last", 1, 8, 16, 0, 1, 0, 4, 5e-3, 2, 7,
                                        "en", api_name="/classify_start")
    job = wait_end(state)
    classifier = load_model(job.model_path)
    assert classifier.tokenizer == char_tok and task_kind(classifier.task["type"]) is TaskKind.CLASSIFY
    wait_for(lambda: "finished" in client.predict("en", api_name="/classify_poll")[3], timeout=30)  # lists it
    label, _ = client.predict(str(job.model_path), "win a free prize now", "en", api_name="/classify_message")
    assert label["label"] in ("ham", "spam")

    state.runner.wait(120)
    client.predict("bundled", "short", "en", api_name="/instruct_preview")
    assert "Training" in client.predict("bundled", bpe_base, "short", False, False, 8, 16, 0, 2, 0, 4, 1e-3, 0, 0, 2,
                                        7, "en", api_name="/instruct_start")
    job = wait_end(state, timeout=300)
    model = load_model(job.model_path)
    assert model.tokenizer == bpe_tok and model.task["type"] == "instruct"
    wait_for(lambda: "finished" in client.predict("en", api_name="/instruct_poll")[2], timeout=30)
    answer = client.predict(str(job.model_path), "把这句话重复一遍", "子曰", 1.0, 24, "en", api_name="/instruct_respond")
    assert "\ufffd" not in answer[0]
