"""Batch-1 greedy generation speed: PocketLLM vs Hugging Face transformers, side by side.

    python bench/generate.py                       # gpt2-124M config, 200 new tokens, 3 rounds
    python bench/generate.py --repeats 1 --new_tokens 50 --config cpu-small   # a quick look

Both sides get the same random weights (one PocketLLM checkpoint, exported to the
Hugging Face layout for transformers), the same prompt, and make exactly
`--new_tokens` tokens (transformers with its KV cache, do_sample=False,
min_new_tokens=max_new_tokens).  Every configuration runs in its own subprocess,
so its peak memory (RSS high-water mark above the process's size before the model
was loaded) is its own; the rounds interleave the configurations, so a noisy
neighbour on the machine slows all of them alike, and the report uses medians.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
PROMPT = "The history of the printing press begins"
CONFIGS = [("pocketllm", "fp32"), ("pocketllm", "bf16"), ("pocketllm", "int8"),
           ("transformers", "fp32"), ("transformers", "bf16")]


def rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_rss_kb() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux


def worker(args) -> dict:
    """One configuration, one process: load, warm up, time one generation."""
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "int8": None}[args.dtype]
    from pocketllm import gpt2_tokenizer
    prompt_ids = gpt2_tokenizer().encode(PROMPT)
    if args.impl == "transformers":
        import transformers
        transformers.logging.set_verbosity_error()
        from transformers import GPT2LMHeadModel
    before = rss_kb()
    if args.impl == "pocketllm":
        from pocketllm import Sampling, generate_ids, load_model
        from pocketllm.quantize import to_precision
        model = to_precision(load_model(Path(args.workdir) / "model.safetensors").model, args.dtype)

        def run(n):
            return list(generate_ids(model, prompt_ids, n, Sampling(), stop_ids=()))
    else:
        model = GPT2LMHeadModel.from_pretrained(Path(args.workdir) / "hf", dtype=dtype).eval()
        x = torch.tensor([prompt_ids])

        def run(n):
            with torch.inference_mode():
                out = model.generate(x, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                     use_cache=True, pad_token_id=50256)
            return out[0, len(prompt_ids):].tolist()

    run(8)  # warm-up: first-call allocations and kernel selection
    start = time.perf_counter()
    ids = run(args.new_tokens)
    seconds = time.perf_counter() - start
    assert len(ids) == args.new_tokens, (args.impl, len(ids))
    return {"tok_s": len(ids) / seconds, "peak_mb": (peak_rss_kb() - before) / 1024,
            "ids": ids[:args.compare_tokens], "threads": torch.get_num_threads()}


def prepare(workdir: Path, config: str, seed: int):
    """One set of random weights, saved for both sides."""
    import torch
    from pocketllm import GPTModel, ModelConfig, export_hf, save_checkpoint
    torch.manual_seed(seed)
    model = GPTModel(ModelConfig.load(config)).eval()
    save_checkpoint(workdir / "model.safetensors", model)
    export_hf(model, workdir / "hf")


def run_config(impl, dtype, args, workdir) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, "--dtype", dtype, "--workdir", str(workdir),
           "--new_tokens", str(args.new_tokens), "--compare_tokens", str(args.compare_tokens)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{impl} {dtype} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def agreement(a, b) -> int:
    """How many leading tokens two greedy outputs share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="gpt2-124M", help="model preset (default gpt2-124M)")
    p.add_argument("--new_tokens", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--compare_tokens", type=int, default=20,
                   help="greedy tokens compared between bf16 and fp32 (default 20)")
    p.add_argument("--only", choices=["pocketllm", "transformers"], default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--dtype", default="fp32", help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        args.impl = args.worker
        print(json.dumps(worker(args)))
        return

    configs = [c for c in CONFIGS if args.only in (None, c[0])]
    results = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="pocketllm-bench-") as tmp:
        workdir = Path(tmp)
        prepare(workdir, args.config, args.seed)
        print(f"config {args.config}, {args.new_tokens} new tokens, batch 1, greedy, CPU "
              f"({os.cpu_count()} cores), {args.repeats} interleaved round(s)")
        for r in range(args.repeats):
            for c in configs:
                res = run_config(*c, args, workdir)
                results[c].append(res)
                print(f"  round {r + 1}: {c[0]:<12} {c[1]}  {res['tok_s']:6.1f} tok/s  "
                      f"peak +{res['peak_mb']:.0f} MB", flush=True)

    med = {c: statistics.median(x["tok_s"] for x in v) for c, v in results.items()}
    mem = {c: statistics.median(x["peak_mb"] for x in v) for c, v in results.items()}
    print(f"\n{'':<14}{'dtype':<7}{'tok/s (median)':>15}{'peak MB':>10}")
    for c in configs:
        print(f"{c[0]:<14}{c[1]:<7}{med[c]:>15.1f}{mem[c]:>10.0f}")

    if args.only is None:
        best_hf = max(med[("transformers", d)] for d in ("fp32", "bf16"))
        print()
        for d in ("fp32", "bf16"):
            print(f"pocketllm/transformers {d}: {med[('pocketllm', d)] / med[('transformers', d)]:.2f}x")
        for d in ("fp32", "bf16", "int8"):
            print(f"pocketllm {d} / best transformers: {med[('pocketllm', d)] / best_hf:.2f}x (target 1.5x)")

    n = args.compare_tokens
    print(f"\ngreedy output vs the same side's fp32, first {n} tokens of the same prompt (random weights):")
    for impl, d in configs:
        if d == "fp32":
            continue
        a, b = results[(impl, "fp32")][0]["ids"], results[(impl, d)][0]["ids"]
        same = agreement(a, b)
        print(f"  {impl:<12} {d}: {'match' if same == len(a) else 'differ'}, {same}/{len(a)} leading tokens agree")
    if args.only is None:
        a, b = results[("pocketllm", "fp32")][0]["ids"], results[("transformers", "fp32")][0]["ids"]
        print(f"  pocketllm fp32 vs transformers fp32: {agreement(a, b)}/{len(a)} leading tokens agree")


if __name__ == "__main__":
    main()
