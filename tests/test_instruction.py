"""Instruction finetuning: records, template, batch tensors, a short run, CLI."""
import json

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, PocketLLMError, gpt2_tokenizer, load_model, save_checkpoint
from pocketllm.cli import main
from pocketllm.data.instructions import (TEMPLATES, Example, Record, collate, encode_record, load_instructions,
                                         split_records)
from pocketllm.tasks.instruction import InstructSettings, prepare_instruction, respond, template_of
from pocketllm.training.trainer import TrainSettings

E, X = 50256, -100
TINY = dict(vocab_size=50257, context_length=64, emb_dim=32, num_heads=4, num_layers=2, drop_rate=0.0, qkv_bias=True)
RECORDS = [{"instruction": "Reverse the word.", "input": w, "output": w[::-1]}
           for w in ("cat", "dog", "sun", "moon", "star", "tree", "fish", "bird", "lamp", "rock")] + \
          [{"instruction": "Say hello.", "input": "", "output": "hello"}] * 3 + \
          [{"instruction": "Add the numbers.", "input": f"{a} + {a}", "output": str(2 * a)} for a in range(7)]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- batches, exactly as specified ---------------------------------------------------------

TWO = [Example([1, 2, 3], [4, 5]), Example([6, 7], [8])]


def test_collate_pads_shifts_and_keeps_the_first_end_token():
    b = collate(TWO)
    assert b["inputs"].tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, E, E]]
    assert b["targets"].tolist() == [[2, 3, 4, 5, E], [7, 8, E, X, X]]


def test_collate_masks_the_prompt_when_asked():
    b = collate(TWO, mask_prompt=True)
    assert b["inputs"].tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, E, E]]
    assert b["targets"].tolist() == [[X, X, 4, 5, E], [X, 8, E, X, X]]


def test_collate_length_cap_truncates():
    b = collate(TWO, max_length=4)
    assert b["inputs"].tolist() == [[1, 2, 3, 4], [6, 7, 8, E]]
    assert b["targets"].tolist() == [[2, 3, 4, 5], [7, 8, E, X]]
    b = collate(TWO, max_length=2, mask_prompt=True)
    assert b["targets"].tolist() == [[X, X], [X, 8]]


def test_end_tokens_inside_an_example_are_not_mistaken_for_padding():
    b = collate([Example([E, 9], [E]), Example([1], [2, 3, 4])])
    assert b["inputs"].tolist() == [[E, 9, E, E], [1, 2, 3, 4]]
    assert b["targets"].tolist() == [[9, E, E, X], [2, 3, 4, E]]


def test_alpaca_template_and_the_tokens_of_a_real_record():
    alpaca = TEMPLATES["alpaca"]
    head = ("Below is an instruction that describes a task. Write a response that appropriately "
            "completes the request.\n\n### Instruction:\nReverse the word.")
    assert alpaca.prompt("Reverse the word.", "cat") == head + "\n\n### Input:\ncat\n\n### Response:\n"
    assert alpaca.prompt("Reverse the word.", "") == head + "\n\n### Response:\n"
    assert TEMPLATES["short"].prompt("Say hi.") == "### Instruction:\nSay hi.\n### Response:\n"
    tok = gpt2_tokenizer()
    ex = encode_record(Record("Reverse the word.", "cat", "tac"), alpaca, tok)
    assert tok.decode(ex.prompt_ids) == alpaca.prompt("Reverse the word.", "cat")
    assert tok.decode(ex.output_ids) == "tac"
    b = collate([ex], mask_prompt=True)
    kept = b["targets"][b["targets"] != X].tolist()
    assert kept == ex.output_ids + [E]


def test_training_loss_is_cross_entropy_over_unmasked_targets(tiny_model):
    from pocketllm.tasks.instruction import MaskedNextTokenLoss, masked_next_token_loss
    b = collate([Example([11, 12, 13], [14, 15]), Example([16, 17], [18])], mask_prompt=True)
    logits = tiny_model(b["inputs"])
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), b["targets"].flatten(), ignore_index=X)
    loss, count = masked_next_token_loss(tiny_model, b["inputs"], b["targets"])
    assert count == 5
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(MaskedNextTokenLoss(tiny_model)(b["inputs"], b["targets"]), expected,
                               atol=1e-5, rtol=1e-5)
    all_masked = torch.full_like(b["targets"], X)
    assert masked_next_token_loss(tiny_model, b["inputs"], all_masked)[0].item() == 0.0


# ---- records -----------------------------------------------------------------------------

