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


@pytest.fixture(scope="module")
def goes_on():
    """A tiny model that learned one exchange and, after its answer, goes on with the template's
    next turn ("### Instruction:" ...) instead of stopping, as a barely finetuned model does."""
    from pocketllm import train_tokenizer
    template = get_template("short")
    text = (template.prompt("hi") + "yo\n") * 40
    tok = train_tokenizer(iter([text]), "char", None)
    ids = torch.tensor(tok.encode(text))
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    # A context that holds the prompt, the answer and the next turn's marker (54 characters).
    model = GPTModel(ModelConfig(vocab_size=tok.vocab_size, context_length=64, emb_dim=32, num_heads=2, num_layers=1,
                                 drop_rate=0.0))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(200):
        starts = torch.randint(0, len(ids) - 65, (8,))
        x = torch.stack([ids[s:s + 64] for s in starts])
        y = torch.stack([ids[s + 1:s + 65] for s in starts])
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    return model.eval(), tok, template


def test_the_answer_ends_where_the_model_writes_the_templates_next_marker(goes_on):
    model, tok, template = goes_on
    assert "### Instruction:" in generate(model, template.prompt("hi"), 30, Sampling(), tok)  # it does go on
    prompt, pieces = chat(model, [], "hi", Sampling(), 30, template=template, tokenizer=tok)
    answer = "".join(pieces)
    assert answer.strip() == "yo" and "###" not in answer
    # The caller's own stop strings still count.
    _, pieces = chat(model, [], "hi", Sampling(stop=("o",)), 30, template=template, tokenizer=tok)
    assert "".join(pieces) == "y"


def test_two_short_turns_stay_in_a_128_token_context():
    """The Instruct tab's case: a 128-token model whose tokenizer learnt Chinese (the template's
    English markers cost a token a letter), answers of up to 60 tokens.  Reserving the whole
    answer left no earlier turn ("保留 0 轮") after two short ones."""
    from pocketllm import BUNDLED_CORPORA, train_tokenizer
    tok = train_tokenizer(iter([BUNDLED_CORPORA["zh_classics"].read_text(encoding="utf-8")[:20000]]), "char", None)
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(vocab_size=tok.vocab_size, context_length=128, emb_dim=32, num_heads=2,
                                 num_layers=1, drop_rate=0.0)).eval()
    assert len(tok.encode(get_template("short").prompt("你好"))) > 30  # the template alone is a quarter of it
    history = [("你好", "######t"), ("再说一遍", "")]
    second, _ = chat(model, history[:1], "再说一遍", Sampling(), 60, template="short", tokenizer=tok)
    third, _ = chat(model, history, "还有呢", Sampling(), 60, template="short", tokenizer=tok)
    assert (second.kept_turns, second.dropped_turns) == (1, 0)
    assert (third.kept_turns, third.dropped_turns) == (2, 0) and third.tokens < 128
    # Longer turns still leave out the oldest first, and the answer keeps its whole room when it can.
    long = [(f"问题{i}" * 3, f"回答{i}" * 3) for i in range(6)]
    prompt, _ = chat(model, long, "还有呢", Sampling(), 60, template="short", tokenizer=tok)
    assert prompt.dropped_turns > 0 and "问题5" in prompt.text and "问题0" not in prompt.text
    roomy, _ = chat(model, history, "还有呢", Sampling(), 4, template="short", tokenizer=tok)
    assert roomy.kept_turns == 2 and roomy.tokens <= 128 - 4


def test_a_single_answer_and_the_held_out_answers_also_end_at_the_next_marker(goes_on):
    """respond() (the Instruct tab's answer) and the held-out table's answers stop where the
    model starts the template's next turn: "yo", not "yo\\n### Instruction: …" (which also
    failed every exact match)."""
    from pocketllm.data.instructions import Record
    from pocketllm.tasks.instruction import answer_records, respond
    model, tok, template = goes_on
    assert "".join(respond(model, "hi", template=template, max_new_tokens=30, tokenizer=tok)).strip() == "yo"
    [row] = answer_records(model, [Record("hi", "", "yo")], template, max_new_tokens=30, tokenizer=tok)
    assert row["generated"].strip() == "yo" and row["correct"]
