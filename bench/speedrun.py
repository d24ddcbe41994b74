"""The laptop speedrun: held-out bits per character after M minutes of training, recipe by recipe.

    python bench/speedrun.py                       # both corpora, 2 minutes, every candidate, 1 round
    python bench/speedrun.py --minutes 2 10 --repeats 2 --corpora zh
    python bench/speedrun.py --candidates classic muon wsd --write   # also rewrite the tables in the READMEs

Every candidate is `classic` (the default run as it was: GPT-2 blocks, AdamW, warm-up + cosine) with
one change, or a named recipe, trained by the real CLI (`python -m pocketllm pretrain`) in its own
process for the same `--max_minutes` of step time.  The schedule is planned on the time, so each
candidate ends its cooldown exactly when its budget does.  Rounds are interleaved (every candidate
once, then again), so a noisy neighbour slows every candidate alike; figures are medians.

What is measured, per run: held-out bits per character (the final evaluation over the WHOLE
held-out split: --eval_batches 0), steps done, step cost (training seconds per step), tokens per
second.  Evaluations, samples and snapshots are off during the run (they are not counted in the
budget anyway, only in the wall time).  The tokenizer (bpe, learned from the corpus's training part)
is trained once per vocabulary size and corpus and reused, so its time is not counted either.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = {"zh": ROOT / "data" / "pretrain" / "zh_classics.txt", "en": ROOT / "data" / "pretrain" / "shakespeare.txt"}

# name -> (flags on top of --recipe classic, one line of what it tries)
CANDIDATES = {
    "classic": ([], "the baseline: GPT-2 blocks, AdamW 1e-3, warm-up + cosine to 1e-4"),
    "speedrun": (["--recipe", "speedrun"], "the speedrun recipe, the default (below: how it was found)"),
    "muon": (["--optimizer", "muon"], "Muon (lr 0.02) for the blocks' matrices, AdamW for the rest"),
    "wsd": (["--schedule", "wsd"], "warm-up, peak rate, linear cooldown over the last half"),
    "lr3e-3": (["--lr", "3e-3"], "three times the peak rate"),
    "zero_init": (["--zero_init"], "blocks start as the identity (zero residual writes)"),
    "llama": (["--arch", "llama"], "RoPE, RMSNorm, SwiGLU, no biases, untied head"),
    "qwen3": (["--arch", "qwen3"], "llama's parts plus QK-norm"),
    "dropout0.1": (["--dropout", "0.1"], "dropout 0.1 against learning the corpus by heart"),
    "batch16": (["--batch_size", "16"], "16 windows a step instead of 8"),
    "batch4": (["--batch_size", "4"], "4 windows a step instead of 8"),
    "context128": (["--context_length", "128"], "windows of 128 tokens instead of 256"),
    "vocab4000": (["--vocab_size", "4000"], "a bpe vocabulary of 4,000 instead of 8,000"),
    "muon+wsd": (["--optimizer", "muon", "--schedule", "wsd"], "Muon with the wsd schedule"),
    "cpu-tiny": (["--config", "cpu-tiny"], "the smaller preset: more steps in the same time"),
    "qwen3+wsd": (["--arch", "qwen3", "--schedule", "wsd"], "Qwen3's blocks with the wsd schedule"),
    "qwen3+muon+wsd": (["--arch", "qwen3", "--optimizer", "muon", "--schedule", "wsd"],
                       "Qwen3's blocks, Muon, wsd"),
    "qwen3+lr3e-3+wsd": (["--arch", "qwen3", "--lr", "3e-3", "--schedule", "wsd"],
                         "Qwen3's blocks at three times the rate, wsd"),
    "tiny+qwen3+wsd": (["--config", "cpu-tiny", "--arch", "qwen3", "--schedule", "wsd"],
                       "the smaller preset with Qwen3's blocks, wsd"),
    "tiny256+qwen3+wsd": (["--config", "cpu-tiny", "--context_length", "256", "--arch", "qwen3", "--schedule", "wsd"],
                          "the smaller preset reading 256-token windows, Qwen3's blocks, wsd"),
    "tiny256b4+qwen3+wsd": (["--config", "cpu-tiny", "--context_length", "256", "--batch_size", "4", "--arch", "qwen3",
                             "--schedule", "wsd"], "the same, 4 windows a step (the tokens a step of context 128)"),
    "tiny256b4+qwen3+wsd+lr2e-3": (["--config", "cpu-tiny", "--context_length", "256", "--batch_size", "4", "--arch",
                                    "qwen3", "--schedule", "wsd", "--lr", "2e-3"], "the same at twice the rate"),
    "tiny256b4+qwen3+wsd+vocab4000": (["--config", "cpu-tiny", "--context_length", "256", "--batch_size", "4", "--arch",
                                       "qwen3", "--schedule", "wsd", "--vocab_size", "4000"],
                                      "the same with a 4,000-token vocabulary (cpu-tiny's head is most of its work)"),
    "tiny+qwen3+muon+wsd": (["--config", "cpu-tiny", "--arch", "qwen3", "--optimizer", "muon", "--schedule", "wsd"],
                            "the smaller preset with Qwen3's blocks, Muon, wsd"),
    "tiny+qwen3+muon+wsd+lr3e-3": (["--config", "cpu-tiny", "--arch", "qwen3", "--optimizer", "muon", "--schedule",
                                    "wsd", "--lr", "3e-3"], "as above, AdamW's rate ×3 (embeddings, head)"),
}


def run_one(name: str, corpus: str, minutes: float, out: Path, extra: list[str], threads: int,
            clock: str = "wall") -> dict:
    """Train one candidate in its own process; its figures from the run folder's events."""
    flags, _ = CANDIDATES[name]
    run_dir = out / f"{corpus}-{minutes:g}m-{name}-{time.strftime('%H%M%S')}"
    cmd = [sys.executable, "-m", "pocketllm", "pretrain", "--recipe", "classic", *flags, *extra,
           # (--max_minutes alone: the clock ends the run, no step count)
           "--data_path", str(CORPORA[corpus]), "--max_minutes", str(minutes), "--eval_every", "1000000000",
           "--eval_batches", "0", "--sample_every", "0", "--no-snapshots", "--run_dir", str(run_dir),
           "--threads", str(threads), "--budget_clock", clock, "--quiet"]
    t0 = time.time()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.time() - t0
    if done.returncode != 0:
        return {"name": name, "corpus": corpus, "minutes": minutes, "error": done.stderr[-800:]}
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    final = [e for e in events if e["kind"] == "eval"][-1]
    steps = [e for e in events if e["kind"] == "step"]
    sample = [e for e in events if e["kind"] == "sample"]
    return {"name": name, "corpus": corpus, "minutes": minutes, "bits_per_char": final["val"]["bits_per_char"],
            "val_loss": final["val"]["loss"], "steps": final["step"],
            "step_cost_s": minutes * 60 / max(1, final["step"]),
            "tokens_per_s": final["tokens_seen"] / (minutes * 60), "wall_s": round(wall, 1),
            "last_sample": sample[-1]["text"] if sample else None, "run_dir": str(run_dir),
            "train_loss": steps[-1]["train_loss"] if steps else None}


