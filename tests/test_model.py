"""The model's maths is exactly GPT-2's: attention paths, LayerNorm, GELU, dropout, tied head."""
import math

import pytest
import torch
import torch.nn.functional as F

from pocketllm import GPTModel, KVCache, ModelConfig
from pocketllm.model import FeedForward, LayerNorm, MultiHeadAttention, explicit_attention

TINY = dict(vocab_size=100, context_length=16, emb_dim=32, num_heads=4, num_layers=2,
            drop_rate=0.0, qkv_bias=True)


def attention_module(seed=0):
    torch.manual_seed(seed)
    attn = MultiHeadAttention(emb_dim=32, num_heads=4, drop_rate=0.0, qkv_bias=True).eval()
    for p in attn.parameters():  # non-zero biases too, so a dropped bias would show
        torch.nn.init.normal_(p, std=0.3)
    return attn


def new_cache(batch=2, max_len=16):
    return KVCache(1, batch, 4, max_len, 8, torch.float32, "cpu")


# ---- attention -------------------------------------------------------------------

def test_explicit_attention_equals_scaled_dot_product_attention():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 4, 7, 8) for _ in range(3))
    out, _ = explicit_attention(q, k, v)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_explicit_attention_with_offset_equals_masked_sdpa():
    torch.manual_seed(2)
    q = torch.randn(1, 4, 3, 8)
    k, v = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)  # 5 cached + 3 new positions
    out, weights = explicit_attention(q, k, v, start=5)
    allowed = torch.arange(8)[None, :] <= torch.arange(5, 8)[:, None]
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    assert torch.all(weights[..., ~allowed] == 0)


def test_module_paths_agree_without_cache():
    attn = attention_module()
    x = torch.randn(2, 9, 32)
    fast = attn(x)
    explicit, weights = attn(x, need_weights=True)
    torch.testing.assert_close(fast, explicit, rtol=1e-5, atol=1e-5)
    assert weights.shape == (2, 4, 9, 9)


def test_module_paths_agree_with_kv_cache_offset():
    attn = attention_module()
    x = torch.randn(2, 9, 32)
    full = attn(x)
    for need_weights in (False, True):
        cache = new_cache()
        outs = []
        for chunk in (x[:, :5], x[:, 5:8], x[:, 8:9]):  # prefill, several new, one new
            out = attn(chunk, cache=cache, need_weights=need_weights)
            outs.append(out[0] if need_weights else out)
            cache.advance(chunk.shape[1])
        torch.testing.assert_close(torch.cat(outs, dim=1), full, rtol=1e-5, atol=1e-5)


def test_attention_weights_are_causal_distributions():
    attn = attention_module()
    _, w = attn(torch.randn(2, 6, 32), need_weights=True)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 6))
    above = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
    assert torch.all(w[..., above] == 0)
    assert torch.all(w[..., ~above] > 0)

    cache = new_cache()
    attn(torch.randn(2, 4, 32), cache=cache)
    cache.advance(4)
    _, w = attn(torch.randn(2, 3, 32), cache=cache, need_weights=True)
    assert w.shape == (2, 4, 3, 7)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 3))
    for i in range(3):  # new token i sits at position 4 + i
        assert torch.all(w[:, :, i, 5 + i:] == 0) and torch.all(w[:, :, i, :5 + i] > 0)


def test_trace_attentions_match_forward():
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(**TINY)).eval()
    idx = torch.randint(0, 100, (1, 10))
    trace = model.trace(idx)
    torch.testing.assert_close(trace.logits, model(idx), rtol=1e-5, atol=1e-5)
    assert len(trace.attentions) == 2 and trace.attentions[0].shape == (1, 4, 10, 10)
    assert len(trace.hidden) == 3


def test_cached_model_forward_equals_full_forward():
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(**TINY)).eval()
    idx = torch.randint(0, 100, (1, 12))
    full = model(idx)
    cache = model.new_cache(1)
    parts = [model(idx[:, :7], cache=cache), model(idx[:, 7:11], cache=cache), model(idx[:, 11:], cache=cache)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-5, atol=1e-5)
    assert cache.length == 12


# ---- layer norm and GELU -------------------------------------------------------------

