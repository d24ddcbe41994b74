"""The records a training run reports, one type per kind of news.

The loop never prints; it yields these.  The CLI draws a progress bar from
them, the run folder stores them one JSON object per line (`events.jsonl`),
and the app plots them.  `to_dict()` / `event_from_dict()` make the round trip.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

from ..files import JSON_DEPTH_LIMIT, json_depth


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    time: float  # seconds since the epoch, when it happened

    def to_dict(self) -> dict:
        return {"kind": self.kind, **asdict(self)}


@dataclass
class Started(Event):
    kind: ClassVar[str] = "started"
    total_steps: int | None
    steps_per_epoch: int
    tokens_per_step: int
    start_step: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    parameters: int = 0
    world_size: int = 1
    threads: int = 0  # CPU threads of each process
    budget_s: float | None = None  # a time budget (--max_minutes) instead of total_steps (then None)
    step_cap: int | None = None    # on a budget, the steps that end it if they come first


@dataclass
class Step(Event):
    kind: ClassVar[str] = "step"
    step: int
    epoch: int
    tokens_seen: int
    train_loss: float
    lr: float
    grad_norm: float
    tokens_per_s: float
    elapsed: float
    eta: float
    metrics: dict = field(default_factory=dict)  # task extras, e.g. {"accuracy": 0.9}


@dataclass
class Eval(Event):
    kind: ClassVar[str] = "eval"
    step: int
    epoch: int
    tokens_seen: int
    train: dict  # metrics on (part of) the training split, e.g. {"loss": 2.1, "accuracy": 0.8}
    val: dict
    # Validation loss in bits per character (language models): loss × tokens ÷ characters ÷ ln 2.
    # Unlike nats per token it does not depend on the tokenizer, so runs compare fairly.
    val_bits_per_char: float | None = None
    improved: bool = False  # the best validation score so far (by the task's metric)


@dataclass
class Sample(Event):
    kind: ClassVar[str] = "sample"
    step: int
    tokens_seen: int
    prompt: str
    text: str


@dataclass
class CheckpointSaved(Event):
    kind: ClassVar[str] = "checkpoint"
    step: int
    tokens_seen: int
    path: str


@dataclass
class Probe(Event):
    """What the model knows at an evaluation (pocketllm/probes.py): next-token guesses on held-out
    prompts, their entropy, and the induction scores with the loss on repeated random tokens."""
    kind: ClassVar[str] = "probe"
    step: int
    tokens_seen: int
    prompts: list = field(default_factory=list)  # [{"prompt", "top": [[token, p], ...], "true", "true_prob", ...}]
    entropy: float | None = None  # mean bits of the next-token distribution over the prompts
    induction: dict = field(default_factory=dict)  # {"scores": [layer][head], "best", "loss_first", "loss_second"}
    error: str = ""  # a probe that failed says why; training goes on


@dataclass
class SnapshotSaved(Event):
    """The model of this step was kept in the run's snapshots/ folder (training/snapshots.py)."""
    kind: ClassVar[str] = "snapshot"
    step: int
    tokens_seen: int
    path: str
    bytes: int = 0


@dataclass
class Finished(Event):
    kind: ClassVar[str] = "finished"
    step: int
    tokens_seen: int
    elapsed: float
    message: str = ""
    results: dict = field(default_factory=dict)  # task results, e.g. test accuracy
    stopped_early: bool = False  # validation stopped improving (patience) before the planned steps
    best_step: int | None = None  # the step of the best validation score
    best_val: dict = field(default_factory=dict)  # that evaluation's validation metrics
    kept_step: int | None = None  # with keep_best: the step whose weights the checkpoint holds


@dataclass
class Stopped(Finished):
    kind: ClassVar[str] = "stopped"


@dataclass
class Failed(Event):
    kind: ClassVar[str] = "failed"
    step: int
    message: str
    code: str = ""  # the PocketLLMError's code and values, so the page can say it in its language
    values: dict = field(default_factory=dict)


EVENT_TYPES = {cls.kind: cls for cls in (Started, Step, Eval, Sample, CheckpointSaved,
                                         Finished, Stopped, Failed, Probe, SnapshotSaved)}
EVENTS_FILE = "events.jsonl"  # in a run folder, one event per line
END_KINDS = ("finished", "stopped", "failed")


def event_from_dict(data: dict) -> Event:
    data = dict(data)
    cls = EVENT_TYPES[data.pop("kind")]
    return cls(**data)


def read_events(path) -> list[dict]:
    """The events of a run folder's `events.jsonl`, tolerating a half-written last line."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if json_depth(line) > JSON_DEPTH_LIMIT:
                continue  # not a line PocketLLM wrote (they nest a few levels): skipped, not a RecursionError
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                break  # the writer is mid-line; the rest arrives on the next read
            if isinstance(event, dict):
                out.append(event)
    return out


OVERFIT_EVALS = 2  # validation loss rising this many evaluations in a row, while training loss falls


def overfitting(events: list[dict]) -> dict | None:
    """Has the run begun to learn its training text by heart?  When the validation loss rose at each
    of the last OVERFIT_EVALS evaluations while the training loss fell: {"best_step", "best_loss",
    "step", "loss"} (the lowest validation loss and the last), else None.  A small corpus read many
    times does this; more text, fewer steps or dropout are the cures."""
    evals = [e for e in events if e.get("kind") == "eval" and "loss" in (e.get("val") or {})
             and "loss" in (e.get("train") or {})]
    if len(evals) <= OVERFIT_EVALS:
        return None
    tail = evals[-OVERFIT_EVALS - 1:]
    val_rose = all(b["val"]["loss"] > a["val"]["loss"] for a, b in zip(tail, tail[1:]))
    train_fell = tail[-1]["train"]["loss"] < tail[0]["train"]["loss"]
    if not (val_rose and train_fell):
        return None
    best = min(evals, key=lambda e: e["val"]["loss"])
    return {"best_step": best["step"], "best_loss": best["val"]["loss"], "step": tail[-1]["step"],
            "loss": tail[-1]["val"]["loss"]}
