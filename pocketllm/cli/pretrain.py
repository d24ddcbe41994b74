"""`pretrain`: train a language model on a text file (the seed's pretrain.py, and more)."""
from __future__ import annotations

import argparse
import threading

from ..training.optimizers import OPTIMIZERS
from ..training.recipes import DEFAULT_RECIPE, FRESH_MODEL_FIELDS, RECIPES
from ..training.schedule import SCHEDULES
from ..training.trainer import TrainSettings


def add_train_args(p, defaults: TrainSettings, *, best: bool = False, recipe_fields=frozenset()):
    """Flags of the training loop, shared by every training command; defaults from the task's settings.
    `best`: also the finetuning flags (--patience, --keep_last).  `recipe_fields`: flags a --recipe fills
    when they are not given (their parser default is None; the help says the default recipe's value)."""
    d = defaults

    def default(name):
        return None if name in recipe_fields else getattr(d, name)
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=d.epochs, help=f"passes over the data (default {d.epochs})")
    one_choice = (" Naming either --max_steps or --max_minutes replaces both of the recipe's (the other is off)."
                  if "max_steps" in recipe_fields else "")
    g.add_argument("--max_steps", type=int, default=default("max_steps"),
                   help=f"train this many optimizer steps, repeating the data as needed; overrides --epochs "
                        f"(default {d.max_steps or 'all epochs'}).{one_choice}")
    g.add_argument("--max_minutes", type=float, default=default("max_minutes"),
                   help="train for this many minutes of step time (evaluations and samples not counted), with the "
                        "schedule planned on the time, then evaluate once more; with --max_steps too, the run ends "
                        f"at whichever comes first; overrides --epochs; 0 = off (default {d.max_minutes or 'off'})."
                        + one_choice)
    g.add_argument("--budget_clock", default=d.budget_clock, choices=("wall", "cpu"),
                   help="what --max_minutes counts: wall (the clock) or cpu (this process's CPU time, so that a busy "
                        "machine does not shorten the training; for comparisons, with --threads 1) "
                        f"(default {d.budget_clock})")
    g.add_argument("--batch_size", type=int, default=default("batch_size"),
                   help=f"examples per step (default {d.batch_size})")
    g.add_argument("--grad_accum", type=int, default=d.grad_accum, help="micro-batches per optimizer step (default 1)")
    g.add_argument("--optimizer", default=default("optimizer"), choices=OPTIMIZERS,
                   help="adamw, or muon: orthogonalised momentum for the blocks' weight matrices, AdamW for "
                        f"embeddings, head, norms and biases (default {d.optimizer})")
    g.add_argument("--lr", type=float, default=default("lr"), help=f"peak learning rate (AdamW's; default {d.lr})")
    g.add_argument("--muon_lr", type=float, default=default("muon_lr"),
                   help=f"Muon's peak learning rate (default {d.muon_lr})")
    g.add_argument("--schedule", default=default("schedule"), choices=SCHEDULES,
                   help="cosine: warm-up then a cosine to lr × min_lr_ratio; wsd: warm-up, the peak rate, then a "
                        f"straight line down over the last --cooldown share (default {d.schedule})")
    g.add_argument("--cooldown", type=float, default=default("cooldown"),
                   help=f"wsd: share of the run spent cooling down (default {d.cooldown})")
    g.add_argument("--min_lr_ratio", type=float, default=default("min_lr_ratio"),
                   help=f"the rate at the end, as a share of the peak (default {d.min_lr_ratio})")
    g.add_argument("--warmup_steps", type=int, default=d.warmup_steps,
                   help="linear warm-up steps (default 5%% of the steps or of the time budget)")
    g.add_argument("--weight_decay", type=float, default=default("weight_decay"))
    g.add_argument("--grad_clip", type=float, default=d.grad_clip, help="clip the gradient norm (0 = off)")
    g.add_argument("--eval_every", type=int, default=default("eval_every"),
                   help=f"evaluate every N steps (default {d.eval_every})")
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
    """The training settings the flags say; a flag left to a recipe (None) keeps the settings' default
    here, and the recipe fills it after."""
    given = dict(
        epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size,
        grad_accum=args.grad_accum, lr=args.lr, warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, eval_every=args.eval_every,
        eval_batches=args.eval_batches, sample_every=getattr(args, "sample_every", sample_every),
        checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device,
        dtype=args.dtype, compile=args.compile, threads=getattr(args, "threads", 0),
        keep_best=getattr(args, "keep_best", False), patience=getattr(args, "patience", 0),
        snapshots=getattr(args, "snapshots", None), max_minutes=args.max_minutes, optimizer=args.optimizer,
        muon_lr=args.muon_lr, schedule=args.schedule, cooldown=args.cooldown, min_lr_ratio=args.min_lr_ratio,
        budget_clock=args.budget_clock)
    optional = {"max_steps", "warmup_steps", "snapshots"}  # None is their own value
    return TrainSettings(**{k: v for k, v in given.items() if v is not None or k in optional})


