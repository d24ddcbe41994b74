"""Training speed on the CPU: PocketLLM's training step vs transformers' GPT2LMHeadModel.

Both get the same config, weights, batch and sequence length; one step is
forward + backward + AdamW.  PocketLLM runs its real Trainer path: the task's
training module (output head fused with the loss), `make_optimizer`, and the
autocast the Trainer would pick.  Rounds are interleaved (PocketLLM, transformers,
PocketLLM, ...) so load from other programs hits both alike; medians are reported.

    python bench/train.py            # cpu-small (batch 8, ctx 256) and gpt2-124M (batch 2, ctx 256)
    python bench/train.py --quick    # fewer rounds, cpu-small only
    python bench/train.py --threads 1
    python bench/train.py --split              # run the default `pocketllm pretrain`, report its time split
    python bench/train.py --split checkpoints/<run>   # the split of a run already made (its events.jsonl)

The like-for-like rows run both with the same threads (default: all cores).
The "default" row runs PocketLLM as its Trainer would (dtype auto, threads
picked from the load average) against transformers at torch's default threads.
transformers uses fused AdamW, as its Trainer does by default on torch >= 2.8.

`--split` reads the run's `events.jsonl` (what the Trainer writes anyway) and splits its
wall time into train / eval / sample / save.  The events carry the time each one was
*emitted*, at the end of its work, and they come in order (step report, then evaluation,
then samples, then a save), so an evaluation's cost is its time minus the event before it,
and so on; training is what is left.  The step report at an evaluation step is emitted
just before the evaluation when `eval_every` is a multiple of `log_every` (the defaults);
otherwise the evaluation's share also holds a few training steps.
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

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # run from a checkout without installing

from pocketllm import GPTModel, ModelConfig  # noqa: E402
from pocketllm.hf_layout import hf_config, pocketllm_to_hf  # noqa: E402
from pocketllm.tasks.language_modeling import NextTokenLoss  # noqa: E402
from pocketllm.training.hardware import autocast, pick_dtype, set_threads  # noqa: E402
from pocketllm.training.trainer import make_optimizer  # noqa: E402

CPU = torch.device("cpu")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def pocketllm_step(cfg, batch, seq, dtype):
    torch.manual_seed(0)
    model = GPTModel(cfg).train()
    loss_module = NextTokenLoss(model)
    opt = make_optimizer(model, 1e-4, 0.1, CPU)
    x = torch.randint(0, cfg.vocab_size, (batch, seq + 1))

    def step():
        with autocast(CPU, dtype):
            loss = loss_module(x[:, :-1], x[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model, step


def transformers_step(pocket_model, batch, seq, dtype):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = hf_config(pocket_model)
    cfg.pop("torch_dtype", None)
    hf = GPT2LMHeadModel(GPT2Config(**cfg)).train()
    missing, unexpected = hf.load_state_dict(pocketllm_to_hf(pocket_model), strict=False)
    assert not unexpected and all("lm_head" in k or "attn.bias" in k for k in missing), missing
    decay = [p for p in hf.parameters() if p.dim() >= 2]
    rest = [p for p in hf.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), fused=True)  # HF Trainer's default on torch >= 2.8
    x = torch.randint(0, pocket_model.cfg.vocab_size, (batch, seq + 1))

    def step():
        ctx = torch.autocast("cpu", dtype=dtype) if dtype != torch.float32 else torch.autocast("cpu", enabled=False)
        with ctx:  # labels shifted by hand so both predict the same `seq` tokens
            logits = hf(x[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def _race(contenders, tokens, rounds):
    """Interleaved rounds of one step each; median tokens/s per contender."""
    for _, fn, threads in contenders:  # warm-up (allocations, oneDNN kernels)
        torch.set_num_threads(threads)
        fn()
    rates = {label: [] for label, _, _ in contenders}
    for _ in range(rounds):
        for label, fn, threads in contenders:
            torch.set_num_threads(threads)
            t = time.perf_counter()
            fn()
            rates[label].append(tokens / (time.perf_counter() - t))
    return {k: statistics.median(v) for k, v in rates.items()}


def measure(preset, batch, seq, rounds, threads):
    cfg = ModelConfig.load(preset).replace(drop_rate=0.0)
    tokens = batch * seq
    best_hf = 0.0
    for name, dtype in DTYPES.items():
        model, ours = pocketllm_step(cfg, batch, seq, dtype)
        theirs = transformers_step(model, batch, seq, dtype)
        med = _race([("pocketllm", ours, threads), ("transformers", theirs, threads)], tokens, rounds)
        best_hf = max(best_hf, med["transformers"])
        print(f"  {preset:10s} {name:7s} {threads} thr  pocketllm {med['pocketllm']:8,.0f} tok/s   "
              f"transformers {med['transformers']:8,.0f} tok/s   ratio {med['pocketllm'] / med['transformers']:.2f}x",
              flush=True)
        del model, ours, theirs
    # PocketLLM as the Trainer runs it by default: dtype auto, threads chosen from the load.
    auto_dtype = pick_dtype("auto", CPU)
    auto_threads = set_threads(1)
    model, ours = pocketllm_step(cfg, batch, seq, auto_dtype)
    theirs = transformers_step(model, batch, seq, torch.bfloat16)
    med = _race([("pocketllm", ours, auto_threads), ("transformers", theirs, threads)], tokens, rounds)
    print(f"  {preset:10s} default: pocketllm ({str(auto_dtype).removeprefix('torch.')}, {auto_threads} thr) "
          f"{med['pocketllm']:,.0f} tok/s vs transformers bf16 {threads} thr {med['transformers']:,.0f} tok/s "
          f"(same run): {med['pocketllm'] / med['transformers']:.2f}x; "
          f"vs best transformers figure above ({best_hf:,.0f}): {med['pocketllm'] / best_hf:.2f}x", flush=True)


SPLIT_KINDS = {"eval": "eval", "sample": "sample", "checkpoint": "save"}


def time_split(events: list[dict]) -> dict:
    """Seconds spent in train / eval / sample / save, from a run's events in order."""
    start = next(e["time"] for e in events if e["kind"] == "started")
    end = next(e["time"] for e in reversed(events) if e["kind"] in ("finished", "stopped", "failed"))
    spent = {"eval": 0.0, "sample": 0.0, "save": 0.0}
    previous = start
    for e in events:
        if e["kind"] in SPLIT_KINDS:
            spent[SPLIT_KINDS[e["kind"]]] += e["time"] - previous
        previous = e["time"] if e["kind"] != "started" else previous
    total = end - start
    return {"total": total, "train": total - sum(spent.values()), **spent}


