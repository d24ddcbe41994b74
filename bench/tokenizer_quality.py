"""Tokenizers side by side: gpt2 vs char vs bpe at a few sizes, the same wall-clock budget each.

For every corpus and tokenizer a fresh model (cpu-small by default) is pretrained
through the real `prepare_pretraining` + Trainer path for `--budget` seconds of
training, then measured:

- held-out bits per character on EVERY window of the validation split (the last
  10 % of the characters, which the bpe/char tokenizers never saw), so all
  tokenizers are scored on the same text; bits per character do not depend on
  the tokenizer, nats per token do;
- steps done in the budget, training tokens/s and text characters/s, parameters;
- five samples of 100 new tokens (temperature 0.8, top-k 40, seeds 0-4) after
  "子曰：" (zh_classics) or "ROMEO:" (shakespeare), with the valid-UTF-8 rule on
  (the default) and off: the share of U+FFFD and of CJK characters in them.

How the budget is kept: a short calibration run (a few steps in a throwaway run
folder) measures seconds per step; the real run then plans
budget ÷ (seconds per step) steps, so that its warm-up + cosine schedule ends
inside the budget, as the default 150-step CLI run does, and a hard stop at the
budget catches a machine that became slower. No evaluations or samples run
inside the budget. Tokenizer training and tokenizing are outside it (both take
a second or two; the JSON has them).

    python bench/tokenizer_quality.py                       # both corpora, 5 tokenizers, 120 s each (~30 min)
    python bench/tokenizer_quality.py --budget 10 --configs gpt2,char,bpe:2000 --corpora zh_classics

Writes bench/results/tokenizers.md and .json (`--out` changes the prefix).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
# This file is called tokenizers.py: with bench/ first on the path, `import tokenizers`
# (Hugging Face's, which the bpe and char kinds use) would import this script instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from pocketllm import (BUNDLED_CORPORA, DEFAULT_KIND, DEFAULT_VOCAB_SIZE, PretrainSettings,  # noqa: E402
                       Sampling, generate, load_model, prepare_pretraining)
from pocketllm.training import TrainSettings  # noqa: E402
from pocketllm.training.hardware import autocast  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_CONFIGS = "gpt2,char,bpe:2000,bpe:4000,bpe:8000"
PROMPTS = {"zh_classics": "子曰：", "shakespeare": "ROMEO:"}
SAMPLES, SAMPLE_TOKENS = 5, 100
CALIBRATION_STEPS = 6  # steps of the calibration run; seconds per step from the last 4


# ---- small helpers -----------------------------------------------------------
def machine() -> dict:
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info["cpu"] = fields.get("Model name", info["cpu"])
        info["cores"] = int(fields.get("CPU(s)", info["cores"]))
        info["cores_per_socket"] = fields.get("Core(s) per socket")
        flags = fields.get("Flags", "").split()
        info["bf16"] = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    info["torch"] = torch.__version__
    return info


def load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def parse_config(text: str) -> tuple[str, int | None]:
    """"gpt2" | "char" | "char:3000" | "bpe" | "bpe:4000" -> (kind, vocab_size)."""
    kind, _, size = text.strip().partition(":")
    if kind not in ("gpt2", "char", "bpe"):
        raise SystemExit(f"unknown tokenizer config {text!r}: use gpt2, char, char:N, bpe or bpe:N")
    if kind == "gpt2" and size:
        raise SystemExit("gpt2 has a fixed vocabulary; write just gpt2")
    vocab = int(size) if size else DEFAULT_VOCAB_SIZE.get(kind)
    return kind, vocab


def label(kind: str, vocab: int | None) -> str:
    return f"{kind}:{vocab}" if kind == "bpe" or (kind == "char" and vocab) else kind


def corpus_path(name: str) -> tuple[str, Path]:
    if name in BUNDLED_CORPORA:
        return name, Path(BUNDLED_CORPORA[name])
    path = Path(name)
    if not path.is_file():
        raise SystemExit(f"no corpus {name!r}: use {', '.join(BUNDLED_CORPORA)} or a path to a UTF-8 file")
    return path.stem, path


def is_cjk(ch: str) -> bool:
    """CJK ideographs (unified, extension A/B..., compatibility), CJK punctuation, full-width forms."""
    o = ord(ch)
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2FA1F
            or 0xF900 <= o <= 0xFAFF or 0x3000 <= o <= 0x303F or 0xFF00 <= o <= 0xFFEF)


def shares(texts: list[str]) -> dict:
    """U+FFFD among all characters, CJK among the non-space characters, of the texts together."""
    chars = sum(len(t) for t in texts)
    fffd = sum(t.count("\ufffd") for t in texts)
    # A sample that ends inside a character (the token limit cut it) ends in U+FFFD when decoded.
    fffd_at_end = sum(len(t) - len(t.rstrip("\ufffd")) for t in texts)
    visible = [ch for t in texts for ch in t if not ch.isspace()]
    cjk = sum(map(is_cjk, visible))
    return {"chars": chars, "fffd": fffd, "fffd_at_end": fffd_at_end, "fffd_share": fffd / max(1, chars),
            "cjk_share": cjk / max(1, len(visible))}


def settings(data: Path, kind, vocab, run_dir: Path, max_steps: int, a) -> PretrainSettings:
    return PretrainSettings(
        data_path=str(data), config=a.config, tokenizer=kind, vocab_size=vocab, run_dir=str(run_dir),
        overwrite=True, sample_prompt="",
        train=TrainSettings(max_steps=max_steps, batch_size=a.batch_size, lr=a.lr, eval_every=0,
                            sample_every=0, seed=a.seed, threads=a.threads))


def follow(trainer, stop: threading.Event, should_stop) -> dict:
    """Run the trainer to its end; `should_stop(started_time, step_event)` sets the stop flag."""
    out = {"step_times": [], "rates": []}
    for e in trainer.run():
        if e.kind == "started":
            out.update(started=time.time(), parameters=e.parameters, threads=e.threads, dtype=e.dtype,
                       tokens_per_step=e.tokens_per_step)
        elif e.kind == "step":
            out["step_times"].append(time.time())
            out["rates"].append(e.tokens_per_s)
            out["last_step"] = e
            if not stop.is_set() and should_stop(out["started"], e):
                stop.set()
        elif e.kind in ("finished", "stopped"):
            out["end"] = e
        elif e.kind == "failed":
            raise SystemExit(f"training failed: {e.message}")
    return out


# ---- one tokenizer on one corpus ----------------------------------------------
def calibrate(data: Path, kind, vocab, run_dir: Path, a) -> float:
    """Seconds per optimizer step of this tokenizer's model, from a few steps of a throwaway run."""
    stop = threading.Event()
    trainer = prepare_pretraining(settings(data, kind, vocab, run_dir, 10 ** 6, a), stop_event=stop)
    got = follow(trainer, stop, lambda t0, e: e.step >= CALIBRATION_STEPS)
    times = got["step_times"]
    return (times[-1] - times[1]) / max(1, len(times) - 2)


