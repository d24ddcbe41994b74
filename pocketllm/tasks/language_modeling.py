"""Task: language modelling (pretraining) — predict every next token of a text."""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoint import LANGUAGE_MODEL, load_model
from ..config import ModelConfig
from ..data.corpus import Corpus, load_corpus
from ..errors import PocketLLMError
from ..files import OutputClaim, removed_if_refused, write_json_atomic
from ..generation import Sampling, generate
from ..model import GPTModel
from ..training.distributed import init_from_env
from ..training.hardware import check_fits_in_memory, pick_device
from ..training.head_loss import linear_cross_entropy
from ..data.text import iter_train_text
from ..tokenizer import DEFAULT_KIND, DEFAULT_VOCAB_SIZE, Tokenizer, check_vocab_size, train_tokenizer
from ..training.trainer import STATE_FILE, Trainer, TrainSettings

ROOT = Path(__file__).resolve().parent.parent.parent
BUNDLED_CORPORA = {
    "zh_classics": ROOT / "data" / "pretrain" / "zh_classics.txt",
    "shakespeare": ROOT / "data" / "pretrain" / "shakespeare.txt",
}
DEFAULT_CORPUS = BUNDLED_CORPORA["zh_classics"]
DEFAULT_CHECKPOINTS = ROOT / "checkpoints"


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
    name = "language_model"

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
        total, count = 0.0, 0
        for start in range(0, n, self.eval_batch_size):
            idx = list(range(start, min(n, start + self.eval_batch_size)))
            inputs, targets = windows.batch(idx)
            mean = linear_cross_entropy(model.features(inputs.to(device)), model.out_head.weight,
                                        targets.to(device))
            total += mean.item() * targets.numel()
            count += targets.numel()
        loss = total / max(1, count)
        return {"loss": loss, "perplexity": math.exp(min(loss, 50)),
                "bits_per_char": self.corpus.bits_per_char(loss, split)}

    def sample(self, model):
        # A fixed seed, so successive samples differ only because the model learned.
        text = generate(model, self.sample_prompt, self.sample_tokens,
                        Sampling(temperature=0.8, top_k=40, seed=0), tokenizer=self.tokenizer)
        return self.sample_prompt, text

    def checkpoint_task(self) -> dict:
        return dict(LANGUAGE_MODEL)

    def finish(self, model, device) -> dict:
        return {}


@dataclass
class PretrainSettings:
    data_path: str = str(DEFAULT_CORPUS)
    config: str = "cpu-small"           # preset name or JSON path (ignored when resuming/init_from)
    tokenizer: str | None = None        # gpt2 | bpe | char for a fresh model (default DEFAULT_KIND)
    vocab_size: int | None = None       # of a bpe/char tokenizer (default DEFAULT_VOCAB_SIZE[kind])
    context_length: int | None = None   # shrink the preset's context (≤ its position table)
    stride: int | None = None           # default: the context length (no overlap)
    val_fraction: float = 0.1
    sample_prompt: str | None = None    # default: the first few characters of the corpus
    model_path: str | None = None       # default: <run_dir>/model.safetensors
    run_dir: str | None = None          # default: checkpoints/pretrain-<time>
    resume: str | None = None           # a checkpoint of an earlier run to continue
    init_from: str | None = None        # start from these weights (e.g. imported GPT-2)
    overwrite: bool = False
    train: TrainSettings = field(default_factory=TrainSettings)

    def to_dict(self) -> dict:
        return asdict(self)


def default_run_dir(kind: str, root=None) -> Path:
    root = Path(root or DEFAULT_CHECKPOINTS)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = root / f"{kind}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{kind}-{stamp}-{n}"
    return path


def resolve_output(model_path, run_dir: Path, overwrite: bool, resuming_from=None) -> Path:
    """The checkpoint path; never silently replaces a file the user already has."""
    path = Path(model_path) if model_path else run_dir / "model.safetensors"
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")  # the seed's `model.pth` habit
    path = path.absolute()  # run.json and the output claim must name it wherever they are read from
    same_as_resume = resuming_from is not None and Path(resuming_from).resolve() == path.resolve()
    OutputClaim(path).check()  # a live run writing there: refused even with --overwrite
    if path.exists() and not overwrite and not same_as_resume:
        raise PocketLLMError(
            f"{path} already exists and would be overwritten. Choose another --model_path, "
            f"or pass --overwrite to replace it.")
    return path


def open_run(run_dir: Path, ranks, record: dict, make_trainer) -> Trainer:
    """Build the Trainer (it checks the plan against the data first), then write the run's
    `run.json`; a refused start leaves no run folder behind."""
    with removed_if_refused(run_dir):
        trainer = make_trainer()
        if ranks.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(run_dir / "run.json", record)
    return trainer


def agreed_run_dir(run_dir, kind: str, device_name: str):
    """The run folder, the same on every torchrun process (rank 0 picks a new one)."""
    ranks = init_from_env(pick_device(device_name))
    if run_dir:
        return Path(run_dir), ranks
    return Path(ranks.share(str(default_run_dir(kind)))), ranks


def prepare_pretraining(settings: PretrainSettings, stop_event=None) -> Trainer:
    """Everything before the first step: data, model, run folder.  Returns the Trainer."""
    settings.train.validate()
    # Under torchrun: join the group now, so that every process agrees on the run folder.
    ranks = init_from_env(pick_device(settings.train.device))
    if settings.resume:
        ckpt = load_model(settings.resume)
        run_dir = Path(settings.run_dir) if settings.run_dir else _run_dir_of(settings.resume, ckpt.facts)
        if not settings.model_path:
            settings.model_path = settings.resume  # continue in the same file
        saved = run_dir / "run.json"
        if saved.is_file():  # continue with the run's own data and schedule
            try:
                old = json.loads(saved.read_text(encoding="utf-8"))
            except ValueError:
                raise PocketLLMError(f"{saved} is damaged; cannot resume that run.") from None
            settings.data_path = old.get("data_path", settings.data_path)
            settings.stride = old.get("stride", settings.stride)
            settings.val_fraction = old.get("val_fraction", settings.val_fraction)
            settings.sample_prompt = old.get("sample_prompt", settings.sample_prompt)
            # The run's schedule and batches stay; where it runs (device, precision,
            # threads) and how long it goes on are this invocation's choice.
            now = settings.train
            settings.train = TrainSettings.from_dict({
                **old.get("train", {}), "max_steps": now.max_steps or old.get("train", {}).get("max_steps"),
                "device": now.device, "dtype": now.dtype, "compile": now.compile,
                "threads": now.threads})
        model, config, tokenizer = ckpt.model, ckpt.config, ckpt.tokenizer
        if ckpt.task_type != "language_model":
            raise PocketLLMError(f"{settings.resume} is a {ckpt.task_type}, not a language model.")
        if not (run_dir / STATE_FILE).is_file():
            raise PocketLLMError(f"Cannot resume from {settings.resume}: its run folder ({run_dir}) has no "
                                 f"{STATE_FILE}; pass the run's --run_dir, or "
                                 f"use --init_from to start a new run from its weights instead.")
    else:
        run_dir = (Path(settings.run_dir) if settings.run_dir
                   else Path(ranks.share(str(default_run_dir("pretrain")))))
        torch.manual_seed(settings.train.seed)
        if settings.init_from:
            ckpt = load_model(settings.init_from)
            model, config, tokenizer = ckpt.model, ckpt.config, ckpt.tokenizer
            if settings.tokenizer and settings.tokenizer != tokenizer.kind:
                raise PocketLLMError(
                    f"{settings.init_from} reads text with its own {tokenizer.kind} tokenizer; a model cannot "
                    f"change tokenizer. Leave out --tokenizer, or train a new model without --init_from.")
        else:
            config = ModelConfig.load(settings.config)
            model = None
            tokenizer = None
        if settings.context_length:
            if settings.context_length > config.context_length:
                raise PocketLLMError(
                    f"context_length {settings.context_length} is longer than the model's position "
                    f"table ({config.context_length}); use {config.context_length} or less.")
            if model is None:
                config = config.replace(context_length=settings.context_length)
        if model is None:
            tokenizer = train_corpus_tokenizer(settings.data_path, settings.tokenizer, settings.vocab_size,
                                               settings.val_fraction)
            config = config.replace(vocab_size=tokenizer.vocab_size)
            check_fits_in_memory(config, settings.train.batch_size, config.context_length,
                                 pick_device(settings.train.device))
            model = GPTModel(config)
    settings.tokenizer, settings.vocab_size = tokenizer.kind, tokenizer.vocab_size
    context = settings.context_length or config.context_length
    model_path = resolve_output(settings.model_path, run_dir, settings.overwrite, settings.resume)
    with removed_if_refused(run_dir):  # a refused start leaves no folder behind
        if not ranks.is_main:
            ranks.barrier()  # rank 0 tokenizes; the others then read its cache
        corpus = load_corpus(settings.data_path, context, run_dir / "tokens", tokenizer,
                             stride=settings.stride, val_fraction=settings.val_fraction)
        if ranks.is_main:
            ranks.barrier()
        prompt = settings.sample_prompt
        if prompt is None:
            prompt = first_words(settings.data_path)
            settings.sample_prompt = prompt
        task = LanguageModelingTask(corpus, prompt)
        run_dir.mkdir(parents=True, exist_ok=True)
        record = settings.to_dict()
        record.update({"task": "pretrain", "model_config": config.to_dict(), "model_path": str(model_path),
                       "corpus": corpus.summary(), "run_dir": str(run_dir)})
        facts = {"task": "pretrain", "data": Path(settings.data_path).name, "tokenizer": tokenizer.kind,
                 "vocab_size": tokenizer.vocab_size,
                 "val_tokens_per_char": round(corpus.tokens_per_char("val"), 5)}
        # The Trainer checks the settings against the data (and a resume's steps left) first,
        # so a refused run leaves the run folder as it was.
        trainer = Trainer(model, task, settings.train, run_dir, model_path=model_path, stop_event=stop_event,
                          resume_from=run_dir / STATE_FILE if settings.resume else None, facts=facts,
                          resume_step=ckpt.facts.get("steps") if settings.resume else None)
        if ranks.is_main:
            write_json_atomic(run_dir / "run.json", record)
    return trainer


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
    from ..data.text import iter_text_chunks
    for chunk in iter_text_chunks(path, chunk_bytes=1 << 16):
        for line in chunk.splitlines():
            line = line.strip()
            if line:
                if len(line) <= chars:
                    return line
                cut = line.rfind(" ", 0, chars + 1)  # no word cut in half (Chinese has no spaces)
                return line[:cut] if cut > 0 else line[:chars]
    return ""
