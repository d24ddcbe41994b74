"""Checkpoints: round trips, atomic writes, and every kind of bad file getting a clear message."""
import json
import math
import os
import pickle

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file

import pocketllm.checkpoint as ckmod
from pocketllm import GPTModel, ModelConfig, PocketLLMError, TaskKind, load_model, read_header, save_checkpoint

TINY = dict(vocab_size=100, context_length=16, emb_dim=32, num_heads=4, num_layers=2,
            drop_rate=0.0, qkv_bias=True)


def make_model(seed=0, **changes):
    torch.manual_seed(seed)
    return GPTModel(ModelConfig(**{**TINY, **changes})).eval()


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert sa[name].dtype == sb[name].dtype, name
        assert torch.equal(sa[name], sb[name]), name


IDX = torch.tensor([[5, 17, 42, 99, 0, 3]])


# ---- round trips ---------------------------------------------------------------------

def test_language_model_round_trip(tmp_path):
    model = make_model()
    facts = {"steps": 120, "tokens_seen": 61_440, "last_losses": {"train": 3.21, "val": 3.57},
             "note": "西游记 第一回"}
    path = save_checkpoint(tmp_path / "lm.safetensors", model, facts=facts)
    ckpt = load_model(path)
    assert_same_weights(ckpt.model, model)
    assert ckpt.config == model.cfg
    assert ckpt.task == {"type": "pretrain"} and ckpt.task_type == TaskKind.PRETRAIN
    for key, value in facts.items():
        assert ckpt.facts[key] == value
    assert "saved_at" in ckpt.facts
    assert ckpt.source == "pocketllm" and ckpt.path == path
    assert not ckpt.model.training
    torch.testing.assert_close(ckpt.model(IDX), model(IDX), rtol=0, atol=0)
    header = read_header(path)
    assert header["config"] == model.cfg.to_dict() and header["facts"] == ckpt.facts


def test_classifier_round_trip_keeps_chinese_labels(tmp_path):
    model = make_model().set_classifier_head(3)
    with torch.no_grad():
        model.out_head.bias.normal_()
    labels = ["垃圾短信", "正常", "not sure"]
    path = save_checkpoint(tmp_path / "cls.safetensors", model, task={"type": TaskKind.CLASSIFY, "labels": labels})
    ckpt = load_model(path)
    assert ckpt.task == {"type": "classify", "labels": labels}
    assert ckpt.model.out_head.weight.shape == (3, 32) and not ckpt.model.is_tied
    assert_same_weights(ckpt.model, model)
    assert ckpt.model(IDX).shape == (1, 6, 3)
    assert read_header(path)["task"]["labels"] == labels


@pytest.mark.parametrize("old, kind", [("language_model", TaskKind.PRETRAIN), ("classifier", TaskKind.CLASSIFY),
                                       ("instruct", TaskKind.INSTRUCT)])
def test_files_with_the_old_task_names_load_as_the_same_kinds(tmp_path, old, kind):
    model = make_model()
    task = {"type": old}
    if kind is TaskKind.CLASSIFY:
        model.set_classifier_head(2)
        task["labels"] = ["ham", "spam"]
    path = tmp_path / "old.safetensors"
    tensors = {k: v.contiguous() for k, v in model.state_dict().items() if not (k == "out_head.weight" and model.is_tied)}
    save_file(tensors, str(path), metadata={"format": "pt", "pocketllm": "1", "config": json.dumps(model.cfg.to_dict()),
                                            "task": json.dumps(task), "facts": "{}"})
    ckpt = load_model(path)
    assert ckpt.task_type == kind and ckpt.task["type"] == kind.value
    assert read_header(path)["task"]["type"] == kind.value
    assert ckpt.model.num_classes == (2 if kind is TaskKind.CLASSIFY else None)


def test_a_task_given_in_an_old_spelling_is_saved_in_the_house_name(tmp_path):
    model = make_model().set_classifier_head(2)
    path = save_checkpoint(tmp_path / "c.safetensors", model, task={"type": "classifier", "labels": ["a", "b"]})
    with safe_open(str(path), framework="pt") as f:
        assert json.loads(f.metadata()["task"])["type"] == "classify"
    assert ckmod.Checkpoint(model, model.cfg, {"type": "language_model"}).task_type is TaskKind.PRETRAIN


