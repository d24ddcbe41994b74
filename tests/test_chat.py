"""Chat in the model's template with the history that fits; the per-token view of a generation."""
import pytest
import torch

from pocketllm import (GPTModel, ModelConfig, PocketLLMError, Sampling, chat, chat_prompt, generate,
                       generate_explained, get_template, gpt2_tokenizer)
from pocketllm.cli import main


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPTModel(ModelConfig(vocab_size=50257, context_length=128, emb_dim=32, num_heads=2, num_layers=1,
                                drop_rate=0.0)).eval()


def test_the_second_prompt_holds_the_first_turn_in_the_models_template():
    tok, template = gpt2_tokenizer(), get_template("short")
    first = chat_prompt(tok, template, [], "Reverse: cat", 512, 50)
    assert first.text == template.prompt("Reverse: cat") and first.dropped_turns == 0
    second = chat_prompt(tok, template, [("Reverse: cat", "tac")], "Reverse: dog", 512, 50)
    assert second.text == template.prompt("Reverse: cat") + "tac<|endoftext|>" + template.prompt("Reverse: dog")
    assert second.kept_turns == 1 and second.tokens == len(tok.encode(second.text))


def test_a_long_chat_drops_the_oldest_turns_and_says_how_many():
    tok, template = gpt2_tokenizer(), get_template("short")
    history = [(f"question number {i} " * 5, f"answer {i} " * 5) for i in range(20)]
    prompt = chat_prompt(tok, template, history, "and now?", 200, 50)
    assert prompt.dropped_turns > 0 and prompt.kept_turns + prompt.dropped_turns == 20
    assert prompt.tokens <= 150
    assert "question number 19" in prompt.text and "question number 0 " not in prompt.text  # newest kept


def test_chat_streams_an_answer_and_refuses_an_empty_message(model):
    prompt, pieces = chat(model, [], "hello", Sampling(), 5, template="short")
    assert isinstance("".join(pieces), str) and prompt.kept_turns == 0
    with pytest.raises(PocketLLMError, match="empty"):
        chat(model, [], "   ", Sampling(), 5, template="short")


def test_the_per_token_view_matches_the_generated_text_and_its_probabilities(model):
    tokens = generate_explained(model, "Once", 12, Sampling(temperature=1.0, seed=3))
    text = generate(model, "Once", 12, Sampling(temperature=1.0, seed=3))
    assert "".join(t.piece for t in tokens) == text
    for t in tokens:
        assert 0 < t.prob <= 1 and len(t.top) == 5
        assert t.top[0][1] >= t.top[-1][1]  # best first
    greedy = generate_explained(model, "Once", 6, Sampling())
    assert all(t.label == t.top[0][0] and t.prob == pytest.approx(t.top[0][1]) for t in greedy)


def test_the_cli_chat_loop_and_show_probs(model, tmp_path, monkeypatch, capsys):
    from pocketllm import save_checkpoint
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    answers = iter(["hello", "again", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["instruct", "--model_path", str(path), "--chat", "--max_new_tokens", "5", "--template", "short"]) == 0
    out = capsys.readouterr().out
    assert out.count("模型: ") == 2
    assert main(["generate", "--model_path", str(path), "--prompt", "Once", "--max_new_tokens", "4",
                 "--show_probs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("token") and "alternatives" in line for line in lines)
