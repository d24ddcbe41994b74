"""What the three training tabs (Pretrain, Classify, Instruct) share: starting and stopping
the one job, keeping uploads, the live view's bookkeeping (which run to show, when it
changed, its status line), the base-model picker of the finetuning tabs, and the command
line layout.  Texts come from each tab's strings through a `prefix` ("pretrain", ...)."""
from __future__ import annotations

import functools
import shlex
import shutil
from pathlib import Path

import gradio as gr

from pocketllm import JobBusy, ModelConfig, PocketLLMError, file_sha256, list_presets, read_header

from .i18n import t

FRESH = "fresh:"          # base-model value prefix: a random-init model of a preset
BASE_TASKS = ("language_model", "instruct")
# Runs started from the page also save every few minutes, so a crash (or a kill) loses at
# most that much; the status of an interrupted run names the step a Resume starts from.
CHECKPOINT_MINUTES = 5


# ---- starting and stopping the job ----------------------------------------------------
def launch(state, kind, prepare, lang, prefix):
    """Start the job; if one runs already, say which (Stop is next to Start).
    Returns (run folder or skip, status line)."""
    try:
        job = state.runner.start(kind, prepare)
    except JobBusy:
        job = state.runner.current
        if job is None:  # it ended between the check and now: try once more
            job = state.runner.start(kind, prepare)
        else:
            message = t(lang, f"{prefix}.busy", kind=job.kind, name=job.name)
            gr.Warning(message, title=t(lang, "common.warning_title"))
            return gr.skip(), message
    return str(job.run_dir), t(lang, f"{prefix}.status_running", name=job.name, step=0)


def stop_job(state, lang, prefix) -> str:
    job = state.runner.current
    if job is None:
        return t(lang, f"{prefix}.nothing_running")
    state.runner.stop()
    return t(lang, f"{prefix}.stopping", kind=job.kind, name=job.name)


def keep_upload(state, path, suffix_ok, fallback="data") -> str:
    """Copy an upload into checkpoints/corpora/ (named by content), so a run and its
    resume can reread it after the upload's temp file is gone."""
    src = Path(path)
    suffix = src.suffix.lower() if src.suffix.lower() in suffix_ok else suffix_ok[0]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in src.stem)[:60] or fallback
    target = state.corpora / f"{name}-{file_sha256(src)[:12]}{suffix}"
    if not target.exists():  # same content, same name: nothing to copy
        shutil.copyfile(src, target)
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


def signature(run_dir: Path, *extra) -> str:
    """Changes when the run's events file does (or any of `extra`): the tick redraws only then."""
    events = Path(run_dir) / "events.jsonl"
    stat = events.stat() if events.is_file() else None
    return "|".join([str(run_dir), str(stat.st_size if stat else 0), str(stat.st_mtime_ns if stat else 0),
                     *map(str, extra)])


def tick_signature(state, run_dir, lang) -> str:
    return signature(Path(run_dir), lang, state.runner.current is not None)


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
        return t(lang, f"{prefix}.status_failed", name=name, message=view.end.get("message", ""))
    step = (view.last_step or {}).get("step", 0)
    if view.status == "interrupted":  # a crash or a kill: what was saved, not what ran, is what is left
        saved = view.resume_step
        key = "status_interrupted" if saved else "status_interrupted_unsaved"
        return t(lang, f"{prefix}.{key}", name=name, step=step, saved=saved)
    return t(lang, f"{prefix}.status_{view.status.replace(' ', '_')}", name=name, step=step)


def clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# ---- the base model of a finetuning run -------------------------------------------------
def base_choices(state, lang, tasks=BASE_TASKS) -> list[tuple[str, str]]:
    """Checkpoints of `tasks` (newest first), then a fresh model of every preset."""
    rows = [(f"{r['name']}  ·  {r['parameters'] / 1e6:.1f}M", r["path"])
            for r in state.models_table() if r["task"] in tasks]
    return rows + [(t(lang, "classify.fresh", preset=p), FRESH + p) for p in list_presets()]


def default_base(choices: list[tuple[str, str]], current=None) -> str | None:
    values = [v for _, v in choices]
    if current in values:
        return current
    if values and not values[0].startswith(FRESH):
        return values[0]  # the newest trained model: finetuning a pretrained base works best
    return FRESH + "cpu-tiny" if FRESH + "cpu-tiny" in values else (values[0] if values else None)


def split_base(value) -> tuple[str | None, str | None]:
    """(base_model path, config preset) for the settings."""
    if not value:
        raise PocketLLMError("No base model chosen: pick a checkpoint or a fresh model.")
    if value.startswith(FRESH):
        return None, value[len(FRESH):]
    return value, None


def base_model(state, value, lang) -> tuple[str | None, str | None]:
    """`split_base`, with a checkpoint path checked to be one of the folder's checkpoints."""
    path, preset = split_base(value)
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
        return f"⚠️ {exc}"
    return t(lang, "classify.base_facts", name=name, layers=cfg.num_layers, width=cfg.emb_dim,
             context=cfg.context_length, params=f"{cfg.num_parameters():,}")


# ---- settings and command lines ---------------------------------------------------------
def safe_cli(build):
    """A command-line preview that never fails: a value it cannot show (a number out of
    range, infinity) gives a comment instead; the Start button says what is wrong."""
    @functools.wraps(build)
    def wrapper(*args):
        try:
            return build(*args)
        except (PocketLLMError, ValueError, TypeError, OverflowError):
            return "# fix the settings above first: a value is out of range"
    return wrapper


def number(value, default, cast=int):
    try:
        return cast(value) if value is not None and value != "" else default
    except (TypeError, ValueError):
        raise PocketLLMError(f"{value!r} is not a number.") from None


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


def wire_base_picker(state, ctx, base, refresh, facts, api_name: str):
    """The base-model dropdown of a finetuning tab: Refresh fills it, a choice shows its facts.

    Returns the refresh handler, for the tab's page-load hook."""
    def on_refresh(current, lang):
        choices = base_choices(state, lang)
        return gr.update(choices=choices, value=default_base(choices, current))

    refresh.click(on_refresh, [base, ctx.lang], base, api_name=api_name)
    base.change(lambda v, lang: base_facts(state, v, lang), [base, ctx.lang], facts, show_progress="hidden")
    return on_refresh


def saved_source_and_base(state, settings, bundled) -> tuple[list, object]:
    """A saved finetuning recipe's data source ([radio, uploaded path]) and base-model value
    for the form; `gr.skip()` where the saved value is not available here any more."""
    keep = gr.skip()
    data = settings.data_path
    if data and Path(data).resolve() == Path(bundled).resolve():
        source = ["bundled", keep]
    elif data and Path(data).resolve().parent == state.corpora and Path(data).is_file():
        source = ["upload", str(Path(data).resolve())]
    else:
        source = [keep, keep]
    if settings.base_model and Path(settings.base_model).is_file():
        base = str(Path(settings.base_model).resolve())
    elif settings.config:
        base = FRESH + settings.config
    else:
        base = keep
    return source, base
