"""The training tabs' bookkeeping, without widgets: starting and stopping the one job,
keeping uploads, which run the live view shows and whether it changed, its status line, the
checkpoint to download (named after the run), whether a run can go on, and the base model of
a finetuning run.  The widgets that use these are in `ui/training_parts.py`.  Texts come
from each tab's strings through a `prefix` ("pretrain", ...), shared ones from "training."."""
from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import gradio as gr

from pocketllm import (FRESH_CONFIG, JobBusy, overfitting, ModelConfig, PocketLLMError, TaskKind, file_sha256, list_presets, read_header,
                       run_signature, task_kind)

from .core_errors import coded_message
from .errors import message_of
from .i18n import t, t_plain

FRESH = "fresh:"          # base-model value prefix: a random-init model of a preset
# Runs started from the page also save every few minutes, so a crash (or a kill) loses at
# most that much; the status of an interrupted run names the step a Resume starts from.
CHECKPOINT_MINUTES = 5


# ---- starting and stopping the job ----------------------------------------------------
def launch(state, kind, prepare, lang, prefix) -> dict:
    """Start the job; if one runs already, say which (Stop is next to Start).
    Returns the run folder ("run.dir", unless refused) and the status line ("run.status")."""
    try:
        job = state.runner.start(kind, prepare)
    except JobBusy:
        job = state.runner.current
        if job is None:  # it ended between the check and now: try once more
            job = state.runner.start(kind, prepare)
        else:
            message = busy_message(job, lang)
            gr.Warning(message, title=t(lang, "common.warning_title"))
            return {"run.status": message}
    return {"run.dir": str(job.run_dir), "run.status": t(lang, f"{prefix}.status_running", name=job.name, step=0)}


def busy_message(job, lang) -> str:
    """Which job runs already (Stop is next to Start)."""
    return t(lang, "training.busy", kind=t(lang, f"training.kind_{job.kind}"), name=job.name)


def stop_job(state, lang) -> str:
    job = state.runner.current
    if job is None:
        return t(lang, "training.nothing_running")
    state.runner.stop()
    return t(lang, "training.stopping", kind=t(lang, f"training.kind_{job.kind}"), name=job.name)


def keep_upload(state, path, suffix_ok, fallback="data") -> str:
    """Copy an upload into checkpoints/corpora/ (named by content), so a run and its
    resume can reread it after the upload's temp file is gone.  The copy is atomic: a full
    disk leaves nothing and says so (a coded error), and a file of that name is reused only
    when it is whole (as long as the upload)."""
    src = Path(path)
    suffix = src.suffix.lower() if src.suffix.lower() in suffix_ok else suffix_ok[0]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in src.stem)[:60] or fallback
    target = state.corpora / f"{name}-{file_sha256(src)[:12]}{suffix}"
    if not (target.is_file() and target.stat().st_size == src.stat().st_size):  # same content: no copy
        from pocketllm.files import atomic_write
        atomic_write(target, lambda tmp: shutil.copyfile(src, tmp), fsync=True)
    return str(target)


# ---- the live view --------------------------------------------------------------------
def follow(state, kind, current) -> str:
    """The run the live view shows: the running job of `kind` (started here, in another
    browser tab or by another person), else `current`, else the newest run ('' if none)."""
    job = state.runner.current
    if job is not None and job.kind == kind:
        return str(job.run_dir)
    if current:
        return current
    latest = state.live_or_latest_run(kind)
    return str(latest) if latest is not None else ""


def tick_signature(state, run_dir, lang) -> str:
    # Changes when the run writes an event, the language changes or a job starts or ends.
    return "|".join([run_signature(run_dir), str(lang), str(state.runner.current is not None)])


def ended_model(state, view) -> Path | None:
    """The run's checkpoint once the run has ended and the file is a checkpoint in the folder."""
    if view.status not in ("finished", "stopped", "failed") or view.model_path is None:
        return None
    try:
        return state.checkpoint(view.model_path)
    except PocketLLMError:
        return None


def status_line(view, lang, prefix) -> str:
    name = view.run_dir.name
    if view.status == "failed" and view.end:
        end = view.end  # the core's error, in the page's language where its code has a translation
        message = coded_message(end.get("code", ""), end.get("values") or {}, end.get("message", ""), lang)
        return t(lang, f"{prefix}.status_failed", name=name, message=message)
    step = (view.last_step or {}).get("step", 0)
    if view.status == "interrupted":  # a crash or a kill: what was saved, not what ran, is what is left
        saved = view.resume_step
        key = "status_interrupted" if saved else "status_interrupted_unsaved"
        return t(lang, f"{prefix}.{key}", name=name, step=step, saved=saved)
    key = f"{prefix}.status_{view.status.replace(' ', '_')}"
    started = (view.of_kind("started") or [{}])[-1]
    budget, cap = started.get("budget_s"), started.get("step_cap")
    if view.status == "finished" and budget and not (cap and step >= cap) \
            and t(lang, key + "_budget") != key + "_budget":  # the clock ended it: more minutes, not steps
        key += "_budget"
    line = t(lang, key, name=name, step=step, minutes=f"{(budget or 0) / 60:g}")
    end = view.end or {}
    if view.status == "finished" and end.get("stopped_early"):  # patience ended it before the plan
        line += " " + t(lang, "training.stopped_early", step=end.get("step", step))
    if view.status == "finished" and end.get("kept_step") is not None and end.get("kept_step") != end.get("step"):
        line += " " + t(lang, "training.kept_step", step=end["kept_step"])
    over = overfitting(view.events)
    if over:  # said while it happens, not only at the end
        line += "\n\n" + t(lang, "training.overfitting", best=f"{over['best_loss']:.3f}", best_step=over["best_step"],
                            loss=f"{over['loss']:.3f}", step=over["step"])
    return line


