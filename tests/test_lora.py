"""LoRA: only the adapters learn; merged weights give the same outputs; saved files stay standard."""
import pytest
import torch
from torch import nn

from pocketllm import GPTModel, PocketLLMError, load_model, save_checkpoint
from pocketllm.tasks.lora import (LoRALinear, apply_lora, count_trainable, load_adapters, lora_layers,
                                  merge_lora, save_adapters)


def _randomize_adapters(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g) * 0.05)


def test_apply_wraps_attention_and_feed_forward_and_starts_as_the_base(tiny_model, tiny_config):
    idx = torch.randint(0, 1000, (2, 12))
    before = tiny_model(idx)
    layers = apply_lora(tiny_model, rank=4, alpha=8, keep_trainable=())
    assert len(layers) == 6 * tiny_config.num_layers
    assert all(name.endswith(("W_query", "W_key", "W_value", "out_proj", "layers.0", "layers.2")) for name in layers)
    torch.testing.assert_close(tiny_model(idx), before)  # B = 0: no change yet
    trainable = {n for n, p in tiny_model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    n_train, n_total = count_trainable(tiny_model)
    assert n_train == sum(4 * (m.in_features + m.out_features) for m in layers.values()) < n_total // 10


def test_training_changes_only_the_adapters(tiny_model):
    apply_lora(tiny_model, rank=2, alpha=4, keep_trainable=())
    before = {n: p.detach().clone() for n, p in tiny_model.named_parameters()}
    opt = torch.optim.AdamW([p for p in tiny_model.parameters() if p.requires_grad], lr=1e-2)
    idx = torch.randint(0, 1000, (4, 10))
    for _ in range(3):
        logits = tiny_model(idx[:, :-1])
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), idx[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad()
    changed = {n for n, p in tiny_model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {n for n in before if n.endswith(("lora_A", "lora_B"))}


def test_merged_model_gives_the_same_outputs_and_plain_linears(tiny_model):
    apply_lora(tiny_model, rank=4, alpha=16, keep_trainable=())
    _randomize_adapters(tiny_model)
    idx = torch.randint(0, 1000, (2, 16))
    unmerged = tiny_model(idx)
    base_names = set(GPTModel(tiny_model.cfg).state_dict())
    assert set(tiny_model.state_dict()) == base_names  # state dicts hold merged weights only
    merge_lora(tiny_model)
    assert not lora_layers(tiny_model)
    assert all(type(m) is nn.Linear for m in tiny_model.modules() if isinstance(m, nn.Linear))
    torch.testing.assert_close(tiny_model(idx), unmerged, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(GPTModel(tiny_model.cfg)(idx), unmerged)  # sanity: it is not trivially equal


def test_checkpoint_of_a_lora_model_is_a_plain_checkpoint(tiny_model, tmp_path):
    apply_lora(tiny_model, rank=4, alpha=8, keep_trainable=())
    _randomize_adapters(tiny_model)
    idx = torch.randint(0, 1000, (1, 8))
    expected = tiny_model(idx)
    path = save_checkpoint(tmp_path / "m.safetensors", tiny_model)
    loaded = load_model(path).model
    torch.testing.assert_close(loaded(idx), expected, atol=1e-5, rtol=1e-5)


def test_adapters_saved_apart_reload_onto_the_base(tiny_config, tmp_path):
    torch.manual_seed(0)
    base = GPTModel(tiny_config).eval()
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    apply_lora(base, rank=3, alpha=6, keep_trainable=())
    _randomize_adapters(base, seed=7)
    idx = torch.randint(0, 1000, (1, 8))
    expected = base(idx)
    path = save_adapters(tmp_path / "a.lora.safetensors", base, base="base.safetensors")
    fresh = GPTModel(tiny_config).eval()
    fresh.load_state_dict(base_state)
    load_adapters(fresh, path, merge=True)
    torch.testing.assert_close(fresh(idx), expected, atol=1e-5, rtol=1e-5)
    other = GPTModel(tiny_config.replace(emb_dim=64)).eval()
    with pytest.raises(PocketLLMError, match="does not fit"):
        load_adapters(other, path)


def test_bad_lora_settings(tiny_model):
    with pytest.raises(PocketLLMError, match="rank"):
        apply_lora(tiny_model, rank=0)
    with pytest.raises(PocketLLMError, match="alpha"):
        apply_lora(tiny_model, rank=2, alpha=0)
    with pytest.raises(PocketLLMError, match="no linear layer"):
        apply_lora(tiny_model, rank=2, targets=("nothing.here",))
    apply_lora(tiny_model, rank=2)
    with pytest.raises(PocketLLMError, match="already"):
        apply_lora(tiny_model, rank=2)
    assert isinstance(tiny_model.trf_blocks[0].attn.W_query, LoRALinear)
