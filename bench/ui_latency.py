"""Is the page responsive while a training job runs on the CPU?

Launches the app on a free loopback port with a temporary checkpoints folder, then
measures, through gradio_client as the page calls them, the median time of
- a Generate-tab request for 20 new tokens (cpu-tiny model, greedy), and
- listing the Weights tab,
first idle, then while a pretraining job (cpu-small on the bundled Shakespeare) runs
in the app's job runner.  Target: Weights listing < 300 ms median while training.

    python bench/ui_latency.py [--repeats 15]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up (model load, first request)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args()

    import torch
    from gradio_client import Client
    from pocketllm import GPTModel, ModelConfig, save_checkpoint
    from pocketllm.tasks.language_modeling import BUNDLED_CORPORA, PretrainSettings, prepare_pretraining
    from pocketllm.training.trainer import TrainSettings
    from ui.app import build_app, launch_options, prepare_queue

    root = Path(tempfile.mkdtemp(prefix="pocketllm-bench-"))
    ckpts = root / "checkpoints"
    torch.manual_seed(0)
    model_path = save_checkpoint(ckpts / "bench" / "tiny.safetensors", GPTModel(ModelConfig.load("cpu-tiny")).eval())
    demo = prepare_queue(build_app(ckpts, temp_dir=root / "temp"))
    state = demo.pocketllm_state
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(state))
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)

    def generate():
        client.predict(str(model_path), "To be, or not to be", 0.0, 0, 1.0, 20, 1, "en", "fp32", api_name="/generate")

    def listing():
        client.predict(None, "en", api_name="/weights_list")

    results = {}
    for phase in ("idle", "training"):
        if phase == "training":
            settings = PretrainSettings(data_path=str(BUNDLED_CORPORA["shakespeare"]), config="cpu-small",
                                        vocab_size=None, run_dir=str(ckpts / "bench-run"),
                                        train=TrainSettings(max_steps=100_000, batch_size=8, eval_every=50,
                                                            sample_every=0, dtype="fp32"))
            state.runner.start("pretrain", lambda stop: prepare_pretraining(settings, stop))
            time.sleep(3)  # let the loop reach its steady state
        results[phase] = {"generate_20_tokens_ms": timed(generate, args.repeats),
                          "weights_list_ms": timed(listing, args.repeats)}
    state.runner.stop()
    state.runner.wait(60)
    demo.close()

    print(f"{'request':<24}{'idle (median ms)':>18}{'training (median ms)':>22}{'ratio':>8}")
    summary = {}
    for key in ("generate_20_tokens_ms", "weights_list_ms"):
        idle, busy = statistics.median(results["idle"][key]), statistics.median(results["training"][key])
        summary[key] = {"idle": round(idle, 1), "training": round(busy, 1), "ratio": round(busy / idle, 2)}
        print(f"{key:<24}{idle:>18.1f}{busy:>22.1f}{busy / idle:>8.2f}")
    verdict = "OK" if summary["weights_list_ms"]["training"] < 300 else "ABOVE TARGET"
    print(f"target: weights listing < 300 ms median while training -> {verdict}")
    print(f"(cpu threads: {torch.get_num_threads()}, cores: {os.cpu_count()}, repeats: {args.repeats})")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "ui_latency.json").write_text(json.dumps({"summary": summary, "raw": results}, indent=2))


if __name__ == "__main__":
    main()
