"""THE training loop — one for every task.

A task (language modelling, classification, instructions) says how many
examples it has, how to turn a list of example indices into a batch, what the
loss of a batch is, how to evaluate and what to sample.  The loop does the
rest: batch order, AdamW, warm-up + cosine schedule, gradient accumulation
and clipping, mixed precision, evaluation, samples, checkpoints, stop and
resume, several processes — and reports everything as events.

    trainer = Trainer(model, task, TrainSettings(max_steps=100), run_dir="checkpoints/run1")
    for event in trainer.run():
        print(event)
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterator, Protocol

import torch
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import save_checkpoint
from ..config import MAX_BATCH_SIZE
from ..errors import Phrase, PhraseList, PocketLLMError, shown, value_record
from ..files import OutputClaim, atomic_write, write_json_atomic
from . import events as ev
from .distributed import Dist, init_from_env
from .hardware import (ThreadTuner, autocast, check_fits_in_memory, pick_device, pick_dtype, set_threads,
                       usable_cores)
from .optimizers import OPTIMIZERS, make_optimizer
from .schedule import BUDGET_UNITS, SCHEDULES, learning_rate

STATE_FILE = "train_state.pt"
# A save writes the new training state here first, then the model, then renames this over
# STATE_FILE: a kill between the two leaves the previous pair, or the new model with its
# state here, which a resume then puts in place (`_finish_interrupted_save`).
PENDING_STATE_FILE = "train_state.pending.pt"


class Task(Protocol):
    """What the loop needs from a task.  Batches are built from example indices.

    Optional: `train_module(model) -> nn.Module` wraps the model for training
    steps (e.g. to fuse the output head with the loss); the loop then passes
    that module — possibly inside DDP or torch.compile — to `loss`.
    `tokenizer` is how the model reads text; it is saved in every checkpoint.
    """
    name: str
    tokenizer: object

    def num_train_examples(self) -> int: ...
    def make_batch(self, indices: list[int], device) -> dict: ...
    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict]: ...
    def batch_tokens(self, batch: dict) -> int: ...
    def evaluate(self, model, split: str, max_batches: int, device) -> dict: ...
    def sample(self, model) -> tuple[str, str] | None: ...
    def checkpoint_task(self) -> dict: ...
    def finish(self, model, device) -> dict: ...


# Bounds of the loop's numbers (the app's boxes use the same): whole numbers ...
TRAIN_LIMITS = {"epochs": 100_000, "max_steps": 10**9, "batch_size": MAX_BATCH_SIZE, "grad_accum": 65_536,
                "seed": 2**31 - 1, "eval_batches": 1_000_000, "patience": 100_000,
                "eval_every": 10**9, "sample_every": 10**9, "checkpoint_every": 10**9, "log_every": 10**9,
                "warmup_steps": 10**9, "threads": 4_096}
# ... the lowest each may be (max_steps and warmup_steps may also be None: the default) ...
_WHOLE_LEAST = {"epochs": 1, "max_steps": 1, "batch_size": 1, "grad_accum": 1, "log_every": 1}
# ... and the real numbers: (lowest, highest).  lr has its own phrase (it must be above 0).
TRAIN_REAL_RANGES = {"min_lr_ratio": (0.0, 1.0), "weight_decay": (0.0, 10.0), "grad_clip": (0.0, 1000.0),
                     "checkpoint_minutes": (0.0, 10_000.0), "max_minutes": (0.0, 100_000.0),
                     "muon_lr": (0.0, 10.0), "cooldown": (0.0, 1.0)}
_CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "budget_clock": ("wall", "cpu")}

# Each setting's name, as a phrase: the Chinese page names it in Chinese with the flag beside it.
_NAMES = {
    "epochs": Phrase("epochs", code="train.name.epochs"),
    "max_steps": Phrase("max_steps", code="train.name.max_steps"),
    "batch_size": Phrase("batch_size", code="train.name.batch_size"),
    "grad_accum": Phrase("grad_accum", code="train.name.grad_accum"),
    "seed": Phrase("seed", code="train.name.seed"),
    "eval_batches": Phrase("eval_batches", code="train.name.eval_batches"),
    "patience": Phrase("patience", code="train.name.patience"),
    "eval_every": Phrase("eval_every", code="train.name.eval_every"),
    "sample_every": Phrase("sample_every", code="train.name.sample_every"),
    "checkpoint_every": Phrase("checkpoint_every", code="train.name.checkpoint_every"),
    "log_every": Phrase("log_every", code="train.name.log_every"),
    "warmup_steps": Phrase("warmup_steps", code="train.name.warmup_steps"),
    "threads": Phrase("threads", code="train.name.threads"),
    "min_lr_ratio": Phrase("min_lr_ratio", code="train.name.min_lr_ratio"),
    "weight_decay": Phrase("weight_decay", code="train.name.weight_decay"),
    "grad_clip": Phrase("grad_clip", code="train.name.grad_clip"),
    "checkpoint_minutes": Phrase("checkpoint_minutes", code="train.name.checkpoint_minutes"),
    "compile": Phrase("compile", code="train.name.compile"),
    "keep_best": Phrase("keep_best", code="train.name.keep_best"),
    "snapshots": Phrase("snapshots", code="train.name.snapshots"),
    "max_minutes": Phrase("max_minutes", code="train.name.max_minutes"),
    "optimizer": Phrase("optimizer", code="train.name.optimizer"),
    "muon_lr": Phrase("muon_lr", code="train.name.muon_lr"),
    "schedule": Phrase("schedule", code="train.name.schedule"),
    "cooldown": Phrase("cooldown", code="train.name.cooldown"),
    "budget_clock": Phrase("budget_clock", code="train.name.budget_clock"),
}


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def settings_problems(s: "TrainSettings") -> list[Phrase]:
    """Every problem of the settings `s`, each a coded phrase, none raised (O(1))."""
    problems = []
    for name, high in TRAIN_LIMITS.items():
        value, low = getattr(s, name), _WHOLE_LEAST.get(name, 0)
        if value is None and name in ("max_steps", "warmup_steps"):
            continue
        if not (_is_whole(value) and low <= value <= high):
            problems.append(Phrase("{name} must be a whole number from {low:,} to {high:,} (got {value})",
                                   code="train.bad_whole", name=_NAMES[name], low=low, high=high,
                                   value=shown(value)))
    if not (_is_real(s.lr) and 0 < s.lr <= 1):
        problems.append(Phrase("lr must be above 0 and at most 1, e.g. 5e-4 (got {value})", code="train.bad_lr",
                               value=shown(s.lr)))
    for name, (low, high) in TRAIN_REAL_RANGES.items():
        value = getattr(s, name)
        if not (_is_real(value) and low <= value <= high):
            problems.append(Phrase("{name} must be a number from {low:g} to {high:g} (got {value})",
                                   code="train.bad_number", name=_NAMES[name], low=low, high=high,
                                   value=shown(value)))
    for name in ("compile", "keep_best"):
        if not isinstance(getattr(s, name), bool):
            problems.append(Phrase("{name} must be true or false (got {value})", code="train.not_bool",
                                   name=_NAMES[name], value=shown(getattr(s, name))))
    for name, choices in _CHOICES.items():
        if getattr(s, name) not in choices:
            problems.append(Phrase("{name} must be one of {choices} (got {value})", code="train.bad_choice",
                                   name=_NAMES[name], choices=", ".join(choices), value=shown(getattr(s, name))))
    if s.snapshots is not None and not isinstance(s.snapshots, bool):  # None: by the model's size
        problems.append(Phrase("{name} must be true or false (got {value})", code="train.not_bool",
                               name=_NAMES["snapshots"], value=shown(s.snapshots)))
    return problems


@dataclass
class TrainSettings:
    epochs: int = 1
    max_steps: int | None = None       # stop after this many optimizer steps (across epochs)
    batch_size: int = 8                # examples per process per micro-step
    grad_accum: int = 1                # micro-steps per optimizer step
    lr: float = 5e-4
    min_lr_ratio: float = 0.1          # the cosine ends at lr * min_lr_ratio
    warmup_steps: int | None = None    # default: 5% of the steps
    weight_decay: float = 0.1
    grad_clip: float = 1.0             # 0 = off
    eval_every: int = 50
    eval_batches: int = 10
    sample_every: int = 100            # 0 = never
    checkpoint_every: int = 0          # 0 = only at the end (and on stop)
    checkpoint_minutes: float = 0      # also save when this much time passed since the last save (0 = off)
    log_every: int = 1
    seed: int = 123
    device: str = "auto"
    dtype: str = "auto"
    compile: bool = False
    threads: int = 0                   # CPU threads for this process (0 = its share of the cores)
    keep_best: bool = False            # end with the weights of the best validation score (this session's), not the last step's
    patience: int = 0                  # stop when this many evaluations in a row bring no better score (0 = off)
    snapshots: bool | None = None      # keep the model at log-spaced steps (snapshots.py); None: if ≤ 50 M parameters
    # The recipe's knobs (training/recipes.py names the sets of them that were measured):
    max_minutes: float = 0             # train for this many minutes of step time (not evaluation), then stop; 0 = off
    budget_clock: str = "wall"         # what max_minutes counts: wall (the clock) | cpu (this process's CPU time)
    optimizer: str = "adamw"           # adamw | muon (Muon for the blocks' matrices, AdamW for the rest)
    muon_lr: float = 0.02              # Muon's peak rate (its updates are orthogonal, so its scale differs from AdamW's)
    schedule: str = "cosine"           # cosine | wsd (warm-up, stable, then a linear cooldown)
    cooldown: float = 0.5              # wsd: the share of the run spent cooling down to lr * min_lr_ratio

    def validate(self):
        """These settings, or one error that names every problem (device and dtype are checked
        where they are picked: `hardware.py`)."""
        problems = settings_problems(self)
        if problems:
            raise PocketLLMError("Invalid training settings: {problems}.", code="train.invalid_settings",
                                 problems=PhraseList(problems))
        return self

    @classmethod
    def from_dict(cls, data: dict) -> "TrainSettings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class Trainer:
    def __init__(self, model, task: Task, settings: TrainSettings, run_dir, *,
                 model_path=None, stop_event: threading.Event | None = None,
                 resume_from=None, facts: dict | None = None, resume_step: int | None = None):
        self.settings = settings.validate()
        self.task = task
        self.run_dir = Path(run_dir)
        self.model_path = Path(model_path) if model_path else self.run_dir / "model.safetensors"
        self.stop_event = stop_event or threading.Event()
        self.resume_from = Path(resume_from) if resume_from else None
        self.resume_step = resume_step  # the step the resumed checkpoint says it holds
        self.base_facts = dict(facts or {})
        self.device = pick_device(settings.device)
        self.dtype = pick_dtype(settings.dtype, self.device)
        self.dist: Dist = init_from_env(self.device)
        cfg = getattr(model, "cfg", None)
        if cfg is not None:  # the batch's activations, before the first step allocates them
            check_fits_in_memory(cfg, settings.batch_size, cfg.context_length, self.device, already_allocated=True)
        self.model = model.to(self.device)
        self.step = 0
        self.tokens_seen = 0
        self.train_seconds = 0.0   # time spent in training steps (what --max_minutes counts), this run in all
        self.thread_tuner = None   # set in _set_up when the thread count is ours to choose
        self.epoch = 0
        self.best_val = None       # lowest validation loss so far
        self.best = None           # the best evaluation by the task's metric: {"step", "val", "key"}
        self.evals_since_best = 0
        self._best_weights = {}
        self.kept_step = None      # set when the weights of the best evaluation were kept
        self.last = {}
        self._epoch_order = (None, [])
        self.total_steps()  # one step needs more examples than the data has: say so before anything is written
        if self.resume_from is not None:
            self._check_steps_left()

    # ---- plan ---------------------------------------------------------------
    @property
    def examples_per_step(self) -> int:
        s = self.settings
        return s.batch_size * s.grad_accum * self.dist.world_size

    def steps_per_epoch(self) -> int:
        n = self.task.num_train_examples()
        steps = n // self.examples_per_step
        if steps == 0:
            raise PocketLLMError(
                "The training split has {examples} example(s) but one step needs {needed} "
                "(batch_size × grad_accum × processes). Lower --batch_size or use more data.",
                code="train.too_few_examples", examples=n, needed=self.examples_per_step)
        return steps

    def total_steps(self) -> int | None:
        """max_steps when given (the data is then repeated as often as needed), else the epochs;
        None on a time budget (--max_minutes): the clock ends the run, or `step_cap` if it comes first."""
        if self.settings.max_minutes:
            self.steps_per_epoch()
            return None
        if self.settings.max_steps:
            self.steps_per_epoch()  # still says clearly when one step needs more data than there is
            return self.settings.max_steps
        return self.steps_per_epoch() * self.settings.epochs

    def step_cap(self) -> int | None:
        """On a time budget, max_steps (when given) still ends the run if it comes first: a budget and a
        number of steps are one plan, "whichever comes first" (the recipe's minutes with the few steps a
        quick look asks for).  None in a plan of steps, or a budget with no steps named."""
        return self.settings.max_steps if self.settings.max_minutes else None

    def _order(self, epoch: int) -> list[int]:
        """The epoch's example order: a permutation seeded by (seed, epoch), the same on every rank."""
        if self._epoch_order[0] != epoch:  # drawn once per epoch, not at every step
            g = torch.Generator().manual_seed(self.settings.seed * 1000 + epoch)
            self._epoch_order = (epoch, torch.randperm(self.task.num_train_examples(), generator=g).tolist())
        return self._epoch_order[1]

    def _micro_indices(self, order, step_in_epoch: int, micro: int) -> list[int]:
        # Global batch of this step, split first by micro-step then by rank, so one
        # process with batch B·N sees exactly the examples N processes with B see.
        s, w = self.settings, self.dist.world_size
        start = ((step_in_epoch * s.grad_accum + micro) * w + self.dist.rank) * s.batch_size
        return order[start:start + s.batch_size]

    # ---- the loop -----------------------------------------------------------
    def run(self) -> Iterator[ev.Event]:
        """Train, yielding events.  Rank 0 also appends them to run_dir/events.jsonl."""
        start_time = time.time()
        claim = OutputClaim(self.model_path)
        try:
            if self.dist.is_main:
                claim.acquire()  # this run alone writes model_path until it ends
            yield from self._run(start_time)
        except PocketLLMError as exc:
            yield self._emit(ev.Failed(time.time(), self.step, str(exc), exc.code, _plain(exc.values)))
            raise
        except torch.OutOfMemoryError:
            err = PocketLLMError("Out of memory. Lower --batch_size or --context_length, or pick a smaller model.",
                                 code="train.out_of_memory")
            yield self._emit(ev.Failed(time.time(), self.step, str(err), err.code))
            raise err from None
        except Exception as exc:
            yield self._emit(ev.Failed(time.time(), self.step, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            claim.release()

    def _run(self, start_time) -> Iterator[ev.Event]:
        """Set up, then one optimizer step at a time until the plan, a stop request or patience ends it."""
        model, ddp, optimizer, threads = self._set_up()
        total, per_epoch = self.total_steps(), self.steps_per_epoch()
        s = self.settings
        yield self._emit(ev.Started(time.time(), total, per_epoch, self._step_tokens_estimate(),
                                    self.step, str(self.device), str(self.dtype).removeprefix("torch."),
                                    sum(p.numel() for p in self.model.parameters()),
                                    self.dist.world_size, threads, budget_s=self._budget_s() or None,
                                    step_cap=self.step_cap()))
        meter = _RateMeter(start_time, self.tokens_seen, self.step)
        self._last_save = time.time()
        self._snapshots = self._snapshot_writer(total)
        yield from self._snapshot()
        if self.step == 0:  # the untrained model, the timeline's first point
            yield from self._probe()
        # A cpu clock counts only this process's work: a busy machine does not shorten the budget
        # (for comparisons on a shared machine, with one thread: then CPU time ≈ a quiet machine's time).
        clock = time.process_time if s.budget_clock == "cpu" else time.perf_counter
        last = self._planned_end(total)
        while not last:
            if self.dist.any(self.stop_event.is_set()):
                yield from self._end(optimizer, start_time, ev.Stopped, "stopped by request")
                return
            self.epoch, in_epoch = divmod(self.step, per_epoch)
            rate = self._lr_factor(total)
            began, tokens_before = clock(), self.tokens_seen
            loss, extras, grad_norm = self._train_step(model, ddp, optimizer, self._order(self.epoch), in_epoch, rate)
            self.last_step_seconds = clock() - began
            self.train_seconds += self.last_step_seconds
            if self.thread_tuner is not None:
                self.thread_tuner.after_step(self.last_step_seconds, self.tokens_seen - tokens_before)
            last = self._planned_end(total)
            yield from self._report(meter, total, loss, s.lr * rate, grad_norm, extras, last)
            yield from self._snapshot(last)
            if self._out_of_patience():
                break
            yield from self._periodic_save(optimizer, last)
        early = not last
        message = (f"stopped early at step {self.step}: no better validation score in {s.patience} evaluations"
                   if early else "finished")
        yield from self._end(optimizer, start_time, ev.Finished, message, stopped_early=early)

    # ---- the plan: steps or a time budget --------------------------------------
    def _budget_s(self) -> float:
        return 60.0 * self.settings.max_minutes

    def _planned_end(self, total: int | None) -> bool:
        """Has the run reached its plan?  (Every process must agree: the budget is rank 0's clock.)"""
        if total is not None:
            return self.step >= total
        cap = self.step_cap()
        return (cap is not None and self.step >= cap) or \
            self.dist.any(self.dist.is_main and self.train_seconds >= self._budget_s())

    def _budget_spent(self) -> float:
        """How far a budget run is, 0..1: the share of its minutes or of its step cap, whichever is further
        along (so the schedule reaches its floor at the end, however the run ends: the step about to be
        taken counts, as the last of a plan of steps gets the floor)."""
        spent = self.train_seconds / self._budget_s()
        cap = self.step_cap()
        return max(spent, (self.step + 1) / cap) if cap else spent

    def _lr_factor(self, total: int | None) -> float:
        """This step's learning rate as a share of the peak (the schedule, in steps or on the budget)."""
        s = self.settings
        if total is not None:
            warmup = s.warmup_steps if s.warmup_steps is not None else max(1, total // 20)
            return learning_rate(self.step, total, 1.0, warmup, s.min_lr_ratio, s.schedule, s.cooldown)
        if s.warmup_steps and self.step < s.warmup_steps:  # warm-up asked in steps: steps it is
            return (self.step + 1) / s.warmup_steps
        spent = min(BUDGET_UNITS - 1, int(BUDGET_UNITS * self._budget_spent()))
        warmup = 0 if s.warmup_steps is not None else BUDGET_UNITS // 20
        return learning_rate(spent, BUDGET_UNITS, 1.0, warmup, s.min_lr_ratio, s.schedule, s.cooldown)

    # ---- the phases of _run ---------------------------------------------------
    def _set_up(self):
        """Threads, seed, optimizer (and its resumed state), the module that trains."""
        s = self.settings
        threads = set_threads(self.dist.world_size, s.threads)
        # Threads left to us (0) on a CPU, one process: keep choosing them as the machine's load changes.
        cores = usable_cores()
        self.thread_tuner = (ThreadTuner(threads, cores)
                             if s.threads == 0 and self.device.type == "cpu" and not self.dist.enabled and cores > 1
                             else None)
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(s.seed)
        self.model.train()
        optimizer = make_optimizer(self.model, s.lr, s.weight_decay, self.device, s.optimizer, s.muon_lr)
        if self.resume_from:
            self._load_state(optimizer)
        wrap = getattr(self.task, "train_module", None)
        model = ddp = wrap(self.model) if wrap is not None else self.model
        if self.dist.enabled:
            model = ddp = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if s.compile:
            model = torch.compile(model)
        return model, ddp, optimizer, threads

    def _train_step(self, model, ddp, optimizer, order, in_epoch: int, rate: float):
        """One optimizer step over grad_accum micro-batches at `rate` × each group's peak rate;
        returns (mean loss, task extras, grad norm)."""
        s = self.settings
        for group in optimizer.param_groups:
            group["lr"] = group.get("peak_lr", s.lr) * rate
        loss_sum, step_tokens, extras = 0.0, 0, {}
        for micro in range(s.grad_accum):
            batch = self.task.make_batch(self._micro_indices(order, in_epoch, micro), self.device)
            # Gradients are averaged across processes on the last micro-step only.
            sync = micro == s.grad_accum - 1 or not self.dist.enabled
            with ddp.no_sync() if not sync else nullcontext():
                with autocast(self.device, self.dtype):
                    loss, metrics = self.task.loss(model, batch)
                (loss / s.grad_accum).backward()
            loss_sum += loss.item() / s.grad_accum
            step_tokens += self.task.batch_tokens(batch)
            for k, v in metrics.items():
                extras[k] = extras.get(k, 0.0) + v / s.grad_accum
        if not math.isfinite(loss_sum):
            raise PocketLLMError("The loss became {loss} at step {step}: training diverged. "
                                 "Lower --lr (now {lr}) and start again.",
                                 code="train.diverged", loss=loss_sum, step=self.step, lr=s.lr)
        if s.grad_clip > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip))
        else:
            grad_norm = float(torch.linalg.vector_norm(torch.stack(
                [p.grad.norm() for p in self.model.parameters() if p.grad is not None])))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += step_tokens * self.dist.world_size
        train_loss = self.dist.mean(loss_sum)
        self.last["train_loss"] = train_loss
        return train_loss, {k: self.dist.mean(v) for k, v in extras.items()}, grad_norm

    def _report(self, meter, total: int | None, loss: float, lr: float, grad_norm: float, extras: dict,
                last: bool):
        """The step's events: its numbers, and when due (or at the last step) an evaluation and a sample."""
        s = self.settings
        if self.step % s.log_every == 0 or last:
            now = time.time()
            rate, elapsed, eta = meter.tick(now, self.tokens_seen, self.step, total)
            if total is None:  # on a budget: the training time left (evaluations come on top)
                eta = max(0.0, self._budget_s() - self.train_seconds)
                if self.step_cap():  # or the steps left, when they end it sooner
                    eta = min(eta, (self.step_cap() - self.step) * self.last_step_seconds)
            yield self._emit(ev.Step(now, self.step, self.epoch, self.tokens_seen, loss, lr,
                                     grad_norm, rate, elapsed, eta, extras))
        if s.eval_every and (self.step % s.eval_every == 0 or last):
            yield self._evaluate()
            yield from self._probe()
        if s.sample_every and self.dist.is_main and (self.step % s.sample_every == 0 or last):
            yield from self._sample()

    def _periodic_save(self, optimizer, last: bool):
        s = self.settings
        due = (s.checkpoint_every and self.step % s.checkpoint_every == 0) or \
            (s.checkpoint_minutes and time.time() - self._last_save >= 60 * s.checkpoint_minutes)
        # Under torchrun every process must agree, or the ranks would part ways at the barrier.
        if not last and self.dist.any(bool(due)):
            yield from self._checkpoint(optimizer)

    def _end(self, optimizer, start_time, kind, message: str, stopped_early: bool = False):
        """Keep the best weights (if asked), save, score the task (when finished), report the end."""
        kept = self._restore_best()
        yield from self._checkpoint(optimizer)
        results = {}
        if kind is ev.Finished:
            results = self.task.finish(self.model, self.device) if self.dist.is_main else {}
            # The whole-split figures replace the evaluations' sampled ones in the checkpoint's facts
            # (the Weights table shows them), saved again below with the report card.
            whole = {k: v for k, v in results.items() if k.startswith(("val_", "test_")) and _is_real(v)}
            self.last.update(whole)
            if self.dist.is_main:
                results = self._add_report_card(results, resave=bool(whole))
            if results and self.dist.is_main:
                write_json_atomic(self.run_dir / "results.json", results)
        best = self.best or {}
        yield self._emit(kind(time.time(), self.step, self.tokens_seen, time.time() - start_time, message,
                              results, stopped_early=stopped_early,
                              best_step=best.get("step"), best_val=dict(best.get("val", {})), kept_step=kept))

    # ---- watching it learn: snapshots, probes, the report card ----------------
    def _snapshot_writer(self, total: int):
        from .snapshots import SnapshotWriter, wanted
        if not (self.dist.is_main and wanted(self.settings.snapshots, sum(p.numel() for p in self.model.parameters()))):
            return None
        return SnapshotWriter(self.run_dir, self.model, total, self.task.checkpoint_task(),
                              getattr(self.task, "tokenizer", None))

    def _snapshot(self, last: bool = False) -> Iterator[ev.Event]:
        """Keep the model of this step when the plan names it, or it is the last (and the cap allows)."""
        writer = getattr(self, "_snapshots", None)
        if writer is not None and writer.due(self.step, last):
            kept = writer.write(self.model, self.step, self.tokens_seen, last)
            if kept:
                yield self._emit(ev.SnapshotSaved(time.time(), self.step, self.tokens_seen, kept["path"],
                                                  kept["bytes"]))

    def _probe(self) -> Iterator[ev.Event]:
        """Cheap measurements of what the model knows (pocketllm/probes.py); a failure is told, not raised."""
        if not self.dist.is_main:
            return
        from .. import probes
        was_training = self.model.training
        self.model.eval()
        try:
            if not hasattr(self, "_probe_prompts"):
                self._probe_prompts = probes.task_prompts(self.task)
            with torch.no_grad(), autocast(self.device, self.dtype):
                record = probes.probe(self.model, getattr(self.task, "tokenizer", None), self._probe_prompts)
        except Exception as exc:  # noqa: BLE001 — a probe must never end a run
            record = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        finally:
            self.model.train(was_training)
        yield self._emit(ev.Probe(time.time(), self.step, self.tokens_seen, **record))

    def _add_report_card(self, results: dict, resave: bool = False) -> dict:
        """The finished model's report card (pocketllm/report_card.py), into its results and its
        checkpoint's facts (the file is written again with them; the weights are the same)."""
        from ..report_card import report_card
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                card = report_card(self.model, self.task, results, self.device)
        finally:
            self.model.train(was_training)
        if not card and not resave:
            return results
        if card:
            self.report_card = card
        save_checkpoint(self.model_path, self.model, self.task.checkpoint_task(), self.facts(),
                        tokenizer=getattr(self.task, "tokenizer", None))
        return {**results, "report_card": card} if card else results

    # ---- pieces -------------------------------------------------------------
    def _step_tokens_estimate(self) -> int:
        batch = self.task.make_batch(list(range(min(self.settings.batch_size,
                                                    self.task.num_train_examples()))), "cpu")
        return self.task.batch_tokens(batch) * self.settings.grad_accum * self.dist.world_size

    def _evaluate(self) -> ev.Event:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), autocast(self.device, self.dtype):
                train = self.task.evaluate(self.model, "train", self.settings.eval_batches, self.device)
                val = self.task.evaluate(self.model, "val", self.settings.eval_batches, self.device)
        finally:
            self.model.train(was_training)
        train = {k: self.dist.mean(v) for k, v in train.items()}
        val = {k: self.dist.mean(v) for k, v in val.items()}
        if "loss" in val and (self.best_val is None or val["loss"] < self.best_val):
            self.best_val = val["loss"]
        self.last.update({f"val_{k}": v for k, v in val.items()})
        improved = self._track_best(val)
        return self._emit(ev.Eval(time.time(), self.step, self.epoch, self.tokens_seen, train, val,
                                  val.get("bits_per_char"), improved))

    # ---- the best evaluation: kept weights and patience ----------------------
    def _track_best(self, val: dict) -> bool:
        """Is this the best validation score so far?  With keep_best, remember its weights."""
        metric, mode = getattr(self.task, "best_metric", ("loss", "min"))
        if metric not in val:
            return False
        # Ties on a coarse metric (accuracy on a few hundred examples) go to the lower loss.
        key = (val[metric] if mode == "max" else -val[metric], -val.get("loss", 0.0))
        if self.best is not None and key <= self.best["key"]:
            self.evals_since_best += 1
            return False
        self.best = {"step": self.step, "val": dict(val), "key": key}
        self.evals_since_best = 0
        if self.settings.keep_best:
            # Only what trains can change; a frozen base is the same at every step.
            self._best_weights = {name: p.detach().to("cpu", copy=True)
                                  for name, p in self.model.named_parameters() if p.requires_grad}
        return True

    def _out_of_patience(self) -> bool:
        patience = self.settings.patience
        return bool(patience) and self.best is not None and self.evals_since_best >= patience

    def _restore_best(self) -> int | None:
        """With keep_best, put the best evaluation's weights back; returns the step they are from."""
        if not (self.settings.keep_best and self.best):
            return None
        if self.best["step"] != self.step:
            own = dict(self.model.named_parameters())
            with torch.no_grad():
                for name, saved in self._best_weights.items():
                    own[name].copy_(saved)
            self.last.update({f"val_{k}": v for k, v in self.best["val"].items()})
        self.kept_step = self.best["step"]
        return self.kept_step

    def _sample(self) -> Iterator[ev.Event]:
        was_training = self.model.training
        self.model.eval()
        try:
            result = self.task.sample(self.model)
        finally:
            self.model.train(was_training)
        if result is not None:
            prompt, text = result
            yield self._emit(ev.Sample(time.time(), self.step, self.tokens_seen, prompt, text))

    def facts(self) -> dict:
        facts = dict(self.base_facts)
        facts.update({"steps": self.step, "tokens_seen": self.tokens_seen, "epoch": self.epoch,
                      "run_dir": str(self.run_dir), "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        facts.update({k: round(v, 5) for k, v in self.last.items()})
        if self.best_val is not None:
            facts["best_val_loss"] = round(self.best_val, 5)
        if self.kept_step is not None:  # the weights are this step's, the best validation score
            facts["kept_step"] = self.kept_step
        if getattr(self, "report_card", None):
            facts["report_card"] = self.report_card
        return facts

    def _checkpoint(self, optimizer) -> Iterator[ev.Event]:
        """Save the model and its training state as a pair: whenever the process is killed, the
        model and a state of the same step are there to resume from (the previous pair or this one)."""
        if not self.dist.is_main:
            return
        state = {
            "step": self.step, "tokens_seen": self.tokens_seen, "best_val": self.best_val,
            "train_seconds": self.train_seconds,
            "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "settings": asdict(self.settings), "model_path": str(self.model_path),
        }
        final, pending = self.run_dir / STATE_FILE, self.run_dir / PENDING_STATE_FILE
        # The first save has no pair to keep: its state goes in place at once (a kill before the
        # model is written leaves no model to resume, as before the run).
        first = not final.exists()
        atomic_write(final if first else pending, lambda tmp: torch.save(state, tmp), fsync=True)
        was_training = self.model.training
        self.model.eval()
        save_checkpoint(self.model_path, self.model, self.task.checkpoint_task(), self.facts(),
                        tokenizer=getattr(self.task, "tokenizer", None))
        self.model.train(was_training)
        if not first:
            os.replace(pending, final)
        self._last_save = time.time()
        yield self._emit(ev.CheckpointSaved(time.time(), self.step, self.tokens_seen, str(self.model_path)))

    def _state_path(self) -> Path:
        path = self.resume_from
        return path if path.name == STATE_FILE else path.parent / STATE_FILE

    def _finish_interrupted_save(self, path: Path):
        """A save killed after the model but before its state took the old one's place: the pending
        state holds the model's step, so it is put in place; any other pending state is dropped."""
        pending = path.with_name(PENDING_STATE_FILE)
        if not pending.is_file():
            return
        try:
            step = int(_load_state_file(pending)["step"])
        except (PocketLLMError, KeyError, TypeError, ValueError):
            step = None
        if step is not None and self.resume_step is not None and step == int(self.resume_step):
            os.replace(pending, path)
        else:
            pending.unlink(missing_ok=True)

    def _check_steps_left(self):
        """Refuse before anything is written when the resumed run has no steps left."""
        path = self._state_path()
        self._finish_interrupted_save(path)
        if not path.is_file():
            return  # _load_state explains
        done = int(_load_state_file(path)["step"])
        if self.resume_step is not None and int(self.resume_step) != done:
            raise PocketLLMError(
                "The checkpoint holds step {checkpoint_step} but {state_file} beside it holds step {state_step}: "
                "a save was interrupted between the two files, so they disagree and resuming would repeat "
                "or skip steps with the wrong optimizer state. Start a new run from these weights with "
                "--init_from {model_path} instead.", code="train.state_disagrees",
                checkpoint_step=self.resume_step, state_file=path.name, state_step=done,
                model_path=str(self.model_path))
        total = self.total_steps()
        if total is None:
            spent = float(_load_state_file(path).get("train_seconds", 0.0))
            if spent >= self._budget_s():
                raise PocketLLMError("This run has already trained {minutes:.1f} minutes, its whole budget; to "
                                     "continue it, pass a larger --max_minutes.", code="train.no_time_left",
                                     minutes=spent / 60)
            total = self.step_cap()
            if total is None:
                return
        if done >= total:
            raise PocketLLMError("This run is already at step {step} of {total}; to continue it, pass a "
                                 "larger --max_steps (or more --epochs).", code="train.no_steps_left",
                                 step=done, total=total)

    def _load_state(self, optimizer):
        """Restore optimizer, schedule position, data position and random state."""
        state_path = self._state_path()
        if not state_path.is_file():
            raise PocketLLMError("Cannot resume: {path} is missing (it is written next to the "
                                 "checkpoint of every run).", code="train.state_missing", path=str(state_path))
        state = _load_state_file(state_path)
        optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.tokens_seen = int(state["tokens_seen"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.best_val = state.get("best_val")
        torch.set_rng_state(state["rng"])
        if self.device.type == "cuda" and len(state.get("cuda_rng", [])) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def _emit(self, event: ev.Event) -> ev.Event:
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with open(self.run_dir / ev.EVENTS_FILE, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        return event


def _load_state_file(path: Path) -> dict:
    """The trainer state, tensors and plain values only; a damaged or crafted file is refused
    with a message (never with advice to unpickle it unsafely)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # truncated zip, a pickle that names a function, ...: all mean "not ours"
        raise PocketLLMError(
            "{path} is damaged or was not written by PocketLLM, so the run cannot be resumed from it. "
            "Start a new run from the weights with --init_from <checkpoint> instead.",
            code="train.state_damaged", path=str(path)) from None
    if not isinstance(state, dict) or "step" not in state or "optimizer" not in state:
        raise PocketLLMError("{path} is not a PocketLLM training state; start a new run with --init_from.",
                             code="train.state_not_ours", path=str(path))
    return state


class _RateMeter:
    """Tokens per second since the last report, elapsed time and the time left."""

    def __init__(self, start_time: float, tokens: int, step: int):
        self.start_time, self.first_step = start_time, step
        self.t_last, self.tokens_last = time.time(), tokens

    def tick(self, now: float, tokens: int, step: int, total: int | None) -> tuple[float, float, float]:
        """(tokens per second, elapsed, time left: 0 when the plan is a time budget, the caller knows it)."""
        rate = (tokens - self.tokens_last) / max(now - self.t_last, 1e-9)
        per_step = (now - self.start_time) / max(1, step - self.first_step)
        self.t_last, self.tokens_last = now, tokens
        return rate, now - self.start_time, per_step * (total - step) if total is not None else 0.0


def _plain(values: dict) -> dict:
    """An error's values as JSON can hold them (events.jsonl), coded phrases kept as such."""
    return {k: value_record(v) for k, v in values.items()}
