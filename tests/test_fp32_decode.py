"""fp32 generation (`to_precision(model, "fp32")`): weights stored input-major and the decoder's
split matmuls (`pocketllm/speedups.py` input_major_weights, `pocketllm/decoder.py` split_matmul)
give the plain model's logits and tokens, are the path the decoder takes, and never serve
weights older than the model's own."""
import copy

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, Sampling, generate_ids, load_model, save_checkpoint
from pocketllm import decoder as decoder_module
from pocketllm.decoder import Decoder
from pocketllm.model import MultiHeadAttention
from pocketllm.quantize import to_precision
from pocketllm.speedups import input_major
from pocketllm.tasks.lora import apply_lora

from fast_paths_fixtures import lively as lively_model
from test_decoder import decoder_steps, forward_steps, with_lora

SMALL = dict(vocab_size=300, context_length=96, emb_dim=32, num_heads=4, num_layers=2, drop_rate=0.0)


def family(arch: str) -> GPTModel:
    """A tiny random model of the family: GPT-2 (tied head, q/k/v biases) or Llama/Qwen3 (RoPE,
    SwiGLU, 2 kv heads for 4 query heads, an untied head)."""
    if arch == "gpt2":
        return lively_model(scale=4.0, vocab_size=300, context_length=96)
    torch.manual_seed(0)
    cfg = ModelConfig(**SMALL).with_arch(arch).replace(num_kv_heads=2, tie_embeddings=False)
    model = GPTModel(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)
    return model


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"{n}threads")
def threads(request):
    """Each thread count cuts the matmuls differently (3: the largest divisor of the width, 2)."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.parametrize("arch", ["gpt2", "llama", "qwen3"])
def test_fp32_decoding_gives_the_plain_models_logits_and_tokens(arch, threads):
    plain = family(arch)
    fast = to_precision(copy.deepcopy(plain), "fp32")
    ids = torch.randint(0, SMALL["vocab_size"], (1, 60), generator=torch.Generator().manual_seed(1))
    want, got = forward_steps(plain, ids, 5), decoder_steps(fast, ids, 5)
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-4)
    assert (want[0] - want[-1]).abs().max() > 0.1
    prompt = [5, 17, 42]
    greedy = list(generate_ids(plain, prompt, 40, Sampling(valid_utf8=False), stop_ids=()))
    assert list(generate_ids(fast, prompt, 40, Sampling(valid_utf8=False), stop_ids=())) == greedy
    assert len(set(greedy)) > 5


@pytest.mark.parametrize("arch", ["gpt2", "qwen3"])
def test_to_precision_fp32_lays_out_every_weight_and_the_decoder_uses_them(arch, monkeypatch):
    model = to_precision(family(arch), "fp32")
    for block in model.blocks:
        qkv = [block.attn.get_submodule(n) for n in MultiHeadAttention.LINEARS[:3]]
        assert input_major(qkv) is not None  # q/k/v: column blocks of one (in, q + k + v) matrix
        assert input_major([block.attn.out_proj]) is not None
    assert input_major([model.out_head]) is not None
    assert model.is_tied == (arch == "gpt2")
    # The decoder runs each group as one split matmul on that same memory (not on a copy).
    used = []
    real = decoder_module.split_matmul
    monkeypatch.setattr(decoder_module, "split_matmul", lambda m, b: used.append(m) or real(m, b))
    cache = model.new_cache()
    decoder = Decoder.for_model(model, cache)
    assert all(layer.q_k_v is None for layer in decoder.layers)
    assert len(used) == 4 * len(model.blocks) + 1  # q/k/v, out, fc1, fc2 (SwiGLU: gate/up, down); the head
    assert used[-1].data_ptr() == model.out_head.weight.data_ptr()
    assert used[0].data_ptr() == model.blocks[0].attn.W_query.weight.data_ptr()
    # A plain model's linears keep F.linear (no layout, no split).
    used.clear()
    Decoder.for_model(family(arch), cache)
    assert used == []


def test_the_model_stays_the_plain_model(tmp_path):
    plain = family("gpt2")
    fast = to_precision(copy.deepcopy(plain), "fp32")
    want, got = plain.state_dict(), fast.state_dict()
    assert list(got) == list(want)
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert sum(p.numel() for p in fast.parameters()) == sum(p.numel() for p in plain.parameters())
    ids = torch.randint(0, 300, (2, 20))
    with torch.inference_mode():
        torch.testing.assert_close(fast(ids), plain(ids), rtol=1e-5, atol=1e-4)
    save_checkpoint(tmp_path / "m.safetensors", fast)
    again = load_model(tmp_path / "m.safetensors").model.state_dict()
    assert all(torch.equal(again[k], want[k]) for k in want)
    assert to_precision(fast, "fp32") is fast  # a second call changes nothing
    assert all(torch.equal(fast.state_dict()[k], want[k]) for k in want)


def trained_step(model):
    """One AdamW step on random tokens: every weight moves, in place."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.randint(0, 300, (2, 16))
    logits = model(ids[:, :-1])
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten()).backward()
    opt.step()
    return model.eval()


@pytest.mark.parametrize("change", [
    pytest.param(trained_step, id="trained"),
    pytest.param(with_lora, id="lora"),
    pytest.param(lambda m: m.grow_vocab(310, [(300, 5, 6)]).eval(), id="grown-vocabulary"),
])
def test_a_model_changed_after_to_precision_decodes_its_new_weights(change):
    """There is no second copy to go stale: the decoder reads the model's own parameters."""
    model = to_precision(family("gpt2"), "fp32")
    ids = torch.randint(0, 300, (1, 30), generator=torch.Generator().manual_seed(2))
    before = forward_steps(model, ids, 5)
    model = change(model)
    want, got = forward_steps(model, ids, 5), decoder_steps(model, ids, 5)
    changed = want[-1].shape != before[-1].shape or (want[-1] - before[-1]).abs().max() > 1e-3
    assert changed  # more logits (a grown vocabulary) or other values
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-4)


def test_lora_on_a_laid_out_model_still_trains_only_the_adapter():
    model = to_precision(family("gpt2"), "fp32")
    apply_lora(model, rank=2, alpha=4)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all("lora_" in n for n in names)


def test_the_command_lines_fp32_generation_uses_the_laid_out_weights(tmp_path):
    """`generate` / `inspect` open an fp32 model through `open_model`: laid out as the page's is."""
    import argparse
    from pocketllm import ModelConfig, save_checkpoint
    from pocketllm.cli._common import open_model
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, GPTModel(ModelConfig(vocab_size=300, context_length=16, emb_dim=32, num_heads=2,
                                               num_layers=1)))
    for dtype in (None, "fp32"):
        model = open_model(argparse.Namespace(model_path=str(path), dtype=dtype)).model
        assert input_major([model.out_head]) is not None and input_major([model.blocks[0].attn.out_proj]) is not None
    assert input_major([open_model(argparse.Namespace(model_path=str(path), dtype="bf16")).model.out_head]) is None
