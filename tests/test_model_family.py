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
    cfg = ModelConfig.from_dict(config_from_hf(hf.config.to_dict()))
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


# ---- training a family from the command line -------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_pretrain_arch_trains_and_its_checkpoint_reloads_with_arch_in_the_header(tmp_path, capsys, family):
    import random

    from pocketllm.checkpoint import load_model, read_header
    from pocketllm.cli import main
    from pocketllm.cli.argv import to_argv
    from pocketllm.tasks.language_modeling import PretrainSettings
    rng = random.Random(0)
    words = "the cat sat on a mat and then slept 猫 坐 在 垫 子 上".split()
    (tmp_path / "corpus.txt").write_text(
        "\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(300)) + "\n", encoding="utf-8")
    (tmp_path / "tiny.json").write_text(json.dumps(dict(
        vocab_size=50257, context_length=32, emb_dim=32, num_heads=4, num_layers=2, drop_rate=0.0, qkv_bias=True)))
    out = tmp_path / "out.safetensors"
    assert main(["pretrain", "--arch", family, "--config", str(tmp_path / "tiny.json"),
                 "--data_path", str(tmp_path / "corpus.txt"), "--model_path", str(out), "--run_dir",
                 str(tmp_path / "run"), "--max_steps", "3", "--batch_size", "2", "--context_length", "16",
                 "--eval_every", "0", "--sample_every", "0", "--dtype", "fp32", "--threads", "1", "--quiet"]) == 0
    assert "finished at step 3" in capsys.readouterr().out
    header = read_header(out)["config"]
    assert header["arch"] == family and header["position"] == "rope" and header["emb_dim"] == 32
    ckpt = load_model(out)
    assert ckpt.config.arch == family and ckpt.config.qk_norm == (family == "qwen3")
    assert ckpt.config.context_length == 16  # the preset's sizes, with the run's context
    assert main(["generate", "--model_path", str(out), "--prompt", "the cat", "--max_new_tokens", "5"]) == 0
    assert "the cat" in capsys.readouterr().out
    assert "--arch " + family in " ".join(to_argv(PretrainSettings(arch=family)))


def test_arch_keeps_a_presets_sizes_and_gpt2_configs_write_their_old_keys():
    small = ModelConfig.load("cpu-small")
    qwen = small.with_arch("qwen3")
    assert (qwen.emb_dim, qwen.num_heads, qwen.num_layers, qwen.context_length) == (256, 4, 4, 256)
    assert (qwen.norm, qwen.mlp, qwen.position, qwen.qk_norm, qwen.bias) == ("rmsnorm", "swiglu", "rope", True, False)
    assert "arch" not in small.to_dict() and ModelConfig.from_dict(qwen.to_dict()) == qwen
    with torch.device("meta"):
        for cfg in (small, qwen, ModelConfig.load("qwen3-0.6B"), ModelConfig.load("llama-3.2-1B")):
            assert cfg.num_parameters() == GPTModel(cfg).num_parameters()
    assert f"{ModelConfig.load('qwen3-0.6B').num_parameters():,}" == "596,049,920"  # Qwen3-0.6B's published 0.6 B


@pytest.mark.parametrize("changes,code", [
    ({"arch": "mamba"}, "config.bad_choice"), ({"norm": "batchnorm"}, "config.bad_choice"),
    ({"num_kv_heads": 3}, "config.kv_heads_do_not_divide"), ({"head_dim": 7, "arch": "llama"}, "config.odd_head_dim"),
    ({"rope_theta": -1}, "config.out_of_range"), ({"hidden_dim": 1 << 30}, "config.too_large"),
    ({"rope_scaling": {"factor": 8}}, "config.bad_rope_scaling"),
])
def test_bad_parts_are_coded_problems(changes, code):
    base = dict(vocab_size=100, context_length=16, emb_dim=32, num_heads=4, num_layers=2, drop_rate=0.0,
                qkv_bias=False)
    with pytest.raises(PocketLLMError) as info:
        ModelConfig.from_dict({**base, **changes})
    assert info.value.code == "config.invalid"
    assert code in [p.code for p in info.value.values["problems"].phrases]


# ---- LoRA, inspect, describe on every family ------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_lora_targets_are_named_per_family_and_train_nothing_else(family):
    from pocketllm.tasks.lora import apply_lora, merge_lora
    model = family_model(family)
    x = ids(8)
    with torch.no_grad():
        before = model(x)
    wrapped = apply_lora(model, rank=2, alpha=4, keep_trainable=())
    assert {name.rsplit(".", 1)[-1] for name in wrapped} == {"W_query", "W_key", "W_value", "out_proj", "gate", "up",
                                                              "down"}
    assert len(wrapped) == 7 * model.cfg.num_layers
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():
        assert torch.equal(model(x), before)  # B starts at zero
    merge_lora(model)


@pytest.mark.parametrize("family", FAMILIES)
def test_trace_and_the_inspect_views_work(family):
    from pocketllm import inspect as look
    from pocketllm.describe import parameter_breakdown
    from pocketllm.tokenizer import gpt2_tokenizer
    hf = hf_model(family, vocab_size=50257)
    model = ours_from_hf(hf)
    trace = model.trace(ids(6, 50257)[:1])
    assert len(trace.attentions) == 2 and trace.attentions[0].shape == (1, 4, 6, 6)  # one map per query head
    assert torch.allclose(trace.attentions[0].sum(-1), torch.ones(1, 4, 6), atol=1e-5)
    tok = gpt2_tokenizer()
    maps = look.attention(model, "the cat sat", tok)
    assert maps.num_heads == 4
    lens = look.logit_lens(model, "the cat sat", tokenizer=tok)
    assert len(lens.top1_labels) == 3  # embeddings + 2 blocks
    pm = look.parameter_map(model)
    assert pm.total_parameters == model.num_parameters()
    rows = {r["component"]: r["parameters"] for r in parameter_breakdown(model)}
    assert "other" not in rows and sum(rows.values()) == model.num_parameters()


# ---- Hugging Face folders in and out ----------------------------------------------------

def saved_folder(tmp_path, family, dtype=torch.float32, **save_args):
    hf = hf_model(family, tie_word_embeddings=family == "qwen3").to(dtype)
    folder = tmp_path / f"hf-{family}"
    hf.save_pretrained(folder, **save_args)
    return hf, folder


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("sharded", [False, True])
def test_import_hf_then_export_hf_gives_transformers_the_same_logits(tmp_path, capsys, family, sharded):
    from pocketllm.checkpoint import load_model
    from pocketllm.cli import main
    hf, folder = saved_folder(tmp_path, family, **({"max_shard_size": "20KB"} if sharded else {}))
    assert (folder / "model.safetensors.index.json").is_file() == sharded
    ckpt_path = tmp_path / "imported.safetensors"
    assert main(["import-hf", "--from", str(folder), "--model_path", str(ckpt_path)]) == 0
    said = capsys.readouterr().out
    assert f"imported {family}" in said and "tokenizer.json is not carried" in said
    ckpt = load_model(ckpt_path)
    assert ckpt.config.arch == family and ckpt.config.tie_embeddings == (family == "qwen3")
    x = ids()
    with torch.no_grad():
        want = hf(x).logits
        assert (ckpt.model(x) - want).abs().max().item() < TOL
    out = tmp_path / "exported"
    assert main(["export-hf", "--model_path", str(ckpt_path), "--out_dir", str(out)]) == 0
    back = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(back).__name__ == type(hf).__name__
    with torch.no_grad():
        assert (back(x).logits - want).abs().max().item() < TOL


def test_bf16_stays_bf16_and_a_misfit_is_said_before_reading(tmp_path):
    from pocketllm.huggingface import import_hf
    hf, folder = saved_folder(tmp_path, "qwen3", dtype=torch.bfloat16)
    ckpt = import_hf(folder)
    assert {p.dtype for p in ckpt.model.parameters()} == {torch.bfloat16}
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "intermediate_size": 128}))
    with pytest.raises(PocketLLMError) as info:
        import_hf(folder)
    assert info.value.code == "hf.does_not_fit" and "mlp.gate_proj" in str(info.value)
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["MambaForCausalLM"],
                                                    "model_type": "mamba"}))
    with pytest.raises(PocketLLMError) as info:
        import_hf(folder)
    assert info.value.code == "hf.unknown_architecture"