def test_instruct_round_trip_keeps_template(tmp_path):
    model = make_model()
    template = "Below is an instruction.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
    task = {"type": "instruct", "template": template}
    ckpt = load_model(save_checkpoint(tmp_path / "inst.safetensors", model, task=task))
    assert ckpt.task == task and ckpt.task_type == "instruct"
    assert ckpt.model.is_tied
    assert_same_weights(ckpt.model, model)


def test_tied_weight_is_stored_once_and_retied(tmp_path):
    path = save_checkpoint(tmp_path / "tied.safetensors", make_model())
    with safe_open(str(path), framework="pt") as f:
        names = set(f.keys())
    assert "tok_emb.weight" in names and "out_head.weight" not in names
    model = load_model(path).model
    assert model.is_tied
    assert model.out_head.weight.data_ptr() == model.tok_emb.weight.data_ptr()


def test_untied_round_trip(tmp_path):
    model = make_model(tie_embeddings=False)
    path = save_checkpoint(tmp_path / "untied.safetensors", model)
    with safe_open(str(path), framework="pt") as f:
        assert "out_head.weight" in set(f.keys())
    ckpt = load_model(path)
    assert not ckpt.model.is_tied and ckpt.config.tie_embeddings is False
    assert_same_weights(ckpt.model, model)


def test_bf16_weights_stay_bf16(tmp_path):
    model = make_model().to(torch.bfloat16)
    ckpt = load_model(save_checkpoint(tmp_path / "bf16.safetensors", model))
    assert ckpt.model.tok_emb.weight.dtype == torch.bfloat16
    assert_same_weights(ckpt.model, model)
    assert load_model(ckpt.path, dtype=torch.float32).model.tok_emb.weight.dtype == torch.float32


# ---- writing safely -------------------------------------------------------------------

@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("killed")])
def test_crash_mid_save_keeps_the_previous_file(tmp_path, monkeypatch, error):
    path = save_checkpoint(tmp_path / "model.safetensors", make_model(seed=0))
    good = path.read_bytes()

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"\x00" * 100)  # half a file, then the process "dies"
        raise error

    monkeypatch.setattr(ckmod, "save_file", crash)
    with pytest.raises((PocketLLMError, type(error))) as err:
        save_checkpoint(path, make_model(seed=1))
    if isinstance(error, OSError):  # a full disk is the user's to fix: a clear message
        assert isinstance(err.value, PocketLLMError)
        assert "unchanged" in str(err.value)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    monkeypatch.undo()
    assert_same_weights(load_model(path).model, make_model(seed=0))