def test_json_and_json_lines_load(tmp_path):
    data = load_instructions(write(tmp_path, "a.json", json.dumps(RECORDS[:3])))
    assert [r.output for r in data.records] == ["tac", "god", "nus"] and not data.problems
    lines = "\n".join(json.dumps(r) for r in RECORDS[:3]) + "\n{broken\n"
    data = load_instructions(write(tmp_path, "a.jsonl", lines))
    assert len(data.records) == 3 and data.total == 4 and data.problems == ["line 4: not valid JSON (Expecting property name enclosed in double quotes)"]
    one = load_instructions(write(tmp_path, "one.jsonl", json.dumps(RECORDS[0])))
    assert len(one.records) == 1


def test_bad_records_are_reported_by_index_and_reason(tmp_path):
    items = [RECORDS[0], {"instruction": "Do it.", "input": "x"}, {"instruction": "", "output": "y"},
             "text", {"instruction": "Sum.", "input": 3, "output": "3"}, RECORDS[1]]
    data = load_instructions(write(tmp_path, "b.json", json.dumps(items)))
    assert len(data.records) == 2 and data.total == 6
    assert data.problems == ["record at index 1: no 'output'", "record at index 2: 'instruction' is empty",
                             "record at index 3: is a str, not an object with instruction/output",
                             "record at index 4: 'input' is a int, not text"]


@pytest.mark.parametrize("text, message", [
    ('{"data": [{"instruction": "a", "output": "b"}]}', "list under 'data'"),
    ('{"name": "x", "size": 3}', "must be a list of records"),
    ('"just text"', "must be a list of records"),
    ('[{"instruction": "a"}, {"instruction": "b", "input": "c"}]', "no usable instruction records.*no 'output'"),
    ('[]', "holds an empty list"),
    ('[{"instruction": "a", "output": "b"},', "not valid JSON"),
    ('', "empty"),
])
def test_bad_instruction_files(tmp_path, text, message):
    with pytest.raises(PocketLLMError, match=message):
        load_instructions(write(tmp_path, "bad.json", text))


def test_split_never_puts_one_prompt_in_two_splits():
    records = [Record(r["instruction"], r["input"], r["output"]) for r in RECORDS] * 3
    parts = split_records(records, (0.6, 0.2, 0.2), seed=5)
    keys = [{r.key for r in p} for p in parts]
    assert sum(len(p) for p in parts) == len(records)
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert parts == split_records(records, (0.6, 0.2, 0.2), seed=5)


# ---- runs --------------------------------------------------------------------------------

