"""The model's maths is exactly GPT-2's: attention paths, LayerNorm, GELU, dropout, tied head."""
import math

import pytest
import torch
import torch.nn.functional as F

from pocketllm import GPTModel, KVCache, ModelConfig
from pocketllm.model import FeedForward, LayerNorm, MultiHeadAttention, attention_weights

TINY = dict(vocab_size=100, context_length=16, emb_dim=32, num_heads=4, num_layers=2,
            drop_rate=0.0, qkv_bias=True)


def attention_module(seed=0):
    torch.manual_seed(seed)
    attn = MultiHeadAttention(emb_dim=32, num_heads=4, drop_rate=0.0, qkv_bias=True).eval()
    for p in attn.parameters():  # non-zero biases too, so a dropped bias would show
        torch.nn.init.normal_(p, std=0.3)
    return attn


def by_hand(attn, x):
    """The attention formula written out, for a whole sequence: (output, weights)."""
    q, k, v = attn.project(x)
    weights = attention_weights(q, k)
    out = (weights @ v).transpose(1, 2).reshape(x.shape)
    return attn.out_proj(out), weights


# ---- attention -------------------------------------------------------------------

def test_attention_weights_times_values_equals_scaled_dot_product_attention():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 4, 7, 8) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(attention_weights(q, k) @ v, ref, rtol=1e-5, atol=1e-6)


def test_attention_weights_with_offset_equal_masked_sdpa():
    torch.manual_seed(2)
    q = torch.randn(1, 4, 3, 8)
    k, v = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)  # 5 cached + 3 new positions
    weights = attention_weights(q, k, start=5)
    allowed = torch.arange(8)[None, :] <= torch.arange(5, 8)[:, None]
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    torch.testing.assert_close(weights @ v, ref, rtol=1e-5, atol=1e-6)
    assert torch.all(weights[..., ~allowed] == 0)


def test_module_equals_the_formula_written_out():
    attn = attention_module()
    x = torch.randn(2, 9, 32)
    out = attn(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 9, 32)
    torch.testing.assert_close(out, by_hand(attn, x)[0], rtol=1e-5, atol=1e-5)


def test_module_with_kv_cache_equals_one_pass():
    attn = attention_module()
    x = torch.randn(2, 9, 32)
    full = attn(x)
    cache = KVCache(1, max_len=16)
    outs = [attn(chunk, cache[0]) for chunk in (x[:, :5], x[:, 5:8], x[:, 8:9])]  # prefill, several, one
    torch.testing.assert_close(torch.cat(outs, dim=1), full, rtol=1e-5, atol=1e-5)
    assert cache.length == 9


def test_kv_cache_grows_by_doubling_and_keeps_what_it_held():
    cache = KVCache(1, max_len=300)
    layer = cache[0]
    k = torch.randn(1, 2, 70, 4)
    keys, _ = layer.append(k, k)
    assert layer.keys.shape[2] == 70  # the first append: as long as it needs (at least 64)
    for i in range(80):
        keys, values = layer.append(torch.full((1, 2, 1, 4), float(i)), torch.full((1, 2, 1, 4), float(i)))
    assert layer.keys.shape[2] == 280 and cache.length == 150  # 70 -> 140 -> 280
    torch.testing.assert_close(keys[:, :, :70], k)
    assert keys[0, 0, 70:, 0].tolist() == [float(i) for i in range(80)]
    for _ in range(150):
        layer.append(torch.zeros(1, 2, 1, 4), torch.zeros(1, 2, 1, 4))
    assert layer.keys.shape[2] == 300  # never past max_len
    with pytest.raises(ValueError, match="holds 300"):
        layer.append(torch.zeros(1, 2, 1, 4), torch.zeros(1, 2, 1, 4))
    cache.reset()
    assert cache.length == 0


def test_attention_weights_are_causal_distributions():
    attn = attention_module()
    _, w = by_hand(attn, torch.randn(2, 6, 32))
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 6))
    above = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
    assert torch.all(w[..., above] == 0)
    assert torch.all(w[..., ~above] > 0)


def test_trace_attentions_and_hidden_states_match_forward():
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(**TINY)).eval()
    idx = torch.randint(0, 100, (1, 10))
    trace = model.trace(idx)
    torch.testing.assert_close(trace.logits, model(idx), rtol=1e-5, atol=1e-5)
    assert len(trace.attentions) == 2 and trace.attentions[0].shape == (1, 4, 10, 10)
    assert len(trace.hidden) == 3
    block = model.trf_blocks[0]
    _, weights = by_hand(block.attn, block.norm1(trace.hidden[0]))
    torch.testing.assert_close(trace.attentions[0], weights, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(trace.hidden[1], block(trace.hidden[0]), rtol=1e-5, atol=1e-6)
    assert not model.trf_blocks[0].attn.attend._forward_hooks  # the hooks are gone afterwards


def test_cached_model_forward_equals_full_forward():
    torch.manual_seed(0)
    model = GPTModel(ModelConfig(**TINY)).eval()
    idx = torch.randint(0, 100, (1, 12))
    full = model(idx)
    cache = model.new_cache()
    parts = [model(idx[:, :7], cache=cache), model(idx[:, 7:11], cache=cache), model(idx[:, 11:], cache=cache)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-5, atol=1e-5)
    assert cache.length == 12


def test_model_files_hold_only_the_maths():
    """Speed-ups swap in from pocketllm/speedups.py and quantize.py; the model never meets them."""
    from pathlib import Path
    import pocketllm.model as model_pkg
    for path in Path(model_pkg.__file__).parent.glob("*.py"):
        text = path.read_text().lower()
        for word in ("int8", "fused_qkv", "_fused", "_version", "def train(", "need_weights"):
            assert word not in text, (path.name, word)


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
