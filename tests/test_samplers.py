"""The samplers people expect: penalties, min-p, stop strings, presets — each exactly as defined."""
import json

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, PocketLLMError, Sampling, generate, generate_ids, gpt2_tokenizer, inspect
from pocketllm.cli import main
from pocketllm.generation import StopStrings, apply_penalties, next_token_probs, token_counts
from pocketllm.presets import load_sampling_preset, sampling_presets, save_sampling_preset


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens():
    logits = torch.tensor([2.0, -1.0, 3.0, 0.5])
    counts = torch.tensor([1.0, 2.0, 0.0, 0.0])
    out = apply_penalties(logits, counts, Sampling(repetition_penalty=2.0))
    assert out.tolist() == [1.0, -2.0, 3.0, 0.5]


def test_frequency_and_presence_penalties_subtract_per_count_and_once():
    logits = torch.tensor([2.0, -1.0, 3.0, 0.5])
    counts = torch.tensor([1.0, 2.0, 0.0, 0.0])
    out = apply_penalties(logits, counts, Sampling(frequency_penalty=0.5, presence_penalty=0.25))
    assert out.tolist() == pytest.approx([2.0 - 0.5 - 0.25, -1.0 - 1.0 - 0.25, 3.0, 0.5])


def test_min_p_keeps_tokens_at_least_min_p_times_the_top_probability():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    probs = next_token_probs(logits, Sampling(temperature=1.0, min_p=0.2))  # floor 0.1: the 0.05 token goes
    assert probs.tolist() == pytest.approx([0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0.0])


def test_token_counts():
    assert token_counts([3, 1, 3, 9], 5).tolist() == [0, 1, 0, 2, 0]  # 9 is out of range: ignored


@pytest.fixture(scope="module")
def looping_model():
    """A tiny model whose greedy output loops: token t is followed by t+1 mod 4 (ids 10..13)."""
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=50257, context_length=64, emb_dim=16, num_heads=1, num_layers=1, drop_rate=0.0,
                      tie_embeddings=False)
    model = GPTModel(cfg).eval()
    with torch.no_grad():
        for block in model.trf_blocks:
            for p in block.parameters():
                p.zero_()
        model.pos_emb.weight.zero_()
        model.tok_emb.weight.zero_()
        model.out_head.weight.zero_()
        for k, t in enumerate(range(10, 14)):
            model.tok_emb.weight[t, k] = 1.0
            model.out_head.weight[10 + (k + 1) % 4, k] = 5.0
            model.out_head.weight[20 + k, k] = 4.0  # a runner-up that a penalty can promote
        model.final_norm.weight.fill_(1.0)
        model.final_norm.bias.zero_()
    return model


def test_repetition_penalty_breaks_a_greedy_loop(looping_model):
    tok = gpt2_tokenizer()
    plain = list(generate_ids(looping_model, [10], 12, Sampling(), stop_ids=(), tokenizer=tok))
    assert plain[:8] == [11, 12, 13, 10, 11, 12, 13, 10]  # the loop
    broken = list(generate_ids(looping_model, [10], 12, Sampling(repetition_penalty=3.0), stop_ids=(), tokenizer=tok))
    assert broken != plain and len(set(broken)) > 4


def test_stop_strings_end_the_text_even_across_token_boundaries():
    cut = StopStrings(["用户:"])
    assert [cut.feed(p) for p in ["回答用", "户", ":后面"]] == [("回答", False), ("", False), ("", True)]
    cut = StopStrings(["abc"])
    assert [cut.feed(p) for p in ["xa", "b", "d"]] == [("x", False), ("", False), ("abd", False)]


def test_generate_stops_at_a_stop_string(looping_model):
    tok = gpt2_tokenizer()
    text = generate(looping_model, tok.decode([10]), 30, Sampling(), tokenizer=tok)
    second = tok.decode([12])
    stopped = generate(looping_model, tok.decode([10]), 30, Sampling(stop=(second,)), tokenizer=tok)
    assert stopped == text[:text.index(second)]


