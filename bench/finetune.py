"""Finetuning on a laptop CPU: spam classification and instruction following, end to end.

    python bench/finetune.py                          # pretrain a base (2.5 min), then everything
    python bench/finetune.py --base checkpoints/x/model.safetensors   # reuse a base
    python bench/finetune.py --pretrain_seconds 60 --cls_epochs 1 --instruct_epochs 1   # a quick look

1. Base: the cpu-tiny preset pretrained on the bundled Shakespeare (English, like
   the spam mails) for --pretrain_seconds, through `prepare_pretraining` (the same
   code as `python -m pocketllm pretrain`).
2. Spam classification on data/classify/spam.csv (70/10/20 stratified split), with
   the same recipe (--trainable, epochs, lr) from (a) that base and (b) random
   initialisation: seconds per epoch (training only, evaluation excluded) and test
   accuracy.
3. Instructions on data/instruct/tasks.json: exact match on held-out prompts with
   the base before finetuning, and after `prepare_instruction` from that base.

Everything runs through the public training loop, with the machine's load average
recorded before and after (the numbers mean little on a busy machine without it).
The summary goes to bench/results/finetune.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
RESULTS = ROOT / "bench" / "results"


def run_trainer(trainer, stop_after: float | None = None) -> dict:
    """Drain the events; return the end event, training seconds per epoch and the timeline."""
    timer = None
    if stop_after:
        timer = threading.Timer(stop_after, trainer.stop_event.set)
        timer.start()
    started = last_step = None
    eval_seconds = 0.0
    end, steps, per_epoch = {}, 0, 1
    try:
        for event in trainer.run():
            d = event.to_dict()
            if d["kind"] == "started":
                started, per_epoch = d["time"], d["steps_per_epoch"]
                last_step = started
            elif d["kind"] == "step":
                steps, last_step = d["step"], d["time"]
            elif d["kind"] in ("eval", "sample", "checkpoint"):
                eval_seconds += d["time"] - last_step  # not training: keep it out of the epoch time
                last_step = d["time"]
            elif d["kind"] in ("finished", "stopped", "failed"):
                end = d
    finally:
        if timer:
            timer.cancel()
    train_seconds = (last_step - started) - eval_seconds if started else 0.0
    return {"end": end, "steps": steps, "train_seconds": train_seconds,
            "seconds_per_epoch": train_seconds / max(1e-9, steps / per_epoch),
            "steps_per_epoch": per_epoch, "wall_seconds": end.get("elapsed", 0.0)}


def pretrain_base(args, out: Path) -> tuple[str, dict]:
    from pocketllm.tasks import BUNDLED_CORPORA, PretrainSettings, prepare_pretraining
    from pocketllm.training.trainer import TrainSettings
    settings = PretrainSettings(
        data_path=str(BUNDLED_CORPORA[args.corpus]), config=args.config, context_length=args.context, vocab_size=None,
        run_dir=str(out / "pretrain"), overwrite=True,
        train=TrainSettings(epochs=100, max_steps=args.pretrain_max_steps, batch_size=8, lr=1e-3,
                            warmup_steps=20, eval_every=0, sample_every=0, seed=args.seed, dtype=args.dtype,
                            threads=args.threads or 0))
    trainer = prepare_pretraining(settings)
    r = run_trainer(trainer, stop_after=args.pretrain_seconds)
    info = {"corpus": args.corpus, "config": args.config, "context": args.context, "steps": r["steps"],
            "tokens_seen": r["end"].get("tokens_seen"), "seconds": round(r["wall_seconds"], 1),
            "train_loss": trainer.last.get("train_loss")}
    return str(trainer.model_path), info


def classify_run(args, out: Path, name: str, base: str | None) -> dict:
    from pocketllm.tasks.classification import ClassifySettings, prepare_classification
    from pocketllm.training.trainer import TrainSettings
    settings = ClassifySettings(
        base_model=base, config=None if base else args.config, trainable=args.trainable,
        max_length=args.context, run_dir=str(out / name), overwrite=True,
        train=TrainSettings(epochs=args.cls_epochs, batch_size=8, lr=args.cls_lr, eval_every=0,
                            sample_every=0, seed=args.seed, dtype=args.dtype,
                            threads=args.threads or 0))
    trainer = prepare_classification(settings)
    r = run_trainer(trainer)
    results = r["end"].get("results", {})
    return {"base": name, "trainable": results.get("trainable"),
            "trainable_parameters": results.get("trainable_parameters"), "epochs": args.cls_epochs,
            "seconds_per_epoch": round(r["seconds_per_epoch"], 1), "wall_seconds": round(r["wall_seconds"], 1),
            "val_accuracy": results.get("val_accuracy"), "test_accuracy": results.get("test_accuracy"),
            "test_macro_f1": results.get("test", {}).get("macro_f1"),
            "confusion_matrix": results.get("test", {}).get("confusion_matrix")}


def instruct_runs(args, out: Path, base: str) -> dict:
    import torch
    from pocketllm import load_model
    from pocketllm.data.instructions import get_template, load_instructions, split_records
    from pocketllm.tasks.instruction import (DEFAULT_INSTRUCTIONS, InstructSettings, answer_records,
                                             prepare_instruction, score_answers)
    from pocketllm.training.trainer import TrainSettings
    split = (0.85, 0.05, 0.1)
    template = get_template(args.template)
    test = split_records(load_instructions(DEFAULT_INSTRUCTIONS).records, split, args.seed)[2]
    t0 = time.time()
    with torch.no_grad():
        before = score_answers(answer_records(load_model(base).model, test, template, args.test_generate, 24))
    before_seconds = time.time() - t0
    settings = InstructSettings(
        template=args.template, mask_prompt=args.mask_prompt, split=split, test_generate=args.test_generate,
        base_model=base, run_dir=str(out / "instruct"), overwrite=True,
        train=TrainSettings(epochs=args.instruct_epochs, batch_size=8, lr=args.instruct_lr, eval_every=0,
                            sample_every=0, seed=args.seed, dtype=args.dtype,
                            threads=args.threads or 0))
    trainer = prepare_instruction(settings)
    r = run_trainer(trainer)
    results = r["end"].get("results", {})
    return {"template": args.template, "mask_prompt": args.mask_prompt, "epochs": args.instruct_epochs,
            "test_prompts": results.get("test_generated"),
            "exact_match_before": before["exact_match"], "exact_match_after": results.get("exact_match"),
            "val_loss_after": results.get("val_loss"), "seconds_per_epoch": round(r["seconds_per_epoch"], 1),
            "wall_seconds": round(r["wall_seconds"], 1), "before_seconds": round(before_seconds, 1),
            "after_by_instruction": results.get("exact_match_by_instruction"),
            "responses": results.get("responses_path")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default=None, help="use this base checkpoint instead of pretraining one")
    p.add_argument("--config", default="cpu-tiny", help="base model preset (default cpu-tiny)")
    p.add_argument("--corpus", default="shakespeare", choices=["shakespeare", "zh_classics"])
    p.add_argument("--context", type=int, default=128, help="context of the pretrained base and messages")
    p.add_argument("--pretrain_seconds", type=float, default=150)
    p.add_argument("--pretrain_max_steps", type=int, default=2000)
    p.add_argument("--trainable", default="all", help="classifier recipe, the same for (a) and (b)")
    p.add_argument("--cls_epochs", type=int, default=3)
    p.add_argument("--cls_lr", type=float, default=1e-3)
    p.add_argument("--instruct_epochs", type=int, default=8)
    p.add_argument("--instruct_lr", type=float, default=2e-3)
    p.add_argument("--template", default="short", choices=["alpaca", "short"])
    p.add_argument("--mask_prompt", action=argparse.BooleanOptionalAction, default=True,
                   help="learn only the responses (default on)")
    p.add_argument("--test_generate", type=int, default=100)
    p.add_argument("--skip", default="", help="comma list of parts to skip: random, instruct")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the loop's choice, all cores); 1 is faster on a busy machine")
    p.add_argument("--seed", type=int, default=123)
    args = p.parse_args(argv)

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)  # for the generation outside the loop
    out = RESULTS / "finetune-runs"
    shutil.rmtree(out, ignore_errors=True)
    t_start, load_start = time.time(), os.getloadavg()
    summary = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "torch": torch.__version__, "threads": args.threads or torch.get_num_threads(),
                           "load_avg_start": [round(x, 2) for x in load_start]},
               "settings": vars(args)}

    if args.base:
        base, summary["base"] = args.base, {"path": args.base}
    else:
        print(f"pretraining {args.config} on {args.corpus} for {args.pretrain_seconds:.0f} s ...", flush=True)
        base, summary["base"] = pretrain_base(args, out)
        print(f"  {summary['base']}", flush=True)

    summary["classify"] = []
    for name, b in (("pretrained", base), ("random", None)):
        if name in args.skip.split(","):
            continue
        print(f"spam classification from the {name} base ({args.trainable}, {args.cls_epochs} epochs) ...", flush=True)
        summary["classify"].append(classify_run(args, out, name, b))
        print(f"  {summary['classify'][-1]}", flush=True)
    if "instruct" not in args.skip.split(","):
        print(f"instruction finetuning ({args.instruct_epochs} epochs) ...", flush=True)
        summary["instruct"] = instruct_runs(args, out, base)
        print(f"  exact match {summary['instruct']['exact_match_before']:.1%} → "
              f"{summary['instruct']['exact_match_after']:.1%}", flush=True)

    summary["total_seconds"] = round(time.time() - t_start, 1)
    summary["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "finetune.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))

    print()
    print(f"{'spam classifier':<22}{'trainable':>12}{'s/epoch':>10}{'epochs':>8}{'val acc':>10}{'test acc':>10}")
    for c in summary["classify"]:
        print(f"{'from ' + c['base']:<22}{c['trainable']:>12}{c['seconds_per_epoch']:>10.1f}{c['epochs']:>8}"
              f"{c['val_accuracy']:>10.2%}{c['test_accuracy']:>10.2%}")
    if "instruct" in summary:
        i = summary["instruct"]
        print(f"instructions ({i['test_prompts']} held-out prompts, template {i['template']}): exact match "
              f"{i['exact_match_before']:.1%} before → {i['exact_match_after']:.1%} after "
              f"({i['epochs']} epochs, {i['seconds_per_epoch']:.0f} s/epoch)")
    m = summary["machine"]
    print(f"total {summary['total_seconds']:.0f} s on {m['cpus']} CPUs, {m['threads']} torch thread(s); "
          f"load average {m['load_avg_start'][0]} at start, {m['load_avg_end'][0]} at end")
    print(f"written to {RESULTS / 'finetune.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