def register(sub):
    p = sub.add_parser(
        "pretrain", help="pretrain a language model on a UTF-8 text file",
        description="Pretrain a GPT-2-class model from scratch (or continue one). The defaults "
                    "(the speedrun recipe) train the cpu-tiny preset with Qwen3's blocks on the bundled Chinese "
                    "classics for 2 minutes on a laptop CPU. Works under torchrun for several processes.")
    from ..tasks.language_modeling import PretrainSettings
    d = PretrainSettings()
    p.add_argument("--config", default=None,
                   help="preset (cpu-tiny, cpu-small, cpu-medium, gpt2-124M, ...) or JSON config file "
                        f"(default: the recipe's, {d.config})")
    p.add_argument("--recipe", default=None, choices=tuple(RECIPES),
                   help="a named set of the choices below, measured in bench/speedrun.py; a flag you give still "
                        "wins. " + " ".join(f"{r.name}: {r.about}".replace("%", "%%") for r in RECIPES.values())
                        + f" (default {DEFAULT_RECIPE})")
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
                   help="tokens in a bpe/char vocabulary (default: the recipe's for bpe, else 8000; every character "
                        "for char)")
    p.add_argument("--context_length", type=int, default=None, help="context in tokens: a fresh model is built with it (default: the preset's); "
                        "a model given by --init_from reads windows of at most its own")
    p.add_argument("--dropout", type=float, default=None,
                   help="a fresh model's dropout rate: zeroes this share of activations while training, against "
                        "learning the corpus by heart (default: the preset's)")
    p.add_argument("--zero_init", action=argparse.BooleanOptionalAction, default=None,
                   help="a fresh model's blocks start as the identity (their writes into the residual stream "
                        f"are zero) (default {d.zero_init})")
    p.add_argument("--stride", type=int, default=None, help="tokens between window starts (default: context)")
    p.add_argument("--val_fraction", type=float, default=d.val_fraction,
                   help=f"held-out share of tokens (default {d.val_fraction})")
    p.add_argument("--sample_every", type=int, default=None,
                   help=f"write a sample every N steps (default {d.train.sample_every}; 0 = never)")
    p.add_argument("--sample_prompt", default=None, help="prompt for samples (default: start of the corpus)")
    p.add_argument("--resume", default=None, help="continue the run that saved this checkpoint")
    p.add_argument("--init_from", default=None, help="start from these weights (checkpoint or GPT-2 file)")
    add_train_args(p, d.train, best=True, recipe_fields=frozenset(RECIPES[DEFAULT_RECIPE].choices))
    p.set_defaults(run=run)


def pretrain_settings_from_args(args):
    """The flags as settings: the recipe (or the default one) first, then every flag that was given."""
    from ..tasks.language_modeling import DEFAULT_CORPUS, PretrainSettings
    from ..tokenizer import DEFAULT_KIND
    from ..training.recipes import apply_recipe
    settings = PretrainSettings(
        data_path=args.data_path or str(DEFAULT_CORPUS), config=args.config or PretrainSettings().config,
        arch=args.arch,
        tokenizer=args.tokenizer, vocab_size=args.vocab_size, dropout=args.dropout,
        context_length=args.context_length, stride=args.stride, val_fraction=args.val_fraction,
        sample_prompt=args.sample_prompt, model_path=args.model_path, run_dir=args.run_dir,
        resume=args.resume, init_from=args.init_from, overwrite=args.overwrite,
        train=train_settings_from_args(args))
    if args.zero_init is not None:
        settings.zero_init = args.zero_init
    name = args.recipe or DEFAULT_RECIPE
    given = {key for key in RECIPES[name].choices if getattr(args, key, None) is not None}
    if args.max_steps is not None or args.max_minutes is not None:  # a run's length is one choice: the
        given |= {"max_steps", "max_minutes"}  # recipe's steps and minutes both give way (the other is off)
    if (args.tokenizer or DEFAULT_KIND) != "bpe":  # a recipe's vocabulary size is a bpe's: char and gpt2 keep theirs
        given.add("vocab_size")
    if args.init_from or args.resume:  # a trained model keeps its own shape, tokenizer and context
        given |= FRESH_MODEL_FIELDS
    return apply_recipe(settings, name, keep=given)


def run(args):
    from ..tasks.language_modeling import prepare_pretraining
    from ..training.distributed import shutdown
    from ._progress import ctrl_c_stops, follow

    settings = pretrain_settings_from_args(args)
    from ..tokenizer import DEFAULT_KIND, DEFAULT_VOCAB_SIZE
    asked = settings.vocab_size or DEFAULT_VOCAB_SIZE.get(settings.tokenizer or DEFAULT_KIND)
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
        if end.get("kept_step") is not None and end.get("kept_step") != end.get("step"):
            print(f"kept the weights of step {end['kept_step']}, the best validation loss (--keep_last keeps the last)")
        over = overfitting(view.events)
        if over:
            print(f"warning: overfitting — validation loss rose from {over['best_loss']:.3f} (step {over['best_step']}) "
                  f"to {over['loss']:.3f} (step {over['step']}) while training loss fell: the model is learning this "
                  f"text by heart. Train fewer steps, use more text, or add dropout.")
        print(f"run folder: {trainer.run_dir}   try: python -m pocketllm generate "
              f"--model_path {trainer.model_path} --prompt \"{settings.sample_prompt}\"")
    return 0 if end.get("kind") in ("finished", "stopped") else 1
