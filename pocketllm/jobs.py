"""Running one training job at a time in a worker thread, and reading run folders.

The app (and anything else) starts a job with a `prepare` function that
builds a Trainer — reading data and the model happens there, so bad input is
reported at once.  The loop then runs in a worker thread; its events land in
the run folder's `events.jsonl`.  Pages read the run folder, not the thread,
so a reload, a second tab or a dropped connection sees the same live run.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import PocketLLMError
from .files import JSON_DEPTH_LIMIT, OutputClaim, json_depth
from .kinds import task_kind
from .training.events import END_KINDS, EVENTS_FILE, read_events
from .training.trainer import STATE_FILE, Trainer


RUN_RECORD_BYTES = 64 * 2**20  # run.json / results.json: a few KB when PocketLLM writes them


def _read_json(path: Path) -> dict:
    """A run folder's JSON record, or {} when it is missing, damaged, huge or nests too deep (a crafted
    file must not take every run list down with a RecursionError)."""
    try:
        if path.stat().st_size > RUN_RECORD_BYTES:
            return {}
        text = path.read_text(encoding="utf-8")
        if json_depth(text) > JSON_DEPTH_LIMIT:
            return {}
        data = json.loads(text)
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


class JobBusy(PocketLLMError):
    """Another job is running; the message names it."""


@dataclass
class Job:
    kind: str                 # a TaskKind: "pretrain", "classify", "instruct"
    run_dir: Path
    model_path: Path
    stop_event: threading.Event
    thread: threading.Thread | None = None
    status: str = "running"   # running → finished / stopped / failed
    error: str = ""

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def name(self) -> str:
        return self.run_dir.name


class JobRunner:
    """One training job at a time for the whole process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._job: Job | None = None
        self.last: Job | None = None

    @property
    def current(self) -> Job | None:
        job = self._job
        return job if job is not None and job.alive else None

    def start(self, kind: str, prepare: Callable[[threading.Event], Trainer]) -> Job:
        return self.start_series(kind, [prepare])

    def start_series(self, kind: str, prepares: list[Callable[[threading.Event], Trainer]]) -> Job:
        """One job of several runs, one after the other (the Pretrain tab's race: classic, then speedrun):
        every run is prepared now (bad input is said before anything trains), each starts when the one
        before it has finished, and Stop ends the series.  The job names the run that trains now."""
        with self._lock:
            running = self.current
            if running is not None:
                raise JobBusy("A {kind} job ({name}) is already running. Stop it first, or wait for it to finish.",
                              code="jobs.busy", kind=str(running.kind), name=running.name)
            stop = threading.Event()
            trainers = [prepare(stop) for prepare in prepares]  # PocketLLMError here reaches the caller directly
            job = Job(kind, trainers[0].run_dir, trainers[0].model_path, stop)
            job.thread = threading.Thread(target=self._work, args=(job, trainers),
                                          name=f"pocketllm-{kind}", daemon=True)
            self._job = self.last = job
            job.thread.start()
            return job

    @staticmethod
    def _work(job: Job, trainers: list[Trainer]):
        for i, trainer in enumerate(trainers):
            if i and (job.status != "finished" or job.stop_event.is_set()):
                break  # stopped or failed: the runs after it do not start
            job.run_dir, job.model_path, job.status = trainer.run_dir, trainer.model_path, "running"
            try:
                for event in trainer.run():
                    if event.kind in END_KINDS:
                        job.status = event.kind
                        job.error = getattr(event, "message", "") if event.kind == "failed" else ""
            except Exception as exc:  # already recorded as a "failed" event by the trainer
                job.status, job.error = "failed", str(exc)

    def stop(self) -> bool:
        """Ask the running job to save and stop; True if there was one."""
        job = self.current
        if job is None:
            return False
        job.stop_event.set()
        return True

    def wait(self, timeout: float | None = None) -> Job | None:
        job = self._job
        if job is not None and job.thread is not None:
            job.thread.join(timeout)
        return job


