"""GPT-2 weights in and out, checked against the reference implementation (`transformers`).

Every model here is random and tiny, built offline; nothing is downloaded.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from pocketllm import (GPTModel, ModelConfig, PocketLLMError, Sampling, build_model,  # noqa: E402
                       export_hf, generate_ids, import_gpt2, load_model)
from pocketllm.cli import main  # noqa: E402
from pocketllm.hf_layout import hf_to_pocketllm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IDS = torch.tensor([[15496, 11, 995, 13, 314, 716, 257, 50256, 3290, 0]])


def hf_model(n_head=2, n_embd=128, init=0.02, seed=0):
    torch.manual_seed(seed)
    cfg = GPT2Config(n_layer=2, n_embd=n_embd, n_head=n_head, n_positions=64, vocab_size=50257,
                     initializer_range=init, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # random biases and norms, so a swapped or untransposed tensor shows
        for name, p in model.named_parameters():
            if name.endswith("bias") or "ln_" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def hf_logits(model, ids=IDS):
    with torch.no_grad():
        return model(ids).logits


def ours_logits(model, ids=IDS):
    with torch.no_grad():
        return model(ids)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One random GPT-2 saved the three ways users meet it."""
    root = tmp_path_factory.mktemp("hf")
    model = hf_model()
    model.save_pretrained(root / "folder")  # config.json + model.safetensors
    (root / "bin").mkdir()
    torch.save(model.state_dict(), root / "bin" / "pytorch_model.bin")  # `transformer.` prefix
    (root / "bare").mkdir()
    torch.save(model.transformer.state_dict(), root / "bare" / "pytorch_model.bin")  # no prefix
    return model, root


# ---- import -------------------------------------------------------------------

@pytest.mark.parametrize("where", ["folder", "folder/model.safetensors", "bin/pytorch_model.bin",
                                   "bare/pytorch_model.bin"])
def test_import_gives_the_reference_logits(reference, where):
    hf, root = reference
    ckpt = import_gpt2(str(root / where))
    assert ckpt.source == "huggingface-gpt2"
    torch.testing.assert_close(ours_logits(ckpt.model), hf_logits(hf), atol=1e-5, rtol=0)


@pytest.mark.parametrize("where", ["folder/model.safetensors", "bin/pytorch_model.bin",
                                   "bare/pytorch_model.bin"])
def test_load_model_opens_hf_files_directly(reference, where):
    hf, root = reference
    ckpt = load_model(root / where)
    torch.testing.assert_close(ours_logits(ckpt.model), hf_logits(hf), atol=1e-5, rtol=0)


def test_config_is_read_from_the_tensors(reference):
    hf, root = reference
    cfg = import_gpt2(str(root / "bin" / "pytorch_model.bin")).config
    assert (cfg.num_layers, cfg.emb_dim, cfg.context_length, cfg.vocab_size) == \
        (hf.config.n_layer, hf.config.n_embd, hf.config.n_positions, hf.config.vocab_size)
    assert cfg.num_heads == hf.config.n_embd // 64  # OpenAI's heads are 64 wide
    assert cfg.tie_embeddings and cfg.qkv_bias


def test_head_count_comes_from_config_json_when_present(tmp_path):
    hf = hf_model(n_head=4)  # 32-wide heads: not guessable from the shapes
    hf.save_pretrained(tmp_path / "folder")
    ckpt = import_gpt2(str(tmp_path / "folder"))
    assert ckpt.config.num_heads == 4
    torch.testing.assert_close(ours_logits(ckpt.model), hf_logits(hf), atol=1e-5, rtol=0)
    alone = tmp_path / "alone"  # the same weights without their config.json
    alone.mkdir()
    shutil.copy(tmp_path / "folder" / "model.safetensors", alone)
    assert import_gpt2(str(alone / "model.safetensors")).config.num_heads == 2


def test_untied_lm_head_is_kept(tmp_path):
    hf = hf_model()
    hf.config.tie_word_embeddings = False
    hf.lm_head.weight = torch.nn.Parameter(torch.randn_like(hf.lm_head.weight) * 0.02)
    torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    ckpt = import_gpt2(str(tmp_path / "pytorch_model.bin"))
    assert not ckpt.model.is_tied
    torch.testing.assert_close(ours_logits(ckpt.model), hf_logits(hf), atol=1e-5, rtol=0)


