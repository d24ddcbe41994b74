"""Generation: KV cache = no cache, sampling filters, seeds, stopping, streaming, offline."""
import socket

import pytest
import torch

from pocketllm import (EOT_ID, GPTModel, ModelConfig, Sampling, Tokenizer, generate, generate_ids,
                       gpt2_tokenizer, next_token_probs, stream)
from pocketllm.tokenizer import gpt2 as tokenizer_module
from pocketllm.tokenizer import GPT2Tokenizer

from fast_paths_fixtures import lively

CONTEXT = 24


@pytest.fixture(scope="module")
def lively_model():
    """A tiny random model with large weights, so greedy output is varied and ties are rare."""
    return lively(context_length=CONTEXT)


def ids_of(model, prompt, n, sampling=Sampling(), use_cache=True, stop_ids=()):
    return list(generate_ids(model, prompt, n, sampling, stop_ids=stop_ids, use_cache=use_cache))


PROMPT = [15496, 11, 995, 13, 314, 716]


@pytest.mark.parametrize("sampling", [Sampling(), Sampling(temperature=1.0, seed=5),
                                      Sampling(temperature=0.8, top_k=20, top_p=0.9, seed=11)])
def test_kv_cache_gives_the_tokens_of_uncached_generation(lively_model, sampling):
    n = 2 * CONTEXT  # prompt + new tokens exceed the context: the window slides
    cached = ids_of(lively_model, PROMPT, n, sampling)
    plain = ids_of(lively_model, PROMPT, n, sampling, use_cache=False)
    assert len(cached) == n and cached == plain
    if sampling.greedy:
        assert len(set(cached)) > 5  # not a single token repeated, so the comparison means something


def test_cached_steps_give_the_logits_of_a_full_forward(lively_model):
    ids = torch.tensor([PROMPT + [50, 60, 70, 80]])
    with torch.no_grad():
        full = lively_model(ids)[0]
        cache = lively_model.new_cache()
        steps = [lively_model(ids[:, :len(PROMPT)], cache=cache, last_only=True)[0, -1]]
        for t in range(len(PROMPT), ids.shape[1]):
            steps.append(lively_model(ids[:, t:t + 1], cache=cache, last_only=True)[0, -1])
    torch.testing.assert_close(torch.stack(steps), full[len(PROMPT) - 1:], atol=1e-4, rtol=1e-5)


def test_sdpa_and_explicit_attention_agree(lively_model):
    ids = torch.tensor([PROMPT * 3])
    with torch.no_grad():
        fast = lively_model(ids)
    trace = lively_model.trace(ids)
    torch.testing.assert_close(trace.logits, fast, atol=1e-4, rtol=1e-5)
    for weights in trace.attentions:
        assert torch.all(weights.triu(1) == 0)  # nothing attends to the future
        torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))


def test_same_seed_same_text_different_seed_different(lively_model):
    def text(seed):
        return generate(lively_model, "Once upon a time", 20, Sampling(temperature=1.0, seed=seed))
    assert text(1) == text(1)
    assert text(1) != text(2)


def test_top_k_one_is_greedy(lively_model):
    greedy = ids_of(lively_model, PROMPT, 15)
    assert ids_of(lively_model, PROMPT, 15, Sampling(temperature=1.3, top_k=1, seed=3)) == greedy


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])
    logits = probs.log()
    # sorted: 0.5, 0.3, 0.15, 0.05 -> cumulative 0.5, 0.8, 0.95, 1.0
    cases = {0.4: [0, 1, 0, 0], 0.75: [0, .5 / .8, 0, .3 / .8], 0.9: [0, .5 / .95, .15 / .95, .3 / .95],
             0.99: [0.05, 0.5, 0.15, 0.3]}
    for p, expected in cases.items():
        got = next_token_probs(logits, Sampling(temperature=1.0, top_p=p))
        torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float32), atol=1e-6, rtol=0, msg=f"top_p={p}")


def test_temperature_and_top_k_probabilities():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    torch.testing.assert_close(next_token_probs(logits, Sampling(temperature=0.5)), torch.softmax(logits / 0.5, -1))
    top2 = next_token_probs(logits, Sampling(temperature=1.0, top_k=2))
    torch.testing.assert_close(top2, torch.tensor([2.0, 1.0, -1e9, -1e9]).softmax(-1))
    assert next_token_probs(logits, Sampling()).tolist() == [1.0, 0.0, 0.0, 0.0]  # greedy: a one-hot


def test_stops_at_end_of_text(lively_model):
    model = GPTModel(lively_model.cfg).eval()
    model.load_state_dict(lively_model.state_dict())
    with torch.no_grad():  # make <|endoftext|> the only sensible next token
        model.final_norm.weight.zero_()
        model.final_norm.bias.fill_(1.0)
        model.tok_emb.weight[EOT_ID] = 100.0
    assert list(generate_ids(model, PROMPT, 10)) == [EOT_ID]
    assert generate(model, "Hello", 10) == ""


