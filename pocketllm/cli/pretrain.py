"""`pretrain`: train a language model on a text file (the seed's pretrain.py, and more)."""
from __future__ import annotations

import argparse
import threading

from ..training.trainer import TrainSettings


def add_train_args(p, defaults: TrainSettings, *, best: bool = False):
    """Flags of the training loop, shared by every training command; defaults from the task's settings.
    `best`: also the finetuning flags (--patience, --keep_last)."""
    d = defaults
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=d.epochs, help=f"passes over the data (default {d.epochs})")
    g.add_argument("--max_steps", type=int, default=d.max_steps,
                   help=f"train exactly this many optimizer steps, repeating the data as needed; "
                        f"overrides --epochs (default {d.max_steps or 'all epochs'})")
    g.add_argument("--batch_size", type=int, default=d.batch_size, help=f"examples per step (default {d.batch_size})")
    g.add_argument("--grad_accum", type=int, default=d.grad_accum, help="micro-batches per optimizer step (default 1)")
    g.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    g.add_argument("--warmup_steps", type=int, default=d.warmup_steps, help="linear warm-up steps (default 5%% of steps)")
    g.add_argument("--weight_decay", type=float, default=d.weight_decay)
    g.add_argument("--grad_clip", type=float, default=d.grad_clip, help="clip the gradient norm (0 = off)")
    g.add_argument("--eval_every", type=int, default=d.eval_every, help=f"evaluate every N steps (default {d.eval_every})")
    g.add_argument("--eval_batches", type=int, default=d.eval_batches,
                   help=f"batches per evaluation (default {d.eval_batches}; 0 = the whole split)")
    if best:
        g.add_argument("--patience", type=int, default=d.patience,
                       help=f"stop when this many evaluations in a row bring no better validation score "
                            f"(default {d.patience}; 0 = train every step)")
        g.add_argument("--keep_last", dest="keep_best", action="store_false",
                       help="save the last step's weights, not those of the best validation score")
    g.add_argument("--checkpoint_every", type=int, default=0, help="save every N steps (default: at the end)")
    g.add_argument("--snapshots", action=argparse.BooleanOptionalAction, default=d.snapshots,
                   help="keep the model at steps 0, 10, 20, 50, 100, 200, 400, ... and the last, in bf16, in the "
                        "run folder's snapshots/ (at most 16 files, 512 MB) for `inspect --run ... --steps all` "
                        "(default: on for models of at most 50 M parameters)")
    g.add_argument("--seed", type=int, default=d.seed, help="random seed: same seed, same run (default 123)")
    g.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    g.add_argument("--dtype", default="auto",
                   help="auto (bf16 where the hardware has it), fp32, bf16, fp16 (GPU only)")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (slow start, faster steps)")
    g.add_argument("--threads", type=int, default=0,
                   help="CPU threads (default 0: all cores, shared between torchrun processes)")
    g.add_argument("--run_dir", default=None, help="folder for this run's events and checkpoints")
    g.add_argument("--overwrite", action="store_true", help="replace --model_path if it exists")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    return g


def train_settings_from_args(args, sample_every: int = 0) -> TrainSettings:
    return TrainSettings(
        epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
        grad_accum=args.grad_accum, lr=args.lr, warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, eval_every=args.eval_every,
        eval_batches=args.eval_batches, sample_every=getattr(args, "sample_every", sample_every),
        checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device,
        dtype=args.dtype, compile=args.compile, threads=getattr(args, "threads", 0),
        keep_best=getattr(args, "keep_best", False), patience=getattr(args, "patience", 0),
        snapshots=getattr(args, "snapshots", None))


