"""Training speed on a CUDA GPU: tokens/s and model FLOPs utilisation (MFU).

PocketLLM (its Trainer's path: the task's training module, fused AdamW, bf16
autocast) against transformers' GPT2LMHeadModel with the same config and
weights, each eager and under torch.compile, for gpt2-124M and gpt2-355M at
context 1024.  MFU counts 6·N + 12·L·T·d FLOPs per token (forward + backward)
against the GPU's dense bf16 peak (989 TFLOP/s for an H100/H200 SXM).

    python bench/train_gpu.py                   # both presets, eager and compiled
    python bench/train_gpu.py --presets gpt2-124M --no-compile --steps 5
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pocketllm import GPTModel, ModelConfig  # noqa: E402
from pocketllm.hf_layout import hf_config, pocketllm_to_hf  # noqa: E402
from pocketllm.tasks.language_modeling import NextTokenLoss  # noqa: E402
from pocketllm.training.trainer import make_optimizer  # noqa: E402

BATCH = {"gpt2-124M": 16, "gpt2-355M": 8}


def pocketllm_step(cfg, x, compile_):
    torch.manual_seed(0)
    model = GPTModel(cfg).cuda().train()
    module = NextTokenLoss(model)
    opt = make_optimizer(model, 1e-4, 0.1, x.device)
    run = torch.compile(module) if compile_ else module

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = run(x[:, :-1], x[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model, step


def transformers_step(pocket_model, x, compile_):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = hf_config(pocket_model)
    cfg.pop("torch_dtype", None)
    hf = GPT2LMHeadModel(GPT2Config(**cfg))
    hf.load_state_dict(pocketllm_to_hf(pocket_model), strict=False)
    hf = hf.cuda().train()
    decay = [p for p in hf.parameters() if p.dim() >= 2]
    rest = [p for p in hf.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), fused=True)
    run = torch.compile(hf) if compile_ else hf

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = run(x[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def timed(step, warmup, steps):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["gpt2-124M", "gpt2-355M"])
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=None, help="default: 16 for 124M, 8 for 355M")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--peak_tflops", type=float, default=989.0, help="dense bf16 peak of the GPU")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench/train_gpu.py needs a CUDA GPU, and none is available here "
              "(torch.cuda.is_available() is False). Run it on a GPU machine; for the CPU use bench/train.py.")
        return 2
    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, bf16 autocast, context {a.seq}, "
          f"MFU against {a.peak_tflops:g} TFLOP/s")
    for preset in a.presets:
        cfg = ModelConfig.load(preset).replace(drop_rate=0.0, context_length=max(a.seq, 1024))
        batch = a.batch or BATCH.get(preset, 8)
        x = torch.randint(0, cfg.vocab_size, (batch, a.seq + 1), device="cuda")
        flops = cfg.flops_per_token(a.seq)
        for compile_ in ([False, True] if a.compile else [False]):
            mode = "compiled" if compile_ else "eager"
            results = {}
            model, ours = pocketllm_step(cfg, x, compile_)
            theirs = transformers_step(model, x, compile_)
            for label, fn in (("pocketllm", ours), ("transformers", theirs)):
                seconds = timed(fn, 5 if compile_ else 2, a.steps)
                rate = batch * a.seq / seconds
                results[label] = rate
                print(f"  {preset:10s} {mode:8s} {label:12s} batch {batch:2d}  {rate:10,.0f} tok/s  "
                      f"MFU {rate * flops / (a.peak_tflops * 1e12):6.1%}", flush=True)
            print(f"  {preset:10s} {mode:8s} ratio pocketllm / transformers: "
                  f"{results['pocketllm'] / results['transformers']:.2f}x", flush=True)
            del model, ours, theirs
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