def target_steps(view) -> int | None:
    """The step the run was planned to reach (its `max_steps`, or what its last start said)."""
    started = view.of_kind("started")
    if started:
        return started[-1].get("total_steps")
    return ((view.settings or {}).get("train") or {}).get("max_steps")


def download_copy(state, view, model: Path) -> Path:
    """The run's checkpoint under a name that says which run and step it is
    (`pretrain-20261129-2130-step400.safetensors`, not `model.safetensors`)."""
    end = view.end or {}  # with keep_best the file holds the best evaluation's step
    step = end.get("kept_step") or end.get("step") or view.resume_step or (view.last_step or {}).get("step", 0)
    return state.download_as(model, f"{view.run_dir.name}-step{step}{model.suffix}")


def clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# ---- the base model of a finetuning run -------------------------------------------------
def base_choices(state, lang) -> list[tuple[str, str]]:
    """Checkpoints of the kinds that write text (newest first), then a fresh model of every preset."""
    rows = [(f"{r['name']}  ·  {r['parameters'] / 1e6:.1f}M", r["path"])
            for r in state.models_table() if task_kind(r["task"]) in (TaskKind.PRETRAIN, TaskKind.INSTRUCT)]
    return rows + [(t_plain(lang, "training.fresh", preset=p), FRESH + p) for p in list_presets()]  # a dropdown: text


def default_base(choices: list[tuple[str, str]], current=None) -> str | None:
    values = [v for _, v in choices]
    if current in values:
        return current
    if values and not values[0].startswith(FRESH):
        return values[0]  # the newest trained model: finetuning a pretrained base works best
    fresh = FRESH + FRESH_CONFIG  # no trained model yet: a fresh one of the core's shape
    return fresh if fresh in values else (values[0] if values else None)


def split_base(value, lang="en") -> tuple[str | None, str | None]:
    """(base_model path, config preset) for the settings."""
    if not value:
        raise PocketLLMError(t(lang, "training.no_base"))
    if value.startswith(FRESH):
        return None, value[len(FRESH):]
    return value, None


def base_model(state, value, lang) -> tuple[str | None, str | None]:
    """`split_base`, with a checkpoint path checked to be one of the folder's checkpoints."""
    path, preset = split_base(value, lang)
    return (str(state.checkpoint(path, lang)) if path else None), preset


def base_facts(state, value, lang) -> str:
    try:
        path, preset = base_model(state, value, lang)
        if path:
            cfg = ModelConfig.from_dict(read_header(path)["config"])
            name = Path(path).relative_to(state.checkpoints).as_posix()
        else:
            cfg, name = ModelConfig.load(preset), preset
    except (PocketLLMError, ValueError, OSError, KeyError) as exc:
        return t(lang, "training.problem", message=message_of(exc, lang))
    facts = t(lang, "training.base_facts", name=name, layers=cfg.num_layers, width=cfg.emb_dim,
              context=cfg.context_length, params=f"{cfg.num_parameters():,}")
    return facts if path else facts + "\n\n" + t(lang, "training.fresh_note")


# ---- settings and command lines ---------------------------------------------------------
def shell_lines(args: list[str]) -> str:
    """The command, one flag (and its value) per line, so it reads in a narrow box."""
    head, rest = [], list(args)
    while rest and not rest[0].startswith("--"):
        head.append(rest.pop(0))
    lines = [" ".join(shlex.quote(a) for a in head)]
    while rest:
        flag = [rest.pop(0)]
        if rest and not rest[0].startswith("--"):
            flag.append(rest.pop(0))
        lines.append("  " + " ".join(shlex.quote(a) for a in flag))
    return " \\\n".join(lines)


def source_values(state, data_path, bundled: dict) -> dict:
    """The data-source elements that show `data_path`: a bundled choice (`bundled` maps the
    radio's value to its file) or an upload kept in the corpora folder; {} when it is neither
    (a file the page cannot pick any more)."""
    if not data_path:
        return {}
    path = Path(data_path).resolve()
    for value, file in bundled.items():
        if path == Path(file).resolve():
            return {"data.source": value}
    if path.parent == state.corpora and path.is_file():
        return {"data.source": "upload", "data.uploaded": str(path)}
    return {}


def base_value(settings) -> dict:
    """The base-model element that shows a finetuning recipe's base ({} when it is gone)."""
    if settings.base_model and Path(settings.base_model).is_file():
        return {"model.base": str(Path(settings.base_model).resolve())}
    if settings.config:
        return {"model.base": FRESH + settings.config}
    return {}