def summarize(results: list[dict]) -> list[dict]:
    """Medians per (corpus, minutes, candidate), with the ratio to classic's median."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        if "error" not in r:
            groups.setdefault((r["corpus"], r["minutes"], r["name"]), []).append(r)
    rows = []
    for (corpus, minutes, name), runs in sorted(groups.items()):
        med = {k: statistics.median(r[k] for r in runs) for k in ("bits_per_char", "steps", "step_cost_s",
                                                                  "tokens_per_s")}
        rows.append({"corpus": corpus, "minutes": minutes, "name": name, "runs": len(runs),
                     "all_bits": [round(r["bits_per_char"], 3) for r in runs], **med})
    base = {(r["corpus"], r["minutes"]): r["bits_per_char"] for r in rows if r["name"] == "classic"}
    for r in rows:
        b = base.get((r["corpus"], r["minutes"]))
        r["ratio"] = r["bits_per_char"] / b if b else None
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| corpus | budget | candidate | what it changes | held-out bits/char (median) | runs | vs classic "
             "| steps | s/step | tokens/s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["corpus"], r["minutes"], r["ratio"] or 9)):
        ratio = f"{r['ratio']:.3f} ({(r['ratio'] - 1) * 100:+.1f} %)" if r["ratio"] else "—"
        lines.append(f"| {r['corpus']} | {r['minutes']:g} min | {r['name']} | {CANDIDATES[r['name']][1]} | "
                     f"{r['bits_per_char']:.3f} | {r['runs']} | {ratio} | {r['steps']:.0f} | "
                     f"{r['step_cost_s']:.3f} | {r['tokens_per_s']:,.0f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpora", nargs="+", default=["zh", "en"], choices=tuple(CORPORA))
    p.add_argument("--minutes", nargs="+", type=float, default=[2.0])
    p.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=tuple(CANDIDATES))
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="CPU threads of each run (0: all cores)")
    p.add_argument("--clock", default="wall", choices=("wall", "cpu"),
                   help="what the budget counts; on a shared machine use cpu with --threads 1")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "speedrun"))
    p.add_argument("--extra", default="", help="flags added to every run, e.g. '--config cpu-tiny'")
    p.add_argument("--report", nargs="+", default=None, metavar="RUNS_JSONL",
                   help="train nothing: the table of these runs.jsonl files (several invocations' runs together)")
    args = p.parse_args(argv)
    if args.report:
        results = [json.loads(line) for path in args.report for line in Path(path).read_text().splitlines()
                   if line.strip()]
        print(table(summarize(results)))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    results = []
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    for rep in range(args.repeats):
        for minutes in args.minutes:
            for corpus in args.corpora:
                order = args.candidates if rep % 2 == 0 else list(reversed(args.candidates))
                for name in order:
                    r = run_one(name, corpus, minutes, out, args.extra.split(), args.threads, args.clock)
                    r.update(round=rep, load=os.getloadavg()[0], date=time.strftime("%Y-%m-%d %H:%M"))
                    results.append(r)
                    with open(log, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps(r, ensure_ascii=False) + "\n")
                    shown = f"{r['bits_per_char']:.3f} bits/char, {r['steps']} steps" if "error" not in r else \
                        "FAILED " + r["error"][-300:]
                    print(f"[{rep}] {corpus} {minutes:g} min {name:12s} {shown} (load {r['load']:.1f})", flush=True)
    rows = summarize(results)
    print(table(rows))
    (out / "summary.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