@pytest.fixture
def tiny_json(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def test_short_run_saves_template_answers_and_scores(tmp_path, tiny_json):
    data = write(tmp_path, "d.json", json.dumps(RECORDS))
    settings = InstructSettings(
        data_path=str(data), config=str(tiny_json), template="short", mask_prompt=True, split=(0.6, 0.2, 0.2),
        test_generate=3, run_dir=str(tmp_path / "run"),
        train=TrainSettings(max_steps=2, batch_size=4, eval_every=1, eval_batches=1, sample_every=2, dtype="fp32"))
    trainer = prepare_instruction(settings)
    events = [e.to_dict() for e in trainer.run()]
    kinds = [e["kind"] for e in events]
    assert "eval" in kinds and "sample" in kinds and kinds[-1] == "finished"
    results = events[-1]["results"]
    assert {"val_loss", "test_loss", "exact_match", "test_generated"} <= set(results)
    answers = json.loads((tmp_path / "run" / "model.test_responses.json").read_text(encoding="utf-8"))
    assert 1 <= len(answers) <= 3
    assert set(answers[0]) == {"instruction", "input", "expected", "generated", "correct"}
    ckpt = load_model(trainer.model_path)
    assert ckpt.task["type"] == "instruct" and template_of(ckpt.task) == TEMPLATES["short"]
    text = "".join(respond(ckpt.model, "Reverse the word.", "cat", ckpt.task["template"], max_new_tokens=3))
    assert isinstance(text, str)


def test_classifier_is_not_an_instruction_base(tmp_path):
    model = GPTModel(ModelConfig(**TINY)).set_classifier_head(2)
    clf = save_checkpoint(tmp_path / "c.safetensors", model, {"type": "classifier", "labels": ["a", "b"]})
    data = write(tmp_path, "d.json", json.dumps(RECORDS))
    with pytest.raises(PocketLLMError, match="is a classifier"):
        prepare_instruction(InstructSettings(data_path=str(data), base_model=str(clf), run_dir=str(tmp_path / "r")))


def test_cli_instruct_train_then_instruct(tmp_path, tiny_json, capsys, monkeypatch):
    data = write(tmp_path, "d.json", json.dumps(RECORDS + [{"instruction": "x"}]))
    model_path = tmp_path / "inst.safetensors"
    base = ["instruct-train", "--config", str(tiny_json), "--data_path", str(data), "--model_path", str(model_path),
            "--max_steps", "1", "--batch_size", "4", "--eval_every", "0", "--sample_every", "0",
            "--test_generate", "1", "--dtype", "fp32", "--quiet", "--lora_rank", "2"]
    assert main(base + ["--run_dir", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    assert "### Instruction:" in captured.out and "exact match on 1 test prompts" in captured.out
    assert "1 record(s) skipped" in captured.err and "record at index 20: no 'output'" in captured.err
    assert (tmp_path / "inst.lora.safetensors").is_file()
    assert main(base + ["--run_dir", str(tmp_path / "run2")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["instruct", "--model_path", str(model_path), "--instruction", "Say hello.",
                 "--max_new_tokens", "3"]) == 0
    capsys.readouterr()
    answers = iter(["Reverse the word.", "cat", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": print(prompt, end="") or next(answers))
    assert main(["instruct", "--model_path", str(model_path), "--max_new_tokens", "2",
                 "--temperature", "0.8", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "任务指令: 任务输入: 模型: " in out and out.count("任务指令:") == 2


def test_a_template_with_stray_fields_is_refused_with_a_clear_message():
    from pocketllm.data.instructions import PromptTemplate
    good = {"name": "x", "head": "Q: {instruction}", "input": " ({input})", "response": "\nA: "}
    assert PromptTemplate.from_dict(good).head == "Q: {instruction}"
    for bad in ({**good, "head": "Q: {instruction} {__class__}"}, {**good, "response": "A: {0}"},
                {**good, "input": "{input"}):
        with pytest.raises(PocketLLMError, match="Damaged prompt template"):
            PromptTemplate.from_dict(bad)


def test_an_answer_never_starts_with_a_stop_or_blank_space():
    """The held-out table, the samples and chat answer with `visible_start`: a model that would end (or
    write only a newline) at once still writes a visible first token; plain generation is unchanged."""
    import torch
    from pocketllm import GPTModel, ModelConfig
    from pocketllm.generation import Sampling, generate_ids
    from pocketllm.tokenizer import gpt2_tokenizer
    tok = gpt2_tokenizer()
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(vocab_size=50257, context_length=16, emb_dim=8, num_heads=2, num_layers=1)).eval()
    newline = tok.encode("\n")[0]
    with torch.no_grad():  # make end-of-text the first choice and a newline the second, everywhere
        model.out_head.weight.zero_()
        model.final_norm.bias.zero_() if getattr(model.final_norm, "bias", None) is not None else None
        model.out_head.bias = torch.nn.Parameter(torch.zeros(50257))
        model.out_head.bias[tok.eot_id] = 10.0
        model.out_head.bias[newline] = 5.0
        model.out_head.bias[tok.encode("ok")[0]] = 1.0
    plain = list(generate_ids(model, tok.encode("hi"), 3, Sampling(), tokenizer=tok))
    assert plain == [tok.eot_id]
    first = list(generate_ids(model, tok.encode("hi"), 3, Sampling(), tokenizer=tok, visible_start=True))
    assert first[0] == tok.encode("ok")[0] and tok.token_bytes(first[0]).strip()


def test_prompts_that_fill_the_context_leave_nothing_to_learn_and_say_so(tmp_path):
    """A base whose context the template's prompt already fills (a 128-token model reading the alpaca
    template through a tokenizer that spells English a letter a token) trained on nothing: loss 0.0000,
    exact match 0 %.  Now it is refused with the reason, before any step."""
    import json as _json
    from pocketllm import GPTModel, ModelConfig, PocketLLMError, save_checkpoint
    from pocketllm.tasks.instruction import InstructSettings, prepare_instruction
    from pocketllm.training import TrainSettings
    base = save_checkpoint(tmp_path / "short.safetensors", GPTModel(ModelConfig(
        vocab_size=50257, context_length=32, emb_dim=16, num_heads=2, num_layers=1)))
    recs = [{"instruction": f"Repeat the word {i}", "input": "cat", "output": "cat"} for i in range(20)]
    (tmp_path / "r.json").write_text(_json.dumps(recs), encoding="utf-8")
    settings = InstructSettings(data_path=str(tmp_path / "r.json"), base_model=str(base), template="alpaca",
                                mask_prompt=True, run_dir=str(tmp_path / "run"),
                                train=TrainSettings(max_steps=1, eval_every=0, sample_every=0))
    with pytest.raises(PocketLLMError) as err:
        prepare_instruction(settings)
    assert err.value.code == "instruct.prompts_fill_context" and "32 tokens" in str(err.value)
    assert not (tmp_path / "run" / "model.safetensors").exists()
    settings.template = "short"  # the short template leaves room: it trains
    settings.run_dir = str(tmp_path / "run2")
    prepare_instruction(settings)
    assert _json.loads((tmp_path / "run2" / "run.json").read_text())["data"]["no_answer"] == 0
