"""What every task does before its first step: the run folder, the output path, the base model,
and one skeleton (`start_run`) that turns a task's own parts into a Trainer.

A task's `prepare_*` only says what differs: how it reads its data, what model it trains
and what it records.  The skeleton validates the settings, agrees on the run folder under
torchrun, refuses to overwrite a file the user has, lets the Trainer check the plan, and only
then writes `run.json` — a refused start leaves no folder behind.

A run folder is one run's: while a run is set up in it, the folder is claimed
(`RunFolderClaim`); once its `run.json` names a model, another run there is refused (it may
continue that run with --resume, or replace it with --overwrite of the same model path), and
while that model's claim is live, even those are refused.  Leftovers of killed runs (temp
files, claims) are swept when a run starts in the folder.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch

from ..checkpoint import LANGUAGE_MODEL, Checkpoint, load_model
from ..config import ModelConfig
from ..errors import Phrase, PhraseList, PocketLLMError, shown
from ..files import (JSON_DEPTH_LIMIT, OutputClaim, RunFolderClaim, check_writable_folder, json_depth,
                     removed_if_refused, sweep_stale_temps, write_json_atomic)
from ..kinds import TaskKind
from ..model import GPTModel
from ..training.distributed import Dist, init_from_env
from ..training.hardware import pick_device
from ..training.trainer import Trainer, TrainSettings

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_CHECKPOINTS = ROOT / "checkpoints"
RUN_RECORD = "run.json"     # a run folder's settings: the folder holds a run once this names its model
FRESH_CONFIG = "cpu-small"  # the shape of a model finetuned from scratch (no base)
USUAL_LORA_RANK = 8         # the rank LoRA gets when it is turned on without one


@dataclass
class RunSettings:
    """Where a run writes; every task's settings have these (and `train`)."""
    model_path: str | None = None       # default: <run_dir>/model.safetensors
    run_dir: str | None = None          # default: checkpoints/<kind>-<time>
    overwrite: bool = False
    train: TrainSettings = field(default_factory=TrainSettings)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict):
        """The settings a run folder's run.json (or a saved preset) holds: `to_dict`'s inverse;
        keys the class does not know (the record's own facts) are left out."""
        record = record or {}
        known = {f.name for f in fields(cls)} - {"train"}
        values = {k: v for k, v in record.items() if k in known}
        if isinstance(values.get("split"), list):  # JSON has no tuples
            values["split"] = tuple(values["split"])
        return cls(**values, train=TrainSettings.from_dict(record.get("train") or {}))


@dataclass
class FinetuneSettings(RunSettings):
    """What classification and instruction finetuning share: the base model and LoRA."""
    data_path: str = ""
    base_model: str | None = None       # a checkpoint, HF GPT-2 weights or a seed .pth
    config: str | None = None           # preset/JSON: the fresh model's shape, or the seed .pth's
    max_length: int | None = None       # tokens kept per example (default: the model's context)
    lora_rank: int = 0
    lora_alpha: float = 16.0
    keep_adapters: bool = True          # with LoRA: also save the adapters apart


@dataclass
class TaskRun:
    """A task's own parts of a run, handed to the skeleton."""
    model: torch.nn.Module
    task: object
    config: ModelConfig
    record: dict                        # added to run.json
    facts: dict                         # added to every checkpoint's facts
    resume_from: Path | None = None
    resume_step: int | None = None


def default_run_dir(kind: str, root=None) -> Path:
    root = Path(root or DEFAULT_CHECKPOINTS)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = root / f"{kind}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = root / f"{kind}-{stamp}-{n}"
    return path


def agreed_run_dir(run_dir, kind: str, device_name: str) -> tuple[Path, Dist]:
    """The run folder, the same on every torchrun process (rank 0 picks a new one)."""
    ranks = init_from_env(pick_device(device_name))
    if run_dir:
        return Path(run_dir), ranks
    return Path(ranks.share(str(default_run_dir(kind)))), ranks


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
            "{path} already exists and would be overwritten. Choose another --model_path, "
            "or pass --overwrite to replace it.", code="run.output_exists", path=str(path))
    return path


def start_run(kind: TaskKind, settings, build: Callable[[Path], TaskRun], stop_event=None, *,
              run_dir: Path | None = None, ranks: Dist | None = None, resuming_from=None) -> Trainer:
    """The skeleton of every task's preparation: settings → run folder → output path → the
    task's own parts (`build(model_path)`) → Trainer → run.json.  Returns the Trainer."""
    settings.train.validate()
    check_finite_settings(settings)
    if run_dir is None:
        run_dir, ranks = agreed_run_dir(settings.run_dir, kind, settings.train.device)
    model_path = resolve_output(settings.model_path, run_dir, settings.overwrite, resuming_from)
    folder_claim = RunFolderClaim(run_dir)
    if ranks.is_main:  # (the other torchrun processes follow rank 0 into its folder)
        check_writable_folder(run_dir, "--run_dir")
        check_writable_folder(model_path.parent, "--model_path")
    with removed_if_refused(run_dir):  # a refused start leaves no folder behind
        try:
            if ranks.is_main:
                if run_dir.is_dir():
                    sweep_stale_temps(run_dir)  # what killed runs left: temp files, claims
                folder_claim.acquire()  # another run setting up here is refused
                check_run_folder(run_dir, model_path, settings.overwrite, resuming_from, kind)
            run = build(model_path)
            record = {**settings.to_dict(), "task": kind, "model_config": run.config.to_dict(),
                      "model_path": str(model_path), **run.record, "run_dir": str(run_dir)}
            facts = {"task": kind, "data": Path(settings.data_path).name, "tokenizer": run.task.tokenizer.kind,
                     **run.facts}
            # The Trainer checks the settings against the data (and a resume's steps left) first,
            # so a refused run leaves the run folder as it was.
            trainer = Trainer(run.model, run.task, settings.train, run_dir, model_path=model_path,
                              stop_event=stop_event, facts=facts, resume_from=run.resume_from,
                              resume_step=run.resume_step)
            if ranks.is_main:
                run_dir.mkdir(parents=True, exist_ok=True)
                write_json_atomic(run_dir / RUN_RECORD, record)
        finally:
            folder_claim.release()  # from here run.json names the model, whose claim the Trainer holds
    return trainer


def check_run_folder(run_dir: Path, model_path: Path, overwrite: bool, resuming_from=None,
                     kind: TaskKind = TaskKind.PRETRAIN):
    """Refuse a run folder that holds another run: one still training, one whose record is
    damaged, or one of another model (unless this run continues it)."""
    record_path = run_dir / RUN_RECORD
    if not record_path.is_file():
        return
    try:
        text = record_path.read_text(encoding="utf-8")
        record = json.loads(text) if json_depth(text) <= JSON_DEPTH_LIMIT else None
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        raise PocketLLMError(
            "{folder} already holds a run, but its {record} is damaged, so that run cannot be continued. Choose "
            "another --run_dir (or leave it out: each run then gets a new folder), or delete {folder} if that "
            "run is not needed.", code="run.folder_record_damaged", folder=str(run_dir), record=RUN_RECORD)
    theirs = record.get("model_path")
    theirs = Path(theirs).absolute() if isinstance(theirs, str) and theirs else None
    owner = OutputClaim(theirs).owner() if theirs is not None else None
    if owner is not None:
        raise PocketLLMError(
            "{folder} holds a run that is training now (process {pid}, writing {model}). Wait for it to finish, "
            "or choose another --run_dir.", code="run.folder_in_use", folder=str(run_dir),
            pid=owner.get("pid"), model=str(theirs))
    same = theirs is not None and theirs.resolve() == model_path.resolve()
    continued = resuming_from is not None and theirs is not None and Path(resuming_from).resolve() == theirs.resolve()
    if continued or (same and overwrite):
        return  # this run continues that one, or replaces it as asked
    if theirs is None:
        raise PocketLLMError(
            "{folder} already holds a run (its {record} names no model). Choose another --run_dir (or leave it "
            "out: each run then gets a new folder).", code="run.folder_taken_no_model", folder=str(run_dir),
            record=RUN_RECORD)
    if kind == TaskKind.PRETRAIN:  # (finetuning runs are not resumed)
        raise PocketLLMError(
            "{folder} already holds a run (its model: {model}). To continue that run, pass --resume {model}; to "
            "start a new one, choose another --run_dir (or leave it out: each run then gets a new folder).",
            code="run.folder_taken", folder=str(run_dir), model=str(theirs))
    raise PocketLLMError(
        "{folder} already holds a run (its model: {model}). To start a new one, choose another --run_dir (or "
        "leave it out: each run then gets a new folder); to replace that run, pass --model_path {model} "
        "--overwrite.", code="run.folder_taken_replace", folder=str(run_dir), model=str(theirs))