def run_one(name: str, data: Path, kind: str, vocab, prompt: str, a, work: Path) -> dict:
    tag = label(kind, vocab)
    run_dir = work / f"{name}-{tag.replace(':', '-')}"
    shutil.rmtree(run_dir, ignore_errors=True)
    load_before = load_average()

    t = time.time()
    per_step = calibrate(data, kind, vocab, run_dir.with_name(run_dir.name + "-calib"), a)
    shutil.rmtree(run_dir.with_name(run_dir.name + "-calib"), ignore_errors=True)
    calib_s = time.time() - t
    planned = max(1, int(a.budget / per_step))

    stop = threading.Event()
    t = time.time()
    trainer = prepare_pretraining(settings(data, kind, vocab, run_dir, planned, a), stop_event=stop)
    setup_s = time.time() - t  # tokenizer training + tokenizing + model
    got = follow(trainer, stop, lambda t0, e: time.time() - t0 >= a.budget)
    last = got["last_step"]
    train_s = got["step_times"][-1] - got["started"]
    corpus = trainer.task.corpus
    tok = trainer.task.tokenizer

    # Held-out bits per character: every validation window (or --eval_windows of them),
    # as the Trainer's own evaluation does it (eval mode, no grad, its autocast).
    task = trainer.task
    windows = len(corpus.val) if not a.eval_windows else min(a.eval_windows, len(corpus.val))
    batches = math.ceil(windows / task.eval_batch_size)
    windows = min(len(corpus.val), batches * task.eval_batch_size)
    model = trainer.model.eval()
    t = time.time()
    with torch.no_grad(), autocast(trainer.device, trainer.dtype):
        val = task.evaluate(model, "val", batches, trainer.device)
    eval_s = time.time() - t

    # Samples from the saved checkpoint (so the tokenizer goes through its round trip too).
    ck = load_model(trainer.model_path)
    samples = {}
    t = time.time()
    for rule in (True, False):
        samples["on" if rule else "off"] = [
            generate(ck, prompt, SAMPLE_TOKENS, Sampling(temperature=0.8, top_k=40, seed=i, valid_utf8=rule))
            for i in range(SAMPLES)]
    sample_s = time.time() - t

    result = {
        "corpus": name, "tokenizer": tag, "kind": kind, "vocab_size": tok.vocab_size,
        "parameters": got["parameters"], "threads": got["threads"], "dtype": got["dtype"],
        "seconds_per_step_calibrated": round(per_step, 4), "planned_steps": planned,
        "steps": last.step, "ended": got["end"].kind, "train_s": round(train_s, 2),
        "tokens_seen": last.tokens_seen, "tokens_per_s": last.tokens_seen / max(train_s, 1e-9),
        "tokens_per_s_median_step": statistics.median(got["rates"]),
        "train_tokens_per_char": corpus.tokens_per_char("train"),
        "val_tokens_per_char": corpus.tokens_per_char("val"),
        "val_windows": windows, "val_windows_total": len(corpus.val),
        "val_loss": val["loss"], "val_bits_per_char": val["bits_per_char"],
        "final_train_loss": last.train_loss,
        "samples_on": shares(samples["on"]), "samples_off": shares(samples["off"]),
        "sample_texts": samples, "prompt": prompt,
        "calibration_s": round(calib_s, 2), "setup_s": round(setup_s, 2), "eval_s": round(eval_s, 2),
        "sample_s": round(sample_s, 2), "load_before": load_before, "load_after": load_average(),
    }
    result["chars_per_s"] = result["tokens_per_s"] / max(result["train_tokens_per_char"], 1e-9)
    if not a.keep_runs:
        shutil.rmtree(run_dir, ignore_errors=True)
    return result