def test_look_inside_shows_the_penalty_and_min_p(looping_model):
    tok = gpt2_tokenizer()
    prompt = "- +,"  # tokens [12, 1343, 11]: after "," (11) the model says "-" (12), which the prompt has
    assert tok.encode(prompt) == [12, 1343, 11]
    plain = inspect.next_token(looping_model, prompt, Sampling(temperature=1.0), n=3, tokenizer=tok)
    assert plain.candidates[0].id == 12
    pen = inspect.next_token(looping_model, prompt, Sampling(temperature=1.0, repetition_penalty=3.0), n=3,
                             tokenizer=tok)
    seen = next(c for c in pen.candidates if c.id == 12)
    assert seen.penalized_logit == pytest.approx(seen.logit / 3.0)
    assert pen.candidates[0].id != 12 or pen.candidates[0].prob_after < plain.candidates[0].prob_after
    assert seen.prob_after < plain.candidates[0].prob_after
    cut = inspect.next_token(looping_model, prompt, Sampling(temperature=1.0, min_p=0.5), n=3, tokenizer=tok)
    assert [c.cut_by for c in cut.candidates][1:] == ["min_p", "min_p"]


@pytest.mark.parametrize("kw, words", [({"repetition_penalty": 0.5}, "repetition_penalty"),
                                       ({"min_p": 2}, "min_p"), ({"frequency_penalty": 9}, "frequency_penalty"),
                                       ({"stop": ("",)}, "stop strings")])
def test_bad_sampler_values_get_a_message(kw, words):
    with pytest.raises(PocketLLMError, match=words):
        Sampling(**kw)


def test_presets_save_load_and_the_cli_uses_them(tmp_path, monkeypatch, capsys, looping_model):
    assert sampling_presets(tmp_path)[:3] == ["greedy", "balanced", "creative"]
    mine = Sampling(temperature=0.9, top_k=7, min_p=0.1, repetition_penalty=1.2, stop=("\n\n",))
    save_sampling_preset("我的", mine, tmp_path)
    assert load_sampling_preset("我的", tmp_path) == mine
    assert "我的" in sampling_presets(tmp_path)
    with pytest.raises(PocketLLMError, match="built-in"):
        save_sampling_preset("greedy", mine, tmp_path)
    with pytest.raises(PocketLLMError, match="preset name"):
        save_sampling_preset("../evil", mine, tmp_path)
    (tmp_path / "presets" / "sampling" / "bad.json").write_text(json.dumps({"temperature": 1, "nope": 2}))
    with pytest.raises(PocketLLMError, match="Unknown sampling setting"):
        load_sampling_preset("bad", tmp_path)
    # the CLI: --save_preset writes, --preset reads, flags override
    from pocketllm import save_checkpoint
    path = save_checkpoint(tmp_path / "m.safetensors", looping_model)
    import pocketllm.tasks.run_setup as run_setup
    monkeypatch.setattr(run_setup, "DEFAULT_CHECKPOINTS", tmp_path)
    assert main(["generate", "--model_path", str(path), "--prompt", "a", "--max_new_tokens", "3",
                 "--temperature", "0.5", "--top_k", "3", "--save_preset", "mine"]) == 0
    assert load_sampling_preset("mine", tmp_path) == Sampling(temperature=0.5, top_k=3)
    from pocketllm.cli._common import sampling_from_args
    from pocketllm.cli import build_parser
    args = build_parser().parse_args(["generate", "--preset", "mine", "--top_k", "5"])
    assert sampling_from_args(args) == Sampling(temperature=0.5, top_k=5)


def test_training_settings_save_and_load_by_name_without_run_paths(tmp_path):
    from pocketllm import (ClassifySettings, PretrainSettings, load_training_preset, save_training_preset,
                           training_presets)
    from pocketllm.training import TrainSettings
    s = PretrainSettings(config="cpu-tiny", tokenizer="char", context_length=64, model_path="/x/m.safetensors",
                         run_dir="/x/run", train=TrainSettings(max_steps=77, lr=3e-3, batch_size=4))
    save_training_preset("pretrain", "small-char", s, tmp_path)
    back = load_training_preset("pretrain", "small-char", tmp_path)
    assert (back.config, back.tokenizer, back.context_length) == ("cpu-tiny", "char", 64)
    assert (back.train.max_steps, back.train.lr, back.train.batch_size) == (77, 3e-3, 4)
    assert back.model_path is None and back.run_dir is None  # the next run gets its own
    assert training_presets("pretrain", tmp_path) == ["small-char"] and training_presets("classify", tmp_path) == []
    c = ClassifySettings(split=(0.8, 0.1, 0.1), trainable="lora")
    save_training_preset("classify", "lora", c, tmp_path)
    assert load_training_preset("classify", "lora", tmp_path).split == (0.8, 0.1, 0.1)
    with pytest.raises(PocketLLMError, match="No saved pretrain settings"):
        load_training_preset("pretrain", "nope", tmp_path)
    with pytest.raises(PocketLLMError, match="must be a PretrainSettings"):
        save_training_preset("pretrain", "x", c, tmp_path)
