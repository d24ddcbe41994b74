"""Batch-1 greedy decoding speed: PocketLLM vs Hugging Face transformers vs CTranslate2.

    python bench/generate.py                        # gpt2-124M and gpt2-355M, 200 new tokens, 3 rounds
    python bench/generate.py --configs cpu-small --repeats 1 --new_tokens 50   # a quick look
    python bench/generate.py --device cuda          # the GPU run (no int8, no CTranslate2 int8)

Every side gets the same random weights: one PocketLLM checkpoint, exported to the
Hugging Face layout with `export_hf` for transformers, and that folder converted with
CTranslate2's own converter (`pip install -r bench/requirements.txt`; without it the
CTranslate2 rows are skipped with a note).  Same prompt, exactly `--new_tokens` tokens
each (transformers: KV cache, do_sample=False, min_new_tokens; CTranslate2: top-1
sampling, min_length = max_length, no end token).

Each configuration runs in its own subprocess, rounds interleaved, so a noisy neighbour
slows all of them alike; the report uses medians.  Per configuration:

- tok/s of the timed generation (after an 8-token warm-up), and each side's ratio to
  CTranslate2 float32 (the median of the rounds' ratios);
- load peak: the process's RSS high-water mark while loading, above its size before;
- decode peak: the RSS high-water mark while generating (reset after loading through
  /proc/self/clear_refs), above the size before loading — what decoding needs to hold;
- bandwidth: (bytes of matmul weights read per token × tok/s) / the machine's measured
  read bandwidth (a 512 MB sum), the fraction of the memory-bound limit reached.
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
sys.path[0] = str(ROOT)  # run from a checkout without installing
PROMPT = "The history of the printing press begins"
CPU_RUNS = [("pocketllm", "fp32"), ("pocketllm", "bf16"), ("pocketllm", "int8"),
            ("transformers", "fp32"), ("transformers", "bf16"), ("ctranslate2", "fp32"), ("ctranslate2", "int8")]
GPU_RUNS = [("pocketllm", "fp32"), ("pocketllm", "bf16"), ("transformers", "fp32"), ("transformers", "bf16"),
            ("ctranslate2", "fp32")]
WEIGHT_BYTES = {"fp32": 4, "bf16": 2, "int8": 1, "fp32-plain": 4}
PLAIN_FP32 = ("pocketllm", "fp32-plain")  # --plain_fp32: the model as loaded, without to_precision's layout
CT2_TYPES = {"fp32": "float32", "bf16": "bfloat16", "int8": "int8"}


def status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss():
    """Start the high-water mark (VmHWM) again from the current RSS (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def load(impl: str, dtype: str, workdir: Path, device: str, threads: int):
    """A function n -> the n greedy ids PocketLLM's way, transformers' way or CTranslate2's."""
    import torch
    from pocketllm import gpt2_tokenizer
    prompt_ids = gpt2_tokenizer().encode(PROMPT)
    if impl == "pocketllm":
        from pocketllm import Sampling, generate_ids, load_model, to_precision
        model = load_model(workdir / "model.safetensors", device=device).model
        model = model.eval() if dtype == "fp32-plain" else to_precision(model, dtype)
        return lambda n: list(generate_ids(model, prompt_ids, n, Sampling(), stop_ids=()))
    if impl == "transformers":
        import transformers
        transformers.logging.set_verbosity_error()
        torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
        # GPT2LMHeadModel, LlamaForCausalLM or Qwen3ForCausalLM: whatever export_hf wrote for this preset
        model = transformers.AutoModelForCausalLM.from_pretrained(workdir / "hf", dtype=torch_dtype).to(device).eval()
        x = torch.tensor([prompt_ids], device=device)

        def run(n):
            with torch.inference_mode():
                out = model.generate(x, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                     use_cache=True, pad_token_id=50256)
            return out[0, len(prompt_ids):].tolist()
        return run
    import ctranslate2
    from transformers import AutoTokenizer
    tokens = AutoTokenizer.from_pretrained(workdir / "hf").convert_ids_to_tokens(prompt_ids)
    generator = ctranslate2.Generator(str(workdir / "ct2"), device=device, compute_type=CT2_TYPES[dtype],
                                      intra_threads=threads)

    def run(n):
        res = generator.generate_batch([tokens], max_length=n, min_length=n, sampling_topk=1,
                                       include_prompt_in_result=False, end_token=[])
        return res[0].sequences_ids[0]
    return run


def worker(args) -> dict:
    """One configuration, one process: load, warm up, time one generation."""
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    before = status_kb("VmRSS")
    run = load(args.impl, args.dtype, Path(args.workdir), args.device, args.threads)
    load_peak = status_kb("VmHWM") - before
    run(8)  # warm-up: first-call allocations and kernel selection
    reset_peak_rss()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    ids = run(args.new_tokens)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    assert len(ids) == args.new_tokens, (args.impl, len(ids))
    return {"tok_s": len(ids) / seconds, "load_peak_mb": load_peak / 1024,
            "decode_peak_mb": (status_kb("VmHWM") - before) / 1024,
            "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
            "ids": ids[:args.compare_tokens], "threads": torch.get_num_threads()}


def prepare(workdir: Path, config: str, seed: int, ct2: bool):
    """One set of random weights, saved for every side (a Llama/Qwen3 preset in its own family's layout;
    the prompt's ids are GPT-2's, which every preset's vocabulary holds)."""
    import torch
    from pocketllm import GPTModel, ModelConfig, export_hf, gpt2_tokenizer, save_checkpoint
    torch.manual_seed(seed)
    model = GPTModel(ModelConfig.load(config)).eval()
    save_checkpoint(workdir / "model.safetensors", model)
    export_hf(model, workdir / "hf", tokenizer=gpt2_tokenizer())
    if ct2 and model.cfg.arch == "gpt2":  # (CTranslate2's rows: GPT-2 only)
        from ctranslate2.converters import TransformersConverter
        TransformersConverter(str(workdir / "hf")).convert(str(workdir / "ct2"), force=True)
    return model.cfg


def matmul_bytes(cfg, dtype: str) -> int:
    """Bytes of matmul weights one decoded token reads: every block's matrices plus the vocab × d head
    (counted from the built model, so every family's shapes count: GQA, SwiGLU)."""
    from pocketllm import GPTModel
    import torch
    with torch.device("meta"):
        model = GPTModel(cfg)
    blocks = sum(p.numel() for p in model.blocks.parameters() if p.dim() == 2)
    return (blocks + cfg.vocab_size * cfg.emb_dim) * WEIGHT_BYTES[dtype]


def read_bandwidth_gbs(threads: int) -> float:
    """The machine's read bandwidth: the best of 5 dot products of two 256 MB vectors (the
    fastest read loop torch has here: ~30 % above a sum; larger than this machine's 300 MB L3)."""
    import torch
    if threads:
        torch.set_num_threads(threads)
    a, b = torch.ones(2 ** 26), torch.ones(2 ** 26)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        torch.dot(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * a.numel() * 4 / best / 1e9


def run_config(impl, dtype, args, workdir) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, "--dtype", dtype, "--workdir", str(workdir),
           "--new_tokens", str(args.new_tokens), "--compare_tokens", str(args.compare_tokens),
           "--device", args.device, "--threads", str(args.threads)]
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


def bench_config(config: str, runs, args, bandwidth: float | None, have_ct2: bool) -> dict:
    results = {c: [] for c in runs}
    with tempfile.TemporaryDirectory(prefix="pocketllm-bench-") as tmp:
        workdir = Path(tmp)
        cfg = prepare(workdir, config, args.seed, have_ct2)
        runs = [c for c in runs if c[0] != "ctranslate2" or cfg.arch == "gpt2"]
        results = {c: [] for c in runs}
        print(f"\n## {config}: {args.new_tokens} new tokens, batch 1, greedy, {args.device}, "
              f"{args.repeats} interleaved round(s)", flush=True)
        for r in range(args.repeats):
            for c in runs:
                res = run_config(*c, args, workdir)
                results[c].append(res)
                print(f"  round {r + 1}: {c[0]:<13}{c[1]:<10} {res['tok_s']:7.1f} tok/s  "
                      f"decode peak {res['decode_peak_mb']:5.0f} MB", flush=True)
    med = {c: statistics.median(x["tok_s"] for x in v) for c, v in results.items()}
    peak_key = "gpu_peak_mb" if args.device == "cuda" else "decode_peak_mb"  # on a GPU: its memory
    peak = {c: statistics.median(x[peak_key] or 0 for x in v) for c, v in results.items()}
    loadp = {c: statistics.median(x["load_peak_mb"] for x in v) for c, v in results.items()}
    best_hf = max((med[c] for c in runs if c[0] == "transformers"), default=None)
    ct2_int8, ct2_fp32 = med.get(("ctranslate2", "int8")), med.get(("ctranslate2", "fp32"))
    # vs CTranslate2 float32: the median of the rounds' ratios (each round's pair ran minutes apart at most)
    ct2_rounds = results.get(("ctranslate2", "fp32"), [])
    vs_fp32 = {c: statistics.median(a["tok_s"] / b["tok_s"] for a, b in zip(results[c], ct2_rounds))
               for c in runs} if ct2_fp32 else {}
    print(f"\n| {config} | dtype | tok/s (median) | vs best transformers | vs CTranslate2 int8 "
          f"| vs CTranslate2 float32 | decode peak MB | load peak MB | of bandwidth limit |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in runs:
        vs_hf = f"{med[c] / best_hf:.2f}×" if best_hf else "-"
        vs_ct2 = f"{med[c] / ct2_int8:.2f}×" if ct2_int8 else "-"
        vs_f = f"{vs_fp32[c]:.2f}×" if vs_fp32 else "-"
        frac = f"{matmul_bytes(cfg, c[1]) * med[c] / 1e9 / bandwidth:.0%}" if bandwidth else "-"
        print(f"| {c[0]} | {c[1]} | {med[c]:.1f} | {vs_hf} | {vs_ct2} | {vs_f} | {peak[c]:.0f} | {loadp[c]:.0f} "
              f"| {frac} |")
    n = args.compare_tokens
    ref = results[("pocketllm", "fp32")][0]["ids"]
    print(f"\ngreedy ids vs PocketLLM fp32, first {n} (random weights, so near-ties; "
          f"tests/test_speedups.py and test_quantize.py check real text):")
    for c in runs:
        if c != ("pocketllm", "fp32"):
            print(f"  {c[0]} {c[1]}: {agreement(ref, results[c][0]['ids'])}/{len(ref)} leading ids agree")
    return {"config": config, "median_tok_s": {f"{a} {b}": v for (a, b), v in med.items()},
            "vs_ctranslate2_float32": {f"{a} {b}": v for (a, b), v in vs_fp32.items()},
            "decode_peak_mb": {f"{a} {b}": v for (a, b), v in peak.items()},
            "load_peak_mb": {f"{a} {b}": v for (a, b), v in loadp.items()},
            "rounds": {f"{a} {b}": v for (a, b), v in results.items()}}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", default="gpt2-124M,gpt2-355M", help="model presets, comma-separated")
    p.add_argument("--new_tokens", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--threads", type=int, default=0, help="threads for every side (default: each one's choice)")
    p.add_argument("--compare_tokens", type=int, default=20, help="greedy ids compared with PocketLLM fp32")
    p.add_argument("--only", default=None, help="comma-separated sides: pocketllm, transformers, ctranslate2")
    p.add_argument("--plain_fp32", action="store_true",
                   help="also time PocketLLM fp32 as loaded (no to_precision): what the fp32 layout buys")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--dtype", default="fp32", help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        args.impl = args.worker
        print(json.dumps(worker(args)))
        return

    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda needs a CUDA GPU, and none is available here "
                             "(torch.cuda.is_available() is False). Run it on a GPU machine; without "
                             "--device the CPU figures are measured.")
    try:
        import ctranslate2  # noqa: F401
        have_ct2 = True
    except ImportError:
        have_ct2 = False
        print("note: CTranslate2 is not installed, so its rows are skipped "
              "(pip install -r bench/requirements.txt)")
    only = set(args.only.split(",")) if args.only else None
    runs = [c for c in (GPU_RUNS if args.device == "cuda" else CPU_RUNS)
            if (only is None or c[0] in only) and (have_ct2 or c[0] != "ctranslate2")]
    if ("pocketllm", "fp32") not in runs:
        runs.insert(0, ("pocketllm", "fp32"))  # the reference for the greedy ids
    if args.plain_fp32:
        runs.insert(1, PLAIN_FP32)
    bandwidth = read_bandwidth_gbs(args.threads) if args.device == "cpu" else None
    load_avg = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPU cores, load average {load_avg:.1f} at start"
          + (f", read bandwidth {bandwidth:.1f} GB/s" if bandwidth else ""))
    figures = [bench_config(cfg, runs, args, bandwidth, have_ct2) for cfg in args.configs.split(",")]
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": {"cores": os.cpu_count(), "load_start": load_avg,
                                                           "load_end": os.getloadavg()[0],
                                                           "read_bandwidth_gbs": bandwidth},
                                               "new_tokens": args.new_tokens, "configs": figures}, indent=1))


if __name__ == "__main__":
    main()
