"""ModelConfig: presets, the seed's config files, and the errors a user can run into."""
import json
import re

import pytest
import torch

from pocketllm import GPTModel, ModelConfig, PocketLLMError, list_presets
from pocketllm.checkpoint import build_model

# The seed project's config file for the 124M model, key for key (a fact of that format).
SEED_124M = {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "num_heads": 12,
             "num_layers": 12, "drop_rate": 0.1, "qkv_bias": True}
TINY = {"vocab_size": 100, "context_length": 16, "emb_dim": 32, "num_heads": 4,
        "num_layers": 2, "drop_rate": 0.0, "qkv_bias": True}


def write_json(path, data):
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")
    return path


# ---- loading -------------------------------------------------------------------

def test_seed_config_files_load_as_they_are(shared_data):
    files = sorted((shared_data / "configs").glob("*.json"))
    assert files, "the seed's configs folder is empty"
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        cfg = ModelConfig.load(path)
        for key, value in data.items():
            assert getattr(cfg, key) == value, (path.name, key)


def test_seed_style_json_loads(tmp_path):
    path = write_json(tmp_path / "gpt2_config_124M.json", SEED_124M)
    cfg = ModelConfig.load(path)
    assert cfg.to_dict() == {**SEED_124M, "tie_embeddings": True}
    assert ModelConfig.from_json(str(path)) == cfg


def test_comment_keys_and_utf8_bom_are_accepted(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({**TINY, "_comment": "小模型"}).encode())
    assert ModelConfig.load(path).emb_dim == TINY["emb_dim"]


def test_every_preset_loads_and_the_list_is_complete():
    names = list_presets()
    for expected in ("gpt2-124M", "gpt2-355M", "gpt2-774M", "gpt2-1558M", "cpu-tiny", "cpu-small"):
        assert expected in names
    for name in names:
        cfg = ModelConfig.load(name)
        assert cfg.emb_dim % cfg.num_heads == 0
        assert cfg.vocab_size == 50257 or cfg.arch != "gpt2"  # the Llama/Qwen3 shapes have their own


@pytest.mark.parametrize("name,count", [
    # Parameter counts of OpenAI's GPT-2 (tied head counted once).
    ("gpt2-124M", 124_439_808),
    ("gpt2-355M", 354_823_168),
    ("gpt2-774M", 774_030_080),
    ("gpt2-1558M", 1_557_611_200),
])
def test_gpt2_preset_parameter_counts(name, count):
    assert ModelConfig.load(name).num_parameters() == count


@pytest.mark.parametrize("name", list_presets())
def test_num_parameters_matches_the_built_model(name):
    cfg = ModelConfig.load(name)
    with torch.device("meta"):  # no memory and no time, same parameters
        model = GPTModel(cfg)
    assert cfg.num_parameters() == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("changes", [{}, {"tie_embeddings": False}, {"qkv_bias": False}])
def test_num_parameters_of_a_real_small_model(changes):
    cfg = ModelConfig(**TINY).replace(**changes)
    model = GPTModel(cfg)
    assert cfg.num_parameters() == sum(p.numel() for p in model.parameters())
    assert model.num_parameters() == cfg.num_parameters()


def test_cpu_tiny_preset_real_model_parameter_count():
    cfg = ModelConfig.load("cpu-tiny")
    assert cfg.num_parameters() == GPTModel(cfg).num_parameters()


# ---- errors ----------------------------------------------------------------------

def test_width_not_divisible_by_heads_suggests_a_divisor():
    with pytest.raises(PocketLLMError, match="divisible") as err:
        ModelConfig(**{**TINY, "emb_dim": 768, "num_heads": 10})
    suggested = int(re.search(r"num_heads=(\d+)", str(err.value)).group(1))
    assert 768 % suggested == 0
    assert abs(suggested - 10) <= 2  # a divisor near what the user asked for


def test_unknown_key_is_named(tmp_path):
    path = write_json(tmp_path / "c.json", {**TINY, "n_embd": 32})
    with pytest.raises(PocketLLMError, match="unknown key.*n_embd") as err:
        ModelConfig.load(path)
    assert "emb_dim" in str(err.value)  # says what is allowed


def test_missing_key_is_named(tmp_path):
    data = dict(TINY)
    del data["num_layers"]
    with pytest.raises(PocketLLMError, match="missing key.*num_layers"):
        ModelConfig.load(write_json(tmp_path / "c.json", data))


@pytest.mark.parametrize("rate", [-0.1, 1.5, "0.1", True])
def test_bad_drop_rate(rate):
    with pytest.raises(PocketLLMError, match="drop_rate"):
        ModelConfig(**{**TINY, "drop_rate": rate})


@pytest.mark.parametrize("rate", [0, 0.0, 1.0])
def test_drop_rate_bounds_are_allowed(rate):
    assert ModelConfig(**{**TINY, "drop_rate": rate}).drop_rate == rate


@pytest.mark.parametrize("key,value", [("num_layers", 0), ("emb_dim", -8), ("vocab_size", 1.5),
                                       ("context_length", True), ("qkv_bias", "yes")])
def test_bad_field_values(key, value):
    with pytest.raises(PocketLLMError, match=key):
        ModelConfig(**{**TINY, key: value})


def test_non_json_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("vocab_size = 50257\n")
    with pytest.raises(PocketLLMError, match="not valid JSON"):
        ModelConfig.load(path)


def test_json_that_is_not_an_object(tmp_path):
    with pytest.raises(PocketLLMError, match="JSON object"):
        ModelConfig.load(write_json(tmp_path / "c.json", [1, 2, 3]))


def test_missing_file_lists_presets(tmp_path):
    with pytest.raises(PocketLLMError, match="not found") as err:
        ModelConfig.load(tmp_path / "nope.json")
    assert "gpt2-124M" in str(err.value)
    with pytest.raises(PocketLLMError, match="not found"):
        ModelConfig.load("gpt2-125M")  # a mistyped preset name


# ---- context longer than the position table ---------------------------------------

def test_more_tokens_than_the_context_is_a_clear_error():
    cfg = ModelConfig(**TINY)
    model = GPTModel(cfg).eval()
    model(torch.zeros(1, cfg.context_length, dtype=torch.long))  # exactly the context is fine
    with pytest.raises(ValueError, match=f"{cfg.context_length + 1} tokens.*context of {cfg.context_length}"):
        model(torch.zeros(1, cfg.context_length + 1, dtype=torch.long))


def test_position_table_shorter_than_the_config_names_the_tensor():
    cfg = ModelConfig(**TINY)
    tensors = dict(GPTModel(cfg.replace(context_length=8)).state_dict())
    with pytest.raises(PocketLLMError, match="pos_emb.weight") as err:
        build_model(cfg, tensors)
    assert "(8, 32)" in str(err.value) and "(16, 32)" in str(err.value)