@dataclass
class RunView:
    """What a page shows of a run: its settings, its events and how it stands."""
    run_dir: Path
    settings: dict
    events: list[dict]
    status: str  # running, finished, stopped, failed, interrupted, not started

    def of_kind(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["kind"] == kind]

    @property
    def last_step(self) -> dict | None:
        steps = self.of_kind("step")
        return steps[-1] if steps else None

    @property
    def end(self) -> dict | None:
        ends = [e for e in self.events if e["kind"] in END_KINDS]
        return ends[-1] if ends else None

    @property
    def model_path(self) -> Path | None:
        path = self.settings.get("model_path")
        return Path(path) if path else None

    def time_split(self) -> dict[str, float]:
        """Seconds spent training, evaluating, sampling and saving (each event closes the time
        since the one before it; the latest attempt only)."""
        starts = [i for i, e in enumerate(self.events) if e["kind"] == "started"]
        tail = self.events[starts[-1]:] if starts else self.events
        names = {"step": "train", "eval": "eval", "probe": "eval", "sample": "sample", "checkpoint": "save",
                 "snapshot": "save"}
        split = {v: 0.0 for v in names.values()}
        for before, event in zip(tail, tail[1:]):
            if event["kind"] in names:
                split[names[event["kind"]]] += max(0.0, event["time"] - before["time"])
        return {k: round(v, 2) for k, v in split.items()}

    @property
    def probes(self) -> list[dict]:
        """The probe records (pocketllm/probes.py), one per evaluation and one at step 0, by step."""
        return self.of_kind("probe")

    @property
    def snapshot_steps(self) -> list[int]:
        """The steps whose model the run kept in snapshots/ (training/snapshots.py)."""
        from .training.snapshots import snapshot_steps
        return snapshot_steps(self.run_dir)

    @property
    def resume_step(self) -> int:
        """The step a Resume really starts from: the last save of model and state together
        (after a crash, the steps since then are lost; 0 when nothing was saved)."""
        saves = self.of_kind("checkpoint")
        return int(saves[-1]["step"]) if saves else 0

    @property
    def results(self) -> dict:
        return _read_json(self.run_dir / "results.json")

    def saved_scores(self) -> tuple[dict, str]:
        """The validation figures of the weights the run saved, and what they were measured on:
        "whole split" (the task scored the saved weights on all of it at the end: results.json),
        "kept step N" (keep_best: the evaluation whose weights were kept) or "last evaluation"
        (both of these on the evaluation's sample).  ({}, "") before any evaluation."""
        results = self.results if self.status == "finished" else {}
        whole = {k.removeprefix("val_"): v for k, v in results.items()
                 if k.startswith("val_") and isinstance(v, (int, float)) and not isinstance(v, bool)}
        if whole:
            return whole, "whole split"
        end = self.end or {}
        if end.get("kept_step") is not None and end.get("best_val"):
            return dict(end["best_val"]), f"kept step {end['kept_step']}"
        evals = self.of_kind("eval")
        return (dict(evals[-1]["val"]), "last evaluation") if evals else ({}, "")

    @property
    def can_resume(self) -> bool:
        """Whether the run can go on: it is not running, and its model and training state were
        saved together (what `--resume` needs)."""
        model = self.model_path
        return (self.status in ("stopped", "interrupted", "finished") and self.resume_step > 0
                and model is not None and model.is_file() and (self.run_dir / STATE_FILE).is_file())


def run_signature(run_dir) -> str:
    """Changes whenever the run writes an event: what a page compares each second before it
    reads the run again (a stat, not a read)."""
    events = Path(run_dir) / EVENTS_FILE
    try:
        stat = events.stat()
    except OSError:
        return f"{run_dir}|0|0"
    return f"{run_dir}|{stat.st_size}|{stat.st_mtime_ns}"


def read_run(run_dir, runner: JobRunner | None = None) -> RunView:
    run_dir = Path(run_dir)
    settings_path = run_dir / "run.json"
    settings = _read_json(settings_path)
    events = read_events(run_dir / EVENTS_FILE)
    # A resumed run appends to the same file: only the latest attempt counts for the status.
    last_start = max((i for i, e in enumerate(events) if e["kind"] == "started"), default=None)
    tail = events[last_start:] if last_start is not None else events
    ends = [e for e in tail if e["kind"] in END_KINDS]
    live = runner is not None and runner.current is not None and \
        runner.current.run_dir.resolve() == run_dir.resolve()
    if ends:
        status = ends[-1]["kind"]
    elif live:
        status = "running"
    elif events and _claimed_by_live_run(settings):
        status = "running"  # by another process (e.g. the command line) that still writes its model
    elif events:
        status = "interrupted"
    else:
        status = "not started"
    return RunView(run_dir, settings, events, status)


def _claimed_by_live_run(settings: dict) -> bool:
    path = settings.get("model_path")
    return bool(path) and OutputClaim(path).owner() is not None


def list_runs(root, kind: str | None = None) -> list[Path]:
    """Run folders under `root`, newest first (optionally only one TaskKind)."""
    root = Path(root)
    if not root.is_dir():
        return []
    wanted = task_kind(kind) if kind is not None else None
    runs = []
    for d in root.iterdir():
        meta = d / "run.json"
        if d.is_dir() and meta.is_file():
            if kind is not None and (wanted is None or task_kind(_read_json(meta).get("task")) is not wanted):
                continue
            runs.append(d)
    return sorted(runs, key=lambda d: (d / "run.json").stat().st_mtime, reverse=True)
