"""The Weights tab on models trained as the page trains them (bpe and char tokenizers learnt
from the corpus, the default kind) and on a GPT-2-vocabulary model, through gradio_client as
the page calls it:

- Export hands out a folder that `transformers` loads with the model's own tokenizer;
- the name offered for a rename or a download says the checkpoint's own step count, also
  after the file was trained further (Refresh, or the page loading again);
- the base-model column tells finetunes of different bases apart;
- "Load & describe" is in the page's language, every row of it.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from pocketllm import (GPTModel, ModelConfig, PretrainSettings, TrainSettings, load_model, prepare_pretraining,
                       read_header, save_checkpoint)
from tests.app_fixtures import free_port

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ZH = (ROOT / "data" / "pretrain" / "zh_classics.txt").read_text(encoding="utf-8")
SAID = "子曰：学而时习之，不亦说乎？有朋自远方来，不亦乐乎？"
BPE_RUN, CHAR_RUN = "pretrain-20261205-1430", "pretrain-20261205-1510"
BPE_MODEL, CHAR_MODEL = f"{BPE_RUN}/model.safetensors", f"{CHAR_RUN}/model.safetensors"
GPT2_MODEL = "imported/gpt2-tiny.safetensors"
FINETUNES = {"classify-20261206-0900/model.safetensors": BPE_MODEL,
             "classify-20261206-0930/model.safetensors": CHAR_MODEL}
GROWING = "pretrain-20261206-1000/model.safetensors"  # trained further while the page is open


def pretrained(folder: Path, run: str, kind: str, vocab: int | None, corpus: Path, config: Path) -> Path:
    """A run as the Pretrain tab makes one (its tokenizer learnt from the corpus), a few steps long."""
    settings = PretrainSettings(
        data_path=str(corpus), config=str(config), tokenizer=kind, vocab_size=vocab, run_dir=str(folder / run),
        sample_prompt="子曰", train=TrainSettings(max_steps=3, batch_size=2, lr=5e-3, eval_every=3, eval_batches=1,
                                                 sample_every=0, device="cpu", dtype="fp32", threads=1,
                                                 warmup_steps=1))
    for _ in prepare_pretraining(settings).run():
        pass
    return folder / run / "model.safetensors"


def finetuned(path: Path, base: Path, trainable: str) -> Path:
    """A classifier finetuned from `base`, with the facts a finetune keeps (its base by path)."""
    ckpt = load_model(base)
    ckpt.model.set_classifier_head(2)
    return save_checkpoint(path, ckpt.model, {"type": "classify", "labels": ["ham", "spam"]},
                           {"data": "spam.csv", "base": str(base), "trainable": trainable, "steps": 60,
                            "val_accuracy": 0.9, "saved_at": "2026-12-06T09:00:00+0000"},
                           tokenizer=ckpt.tokenizer)


def gpt2_sized(path: Path, steps: int | None = None) -> Path:
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(vocab_size=50257, context_length=32, emb_dim=32, num_heads=2, num_layers=1,
                                 drop_rate=0.0)).eval()
    facts = {"imported_from": "pytorch_model.bin"} if steps is None else {"data": "zh_classics.txt", "steps": steps}
    return save_checkpoint(path, model, facts=facts)


@pytest.fixture(scope="module")
def weights_app(tmp_path_factory):
    """The app over a folder with a bpe and a char model pretrained on Chinese, a GPT-2-vocabulary
    model, and two classifiers finetuned from the two pretrained models: yields (url, AppState)."""
    from ui.app import build_app, launch_options, prepare_queue
    root = tmp_path_factory.mktemp("wt")
    folder = root / "checkpoints"
    corpus = root / "zh_classics.txt"
    corpus.write_text(ZH[:20_000], encoding="utf-8")
    config = root / "tiny.json"
    config.write_text(json.dumps(dict(vocab_size=50257, context_length=32, emb_dim=32, num_heads=2, num_layers=1,
                                      drop_rate=0.0, qkv_bias=False)))
    bpe = pretrained(folder, BPE_RUN, "bpe", 400, corpus, config)
    char = pretrained(folder, CHAR_RUN, "char", None, corpus, config)
    gpt2_sized(folder / GPT2_MODEL)
    gpt2_sized(folder / GROWING, steps=100)
    finetuned(folder / "classify-20261206-0900" / "model.safetensors", bpe, "all")
    finetuned(folder / "classify-20261206-0930" / "model.safetensors", char, "last:1")
    demo = prepare_queue(build_app(folder, temp_dir=root / "temp"))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(demo.pocketllm_state))
    yield f"http://127.0.0.1:{port}/", demo.pocketllm_state, demo
    demo.close()


@pytest.fixture(scope="module")
def client(weights_app):
    c = Client(weights_app[0], verbose=False)
    c.predict(None, "en", api_name="/weights_list")  # as the page does on load: the picker lists the folder
    return c


def path_of(weights_app, name) -> str:
    return str(weights_app[1].checkpoints / name)


def file_of(update) -> Path:
    return Path(update["value"] if isinstance(update, dict) else update)


# ---- 1: export passes the checkpoint, its tokenizer with it ----------------------------------------

@pytest.mark.parametrize("name", [BPE_MODEL, CHAR_MODEL, GPT2_MODEL])
def test_export_gives_a_folder_transformers_loads_with_its_tokenizer(client, weights_app, name, tmp_path):
    transformers = pytest.importorskip("transformers")
    exported, message = client.predict(path_of(weights_app, name), "zh", api_name="/weights_export")
    assert message.startswith("已导出") and "⚠️" not in message, message
    with zipfile.ZipFile(file_of(exported)) as zf:
        zf.extractall(tmp_path)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (folder / "tokenizer.json").is_file()
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder)
    ours = load_model(path_of(weights_app, name))
    ids = hf_tok(SAID, add_special_tokens=False)["input_ids"]
    assert ids == ours.tokenizer.encode(SAID)  # the model's own tokenizer, not GPT-2's
    assert hf_tok.decode(ids) == SAID
    window = torch.tensor([ids[:ours.config.context_length // 2]])
    with torch.no_grad():
        theirs, mine = hf_model(window).logits, ours.model(window)
    assert torch.allclose(theirs, mine, atol=1e-4)


def test_a_classifier_is_refused_in_the_pages_language(client, weights_app):
    exported, message = client.predict(path_of(weights_app, next(iter(FINETUNES))), "zh", api_name="/weights_export")
    assert message.startswith("⚠️") and "分类器" in message and "load_model" not in message


# ---- 2: the name offered says the checkpoint's own step --------------------------------------------

def writes(fn) -> set[str]:
    return {getattr(block, "elem_id", None) for block in fn.outputs}


def test_the_name_offered_follows_the_file_trained_further(client, weights_app):
    """A run's model.safetensors is rewritten as the run goes on (or is continued): the name
    offered is read from the file's header whenever the list is shown again."""
    url, state, demo = weights_app
    path = path_of(weights_app, GROWING)
    assert client.predict(path, "en", api_name="/weights_select")[1] == "pretrain-zh_classics-step100"
    gpt2_sized(Path(path), steps=500)  # the run continued to step 500
    assert read_header(path)["facts"]["steps"] == 500
    assert client.predict(path, "en", api_name="/weights_select")[1] == "pretrain-zh_classics-step500"


