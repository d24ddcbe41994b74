"""The swapped-in speed-ups compute what the plain model computes."""
import copy

import pytest
import torch

from pocketllm import Sampling, generate_ids, save_checkpoint, load_model
from pocketllm.quantize import to_precision
from pocketllm.speedups import FusedQKVAttention, PackedLinear, fuse_qkv, packed_bf16_available

from fast_paths_fixtures import TEXT, encode, lively, trained_char_model

@pytest.fixture(scope="module")
def shakespeare_model():
    return trained_char_model()


@pytest.mark.parametrize("qkv_bias", [True, False])
def test_fused_qkv_gives_the_plain_logits_and_tokens(qkv_bias):
    plain = lively(qkv_bias=qkv_bias)
    fused = fuse_qkv(copy.deepcopy(plain))
    assert all(isinstance(b.attn, FusedQKVAttention) for b in fused.trf_blocks)
    assert not any(hasattr(b.attn, "W_query") for b in fused.trf_blocks)  # moved, not copied
    x = torch.randint(0, 50257, (2, 20))
    with torch.no_grad():
        torch.testing.assert_close(fused(x), plain(x), rtol=1e-5, atol=1e-4)
    prompt = [15496, 11, 995, 13]
    want = list(generate_ids(plain, prompt, 50, Sampling(), stop_ids=()))  # past the context of 32
    assert len(set(want)) > 5
    assert list(generate_ids(fused, prompt, 50, Sampling(), stop_ids=())) == want
    trace = fused.trace(x[:1])
    torch.testing.assert_close(trace.attentions[1], plain.trace(x[:1]).attentions[1])


def test_fused_qkv_keeps_the_plain_greedy_text_on_real_text(shakespeare_model):
    fast = fuse_qkv(copy.deepcopy(shakespeare_model))
    for prompt in ("ROMEO:\n", "First Citizen:\nWe are"):
        ids = encode(prompt)
        assert (list(generate_ids(fast, ids, 40, Sampling(), stop_ids=()))
                == list(generate_ids(shakespeare_model, ids, 40, Sampling(), stop_ids=())))


def test_bf16_gives_the_tokens_of_plain_bf16_and_of_fp32_on_real_text(shakespeare_model):
    fast = to_precision(copy.deepcopy(shakespeare_model), "bf16")
    plain_bf16 = copy.deepcopy(shakespeare_model).to(torch.bfloat16)
    if packed_bf16_available():
        assert isinstance(fast.out_head, PackedLinear)
    windows = torch.tensor([encode(TEXT[s:s + 64]) for s in range(150_000, 158_000, 1000)])
    with torch.no_grad():
        a, b, c = shakespeare_model(windows), fast(windows).float(), plain_bf16(windows).float()
    assert (a - b).norm() / a.norm() < 0.02 and (c - b).norm() / c.norm() < 0.02
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() >= 0.97
    ids = encode("KING HENRY")
    assert (list(generate_ids(fast, ids, 30, Sampling(), stop_ids=()))
            == list(generate_ids(shakespeare_model, ids, 30, Sampling(), stop_ids=())))


def test_swapped_model_is_for_generation_and_the_file_still_loads(tmp_path):
    """The checkpoint's names are the plain model's: a speed-up never reaches the file."""
    model = lively()
    save_checkpoint(tmp_path / "m.safetensors", model)
    ckpt = load_model(tmp_path / "m.safetensors")
    assert set(ckpt.model.state_dict()) == set(model.state_dict())
    to_precision(ckpt.model, "int8")
    again = load_model(tmp_path / "m.safetensors")
    with torch.no_grad():
        x = torch.randint(0, 50257, (1, 8))
        torch.testing.assert_close(again.model(x), model(x))