# ---- export -------------------------------------------------------------------

@pytest.mark.parametrize("tied", [True, False])
def test_export_loads_in_transformers_with_equal_logits(tmp_path, tied):
    torch.manual_seed(1)
    cfg = ModelConfig(vocab_size=50257, context_length=48, emb_dim=64, num_heads=4, num_layers=2,
                      drop_rate=0.0, qkv_bias=True, tie_embeddings=tied)
    ours = GPTModel(cfg).eval()
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    export_hf(ours, tmp_path / "out")
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert (config["n_layer"], config["n_embd"], config["n_head"], config["n_positions"]) == (2, 64, 4, 48)
    hf = GPT2LMHeadModel.from_pretrained(tmp_path / "out").eval()
    torch.testing.assert_close(hf_logits(hf), ours_logits(ours), atol=1e-5, rtol=0)
    with pytest.raises(PocketLLMError, match="already exists"):
        export_hf(ours, tmp_path / "out")
    # and back again: import of the export is the same model
    back = import_gpt2(str(tmp_path / "out")).model
    torch.testing.assert_close(ours_logits(back), ours_logits(ours), atol=0, rtol=0)


# ---- generation -----------------------------------------------------------------

def test_greedy_generation_matches_transformers_token_for_token(tmp_path):
    hf = hf_model(init=0.3, seed=3)  # large weights: greedy output is not one token repeated
    hf.save_pretrained(tmp_path / "m")
    ours = import_gpt2(str(tmp_path / "m")).model
    prompt = [15496, 11, 616, 1438, 318]
    new = 40
    with torch.no_grad():
        ref = hf.generate(torch.tensor([prompt]), max_new_tokens=new, do_sample=False,
                          eos_token_id=None, pad_token_id=0)[0, len(prompt):].tolist()
    got = list(generate_ids(ours, prompt, new, Sampling(), stop_ids=()))
    assert len(set(ref)) > 5, "reference output is degenerate; the comparison would be weak"
    assert got == ref


# ---- memory ---------------------------------------------------------------------

def _mapped_ranges(path):
    """Address ranges where `path` is memory-mapped into this process."""
    ranges = []
    target = os.path.realpath(path)
    with open("/proc/self/maps") as fh:
        for line in fh:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].strip() == target:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                ranges.append((lo, hi))
    return ranges


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_bin_import_maps_the_file_instead_of_copying_it(reference):
    """The largest tensor (the token embedding) is used straight from the mapped file."""
    _, root = reference
    path = root / "bin" / "pytorch_model.bin"
    ckpt = import_gpt2(str(path))
    ptr = ckpt.model.tok_emb.weight.data_ptr()
    assert any(lo <= ptr < hi for lo, hi in _mapped_ranges(path))


def test_conversion_and_build_do_not_copy_untransposed_tensors(reference):
    hf, _ = reference
    sd = hf.state_dict()
    converted = hf_to_pocketllm(sd)
    assert converted["tok_emb.weight"].data_ptr() == sd["transformer.wte.weight"].data_ptr()
    cfg = ModelConfig(vocab_size=50257, context_length=64, emb_dim=128, num_heads=2, num_layers=2,
                      drop_rate=0.0, qkv_bias=True)
    model = build_model(cfg, converted, {"type": "pretrain"})  # on meta, tensors assigned
    assert model.is_tied
    for name, p in model.state_dict().items():
        source = converted["tok_emb.weight" if name == "out_head.weight" else name]
        assert p.device.type == "cpu" and p.data_ptr() == source.data_ptr(), name