def test_whatever_sets_the_picker_shows_the_checkpoint_as_it_is_now(weights_app):
    """Refresh and the page's load keep the same checkpoint selected, and a picker set to the
    value it has fires no event: so the name offered and the download are shown again by an
    event of their own after every handler that sets the picker (the browser test presses
    Refresh on a file trained further).  After rename, delete, import and upload that event
    leaves the action's message as it is."""
    demo = weights_app[2]
    fns = list(demo.fns.values())
    offered = {"w-new-name", "w-download"}
    setters = [f for f in fns if "w-selected" in writes(f) and not offered <= writes(f) and f.fn is not None]
    assert {f.api_name for f in setters} >= {"weights_list", "weights_rename", "weights_delete", "weights_import",
                                             "weights_upload"}
    for setter in setters:
        shows = [f for f in fns if f.trigger_after == setter._id and offered <= writes(f)]
        assert shows, setter.api_name
        if "w-message" in writes(setter) and setter.api_name != "weights_list":
            assert "w-message" not in writes(shows[0]), setter.api_name  # "Renamed to ..." stays
    loads = [f for f in fns if {"w-table", "w-selected"} <= writes(f) and f.trigger_after is not None]
    assert loads and all(offered <= writes(f) for f in loads)


# ---- 3: the base-model column tells finetunes apart ----------------------------------------------------