def test_overwrite_false_refuses_an_existing_file(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", make_model(seed=0))
    before = path.read_bytes()
    with pytest.raises(PocketLLMError, match="already exists"):
        save_checkpoint(path, make_model(seed=1), overwrite=False)
    assert path.read_bytes() == before
    save_checkpoint(path, make_model(seed=1))  # overwrite=True (the default) replaces it
    assert_same_weights(load_model(path).model, make_model(seed=1))


def test_only_safetensors_names_are_written(tmp_path):
    with pytest.raises(PocketLLMError, match=".safetensors"):
        save_checkpoint(tmp_path / "m.pt", make_model())
    assert list(tmp_path.iterdir()) == []


# ---- bad files ------------------------------------------------------------------------

def test_truncated_file(tmp_path):
    raw = save_checkpoint(tmp_path / "m.safetensors", make_model()).read_bytes()
    for cut in (len(raw) // 2, len(raw) - 1, 50, 5):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(raw[:cut])
        with pytest.raises(PocketLLMError, match="truncated"):
            load_model(bad)


def test_truncated_pth(tmp_path):
    path = tmp_path / "m.pth"
    torch.save(make_model().state_dict(), path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(PocketLLMError, match="truncated"):
        load_model(path)


def test_wrong_shapes_name_the_tensor_and_both_shapes(tmp_path):
    model = make_model()
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors["trf_blocks.1.ffn.layers.0.weight"] = torch.zeros(100, 32)
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(PocketLLMError) as err:
        load_model(path)
    msg = str(err.value)
    assert "trf_blocks.1.ffn.layers.0.weight" in msg
    assert "(100, 32)" in msg and "(128, 32)" in msg


def test_header_config_disagreeing_with_the_weights(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", make_model())
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta["config"] = json.dumps({**TINY, "context_length": 64})
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(PocketLLMError, match=r"pos_emb.weight: file \(16, 32\), model \(64, 32\)"):
        load_model(path)


@pytest.mark.parametrize("name,content", [
    ("random.safetensors", os.urandom(4096)),
    ("notes.safetensors", "这不是模型 / not a model\n".encode() * 20),
    ("random.bin", os.urandom(4096)),
    ("notes.pth", b"just some text\n" * 20),
    ("empty.safetensors", b""),
    ("empty.bin", b""),
])
def test_files_that_are_no_checkpoint(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PocketLLMError) as err:
        load_model(path)
    assert name in str(err.value)
    assert any(w in str(err.value) for w in ("not a", "empty", "truncated", "not readable"))


def test_safetensors_with_unrelated_tensors(tmp_path):
    path = tmp_path / "vision.safetensors"
    save_file({"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.bias": torch.zeros(10)}, str(path))
    with pytest.raises(PocketLLMError, match="not a GPT-2 model.*conv1.weight"):
        load_model(path)
    with pytest.raises(PocketLLMError, match="not a PocketLLM checkpoint"):
        read_header(path)


def test_pth_with_something_other_than_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(PocketLLMError, match="state dict"):
        load_model(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(PocketLLMError, match="not found"):
        load_model(tmp_path / "nope.safetensors")
    with pytest.raises(PocketLLMError, match="folder"):
        load_model(tmp_path)


class RunsACommand:
    """A pickle that runs a shell command when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name,writer", [
    ("evil.bin", "torch"), ("evil.pth", "torch"), ("evil-legacy.pth", "legacy"), ("evil-plain.bin", "pickle"),
])
def test_malicious_pickle_never_runs(tmp_path, name, writer):
    marker = tmp_path / "PWNED"
    payload = {"tok_emb.weight": torch.zeros(2, 2), "x": RunsACommand(marker)}
    path = tmp_path / name
    if writer == "torch":
        torch.save(payload, path)
    elif writer == "legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        with open(path, "wb") as fh:  # no tensor: a bare pickle of one names torch.storage first
            pickle.dump({"x": RunsACommand(marker)}, fh, protocol=2)
    with pytest.raises(PocketLLMError) as err:
        load_model(path)
    assert name in str(err.value)
    assert not marker.exists()
    if writer != "legacy":  # the weights-only unpickler names what it refused to call
        assert "refuses" in str(err.value) and "system" in str(err.value)


# ---- the seed's .pth state dicts ----------------------------------------------------------

SEED_CFG = {"vocab_size": 100, "context_length": 16, "emb_dim": 32, "num_heads": 4,
            "num_layers": 2, "drop_rate": 0.1, "qkv_bias": True}


def seed_state_dict(cfg, num_classes=None, seed=0):
    """A state dict in the seed project's key layout, written out key by key."""
    g = torch.Generator().manual_seed(seed)
    d, ctx = cfg["emb_dim"], cfg["context_length"]

    def rnd(*shape):
        return torch.randn(*shape, generator=g) * 0.2

    sd = {"tok_emb.weight": rnd(cfg["vocab_size"], d), "pos_emb.weight": rnd(ctx, d)}
    for i in range(cfg["num_layers"]):
        b = f"trf_blocks.{i}."
        for name in ("W_query", "W_key", "W_value", "out_proj"):
            sd[b + f"attn.{name}.weight"] = rnd(d, d)
            sd[b + f"attn.{name}.bias"] = rnd(d)
        sd[b + "attn.mask"] = torch.triu(torch.ones(ctx, ctx), diagonal=1)
        sd[b + "ffn.layers.0.weight"], sd[b + "ffn.layers.0.bias"] = rnd(4 * d, d), rnd(4 * d)
        sd[b + "ffn.layers.2.weight"], sd[b + "ffn.layers.2.bias"] = rnd(d, 4 * d), rnd(d)
        for norm in ("norm1", "norm2"):
            sd[b + f"{norm}.weight"], sd[b + f"{norm}.bias"] = 1 + rnd(d), rnd(d)
    sd["final_norm.weight"], sd["final_norm.bias"] = 1 + rnd(d), rnd(d)
    if num_classes is None:
        sd["out_head.weight"] = rnd(cfg["vocab_size"], d)  # the seed's head is not tied
    else:
        sd["out_head.weight"], sd["out_head.bias"] = rnd(num_classes, d), rnd(num_classes)
    return sd


def reference_logits(sd, cfg, idx):
    """GPT-2's forward pass written directly on the seed's tensors (an independent reference)."""
    d, h = cfg["emb_dim"], cfg["num_heads"]
    t = idx.shape[1]

    def ln(x, prefix):
        return F.layer_norm(x, (d,), sd[prefix + ".weight"], sd[prefix + ".bias"], 1e-5)

    def lin(x, prefix):
        return x @ sd[prefix + ".weight"].T + sd.get(prefix + ".bias", 0)

    x = sd["tok_emb.weight"][idx] + sd["pos_emb.weight"][:t]
    causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    for i in range(cfg["num_layers"]):
        b = f"trf_blocks.{i}."
        y = ln(x, b + "norm1")
        q, k, v = (lin(y, b + f"attn.{n}").view(1, t, h, d // h).transpose(1, 2)
                   for n in ("W_query", "W_key", "W_value"))
        scores = (q @ k.transpose(-1, -2) / math.sqrt(d // h)).masked_fill(causal, float("-inf"))
        att = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(1, t, d)
        x = x + lin(att, b + "attn.out_proj")
        y = lin(ln(x, b + "norm2"), b + "ffn.layers.0")
        y = 0.5 * y * (1 + torch.tanh(math.sqrt(2 / math.pi) * (y + 0.044715 * y ** 3)))
        x = x + lin(y, b + "ffn.layers.2")
    return lin(ln(x, "final_norm"), "out_head")


def write_seed_config(tmp_path, cfg=SEED_CFG):
    path = tmp_path / "gpt2_config_tiny.json"
    path.write_text(json.dumps(cfg, indent=4))
    return path


def test_seed_pth_language_model(tmp_path):
    sd = seed_state_dict(SEED_CFG)
    path = tmp_path / "model.pth"
    torch.save(sd, path)
    ckpt = load_model(path, config=write_seed_config(tmp_path))
    assert ckpt.source == "seed-pth" and ckpt.task_type == TaskKind.PRETRAIN
    assert not ckpt.model.is_tied and ckpt.config.num_heads == 4
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(IDX), reference_logits(sd, SEED_CFG, IDX), rtol=1e-5, atol=1e-5)


def test_seed_training_checkpoint_wrapping(tmp_path):
    sd = seed_state_dict(SEED_CFG)
    path = tmp_path / "model_and_optimizer.pth"
    torch.save({"model_state_dict": sd, "optimizer_state_dict": {"state": {}, "param_groups": []}}, path)
    ckpt = load_model(path, config=write_seed_config(tmp_path))
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(IDX), reference_logits(sd, SEED_CFG, IDX), rtol=1e-5, atol=1e-5)


def test_seed_classifier_pth(tmp_path):
    sd = seed_state_dict(SEED_CFG, num_classes=2)
    path = tmp_path / "review_classifier.pth"
    torch.save(sd, path)
    ckpt = load_model(path, config=write_seed_config(tmp_path))
    assert ckpt.task == {"type": "classify", "labels": ["not spam", "spam"]}
    logits = ckpt.model(IDX)
    assert logits.shape == (1, 6, 2)
    torch.testing.assert_close(logits, reference_logits(sd, SEED_CFG, IDX), rtol=1e-5, atol=1e-5)
    # and it round-trips through a PocketLLM checkpoint as a classifier
    again = load_model(save_checkpoint(tmp_path / "cls.safetensors", ckpt.model, task=ckpt.task))
    assert again.task["labels"] == ["not spam", "spam"]
    torch.testing.assert_close(again.model(IDX), logits, rtol=0, atol=0)


def test_seed_pth_with_a_longer_context_config_names_pos_emb(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(seed_state_dict(SEED_CFG), path)
    config = write_seed_config(tmp_path, {**SEED_CFG, "context_length": 64})
    with pytest.raises(PocketLLMError, match=r"pos_emb.weight: file \(16, 32\), model \(64, 32\)"):
        load_model(path, config=config)


def test_seed_pth_with_a_config_of_another_size(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(seed_state_dict(SEED_CFG), path)
    with pytest.raises(PocketLLMError, match="does not fit the model config.*emb_dim=64"):
        load_model(path, config=ModelConfig(**{**SEED_CFG, "emb_dim": 64}))


def test_pth_in_the_pre_zip_torch_format_loads(tmp_path):
    # Files saved by torch < 1.6 (OpenAI's original GPT-2 pytorch_model.bin among them) cannot be mmapped.
    sd = seed_state_dict(SEED_CFG)
    path = tmp_path / "old.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:2] != b"PK"
    ckpt = load_model(path, config=write_seed_config(tmp_path))
    with torch.no_grad():
        torch.testing.assert_close(ckpt.model(IDX), reference_logits(sd, SEED_CFG, IDX), rtol=1e-5, atol=1e-5)
