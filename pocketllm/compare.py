"""Compare runs: their curves on one axis and only the settings that differ.

A learner changes one thing (layers, learning rate, tokenizer, dropout), trains again
and wants to see what it did.  `compare_runs` reads run folders and returns, per run,
its validation curve — against steps, tokens seen or wall-clock time, in nats per token
or in bits per character (the measure that does not depend on the tokenizer) — and a
table of the settings that differ between the runs, with each run's final and best
validation figures, time taken and tokens per second (the tokens trained over the time
taken, so the two columns multiply to the tokens seen).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import PocketLLMError
from .jobs import read_run

X_AXES = ("step", "tokens_seen", "elapsed")
Y_UNITS = ("loss", "bits_per_char")
MAX_RUNS = 8


@dataclass
class RunCurve:
    name: str
    run_dir: str
    status: str
    x: dict[str, list[float]]        # axis name -> values, one per evaluation
    val: dict[str, list[float]]      # "loss" / "bits_per_char" -> values
    train: dict[str, list[float]]
    final: dict[str, float | None]   # last evaluation's val figures
    best: dict[str, float | None]    # best (lowest) val figures
    seconds: float | None            # wall-clock time of the run (all its attempts)
    tokens_per_s: float | None       # tokens trained ÷ seconds (all its attempts)
    card: dict = field(default_factory=dict)  # the finished model's report card (report_card.py), if any


@dataclass
class Comparison:
    runs: list[RunCurve]
    differing: dict[str, list]       # setting -> value per run, only where runs differ
    same: dict = field(default_factory=dict)  # settings all runs share

    def table(self) -> list[dict]:
        """One row per run: its name, the settings that differ, and its figures."""
        rows = []
        for i, run in enumerate(self.runs):
            row = {"run": run.name, "status": run.status}
            row.update({k: v[i] for k, v in self.differing.items()})
            row.update({"final val loss": run.final.get("loss"), "best val loss": run.best.get("loss"),
                        "final val bits/char": run.final.get("bits_per_char"),
                        "best val bits/char": run.best.get("bits_per_char"),
                        "time (s)": run.seconds, "tokens/s": run.tokens_per_s})
            rows.append(row)
        return rows


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in (data or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


# Settings that say what a run *is*; paths and bookkeeping are left out of the table.
_IGNORED = ("run_dir", "model_path", "resume", "overwrite", "corpus.", "data.", "template_text.", "train.device",
            "train.threads", "train.compile", "train.log_every")


def _curve(run_dir: Path, view) -> RunCurve:
    if not view.settings and not view.events:
        raise PocketLLMError("{path} is not a run folder (it has no run.json or events.jsonl).",
                             code="compare.not_a_run", path=str(run_dir))
    # Wall-clock time counts only while the run ran: a resumed run's pause is left out.  The
    # tokens are those each attempt trained (a resumed attempt starts from the tokens seen before).
    active, x_elapsed, evals, attempt_start, last_time = 0.0, [], [], None, None
    trained, tokens_before, tokens_last = 0, 0, 0
    for e in view.events:
        if e["kind"] == "started":
            if attempt_start is not None and last_time is not None:
                active += last_time - attempt_start
            trained += tokens_last - tokens_before
            attempt_start, tokens_before = e["time"], tokens_last
        elif attempt_start is None:
            attempt_start = e["time"]
        last_time = e["time"]
        if e["kind"] == "step":
            tokens_last = e["tokens_seen"]
        if e["kind"] == "eval":
            evals.append(e)
            x_elapsed.append(round(active + e["time"] - attempt_start, 2))
    trained += tokens_last - tokens_before
    seconds = round(active + last_time - attempt_start, 1) if last_time is not None else None
    x = {"step": [e["step"] for e in evals], "tokens_seen": [e["tokens_seen"] for e in evals],
         "elapsed": x_elapsed}
    val = {u: [e["val"].get(u) for e in evals] for u in Y_UNITS}
    train = {u: [e["train"].get(u) for e in evals] for u in Y_UNITS}
    final = {u: (val[u][-1] if val[u] else None) for u in Y_UNITS}
    best = {u: min((v for v in val[u] if v is not None), default=None) for u in Y_UNITS}
    elapsed = active + last_time - attempt_start if last_time is not None else 0.0
    rate = round(trained / elapsed) if trained > 0 and elapsed > 0 else None
    card = view.results.get("report_card") if view.status == "finished" else None
    return RunCurve(Path(run_dir).name, str(run_dir), view.status, x, val, train, final, best, seconds, rate,
                    card if isinstance(card, dict) else {})


def compare_runs(run_dirs) -> Comparison:
    run_dirs = [Path(d) for d in run_dirs]
    if not 1 <= len(run_dirs) <= MAX_RUNS:
        raise PocketLLMError("Compare 1 to {limit} runs at a time (got {count}).", code="compare.too_many",
                             limit=MAX_RUNS, count=len(run_dirs))
    for d in run_dirs:
        if not d.is_dir():
            raise PocketLLMError("Run folder not found: {path}.", code="compare.not_found", path=str(d))
    views = [read_run(d) for d in run_dirs]  # each run folder is read once
    runs = [_curve(d, v) for d, v in zip(run_dirs, views)]
    settings = [_flatten(v.settings) for v in views]
    keys = sorted({k for s in settings for k in s if not k.startswith(_IGNORED) and k not in _IGNORED})
    differing, same = {}, {}
    for key in keys:
        values = [s.get(key) for s in settings]
        if all(v == values[0] for v in values):
            same[key] = values[0]
        else:
            differing[key] = values
    # A setting recorded twice (a pretrain run's vocab_size and model_config.vocab_size) is one column.
    for key in [k for k in differing if "." in k]:
        if differing.get(key.rsplit(".", 1)[1]) == differing[key]:
            del differing[key]
    return Comparison(runs, differing, same)
