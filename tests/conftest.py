import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data" / "seed"


@pytest.fixture
def tiny_config():
    from pocketllm import ModelConfig
    return ModelConfig(vocab_size=50257, context_length=32, emb_dim=32, num_heads=4,
                       num_layers=2, drop_rate=0.0, qkv_bias=True)


@pytest.fixture
def tiny_model(tiny_config):
    from pocketllm import GPTModel
    torch.manual_seed(0)
    return GPTModel(tiny_config).eval()


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA
