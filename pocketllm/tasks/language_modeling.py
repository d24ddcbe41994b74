"""Task: language modelling (pretraining) — predict every next token of a text."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoint import LANGUAGE_MODEL, Checkpoint, load_model
from ..config import ModelConfig
from ..data.corpus import Corpus, load_corpus
from ..data.text import iter_text_chunks, iter_train_text
from ..errors import PocketLLMError
from ..generation import Sampling, generate
from ..kinds import TaskKind
from ..model import GPTModel
from ..tokenizer import DEFAULT_KIND, DEFAULT_VOCAB_SIZE, Tokenizer, check_vocab_size, train_tokenizer
from ..training.distributed import init_from_env
from ..training.hardware import check_fits_in_memory, pick_device
from ..training.recipes import RECIPES, SPEEDRUN_STEP_CAP, apply_recipe
from ..training.head_loss import linear_cross_entropy
from ..training.trainer import STATE_FILE, Trainer, TrainSettings
from .run_setup import ROOT, RunSettings, TaskRun, default_run_dir, start_run

BUNDLED_CORPORA = {
    "zh_classics": ROOT / "data" / "pretrain" / "zh_classics.txt",
    "shakespeare": ROOT / "data" / "pretrain" / "shakespeare.txt",
}
DEFAULT_CORPUS = BUNDLED_CORPORA["zh_classics"]
SAMPLE_REPETITION_PENALTY = 1.2  # of the samples written while training


class NextTokenLoss(torch.nn.Module):
    """A GPT whose forward returns the next-token loss, the head fused with the loss.

    The full (tokens × vocabulary) logits never exist at once — for a small
    model they cost more time than all the transformer blocks together.
    """

    def __init__(self, gpt: GPTModel):
        super().__init__()
        self.gpt = gpt

    def forward(self, inputs, targets):
        return linear_cross_entropy(self.gpt.features(inputs), self.gpt.out_head.weight, targets)


def _computes_loss(model) -> bool:
    """True for a NextTokenLoss, also inside DDP or torch.compile."""
    for _ in range(4):
        if isinstance(model, NextTokenLoss):
            return True
        model = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if model is None:
            return False
    return False


class LanguageModelingTask:
    name = TaskKind.PRETRAIN

    def __init__(self, corpus: Corpus, sample_prompt: str = "", sample_tokens: int = 60,
                 eval_batch_size: int = 8):
        self.corpus = corpus
        self.tokenizer: Tokenizer = corpus.tokenizer
        self.sample_prompt = sample_prompt
        self.sample_tokens = sample_tokens
        self.eval_batch_size = eval_batch_size

    def num_train_examples(self) -> int:
        return len(self.corpus.train)

    def make_batch(self, indices, device) -> dict:
        inputs, targets = self.corpus.train.batch(indices)
        return {"inputs": inputs.to(device), "targets": targets.to(device)}

    def batch_tokens(self, batch) -> int:
        return batch["inputs"].numel()

    def train_module(self, model):
        return NextTokenLoss(model)

    def loss(self, model, batch):
        if _computes_loss(model):
            return model(batch["inputs"], batch["targets"]), {}
        logits = model(batch["inputs"])  # a plain GPTModel also works
        loss = F.cross_entropy(logits.flatten(0, 1).float(), batch["targets"].flatten())
        return loss, {}

    def evaluate(self, model, split: str, max_batches: int, device) -> dict:
        windows = self.corpus.train if split == "train" else self.corpus.val
        n = min(len(windows), max(1, max_batches) * self.eval_batch_size)
        # The same windows every time, spread evenly over the split: its first windows are one
        # stretch of the text (one play, one chapter) and scored 4.6% off the whole split's loss.
        chosen = torch.linspace(0, len(windows) - 1, n).round().long().tolist() if n < len(windows) \
            else list(range(n))
        total, count = 0.0, 0
        for start in range(0, n, self.eval_batch_size):
            idx = chosen[start:start + self.eval_batch_size]
            inputs, targets = windows.batch(idx)
            mean = linear_cross_entropy(model.features(inputs.to(device)), model.out_head.weight,
                                        targets.to(device))
            total += mean.item() * targets.numel()
            count += targets.numel()
        loss = total / max(1, count)
        return {"loss": loss, "perplexity": math.exp(min(loss, 50)),
                "bits_per_char": self.corpus.bits_per_char(loss, split)}

    def sample(self, model):
        # A fixed seed, so successive samples differ only because the model learned.  A young model
        # loops ("：“：“：“"); a mild repetition penalty halves the repeated 4-grams of the default
        # run's samples (0.218 -> 0.116 of them over 8 seeds at 1.2) without hiding what it learned.
        text = generate(model, self.sample_prompt, self.sample_tokens,
                        Sampling(temperature=0.8, top_k=40, seed=0, repetition_penalty=SAMPLE_REPETITION_PENALTY),
                        tokenizer=self.tokenizer)
        return self.sample_prompt, text

    def checkpoint_task(self) -> dict:
        return dict(LANGUAGE_MODEL)

    def finish(self, model, device) -> dict:
        return {}


@dataclass
class PretrainSettings(RunSettings):
    # The defaults are the default recipe's (training/recipes.py, `speedrun`): the CLI's flags and the page's
    # boxes both start from here; `--recipe classic` is the run these defaults were until 2026-12-05.
    data_path: str = str(DEFAULT_CORPUS)
    config: str = "cpu-tiny-qwen3"      # preset name or JSON path (ignored when resuming/init_from)
    arch: str | None = None             # gpt2 | llama | qwen3: the preset's sizes built from this family's parts
    tokenizer: str | None = None        # gpt2 | bpe | char for a fresh model (default DEFAULT_KIND)
    vocab_size: int | None = 4000       # of a bpe/char tokenizer (None: DEFAULT_VOCAB_SIZE[kind]; gpt2's is fixed)
    context_length: int | None = None   # a fresh model's context (None: the preset's); for a
                                        # trained one (init_from, resume) only shorter windows
    dropout: float | None = None        # a fresh model's dropout rate (default: the preset's)
    zero_init: bool = False             # a fresh model's blocks start as the identity (zero residual writes)
    stride: int | None = None           # default: the context length (no overlap)
    val_fraction: float = 0.1
    sample_prompt: str | None = None    # default: the first few characters of the corpus
    resume: str | None = None           # a checkpoint of an earlier run to continue
    init_from: str | None = None        # start from these weights (e.g. imported GPT-2)
    # The default run: 2 minutes of training (or 10,000 steps, whichever comes first) of 4 × 256 tokens at
    # 1e-3, warm-up, flat, linear cooldown over the last half.
    # keep_best: a run that starts to learn its text by heart (validation loss rising) ends with the weights
    # of its best evaluation, as finetuning does; a run whose validation loss falls to the end is unchanged.
    train: TrainSettings = field(default_factory=lambda: TrainSettings(
        max_steps=SPEEDRUN_STEP_CAP, max_minutes=2.0, batch_size=4, schedule="wsd", lr=1e-3, eval_every=200,
        sample_every=200, keep_best=True))


RACE_EVALUATIONS = 10  # a race evaluates each run about this many times (and once more at its end)
RACE_MINUTES = 2.0     # each recipe's training time in a race: the leaderboard's budget


def race_settings(data_path, run_root, minutes: float = RACE_MINUTES, recipes=("classic", "speedrun"),
                  name: str = "race") -> list[PretrainSettings]:
    """The same minutes of training for each recipe on one text, one run after another (the Pretrain tab's
    race; its curves compared against time): the clock alone ends each run, each is evaluated about
    RACE_EVALUATIONS times and sampled twice.  Run folders <run_root>/<name>-<recipe>."""
    out = []
    for recipe in recipes:
        s = apply_recipe(PretrainSettings(data_path=str(data_path), run_dir=str(Path(run_root) / f"{name}-{recipe}")),
                         recipe)
        every = max(1, round(RECIPES[recipe].steps_per_minute * minutes / RACE_EVALUATIONS))
        s.train.max_minutes, s.train.max_steps = minutes, None
        s.train.eval_every, s.train.sample_every = every, every * RACE_EVALUATIONS // 2
        out.append(s)
    return out


def prepare_pretraining(settings: PretrainSettings, stop_event=None) -> Trainer:
    """Everything before the first step: data, model, run folder.  Returns the Trainer."""
    settings.train.validate()
    # Under torchrun: join the group now, so that every process agrees on the run folder.
    ranks = init_from_env(pick_device(settings.train.device))
    if settings.resume:
        ckpt, run_dir = _adopt_resumed_run(settings)
    else:
        ckpt = None
        run_dir = (Path(settings.run_dir) if settings.run_dir
                   else Path(ranks.share(str(default_run_dir(TaskKind.PRETRAIN)))))
    return start_run(TaskKind.PRETRAIN, settings, lambda _: _pretraining_run(settings, ckpt, run_dir, ranks),
                     stop_event, run_dir=run_dir, ranks=ranks, resuming_from=settings.resume)


def _adopt_resumed_run(settings: PretrainSettings) -> tuple[Checkpoint, Path]:
    """The checkpoint to continue and its run folder; the settings take that run's data and schedule."""
    ckpt = load_model(settings.resume)
    run_dir = Path(settings.run_dir) if settings.run_dir else _run_dir_of(settings.resume, ckpt.facts)
    if not settings.model_path:
        settings.model_path = settings.resume  # continue in the same file
    saved = run_dir / "run.json"
    if saved.is_file():  # continue with the run's own data and schedule
        try:
            old = json.loads(saved.read_text(encoding="utf-8"))
        except ValueError:
            raise PocketLLMError("{path} is damaged; cannot resume that run.", code="pretrain.run_record_damaged",
                                 path=str(saved)) from None
        # The model keeps its shape and tokenizer: run.json must keep saying what they are.
        for name in ("data_path", "stride", "val_fraction", "sample_prompt", "config", "arch", "tokenizer",
                     "vocab_size", "context_length", "init_from", "dropout", "zero_init"):
            setattr(settings, name, old.get(name, getattr(settings, name)))
        # The run's schedule and batches stay; where it runs (device, precision,
        # threads) and how long it goes on are this invocation's choice.
        now = settings.train
        settings.train = TrainSettings.from_dict({
            **old.get("train", {}), "max_steps": now.max_steps or old.get("train", {}).get("max_steps"),
            "max_minutes": now.max_minutes or old.get("train", {}).get("max_minutes", 0),
            "device": now.device, "dtype": now.dtype, "compile": now.compile, "threads": now.threads})
    if ckpt.task_type is not TaskKind.PRETRAIN:
        raise PocketLLMError("{path} is a {kind}, not a language model.", code="pretrain.resume_not_lm",
                             path=settings.resume, kind=ckpt.task_type)
    if not (run_dir / STATE_FILE).is_file():
        raise PocketLLMError("Cannot resume from {path}: its run folder ({run_dir}) has no {state_file}; pass "
                             "the run's --run_dir, or use --init_from to start a new run from its weights instead.",
                             code="pretrain.resume_no_state", path=settings.resume, run_dir=str(run_dir),
                             state_file=STATE_FILE)
    return ckpt, run_dir


def _pretraining_run(settings: PretrainSettings, resumed: Checkpoint | None, run_dir: Path, ranks) -> TaskRun:
    model, config, tokenizer = _pretraining_model(settings, resumed)
    settings.tokenizer, settings.vocab_size = tokenizer.kind, tokenizer.vocab_size
    context = settings.context_length or config.context_length
    if not ranks.is_main:
        ranks.barrier()  # rank 0 tokenizes; the others then read its cache
    corpus = load_corpus(settings.data_path, context, run_dir / "tokens", tokenizer,
                         stride=settings.stride, val_fraction=settings.val_fraction)
    if ranks.is_main:
        ranks.barrier()
    if settings.sample_prompt is None:
        settings.sample_prompt = first_words(settings.data_path)
    task = LanguageModelingTask(corpus, settings.sample_prompt)
    facts = {"vocab_size": tokenizer.vocab_size, "val_tokens_per_char": round(corpus.tokens_per_char("val"), 5)}
    return TaskRun(model, task, config, record={"corpus": corpus.summary()}, facts=facts,
                   resume_from=run_dir / STATE_FILE if resumed else None,
                   resume_step=resumed.facts.get("steps") if resumed else None)


def _pretraining_model(settings: PretrainSettings, resumed: Checkpoint | None):
    """(model, config, tokenizer): the resumed run's, --init_from's, or a fresh one with a tokenizer
    learned from the corpus."""
    if resumed is not None:
        model, config, tokenizer = resumed.model, resumed.config, resumed.tokenizer
    else:
        torch.manual_seed(settings.train.seed)
        if settings.init_from:
            ckpt = load_model(settings.init_from)
            model, config, tokenizer = ckpt.model, ckpt.config, ckpt.tokenizer
            if settings.tokenizer and settings.tokenizer != tokenizer.kind:
                raise PocketLLMError(
                    "{path} reads text with its own {kind} tokenizer; a model cannot change tokenizer. "
                    "Leave out --tokenizer, or train a new model without --init_from.",
                    code="pretrain.tokenizer_fixed", path=settings.init_from, kind=tokenizer.kind)
            if settings.arch and settings.arch != config.arch:
                raise PocketLLMError(
                    "{path} is a {arch} model; weights cannot change architecture. Leave out --arch, or train a "
                    "new model without --init_from.", code="pretrain.arch_fixed", path=settings.init_from,
                    arch=config.arch)
        else:
            config, model, tokenizer = ModelConfig.load(settings.config), None, None
            if settings.arch:
                config = config.with_arch(settings.arch)
            if settings.dropout is not None:
                config = config.replace(drop_rate=settings.dropout)
    if settings.context_length:
        if model is None:  # a fresh model: the preset only says where its shape starts
            config = config.replace(context_length=settings.context_length)
        elif settings.context_length > config.context_length:
            raise PocketLLMError(
                "context_length {wanted} is longer than the model's position table ({context}); use {context} "
                "or less.", code="pretrain.context_too_long", wanted=settings.context_length,
                context=config.context_length)
    if model is None:
        tokenizer = train_corpus_tokenizer(settings.data_path, settings.tokenizer, settings.vocab_size,
                                           settings.val_fraction)
        config = config.replace(vocab_size=tokenizer.vocab_size)
        check_fits_in_memory(config, settings.train.batch_size, config.context_length,
                             pick_device(settings.train.device))
        model = GPTModel(config)
        if settings.zero_init:
            model.zero_residual_writes()
    return model, config, tokenizer


def train_corpus_tokenizer(data_path, kind: str | None = None, vocab_size: int | None = None,
                           val_fraction: float = 0.1) -> Tokenizer:
    """The tokenizer of a fresh model: learned from the corpus's training part only."""
    kind = kind or DEFAULT_KIND
    if vocab_size is None:
        vocab_size = DEFAULT_VOCAB_SIZE.get(kind)
    check_vocab_size(kind, vocab_size)
    return train_tokenizer(iter_train_text(data_path, val_fraction), kind, vocab_size,
                           source=f"The training part of {Path(data_path).name}")


def _run_dir_of(checkpoint, facts: dict) -> Path:
    """The run folder that saved a checkpoint: beside it, or the one its facts name."""
    beside = Path(checkpoint).parent
    named = facts.get("run_dir")
    if not (beside / STATE_FILE).is_file() and named and (Path(named) / STATE_FILE).is_file():
        return Path(named)
    return beside


def first_words(path, chars: int = 12) -> str:
    """A default sample prompt: the start of the corpus's first non-empty line (whole words)."""
    for chunk in iter_text_chunks(path, chunk_bytes=1 << 16):
        for line in chunk.splitlines():
            line = line.strip()
            if line:
                if len(line) <= chars:
                    return line
                cut = line.rfind(" ", 0, chars + 1)  # no word cut in half (Chinese has no spaces)
                return line[:cut] if cut > 0 else line[:chars]
    return ""