def report_split(path: Path):
    events_file = path / "events.jsonl" if path.is_dir() else path
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    split = time_split(events)
    evals = sum(e["kind"] == "eval" for e in events)
    samples = sum(e["kind"] == "sample" for e in events)
    saves = sum(e["kind"] == "checkpoint" for e in events)
    steps = max((e.get("step", 0) for e in events), default=0)
    print(f"\ntime split of {events_file} ({steps} steps, {evals} evaluations, {samples} samples, "
          f"{saves} saves):")
    print("| part | seconds | share |\n|---|---|---|")
    for part in ("train", "eval", "sample", "save"):
        print(f"| {part} | {split[part]:.1f} | {split[part] / split['total']:.1%} |")
    print(f"| total | {split['total']:.1f} | 100% |")
    overhead = split["eval"] + split["sample"]
    print(f"eval + sample: {overhead / split['total']:.1%} of the run (target ≤ 10%)")
    return split


def run_default_pretrain(extra: list[str]) -> Path:
    """`python -m pocketllm pretrain` with its defaults, in a temp folder; returns the run folder."""
    tmp = Path(tempfile.mkdtemp(prefix="pocketllm-split-"))
    cmd = [sys.executable, "-m", "pocketllm", "pretrain", "--run_dir", str(tmp / "run"),
           "--model_path", str(tmp / "model.safetensors"), "--quiet", *extra]
    print("running:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    return tmp / "run"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", nargs="?", const="", default=None, metavar="RUN",
                    help="report the train/eval/sample/save time split of a run folder (or events.jsonl); "
                         "with no RUN, make the default pretrain run first")
    ap.add_argument("--split_args", default="", help="extra flags for that pretrain run, e.g. \"--max_steps 50\"")
    ap.add_argument("--quick", action="store_true", help="3 rounds, cpu-small only")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    a = ap.parse_args()
    if a.split is not None:
        report_split(Path(a.split) if a.split else run_default_pretrain(a.split_args.split()))
        return
    threads = a.threads or torch.get_num_threads()
    rounds = a.rounds or (3 if a.quick else 5)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"torch {torch.__version__}, {threads} threads, {os.cpu_count()} cores, "
          f"load average {load:.1f}, default training dtype {pick_dtype('auto', CPU)}")
    measure("cpu-small", batch=8, seq=256, rounds=rounds, threads=threads)
    if not a.quick:
        measure("gpt2-124M", batch=2, seq=256, rounds=rounds, threads=threads)


if __name__ == "__main__":
    main()