def test_layer_norm_is_gpt2s():
    torch.manual_seed(3)
    ln = LayerNorm(32)
    assert ln.eps == 1e-5
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    ref = torch.nn.LayerNorm(32, eps=1e-5)
    ref.load_state_dict(ln.state_dict())
    # A small spread makes the eps visible: a different eps would change the result.
    for scale in (1.0, 1e-3):
        x = torch.randn(2, 5, 32) * scale + 0.5
        torch.testing.assert_close(ln(x), ref(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ln(x), LayerNorm.by_hand(x, ln.weight, ln.bias), rtol=1e-4, atol=1e-4)
    x = torch.randn(2, 5, 32) * 1e-3
    other_eps = torch.nn.LayerNorm(32, eps=1e-6)
    other_eps.load_state_dict(ln.state_dict())
    assert not torch.allclose(ln(x), other_eps(x), atol=1e-3)


def test_gelu_is_the_tanh_approximation():
    torch.manual_seed(4)
    ffn = FeedForward(16)
    x = torch.randn(3, 16) * 3
    h = ffn.layers[0](x)
    tanh_gelu = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h ** 3)))
    torch.testing.assert_close(ffn(x), ffn.layers[2](tanh_gelu), rtol=1e-5, atol=1e-6)
    exact = ffn.layers[2](F.gelu(h))  # the erf form differs, so this test tells them apart
    assert not torch.allclose(ffn(x), exact, atol=1e-5)
    assert ffn.layers[0].out_features == 64  # widen to 4 × emb_dim


# ---- dropout and the head ----------------------------------------------------------------

def test_dropout_off_in_eval_and_on_in_train():
    torch.manual_seed(5)
    cfg = ModelConfig(**{**TINY, "drop_rate": 0.5})
    model = GPTModel(cfg)
    no_dropout = GPTModel(cfg.replace(drop_rate=0.0))
    no_dropout.load_state_dict(model.state_dict())
    idx = torch.randint(0, 100, (2, 10))
    model.eval()
    with torch.no_grad():
        a, b = model(idx), model(idx)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, no_dropout.eval()(idx), rtol=1e-6, atol=1e-6)
        model.train()
        c, d = model(idx), model(idx)
    assert not torch.allclose(c, d)
    assert not torch.allclose(c, a)


def test_zero_dropout_in_train_is_deterministic():
    torch.manual_seed(6)
    model = GPTModel(ModelConfig(**TINY)).train()
    idx = torch.randint(0, 100, (1, 8))
    with torch.no_grad():
        torch.testing.assert_close(model(idx), model(idx), rtol=0, atol=0)


def test_tied_head_shares_storage_with_token_embedding():
    model = GPTModel(ModelConfig(**TINY))
    assert model.is_tied
    assert model.out_head.weight.data_ptr() == model.tok_emb.weight.data_ptr()
    with torch.no_grad():
        model.tok_emb.weight[3, 0] = 123.0
    assert model.out_head.weight[3, 0].item() == 123.0
    names = [n for n, _ in model.named_parameters()]
    assert "out_head.weight" not in names  # counted and optimised once

    untied = GPTModel(ModelConfig(**{**TINY, "tie_embeddings": False}))
    assert not untied.is_tied
    assert untied.out_head.weight.data_ptr() != untied.tok_emb.weight.data_ptr()


def test_classifier_head_replaces_the_vocabulary_head():
    torch.manual_seed(7)
    model = GPTModel(ModelConfig(**TINY)).set_classifier_head(3).eval()
    assert not model.is_tied and model.num_classes == 3
    idx = torch.randint(0, 100, (2, 5))
    logits = model(idx)
    assert logits.shape == (2, 5, 3)
    torch.testing.assert_close(logits, model.out_head(model.features(idx)))


@pytest.mark.parametrize("qkv_bias", [True, False])
def test_qkv_bias_switch(qkv_bias):
    model = GPTModel(ModelConfig(**{**TINY, "qkv_bias": qkv_bias}))
    attn = model.trf_blocks[0].attn
    assert (attn.W_query.bias is not None) == qkv_bias
    assert attn.out_proj.bias is not None  # the output projection always has a bias in GPT-2
