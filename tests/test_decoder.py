"""The generation loop's one-token path (`pocketllm/decoder.py`) computes what the model's
own forward computes, for every precision and layer kind, and generate_ids uses it."""
import copy

import pytest
import torch

from pocketllm import Sampling, generate_ids
from pocketllm.decoder import Decoder, linear_function
from pocketllm.quantize import Int8Linear, to_precision
from pocketllm.tasks.lora import apply_lora

from fast_paths_fixtures import encode, trained_char_model
from fast_paths_fixtures import lively as lively_model

TINY = dict(vocab_size=300, context_length=96)  # the rest: fast_paths_fixtures.LIVELY


def lively():
    return lively_model(scale=4.0, **TINY)


def forward_steps(model, ids, prompt_len):
    """The model's own forward, one cached token at a time: the logits after each token."""
    cache = model.new_cache()
    with torch.inference_mode():
        model(ids[:, :prompt_len], cache=cache)
        return [model(ids[:, i:i + 1], cache=cache, last_only=True)[0, -1] for i in range(prompt_len, ids.shape[1])]


def decoder_steps(model, ids, prompt_len):
    cache = model.new_cache()
    with torch.inference_mode():
        model(ids[:, :prompt_len], cache=cache)
        decoder = Decoder.for_model(model, cache)
        assert decoder is not None
        return [decoder.step(int(t)) for t in ids[0, prompt_len:]]


def with_lora(model):
    apply_lora(model, rank=4, alpha=8)
    with torch.no_grad():  # a trained-looking adapter, so it changes the output
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)
    return model.eval()


@pytest.mark.parametrize("make", [
    pytest.param(lambda m: m, id="fp32"),
    pytest.param(lambda m: to_precision(m, "bf16"), id="bf16"),
    pytest.param(lambda m: to_precision(m, "int8"), id="int8"),
    pytest.param(lambda m: m.to(torch.float64), id="float64-unfused"),
    pytest.param(with_lora, id="lora"),
])
def test_each_step_gives_the_forward_logits(make):
    model = make(lively())
    ids = torch.randint(0, TINY["vocab_size"], (1, 80))  # 75 steps: the cache grows past 64 positions
    want, got = forward_steps(model, ids, 5), decoder_steps(model, ids, 5)
    assert len(got) == 75 and got[0].shape == (TINY["vocab_size"],)
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
    assert (want[0] - want[-1]).abs().max() > 0.1  # the logits really depend on the tokens


def test_the_linears_are_called_by_their_kernels():
    model = to_precision(lively(), "int8")
    head = model.out_head
    assert isinstance(head, Int8Linear)
    x = torch.randn(3, model.cfg.emb_dim)
    torch.testing.assert_close(linear_function(head)(x), head(x))
    plain = lively().out_head
    assert linear_function(plain).func is torch.nn.functional.linear


def test_generation_uses_it_and_keeps_the_tokens_past_the_context():
    model = lively()
    prompt = [5, 17, 42, 99]
    calls = []
    real_step = Decoder.step

    def counting(self, token):
        calls.append(token)
        return real_step(self, token)

    Decoder.step = counting
    try:
        fast = list(generate_ids(model, prompt, 150, Sampling(valid_utf8=False), stop_ids=()))
    finally:
        Decoder.step = real_step
    context = TINY["context_length"]
    keep = context - context // 4  # a full window drops its oldest quarter (generation.CONTEXT_SHIFT)
    refills = 0
    # Cached steps for every token but the few that refill the window: one refill per quarter context.
    past = len(prompt) + 150 - context
    assert len(calls) >= 150 - (past // (context // 4) + 2)
    # The reference: the model's forward for each new token, the whole (shifted) window when it is full.
    ids, want, start = list(prompt), [], 0
    with torch.inference_mode():
        cache = model.new_cache()
        logits = model(torch.tensor([ids]), cache=cache, last_only=True)[0, -1]
        for _ in range(150):
            token = int(logits.argmax())
            want.append(token)
            ids.append(token)
            if len(ids) - start <= context:
                logits = model(torch.tensor([[token]]), cache=cache, last_only=True)[0, -1]
            else:
                refills += 1
                start = len(ids) - keep
                cache.reset()
                logits = model(torch.tensor([ids[start:]]), cache=cache, last_only=True)[0, -1]
    assert refills and refills <= past // (context // 4) + 1  # not a window per token, as before
    # The same windows without the cache: the same tokens.
    assert list(generate_ids(model, prompt, 150, Sampling(valid_utf8=False), stop_ids=(), use_cache=False)) == want
    assert fast == want
    assert len(set(fast)) > 10


def test_not_for_training_mode_or_a_classifier():
    model = lively()
    assert Decoder.for_model(model, None) is None
    model.train()
    assert Decoder.for_model(model, model.new_cache()) is None
    model.eval()
    assert Decoder.for_model(model, model.new_cache()) is not None
    assert Decoder.for_model(copy.deepcopy(model).set_classifier_head(2), model.new_cache()) is None


def test_int8_greedy_text_on_real_text_still_matches_fp32():
    trained = trained_char_model()
    fast = to_precision(copy.deepcopy(trained), "int8")
    for prompt in ("ROMEO:\n", "First Citizen:\nWe are"):
        ids = encode(prompt)
        want = list(generate_ids(trained, ids, 30, Sampling(), stop_ids=()))
        assert list(generate_ids(fast, ids, 30, Sampling(), stop_ids=())) == want
