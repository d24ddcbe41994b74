"""Int8 weight-only generation: close to fp32, faster to read, opt-in."""
import pytest
import torch

from pocketllm import GPTModel, ModelConfig, PocketLLMError, Sampling, generate_ids
from pocketllm.quantize import Int8Linear, quantize_int8, to_precision


def _model(seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=50257, context_length=32, emb_dim=64, num_heads=4, num_layers=2,
                      drop_rate=0.0, qkv_bias=True)
    model = GPTModel(cfg).eval()
    with torch.no_grad():  # larger weights than the init, so predictions are not near-ties
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(4)
    return model


def test_int8_linear_matches_float_to_about_one_percent():
    lin = torch.nn.Linear(64, 96)
    q = Int8Linear.from_linear(lin, torch.float32)
    x = torch.randn(5, 64)
    ref, out = lin(x), q(x)
    assert q.qweight.dtype == torch.int8 and q.qweight.shape == (96, 64)
    assert (out - ref).norm() / ref.norm() < 0.02


def test_quantized_model_predicts_like_fp32_and_keeps_generating():
    fp32 = _model()
    q = quantize_int8(_model())
    x = torch.randint(0, 50257, (1, 20))
    with torch.no_grad():
        a, b = fp32(x), q(x).float()
    # Logits within a few percent, and mostly the same next-token choice (random weights
    # have near-ties, so a few flips are expected).
    assert (a - b).norm() / a.norm() < 0.05
    agree = (a.argmax(-1) == b.argmax(-1)).float().mean().item()
    assert agree >= 0.8
    assert isinstance(q.out_head, Int8Linear) and q.trf_blocks[0].attn.qkv_int8 is not None
    ids = list(generate_ids(q, [1, 2, 3], 40, Sampling(), stop_ids=()))  # slides past the context
    assert len(ids) == 40
    assert list(generate_ids(q, [1, 2, 3], 40, Sampling(), stop_ids=(), use_cache=False)) == ids


def test_quantized_weights_take_a_quarter_of_fp32_bytes():
    model = _model()
    fp32_bytes = sum(p.numel() * 4 for n, p in model.named_parameters() if ".attn." in n or ".ffn." in n)
    q = quantize_int8(model)
    int8_bytes = sum(b.numel() * b.element_size() for n, b in q.named_buffers() if n.endswith("qweight")
                     and n.startswith("trf_blocks"))
    assert int8_bytes * 4 <= fp32_bytes * 1.01


def test_to_precision_names():
    assert to_precision(_model(), "bf16").tok_emb.weight.dtype == torch.bfloat16
    assert to_precision(_model(), "fp32").tok_emb.weight.dtype == torch.float32
    with pytest.raises(PocketLLMError, match="Unknown precision"):
        to_precision(_model(), "int4")


def test_cli_generate_int8(tmp_path, capsys):
    from pocketllm import save_checkpoint
    from pocketllm.cli import main
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, _model())
    assert main(["generate", "--model_path", str(path), "--prompt", "Hello", "--max_new_tokens", "5",
                 "--dtype", "int8"]) == 0
    assert capsys.readouterr().out.startswith("Hello")