def test_import_hf_reads_a_gpt2_folder_too(tmp_path):
    from pocketllm.huggingface import import_hf
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=50257, n_positions=32, n_embd=32, n_layer=2,
                                                              n_head=4)).eval()
    hf.save_pretrained(tmp_path / "g")
    ckpt = import_hf(tmp_path / "g")
    x = ids(10, 50257)
    with torch.no_grad():
        assert (ckpt.model(x) - hf(x).logits).abs().max().item() < TOL
    assert ckpt.config.arch == "gpt2" and ckpt.tokenizer.kind == "gpt2"


def test_a_hub_name_downloads_when_online_and_says_what_to_do_offline(tmp_path, monkeypatch, capsys):
    """`import-hf --from Qwen/Qwen3-0.6B`: the hub's folder when online; offline, the command to run elsewhere."""
    from pocketllm import hub
    from pocketllm.cli import main
    from pocketllm.errors import PocketLLMError
    from pocketllm.huggingface import hub_folder, import_hf
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PocketLLMError) as err:
        import_hf("Qwen/Qwen3-0.6B")
    assert err.value.code == "hf.offline" and "huggingface-cli download Qwen/Qwen3-0.6B" in str(err.value)
    assert main(["import-hf", "--from", "Qwen/Qwen3-0.6B", "--model_path", str(tmp_path / "q.safetensors")]) == 2
    assert "offline" in capsys.readouterr().err and not (tmp_path / "q.safetensors").exists()
    assert hub_folder(str(tmp_path)) is None and hub_folder("not a name") is None  # paths stay paths
    hf, folder = saved_folder(tmp_path, "qwen3")
    asked = []

    def snapshot_download(repo, allow_patterns):
        asked.append((repo, allow_patterns))
        return str(folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hub, "_reachable", lambda host, timeout=3.0: True)
    monkeypatch.setattr("huggingface_hub.snapshot_download", snapshot_download)
    ckpt = import_hf("Qwen/Qwen3-0.6B")
    assert asked[0][0] == "Qwen/Qwen3-0.6B" and "*.safetensors" in asked[0][1] and "tokenizer.json" in asked[0][1]
    with torch.no_grad():
        assert (ckpt.model(ids()) - hf(ids()).logits).abs().max().item() < TOL
