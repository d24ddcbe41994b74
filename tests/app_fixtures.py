"""Shared fixtures of the app tests: the app launched on a free loopback port with a
temporary checkpoints folder, a small corpus and a tiny Hugging Face GPT-2 file."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

TINY_TEXT = ("The quick brown fox jumps over the lazy dog. 学而时习之，不亦说乎。 "
             "A small model learns the shape of a small text. ") * 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A running app: yields (url, AppState)."""
    from ui.app import build_app, launch_options, prepare_queue
    root = tmp_path_factory.mktemp("app")
    demo = prepare_queue(build_app(root / "checkpoints", temp_dir=root / "temp"))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(demo.pocketllm_state))
    yield f"http://127.0.0.1:{port}/", demo.pocketllm_state
    demo.pocketllm_state.runner.stop()
    demo.pocketllm_state.runner.wait(30)
    demo.close()


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "tiny_corpus.txt"
    path.write_text(TINY_TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hf_gpt2_file(tmp_path_factory) -> Path:
    """A tiny randomly initialised Hugging Face GPT-2 saved as pytorch_model.bin."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=64))
    folder = tmp_path_factory.mktemp("hf")
    path = folder / "pytorch_model.bin"
    torch.save(model.state_dict(), path)
    return path


def wait_for(predicate, timeout=60.0, every=0.3):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


def refusal(call) -> str:
    """The message a handler (or an endpoint, through gradio_client) gives when it refuses:
    raised as a page error, or shown in its status area with the other outputs kept
    (`ui.errors.friendly(outputs=..., status=...)`)."""
    import inspect
    import json
    try:
        out = call()
        if inspect.isgenerator(out):
            out = list(out)
        if isinstance(out, list) and out and isinstance(out[-1], tuple):  # a generator's updates: the last
            out = out[-1]
    except Exception as exc:  # noqa: BLE001  (any refusal will do: its text is checked)
        return str(getattr(exc, "message", None) or exc)
    outs = out if isinstance(out, (list, tuple)) else [out]
    shown = [o for o in outs if isinstance(o, str) and o.startswith("⚠️")]
    assert shown, f"no message in the status area: {json.dumps(out, default=str)[:300]}"
    return "\n".join(shown)
