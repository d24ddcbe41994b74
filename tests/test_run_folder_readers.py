"""The core's readers of what a run leaves behind (the page uses these, never the file names):
settings back from run.json, a cheap "has the run changed", a saved model shape, the held-out
answers of an instruction run."""
from __future__ import annotations

import json
import time

from pocketllm import (ClassifySettings, InstructSettings, ModelConfig, PretrainSettings, TrainSettings,
                       read_test_responses, run_signature, save_shape)


def test_settings_come_back_from_a_run_record():
    for settings in (PretrainSettings(data_path="x.txt", tokenizer="char", train=TrainSettings(max_steps=7, lr=2e-3)),
                     ClassifySettings(data_path="t.csv", split=(0.8, 0.1, 0.1), trainable="all",
                                      train=TrainSettings(epochs=3, patience=2)),
                     InstructSettings(template="short", train=TrainSettings(batch_size=4))):
        record = json.loads(json.dumps({**settings.to_dict(), "task": "x", "model_config": {}}))  # as run.json holds it
        assert type(settings).from_dict(record) == settings


def test_the_signature_changes_when_the_run_writes_an_event(tmp_path):
    empty = run_signature(tmp_path)
    events = tmp_path / "events.jsonl"
    events.write_text('{"kind": "started"}\n')
    first = run_signature(tmp_path)
    assert first != empty and run_signature(tmp_path) == first
    time.sleep(0.01)
    with open(events, "a") as fh:
        fh.write('{"kind": "step"}\n')
    assert run_signature(tmp_path) != first


def test_a_shape_is_one_file_named_by_its_content(tmp_path):
    cfg = ModelConfig(vocab_size=300, context_length=16, emb_dim=16, num_heads=2, num_layers=1)
    path = save_shape(cfg, tmp_path)
    assert path == save_shape(cfg, tmp_path) and path.parent == tmp_path / "presets" / "shapes"
    assert ModelConfig.from_dict(json.loads(path.read_text())) == cfg
    other = save_shape(ModelConfig(vocab_size=300, context_length=16, emb_dim=32, num_heads=2, num_layers=1), tmp_path)
    assert other != path


def test_held_out_answers_are_read_back_and_a_missing_file_is_none(tmp_path):
    from pocketllm.tasks.instruction import write_test_responses
    answers = [{"instruction": "Reverse", "input": "cat", "expected": "tac", "generated": "", "correct": False}]
    path = write_test_responses(tmp_path / "m.test_responses.json", answers)
    assert read_test_responses(path) == answers
    assert read_test_responses(tmp_path / "missing.json") == [] and read_test_responses(None) == []
    (tmp_path / "bad.json").write_text("{not json")
    assert read_test_responses(tmp_path / "bad.json") == []