def rows_of(table) -> dict[str, dict]:
    return {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}


def test_the_base_column_names_the_base_by_its_run(client):
    rows = rows_of(client.predict(None, "en", api_name="/weights_list")[0])
    bases = {name: rows[name]["base model"] for name in FINETUNES}
    assert bases == FINETUNES  # as the name column names the base model itself
    assert rows_of(client.predict(None, "zh", api_name="/weights_list")[0])[
        "classify-20261206-0930/model.safetensors"]["基础模型"] == CHAR_MODEL


def test_a_base_outside_the_folder_is_named_by_its_run_folder(tmp_path):
    from ui.describe import base_name
    root = tmp_path / "checkpoints"
    assert base_name({"base": str(tmp_path / "elsewhere" / "pretrain-1" / "model.safetensors")}, "en", root) \
        == "pretrain-1/model.safetensors"
    assert base_name({"base": "/models/mybase.safetensors"}, "en", root) == "mybase.safetensors"
    assert base_name({"base": str(root / "base" / "mybase.safetensors")}, "en", root) == "base/mybase.safetensors"
    assert base_name({"base": "random init (cpu-tiny)"}, "zh", root) == "无（随机初始化）"
    assert base_name({}, "zh", root) == "—"


# ---- 4: "Load & describe" in the page's language ------------------------------------------------------

def cells_of(markdown: str) -> list[str]:
    return [c.strip() for line in markdown.splitlines() if line.startswith("|") for c in line.strip("|").split("|")]


@pytest.mark.parametrize("name", [BPE_MODEL, CHAR_MODEL, *FINETUNES])
def test_describe_has_no_english_row_on_the_chinese_page(client, weights_app, name):
    from tests.test_chinese_page import english_left
    from ui.describe import FACTS, SHOWN_ELSEWHERE
    facts = read_header(path_of(weights_app, name))["facts"]
    # Every fact a run writes has the page's words (a new fact of the core needs them too).
    assert set(facts) - set(FACTS) - set(SHOWN_ELSEWHERE) == set()
    zh = client.predict(path_of(weights_app, name), "zh", api_name="/weights_info")
    assert "⚠️" not in zh, zh
    if "val_perplexity" in facts:  # a real run's facts: the ones the page once showed as they are
        assert {"vocab_size", "val_tokens_per_char", "train_loss", "val_perplexity"} <= set(facts)
        assert "验证困惑度" in zh and "训练损失" in zh and "验证集每字符词元数" in zh
    users = {facts.get("data"), FINETUNES.get(name), "分类器 (ham, spam)"}  # the user's names: a file, a run, labels
    english = [c for c in cells_of(zh) if english_left(c) and c not in users]
    assert english == [], english
    for key in ("vocab_size", "val_tokens_per_char", "train_loss", "val_perplexity", "trainable"):
        assert key not in zh
    en = client.predict(path_of(weights_app, name), "en", api_name="/weights_info")
    assert "⚠️" not in en and "saved" in en


def test_an_unknown_fact_is_shown_as_the_name_it_has(tmp_path):
    """A fact the page has no words for yet (a newer core) is shown as code, never as prose."""
    from ui.describe import fact_label
    assert fact_label("val_perplexity", "zh") == "验证困惑度"
    assert fact_label("some_new_fact", "zh") == "`some_new_fact`"