def register(sub):
    p = sub.add_parser(
        "pretrain", help="pretrain a language model on a UTF-8 text file",
        description="Pretrain a GPT-2-class model from scratch (or continue one). The defaults "
                    "train the cpu-small preset on the bundled Chinese classics for a few minutes "
                    "on a laptop CPU. Works under torchrun for several processes.")
    from ..tasks.language_modeling import PretrainSettings
    d = PretrainSettings()
    p.add_argument("--config", default=d.config,
                   help="preset (cpu-tiny, cpu-small, cpu-medium, gpt2-124M, ...) or JSON config file")
    from ..config import ARCHS
    p.add_argument("--arch", default=None, choices=tuple(ARCHS),
                   help="the architecture, with the preset's sizes: gpt2 (learned positions, LayerNorm, GELU), "
                        "llama (RoPE, RMSNorm, SwiGLU, no biases) or qwen3 (llama's parts plus QK-norm) "
                        "(default: the preset's own, gpt2 for cpu-*)")
    p.add_argument("--data_path", default=None,
                   help="UTF-8 text file (default: the bundled data/pretrain/zh_classics.txt)")
    p.add_argument("--model_path", default=None,
                   help="where to save the checkpoint (default: <run_dir>/model.safetensors)")
    p.add_argument("--tokenizer", default=None, choices=("bpe", "char", "gpt2"),
                   help="how a fresh model reads text: bpe (byte-level BPE trained on the corpus; default), "
                        "char (one token per character of the corpus) or gpt2 (OpenAI's 50,257 tokens). "
                        "--init_from and --resume keep the model's own tokenizer")
    p.add_argument("--vocab_size", type=int, default=None,
                   help="tokens in a bpe/char vocabulary (default: 8000 for bpe, every character for char)")
    p.add_argument("--context_length", type=int, default=None, help="shorter context than the preset's")
    p.add_argument("--stride", type=int, default=None, help="tokens between window starts (default: context)")
    p.add_argument("--val_fraction", type=float, default=d.val_fraction,
                   help=f"held-out share of tokens (default {d.val_fraction})")
    p.add_argument("--sample_every", type=int, default=d.train.sample_every,
                   help=f"write a sample every N steps (default {d.train.sample_every}; 0 = never)")
    p.add_argument("--sample_prompt", default=None, help="prompt for samples (default: start of the corpus)")
    p.add_argument("--resume", default=None, help="continue the run that saved this checkpoint")
    p.add_argument("--init_from", default=None, help="start from these weights (checkpoint or GPT-2 file)")
    add_train_args(p, d.train)
    p.set_defaults(run=run)


def run(args):
    from ..tasks.language_modeling import DEFAULT_CORPUS, PretrainSettings, prepare_pretraining
    from ..training.distributed import shutdown
    from ._progress import ctrl_c_stops, follow

    settings = PretrainSettings(
        data_path=args.data_path or str(DEFAULT_CORPUS), config=args.config, arch=args.arch,
        tokenizer=args.tokenizer, vocab_size=args.vocab_size,
        context_length=args.context_length, stride=args.stride, val_fraction=args.val_fraction,
        sample_prompt=args.sample_prompt, model_path=args.model_path, run_dir=args.run_dir,
        resume=args.resume, init_from=args.init_from, overwrite=args.overwrite,
        train=train_settings_from_args(args))
    from ..tokenizer import DEFAULT_KIND, DEFAULT_VOCAB_SIZE
    asked = args.vocab_size or DEFAULT_VOCAB_SIZE.get(args.tokenizer or DEFAULT_KIND)
    stop = threading.Event()
    trainer = prepare_pretraining(settings, stop_event=stop)
    if trainer.dist.is_main and not (args.resume or args.init_from) and asked and settings.vocab_size \
            and settings.vocab_size < asked:  # (settings now say what was trained)
        print(f"vocabulary: {settings.vocab_size:,} tokens, not the {asked:,} asked for: the corpus has no more "
              f"pieces worth a token (a bigger corpus gives a bigger vocabulary)")
    try:
        with ctrl_c_stops(stop):
            end = follow(trainer.run(), quiet=args.quiet, silent=not trainer.dist.is_main)
    finally:
        shutdown()
    if trainer.dist.is_main:
        from ..jobs import read_run
        from ..training.events import overfitting
        view = read_run(trainer.run_dir)
        split = view.time_split()
        total = sum(split.values()) or 1.0
        print("time: " + ", ".join(f"{k} {v:.0f} s ({v / total:.0%})" for k, v in split.items()))
        print(f"{end.get('kind', 'ended')} at step {end.get('step')}: checkpoint {trainer.model_path}")
        over = overfitting(view.events)
        if over:
            print(f"warning: overfitting — validation loss rose from {over['best_loss']:.3f} (step {over['best_step']}) "
                  f"to {over['loss']:.3f} (step {over['step']}) while training loss fell: the model is learning this "
                  f"text by heart. Train fewer steps, use more text, or add dropout.")
        print(f"run folder: {trainer.run_dir}   try: python -m pocketllm generate "
              f"--model_path {trainer.model_path} --prompt \"{settings.sample_prompt}\"")
    return 0 if end.get("kind") in ("finished", "stopped") else 1