_RSS_SCRIPT = r"""
import sys, threading, time
from pocketllm import import_gpt2
def anon_kb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
base = anon_kb(); peak = [base]; done = False
def watch():
    while not done:
        peak[0] = max(peak[0], anon_kb()); time.sleep(0.002)
t = threading.Thread(target=watch); t.start()
ckpt = import_gpt2(sys.argv[1])
done = True; t.join()
peak[0] = max(peak[0], anon_kb())
params = sum(p.numel() * p.element_size() for p in ckpt.model.parameters())
print((peak[0] - base) * 1024 / params)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("fmt", ["bin", "safetensors"])
def test_import_peak_memory_is_about_one_copy(tmp_path, fmt):
    """A 355M import must not hold two full copies: measured on a ~100 MB random model."""
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=6, n_embd=384, n_head=6, n_positions=256, vocab_size=50257)
    hf = GPT2LMHeadModel(cfg)
    if fmt == "bin":
        path = tmp_path / "pytorch_model.bin"
        torch.save(hf.state_dict(), path)
    else:
        hf.save_pretrained(tmp_path)
        path = tmp_path / "model.safetensors"
    del hf
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    ratio = float(out.stdout.strip().splitlines()[-1])
    assert ratio < 1.5, f"peak private memory was {ratio:.2f}x the weights"


# ---- download ---------------------------------------------------------------------

def test_offline_download_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # so "gpt2" is not a local folder
    with pytest.raises(PocketLLMError) as info:
        import_gpt2("gpt2", cache_dir=tmp_path / "hub")
    message = str(info.value)
    assert "openai-community/gpt2" in message and "model.safetensors" in message
    assert "path" in message


# ---- command line -------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_runs(reference, tmp_path_factory):
    """The commands run as a user runs them, in parallel subprocesses (each pays for torch)."""
    _, root = reference
    out = tmp_path_factory.mktemp("cli")
    binary = str(root / "bin" / "pytorch_model.bin")
    commands = {  # the other commands run in-process below (the same code, minus torch's start-up)
        "import": ["import-gpt2", "--from", binary, "--model_path", str(out / "imported.safetensors")],
        "generate_bin": ["generate", "--model_path", binary, "--prompt", "hi", "--max_new_tokens", "5"],
    }
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "HF_HUB_OFFLINE": "1"}
    procs = {name: subprocess.Popen([sys.executable, "-m", "pocketllm", *args], cwd=ROOT, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, args in commands.items()}
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=180)
        results[name] = (proc.returncode, stdout.decode(), stderr.decode())
    return out, results


def test_cli_import_then_generate(reference, cli_runs, capsys):
    hf, _ = reference
    out, results = cli_runs
    code, stdout, stderr = results["import"]
    assert code == 0, stderr
    imported = out / "imported.safetensors"
    torch.testing.assert_close(ours_logits(load_model(imported).model), hf_logits(hf), atol=1e-5, rtol=0)
    assert main(["generate", "--model_path", str(imported), "--prompt", "hi", "--max_new_tokens", "5"]) == 0
    from_checkpoint = capsys.readouterr().out
    code, from_bin, stderr = results["generate_bin"]
    assert code == 0, stderr
    assert from_bin.startswith("hi") and from_bin == from_checkpoint  # same weights, same greedy text


def test_cli_refuses_to_overwrite_without_flag(reference, tmp_path, capsys):
    _, root = reference
    target = tmp_path / "existing.safetensors"
    target.write_bytes(b"precious")
    assert main(["import-gpt2", "--from", str(root / "bin" / "pytorch_model.bin"),
                 "--model_path", str(target)]) != 0
    stderr = capsys.readouterr().err
    assert "already exists" in stderr and "--overwrite" in stderr
    assert target.read_bytes() == b"precious"
    assert main(["import-gpt2", "--from", str(root / "bin" / "pytorch_model.bin"),
                 "--model_path", str(target), "--overwrite"]) == 0
    assert load_model(target).source == "pocketllm"


def test_cli_export_hf(reference, tmp_path):
    hf, root = reference
    assert main(["export-hf", "--model_path", str(root / "bin" / "pytorch_model.bin"),
                 "--out_dir", str(tmp_path / "hf")]) == 0
    back = GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    torch.testing.assert_close(hf_logits(back), hf_logits(hf), atol=1e-5, rtol=0)


def test_download_fails_fast_with_a_clear_message_when_the_hub_is_unreachable(monkeypatch):
    import socket
    import time
    from pocketllm import PocketLLMError, import_gpt2
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    def refuse(*args, **kwargs):
        raise OSError("Name or service not known")
    monkeypatch.setattr(socket, "create_connection", refuse)
    start = time.perf_counter()
    with pytest.raises(PocketLLMError, match="cannot be reached.*pass its path"):
        import_gpt2("gpt2-medium")
    assert time.perf_counter() - start < 2  # no retries