def test_stops_at_any_stop_id(lively_model):
    free = ids_of(lively_model, PROMPT, 20)
    stop = free[7]
    stopped = ids_of(lively_model, PROMPT, 20, stop_ids=[stop])
    assert stopped == free[:free.index(stop) + 1]


def test_prompt_longer_than_the_context_keeps_its_last_part(lively_model):
    long_prompt = list(range(1000, 1000 + 3 * CONTEXT))
    got = ids_of(lively_model, long_prompt, 5)
    assert got == ids_of(lively_model, long_prompt[-CONTEXT:], 5)
    assert got != ids_of(lively_model, long_prompt[:CONTEXT], 5)


def test_max_new_tokens_is_respected(lively_model):
    assert len(ids_of(lively_model, PROMPT, 7)) == 7
    assert ids_of(lively_model, PROMPT, 0) == []


class ScriptedLM(torch.nn.Module):
    """Stands in for a model and always predicts the next token of a script."""

    def __init__(self, script, context=64):
        super().__init__()
        self.cfg = ModelConfig(vocab_size=50257, context_length=context, emb_dim=8, num_heads=1,
                               num_layers=1, drop_rate=0.0)
        self.tok_emb = torch.nn.Embedding(1, 1)
        self.script, self.step = list(script), 0

    def new_cache(self, max_len=None):
        return None  # generation then recomputes the window: fine for a stand-in

    def forward(self, idx, cache=None, last_only=False):
        logits = torch.zeros(1, 1, self.cfg.vocab_size)
        logits[0, 0, self.script[self.step]] = 1.0
        self.step += 1
        return logits


def test_streamed_chinese_never_shows_half_a_character():
    tok = gpt2_tokenizer()
    text = "你好，世界！我们一起从零构建大模型。"
    ids = tok.encode(text)
    assert any("\ufffd" in tok.decode([i]) for i in ids), "no split character: the test would be weak"
    pieces = list(stream(ScriptedLM(ids + [EOT_ID]), "", len(ids) + 5, tokenizer=tok))
    assert all("\ufffd" not in piece for piece in pieces)
    assert "".join(pieces) == tok.decode(ids) == text
    assert len(pieces) > 3  # it streamed, rather than arriving in one piece


def test_a_stream_counts_the_tokens_it_made_not_its_pieces():
    """Chinese in GPT-2's byte tokens: fewer pieces than tokens, and re-tokenizing the text
    would give yet another number; `new_tokens` is the model's own count (end-of-text not counted)."""
    tok = gpt2_tokenizer()
    ids = tok.encode("你好，世界！我们一起从零构建大模型。")
    made = stream(ScriptedLM(ids + [EOT_ID]), "", len(ids) + 5, tokenizer=tok)
    assert made.new_tokens == 0
    pieces = list(made)
    assert made.new_tokens == len(ids) > len(pieces)
    budget = stream(ScriptedLM(ids), "", 5, tokenizer=tok)
    list(budget)
    assert budget.new_tokens == 5


def test_tokenizer_and_generation_work_with_the_network_unreachable(lively_model, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = tokenizer_module.get_encoding.__wrapped__()  # built now, from the bundled file
    tok = GPT2Tokenizer()
    tok._enc = fresh
    assert tok.encode("Hello, world") == [15496, 11, 995]
    assert tok.decode(tok.encode("离线也能用")) == "离线也能用"
    text = generate(lively_model, "Hello", 8, Sampling(temperature=1.0, seed=0), tokenizer=tok)
    assert isinstance(text, str) and text


def test_generation_after_a_fused_adamw_step_uses_the_new_weights():
    """The fused q/k/v copy must not outlive an optimizer step (fused AdamW keeps tensor versions)."""
    from pocketllm import ModelConfig, GPTModel
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(vocab_size=50257, context_length=32, emb_dim=32, num_heads=4,
                                 num_layers=2, drop_rate=0.0, qkv_bias=True))
    model.eval()
    list(generate_ids(model, [1, 2, 3], 12, stop_ids=()))  # builds the fused copy
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, fused=True)
    x = torch.randint(0, 50257, (2, 16))
    torch.nn.functional.cross_entropy(model(x).flatten(0, 1), x.flatten()).backward()
    opt.step()
    model.eval()
    cached = list(generate_ids(model, [1, 2, 3], 12, stop_ids=()))
    uncached = list(generate_ids(model, [1, 2, 3], 12, stop_ids=(), use_cache=False))
    assert cached == uncached