# ---- report --------------------------------------------------------------------
def excerpt(text: str, n: int = 40) -> str:
    text = text[:n].replace("\\", "\\\\").replace("|", "\\|").replace("\n", "⏎").replace("\r", "")
    return text + ("…" if len(text) >= n else "")


def fffd_cell(s: dict) -> str:
    cell = f"{s['fffd_share']:.1%} ({s['fffd']}/{s['chars']})"
    return cell + (f", {s['fffd_at_end']} at the end" if s["fffd_at_end"] else "")


def table(name: str, rows: list[dict], corpus_cjk: float) -> str:
    base = next((r for r in rows if r["kind"] == "gpt2"), None)
    lines = [f"### {name}", "",
             f"CJK share of the corpus itself: {corpus_cjk:.1%}. Prompt {rows[0]['prompt']!r}; "
             f"{SAMPLES} samples × {SAMPLE_TOKENS} new tokens, temperature 0.8, top-k 40, seeds 0–{SAMPLES - 1}.",
             "",
             "| tokenizer | vocab | parameters | steps (planned) | tokens/s | chars/s | tokens/char "
             "| held-out bits/char | vs gpt2 | U+FFFD rule on | U+FFFD rule off | CJK share (on) | sample (seed 0, rule on) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    best = min(r["val_bits_per_char"] for r in rows)
    for r in rows:
        bpc = f"{r['val_bits_per_char']:.3f}"
        if r["val_bits_per_char"] == best:
            bpc = f"**{bpc}**"
        ratio = ""
        if base is not None:
            q = r["val_bits_per_char"] / base["val_bits_per_char"]
            ratio = "1.00×" if r is base else f"{q:.2f}× ({(q - 1) * 100:+.0f} %)"
        on, off = r["samples_on"], r["samples_off"]
        lines.append(
            f"| {r['tokenizer']} | {r['vocab_size']:,} | {r['parameters'] / 1e6:.2f} M "
            f"| {r['steps']} ({r['planned_steps']}) | {r['tokens_per_s']:,.0f} | {r['chars_per_s']:,.0f} "
            f"| {r['val_tokens_per_char']:.3f} | {bpc} | {ratio} "
            f"| {fffd_cell(on)} | {fffd_cell(off)} "
            f"| {on['cjk_share']:.1%} | {excerpt(r['sample_texts']['on'][0])} |")
    return "\n".join(lines)


def verdict(results: list[dict]) -> list[str]:
    out = []
    zh = [r for r in results if r["corpus"] == "zh_classics"]
    default = label(DEFAULT_KIND, DEFAULT_VOCAB_SIZE.get(DEFAULT_KIND))
    if zh:
        best = min(zh, key=lambda r: r["val_bits_per_char"])
        out.append(f"- Lowest held-out bits/char on zh_classics: **{best['tokenizer']}** "
                   f"({best['val_bits_per_char']:.3f}).")
        g = next((r for r in zh if r["kind"] == "gpt2"), None)
        d = next((r for r in zh if r["tokenizer"] == default), None)
        if g and d:
            cut = 1 - d["val_bits_per_char"] / g["val_bits_per_char"]
            out.append(f"- Target (default tokenizer {default} ≥ 30 % below gpt2 on zh_classics): "
                       f"{cut:.0%} below — {'met' if cut >= 0.30 else 'NOT met'}.")
    bad = [r["tokenizer"] + " on " + r["corpus"] for r in results if r["samples_on"]["fffd"]]
    out.append("- Target (no U+FFFD in samples, rule on): "
               + ("met, none in any sample." if not bad else "NOT met: " + ", ".join(bad) + "."))
    return out


def write(out: Path, header: dict, results: list[dict], corpus_cjk: dict, final: bool):
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({**header, "complete": final, "results": results},
                                                   ensure_ascii=False, indent=1), encoding="utf-8")
    m = header["machine"]
    parts = ["# Tokenizers side by side", "",
             f"`{header['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores ({', '.join(m.get('bf16') or []) or 'no bf16 flags'}), "
             f"torch {m['torch']}, shared with other work. Started {header['started']}, load average "
             f"{header['load_start']}. {header['config']}, batch {header['batch_size']}, lr {header['lr']}, "
             f"seed {header['seed']}, training budget {header['budget']:g} s per tokenizer "
             f"(schedule planned from a calibration run, hard stop at the budget). Held-out bits/char "
             f"on {'every window' if not header['eval_windows'] else 'the first ' + str(header['eval_windows']) + ' windows'} "
             f"of the validation split (last 10 % of the characters).", ""]
    for name in dict.fromkeys(r["corpus"] for r in results):
        parts += [table(name, [r for r in results if r["corpus"] == name], corpus_cjk[name]), ""]
    if final:
        parts += verdict(results) + [""]
    out.with_suffix(".md").write_text("\n".join(parts), encoding="utf-8")
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=120, help="training seconds per tokenizer (default 120)")
    ap.add_argument("--corpora", default=",".join(PROMPTS),
                    help=f"comma-separated bundled names or paths (default {','.join(PROMPTS)})")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, help=f"tokenizers (default {DEFAULT_CONFIGS})")
    ap.add_argument("--out", default=str(RESULTS / "tokenizers"),
                    help="output prefix: writes PREFIX.md and PREFIX.json (default bench/results/tokenizers)")
    ap.add_argument("--config", default="cpu-small", help="model preset (default cpu-small)")
    ap.add_argument("--batch_size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default 0: the Trainer picks)")
    ap.add_argument("--eval_windows", type=int, default=0,
                    help="validation windows to score (default 0: all of them)")
    ap.add_argument("--keep_runs", action="store_true", help="keep the run folders (checkpoints)")
    a = ap.parse_args()

    configs = [parse_config(c) for c in a.configs.split(",") if c.strip()]
    corpora = [corpus_path(c.strip()) for c in a.corpora.split(",") if c.strip()]
    out = Path(a.out)
    out = out.with_suffix("") if out.suffix in (".md", ".json") else out
    work = RESULTS / "tokenizers-runs"
    header = {"command": "python " + " ".join([os.path.relpath(__file__, ROOT), *sys.argv[1:]]),
              "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "load_start": load_average(), "budget": a.budget, "config": a.config,
              "batch_size": a.batch_size, "lr": a.lr, "seed": a.seed, "eval_windows": a.eval_windows,
              "samples": SAMPLES, "sample_tokens": SAMPLE_TOKENS}
    m = header["machine"]
    print(f"{m['cpu']}, {m['cores']} cores, torch {m['torch']}, load average {header['load_start']}", flush=True)

    results, corpus_cjk = [], {}
    for name, path in corpora:
        corpus_cjk[name] = shares([path.read_text(encoding="utf-8")])["cjk_share"]
        prompt = PROMPTS.get(name) or path.read_text(encoding="utf-8").strip()[:12]
        for kind, vocab in configs:
            print(f"[{name}] {label(kind, vocab)}: training {a.budget:g} s ...", flush=True)
            r = run_one(name, path, kind, vocab, prompt, a, work)
            print(f"[{name}] {r['tokenizer']}: {r['steps']}/{r['planned_steps']} steps in {r['train_s']:.0f} s, "
                  f"{r['tokens_per_s']:,.0f} tok/s, {r['threads']} thr, held-out {r['val_bits_per_char']:.3f} "
                  f"bits/char over {r['val_windows']} windows, U+FFFD on/off "
                  f"{r['samples_on']['fffd']}/{r['samples_off']['fffd']}, load {r['load_after']}", flush=True)
            results.append(r)
            write(out, header, results, corpus_cjk, final=False)
    if not a.keep_runs:
        shutil.rmtree(work, ignore_errors=True)
    header["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    print()
    print(write(out, header, results, corpus_cjk, final=True))
    print(f"\nwritten: {out.with_suffix('.md')} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
