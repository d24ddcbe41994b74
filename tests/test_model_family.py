"""GPT-2, Llama and Qwen3 side by side: each family's parts, checked against `transformers`.

Tiny random models (a few thousand weights, scaled up so that a wrong layout shows) are
built both here and in transformers (no download); the weights go through the layout
table (`hf_layout.name_table`), and the logits must agree to 1e-5 in float32."""
from __future__ import annotations

import json

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, PocketLLMError
from pocketllm.hf_layout import config_from_hf, name_table

transformers = pytest.importorskip("transformers")

FAMILIES = ("llama", "qwen3")
TOL = 1e-5


def hf_config(family: str, **changes):
    common = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=48, rms_norm_eps=1e-5, tie_word_embeddings=False,
                  rope_theta=5000.0)
    common.update(changes)
    if family == "llama":
        return transformers.LlamaConfig(**common)
    return transformers.Qwen3Config(**{"head_dim": 24, **common})


def hf_model(family: str, seed: int = 0, **changes):
    """A random transformers model whose weights are big enough that every part matters."""
    torch.manual_seed(seed)
    config = hf_config(family, **changes)
    cls = transformers.LlamaForCausalLM if family == "llama" else transformers.Qwen3ForCausalLM
    model = cls(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.5 * torch.randn_like(p))  # norms away from 1, so a missing one shows
            else:
                p.normal_(0.0, 0.15)
    return model


def ours_from_hf(hf) -> GPTModel:
    cfg = config_from_hf(hf.config.to_dict())
    model = GPTModel(cfg).eval()
    sd = hf.state_dict()
    ours = {k: sd[v] for k, v in name_table(cfg).items()}
    missing, unexpected = model.load_state_dict(ours, strict=False)
    assert not unexpected and set(missing) <= {"out_head.weight"}
    if cfg.tie_embeddings:
        assert model.is_tied
    return model


def ids(n: int = 20, vocab: int = 97, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (2, n), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tied", [False, True])
def test_logits_equal_transformers(family, tied):
    hf = hf_model(family, tie_word_embeddings=tied)
    ours = ours_from_hf(hf)
    x = ids()
    with torch.no_grad():
        want = hf(x).logits
        got = ours(x)
    assert (got - want).abs().max().item() < TOL


def test_llama3_rope_scaling_equals_transformers():
    scaling = {"rope_type": "llama3", "rope_theta": 5000.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 16}
    hf = hf_model("llama", rope_parameters=scaling)
    ours = ours_from_hf(hf)
    assert ours.cfg.rope_scaling == (8.0, 1.0, 4.0, 16)
    x = ids(40)
    with torch.no_grad():
        assert (ours(x) - hf(x).logits).abs().max().item() < TOL


@pytest.mark.parametrize("family", FAMILIES)
def test_rope_equals_transformers_rotary_embedding(family):
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
    hf = hf_model(family)
    rotary = hf.model.rotary_emb
    head_dim = hf.config.head_dim
    q, k = torch.randn(2, 4, 10, head_dim), torch.randn(2, 2, 10, head_dim)
    positions = torch.arange(5, 15)[None]
    cos, sin = rotary(q, positions)
    want_q, want_k = apply_rotary_pos_emb(q, k, cos, sin)
    rope = ours_from_hf(hf).trf_blocks[0].attn.rope
    assert (rope(q, 5) - want_q).abs().max() < 1e-6 and (rope(k, 5) - want_k).abs().max() < 1e-6


@pytest.mark.parametrize("family", FAMILIES)
def test_kv_cache_step_equals_the_full_forward(family):
    ours = ours_from_hf(hf_model(family))
    x = ids(16)[:1]
    with torch.no_grad():
        full = ours(x)
        cache = ours.new_cache()
        first = ours(x[:, :9], cache=cache)
        steps = [ours(x[:, i:i + 1], cache=cache) for i in range(9, 16)]
    got = torch.cat([first] + steps, dim=1)
    assert (got - full).abs().max().item() < TOL


@pytest.mark.parametrize("family", FAMILIES)
def test_30_greedy_tokens_equal_transformers(family):
    from pocketllm.generation import Sampling, generate_ids
    hf = hf_model(family, max_position_embeddings=64)
    ours = ours_from_hf(hf)
    prompt = ids(5)[:1]
    want = hf.generate(prompt, max_new_tokens=30, do_sample=False, min_new_tokens=30)[0, 5:].tolist()
    got = list(generate_ids(ours, prompt[0].tolist(), 30, Sampling(valid_utf8=False), stop_ids=()))
    assert got == want


# ---- the fast paths: decoder, bf16, int8 ------------------------------------------------

def family_model(family: str, seed: int = 0) -> GPTModel:
    return ours_from_hf(hf_model(family, seed))


@pytest.mark.parametrize("family", FAMILIES)
def test_the_decoder_step_equals_the_forward(family):
    from pocketllm.decoder import Decoder
    model = family_model(family)
    x = ids(12)[:1]
    with torch.no_grad():
        full = model(x)[0]
        cache = model.new_cache()
        model(x[:, :6], cache=cache)
        decoder = Decoder.for_model(model, cache)
        assert decoder is not None  # the new parts have their step; no fallback
        steps = torch.stack([decoder.step(int(t)) for t in x[0, 6:]])
    assert (steps[:-1] - full[6:-1]).abs().max().item() < TOL


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_bf16_and_int8_swaps_keep_the_logits_close(family, precision):
    import copy
    from pocketllm.decoder import Decoder
    from pocketllm.quantize import to_precision
    model = family_model(family)
    x = ids(12)[:1]
    with torch.no_grad():
        want = model(x)[0, -1]
        fast = to_precision(copy.deepcopy(model), precision)
        got = fast(x)[0, -1].float()
        cache = fast.new_cache()
        fast(x[:, :-1], cache=cache)
        stepped = Decoder.for_model(fast, cache).step(int(x[0, -1])).float()
    scale = want.abs().max().item()
    assert (got - want).abs().max().item() < 0.1 * scale
    assert (stepped - got).abs().max().item() < 0.05 * scale
