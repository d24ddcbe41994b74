"""Learn by experiment, through the app's API: compare runs, compare models, chat, sampler
presets, the per-token view and training settings saved by name.  Two tiny runs are made
with the CLI inside the app's checkpoints folder (tests/app_fixtures.py)."""
from __future__ import annotations

import json

import pytest

from pocketllm.cli import main
from tests.app_fixtures import TINY_TEXT, app, refusal  # noqa: F401  (fixtures)

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402


@pytest.fixture(scope="module")
def client(app):
    return Client(app[0], verbose=False)


@pytest.fixture(scope="module")
def runs(app, tmp_path_factory):
    """Two finished pretraining runs that differ in their learning rate: (run names, checkpoint paths)."""
    state = app[1]
    tmp = tmp_path_factory.mktemp("exp")
    corpus = tmp / "tiny.txt"
    corpus.write_text(TINY_TEXT, encoding="utf-8")
    shape = tmp / "tiny.json"
    shape.write_text(json.dumps(dict(vocab_size=50257, context_length=128, emb_dim=32, num_heads=2, num_layers=1,
                                     drop_rate=0.0, qkv_bias=True)))
    names, models = [], []
    for name, lr in (("exp-slow", "1e-4"), ("exp-fast", "3e-3")):
        run_dir = state.checkpoints / name
        assert main(["pretrain", "--config", str(shape), "--data_path", str(corpus), "--tokenizer", "gpt2",
                     "--run_dir", str(run_dir), "--max_steps", "4", "--batch_size", "2", "--lr", lr,
                     "--eval_every", "2", "--eval_batches", "1", "--sample_every", "0", "--dtype", "fp32",
                     "--threads", "1", "--quiet"]) == 0
        names.append(name)
        models.append(str(next(run_dir.glob("*.safetensors"))))
    return names, models


def sampling_args(temperature=1.0, top_k=0, top_p=1.0, max_new=12, seed=7, utf8=True, rep=1.0, min_p=0.0, stop=""):
    return [temperature, top_k, top_p, max_new, seed, utf8, rep, min_p, stop]


def test_compare_runs_table_shows_the_differing_setting(client, runs):
    names, _ = runs
    listed = client.predict([], api_name="/compare_runs_list")
    assert set(names) <= {c[1] for c in listed["choices"]}
    plot, table, status = client.predict(names, "step", "loss", "en", api_name="/compare_runs")
    fig = json.loads(plot["plot"])
    assert {trace["name"] for trace in fig["data"]} == set(names)
    assert all(trace["x"] == [2, 4] for trace in fig["data"])
    assert "train.lr" in table["headers"] and "model_config.emb_dim" not in table["headers"]  # only what differs
    assert "best val loss" in table["headers"] and "tokens/s" in table["headers"]
    assert [row[0] for row in table["data"]] == names
    assert "2 runs" in status
    plot, table, _ = client.predict(names, "tokens_seen", "bits_per_char", "zh", api_name="/compare_runs")
    assert "每字符比特" in json.dumps(json.loads(plot["plot"])["layout"], ensure_ascii=False)
    assert "运行" in table["headers"]
    # Only run folders of the checkpoints folder; too many or none are refused in the page's language.
    said = refusal(lambda: client.predict(["../etc"], "step", "loss", "en", api_name="/compare_runs"))
    assert "not a run" in said or "not in the list of choices" in said
    assert "1 到 8" in refusal(lambda: client.predict([], "step", "loss", "zh", api_name="/compare_runs"))


def test_compare_models_gives_one_text_per_model(client, runs):
    _, models = runs
    client.predict([], api_name="/compare_models_list")
    out = client.predict(models, "The quick", *sampling_args(), "en", api_name="/compare_models")
    heads, texts, status = out[:4], out[4:8], out[8]  # (the columns' visibility is not part of the API)
    assert all(texts[i] for i in range(2)) and texts[2] == texts[3] == ""
    assert all("1 layers × 32 wide" in heads[i] and "trained 4 steps" in heads[i] for i in range(2))
    assert "2 models" in status
    # The same model twice, same seed: the same text.
    same = client.predict([models[0], models[0]], "The quick", *sampling_args(), "en", api_name="/compare_models")
    assert same[4] == same[5]
    assert "2 to 4" in refusal(lambda: client.predict(models[:1], "x", *sampling_args(), "en",
                                                      api_name="/compare_models"))


def test_chat_second_turn_and_dropped_turns(client, runs):
    _, models = runs
    client.predict(None, api_name="/instruct_models")  # the picker takes only what it lists
    history, box, note = client.predict(models[0], [], "Hello there", 0.0, 8, "en", api_name="/chat")
    assert [m["role"] for m in history] == ["user", "assistant"] and box == ""
    assert "0 earlier turn" in note
    history, _, note = client.predict(models[0], history, "And again?", 0.0, 8, "en", api_name="/chat")
    assert [m["role"] for m in history] == ["user", "assistant"] * 2 and "1 earlier turn" in note
    long = []
    for i in range(12):
        long += [{"role": "user", "content": [{"type": "text", "text": f"question number {i} " * 4}]},
                 {"role": "assistant", "content": [{"type": "text", "text": f"answer {i} " * 4}]}]
    history, _, note = client.predict(models[0], long, "and now?", 0.0, 8, "en", api_name="/chat")
    assert "oldest" in note and len(history) == 26
    _, _, note = client.predict(models[0], long, "还有呢？", 0.0, 8, "zh", api_name="/chat")
    assert "最早" in note
    assert "message first" in refusal(lambda: client.predict(models[0], [], "  ", 0.0, 8, "en", api_name="/chat"))
    assert client.predict(api_name="/chat_clear") == ([], "", "")


def test_sampler_preset_saves_and_loads_back_into_the_widgets(client, app):
    out = client.predict("greedy", "en", api_name="/sampler_preset_load")
    assert out[:6] == (0.0, 0, 1.0, 1.0, 0.0, "") and "greedy" in out[6]
    picker, name_box, status = client.predict("my sampler", 0.8, 30, 0.9, 1.3, 0.05, "END, ###\nstop", "en",
                                              api_name="/sampler_preset_save")
    assert "my sampler" in {c[1] for c in picker["choices"]} and "Saved" in status
    assert (app[1].checkpoints / "presets" / "sampling" / "my sampler.json").is_file()
    out = client.predict("my sampler", "en", api_name="/sampler_preset_load")
    assert out[:5] == (0.8, 30, 0.9, 1.3, 0.05) and out[5].split("\n") == ["END", " ###", "stop"]
    # A built-in name is refused, and so is a bad number: in the page's language, nothing saved.
    assert "built-in" in refusal(lambda: client.predict("greedy", 0.8, 30, 0.9, 1.3, 0.05, "", "en",
                                                        api_name="/sampler_preset_save"))
    assert "重复惩罚" in refusal(lambda: client.predict("x", 0.8, 30, 0.9, 99, 0.05, "", "zh",
                                                     api_name="/sampler_preset_save"))


def test_samplers_reach_generation_and_look_inside(client, runs):
    _, models = runs
    client.predict(None, api_name="/generate_models")
    text, note = client.predict(models[0], "The", 1.0, 0, 1.0, 30, 3, "en", "fp32", True, 1.5, 0.1, "",
                                api_name="/generate")
    assert isinstance(text, str) and "Generated" in note
    # min-p cuts show in the next-token chart; the penalty's effect is noted.
    out = client.predict(models[0], "The the the the", 1.0, 0, 1.0, 1, 0, "en", True, 2.0, 0.999,
                         api_name="/look_inside")
    fig = json.loads(out[2]["plot"])
    assert "✂" in "".join(fig["data"][0]["y"])
    assert "min_p" in json.dumps(fig["data"][0].get("hovertext"))
    assert "repetition penalty" in out[3]
    assert "stop strings" in refusal(lambda: client.predict(models[0], "The", 1.0, 0, 1.0, 5, 3, "en", "fp32", True,
                                                            1.0, 0.0, ",".join(f"s{i}" for i in range(20)), api_name="/generate"))


def test_per_token_view_has_one_entry_per_token(client, runs):
    from pocketllm import Sampling, generate_explained, load_model
    _, models = runs
    client.predict(None, api_name="/generate_models")
    html, note = client.predict(models[0], "The", 1.0, 0, 1.0, 10, 5, "en", True, 1.0, 0.0, "",
                                     api_name="/token_probs")
    expected = generate_explained(load_model(models[0]), "The", 10, Sampling(temperature=1.0, seed=5))
    assert html.count("class='pl-tok pl-prob'") == len(expected) > 0
    assert "10 tokens" in html or f"{len(expected)} tokens" in html
    assert "%" in html and "title=" in html


def test_training_settings_save_then_load_fill_the_form(client, app):
    form = ["zh_classics", "char", None, "custom", 2, 2, 48, 64, 0.1, 33, 4, 0.002, 10, 0, 9, "fp32"]
    picker, status = client.predict("tiny char", *form, "en", api_name="/pretrain_settings_save")
    assert "tiny char" in {c[1] if isinstance(c, (list, tuple)) else c for c in picker["choices"]}
    out = client.predict("tiny char", "en", api_name="/pretrain_settings_load")
    values = [o["value"] if isinstance(o, dict) and "value" in o else o for o in out[:-1]]
    # (the uploaded-file state is not part of the API)
    assert values[0] == "zh_classics" and values[1] == "char" and values[3] == "custom"
    assert values[4:9] == [2, 2, 48, 64, 0.1] and values[9:16] == [33, 4, 0.002, 10, 0, 9, "fp32"]
    assert "Loaded" in out[-1]
    assert "请先选择" in refusal(lambda: client.predict(None, "zh", api_name="/pretrain_settings_load"))
    assert "preset name" in refusal(lambda: client.predict("../x", *form, "en", api_name="/pretrain_settings_save"))
    # Instruct and classify have the same pair.
    ins = ["bundled", "fresh:cpu-tiny", "short", True, True, 4, 8, 0, 1, 12, 2, 0.001, 5, 0, 3, 11]
    client.predict("ins", *ins, "en", api_name="/instruct_settings_save")
    out = client.predict("ins", "en", api_name="/instruct_settings_load")
    values = [o["value"] if isinstance(o, dict) and "value" in o else o for o in out[:-1]]
    assert values[1:] == ["fresh:cpu-tiny", "short", True, True, 4, 8, 0, 1, 12, 2, 0.001, 5, 0, 3, 11]
    cls = ["bundled", "", "", True, "fresh:cpu-tiny", "last", 2, 8, 16, 0, 1, 6, 2, 0.001, 5, 4]
    client.predict("cls", *cls, "en", api_name="/classify_settings_save")
    out = client.predict("cls", "en", api_name="/classify_settings_load")
    values = [o["value"] if isinstance(o, dict) and "value" in o else o for o in out[:-1]]
    assert values[3:] == [True, "fresh:cpu-tiny", "last", 2, 8, 16, 0, 1, 6, 2, 0.001, 5, 4]