def check_finite_settings(settings):
    """A task's own numbers (a held-out fraction, LoRA's alpha) must be numbers: nan or inf
    would fail deep inside with a traceback.  (The training settings check themselves.)"""
    problems = [Phrase("{name} must be a finite number (got {value})", code="run.not_finite", name=f.name,
                       value=shown(getattr(settings, f.name)))
                for f in fields(settings)
                if isinstance(getattr(settings, f.name), float) and not math.isfinite(getattr(settings, f.name))]
    if problems:
        raise PocketLLMError("Invalid settings: {problems}.", code="run.invalid_settings",
                             problems=PhraseList(problems))


# ---- the base model of a finetuning run ------------------------------------------------

def load_base(base_model: str | None, config: str | None) -> Checkpoint:
    """The base model as a Checkpoint (with its tokenizer, which the finetuned model keeps),
    or a fresh model of `config` reading GPT-2's tokens when there is none."""
    if not base_model:
        cfg = ModelConfig.load(config or FRESH_CONFIG)
        return Checkpoint(GPTModel(cfg), cfg, dict(LANGUAGE_MODEL), {}, source="fresh")
    ckpt = load_model(base_model, config=config)
    if config and ckpt.source == "pocketllm":
        wanted = ModelConfig.load(config)
        diff = [f"{k} {getattr(ckpt.config, k)} vs {getattr(wanted, k)}"
                for k in ("emb_dim", "num_layers", "num_heads", "vocab_size")
                if getattr(ckpt.config, k) != getattr(wanted, k)]
        if diff:
            raise PocketLLMError("The base model {base} does not have the shape of --config {config} "
                                 "({differences}). Drop --config (a checkpoint knows its own shape) or "
                                 "choose a base of that shape.", code="run.base_shape_differs",
                                 base=base_model, config=config, differences="; ".join(diff))
    if ckpt.config.vocab_size < ckpt.tokenizer.vocab_size:
        raise PocketLLMError("The base model's vocabulary ({model_vocab}) is smaller than its {kind} "
                             "tokenizer's ({tokenizer_vocab}); finetuning needs a model whose embedding "
                             "covers its tokenizer.", code="run.base_vocab_too_small",
                             model_vocab=ckpt.config.vocab_size, kind=ckpt.tokenizer.kind,
                             tokenizer_vocab=ckpt.tokenizer.vocab_size)
    return ckpt


def base_facts(settings: FinetuneSettings, trainable: str) -> dict:
    """The facts a finetuned checkpoint keeps about where it came from."""
    return {"base": settings.base_model or f"random init ({settings.config or FRESH_CONFIG})",
            "trainable": trainable}


def checked_max_length(settings: FinetuneSettings, context: int, least: int, usual: int | None = None) -> int:
    """--max_length, or when it is not given `usual` (at most the model's context)."""
    if settings.max_length is not None and not least <= settings.max_length <= context:
        raise PocketLLMError("--max_length must be between {least} and the model's context ({context}).",
                             code="run.max_length_out_of_range", least=least, context=context)
    return settings.max_length or min(usual or context, context)
