"""The parts every training tab (Pretrain, Classify, Instruct) is built from.

A tab lays out its own data and settings widgets, naming each once in its `Elements`
("train.steps"), and calls the parts where they stand on the page:

- `finetune_columns`: a finetuning tab's intro, data column and model column;
- `data_source`: bundled data or an upload (kept in the corpora folder);
- `base_picker`: the base model of a finetuning run, with Refresh and its facts;
- `finetune_settings`: epochs, steps, batch, learning rate, evaluation, seed, keep-best, patience;
- `run_buttons`: Start / Stop (/ Continue), the status line and the live stats;
- `try_columns`: the download and a "try it" section with its model picker;
- `command_box`: the same run as a command line (the core's `to_argv`).

Then it describes itself in a `TrainingTab` (how the form becomes the core's settings and
back, how a run is drawn) and `wire_training` wires the rest: Start, Stop, the live view
that follows the run folder every second, the form that shows the settings of the run on
view (on load, with no race against the form's defaults), buttons enabled only when they can
act, the command line, and settings saved by name.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import gradio as gr

from pocketllm import TRAIN_LIMITS, PocketLLMError, TrainSettings, default_run_dir, to_argv

from .elements import Elements, choice_update
from .errors import upload_refusal
from .experiments import settings_section
from .i18n import t
from .limits import MAX_BATCH, MAX_EPOCHS, MAX_EVERY, MAX_LR, MAX_STEPS, MAX_TRAIN_SEED
from .runs import (CHECKPOINT_MINUTES, base_choices, base_facts, clock, default_base, download_copy,
                   ended_model, follow, keep_upload, launch, shell_lines, status_line, stop_job, tick_signature)

log = logging.getLogger("pocketllm.ui")
# The live view's bookkeeping (per browser tab): the run shown, its last drawn state, the model offered
# in "try it", and whether the page's load has filled the form.
STATE = ("run.dir", "run.seen", "run.offered", "run.loaded")
# The finetuning tabs' training settings: element -> TrainSettings field.
FINETUNE_TRAIN = {"train.epochs": "epochs", "train.max_steps": "max_steps", "train.batch": "batch_size",
                  "train.lr": "lr", "train.eval_every": "eval_every", "train.seed": "seed"}
# TrainSettings.snapshots as the page's choice: None (by the model's size), True, False.
SNAPSHOTS = {"auto": None, "on": True, "off": False}


# ---- layout parts -----------------------------------------------------------------------
def finetune_columns(els: Elements, prefix: str, elem_prefix: str,
                     file_types: list[str]) -> tuple[gr.Column, gr.Column]:
    """A finetuning tab's top: its intro, then the data column (bundled data or an upload of
    `file_types`) and the model column (the base-model picker).  The tab fills both in with
    `with column:`."""
    page = els.ctx.page
    page.add(gr.Markdown(page.text(f"{prefix}.intro")), value=f"{prefix}.intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320) as data:
            page.add(gr.Markdown(page.text(f"{prefix}.data_head")), value=f"{prefix}.data_head")
            data_source(els, prefix, [(f"{prefix}.src_bundled", "bundled"), (f"{prefix}.src_upload", "upload")],
                        "bundled", file_types, elem_prefix)
        with gr.Column(scale=4, min_width=300) as model:
            page.add(gr.Markdown(page.text(f"{prefix}.model_head")), value=f"{prefix}.model_head")
            base_picker(els, prefix, elem_prefix)
    return data, model


def try_columns(els: Elements, prefix: str, elem_prefix: str, picker_label: str,
                scales=(1, 1)) -> tuple[gr.Column, gr.Column]:
    """The run's download, then "try it": a model picker atop the left column.  Elements:
    run.download, try.model (+ .refresh)."""
    page = els.ctx.page
    download_button(els, prefix, elem_prefix)
    page.add(gr.Markdown(page.text(f"{prefix}.try_head")), value=f"{prefix}.try_head")
    with gr.Row(equal_height=False):
        with gr.Column(scale=scales[0], min_width=300) as left:
            model_picker(els, "try.model", picker_label, f"{elem_prefix}-model")
        with gr.Column(scale=scales[1], min_width=260) as right:
            pass
    return left, right


def chosen_file(v: dict, bundled: dict, need_upload: str) -> str:
    """The data file the form names: a bundled one (`bundled` maps the radio's value to its
    file) or the kept upload (`need_upload`: the text key that asks for one)."""
    if v["data.source"] == "upload":
        if not v["data.uploaded"]:
            raise PocketLLMError(t(v["lang"], need_upload))
        return v["data.uploaded"]
    return str(bundled[v["data.source"]])


def data_source(els: Elements, prefix: str, options: list[tuple[str, str]], default: str, file_types: list[str],
                elem_prefix: str):
    """The data: a radio of `options` ((text key, value) pairs, an upload last) and the upload box.
    Elements: data.source, data.upload, data.uploaded (the kept copy's path)."""
    L = els.ctx.page.text
    els.add("data.source", gr.Radio([(L(k), v) for k, v in options], value=default, label=L(f"{prefix}.source"),
                                    elem_id=f"{elem_prefix}-source"),
            label=f"{prefix}.source", choices=options)
    els.add("data.upload", gr.File(label=L(f"{prefix}.upload"), file_types=file_types, type="filepath",
                                   elem_id=f"{elem_prefix}-upload"), label=f"{prefix}.upload")
    els.add("data.uploaded", gr.State(""))
    corpora = els.ctx.state.corpora
    # Only a copy the page kept may be read: a path sent by hand (an API call) names no other file.
    els.guard("data.uploaded", lambda path: path if kept_copy(corpora, path) else "")


def kept_copy(corpora: Path, path) -> bool:
    try:
        return bool(path) and Path(path).resolve().parent == Path(corpora).resolve() and Path(path).is_file()
    except (OSError, ValueError, TypeError):
        return False


def base_picker(els: Elements, prefix: str, elem_prefix: str):
    """Elements: model.base, model.refresh, model.facts, model.picked ("yes" once the learner chose
    a base by hand: until then the newest trained model is offered as it appears)."""
    L, state = els.ctx.page.text, els.ctx.state
    choices = base_choices(state, els.ctx.page.lang)
    with gr.Row(equal_height=False):
        els.add("model.base", gr.Dropdown(choices, value=default_base(choices), label=L(f"{prefix}.base"), scale=4,
                                          elem_id=f"{elem_prefix}-base", allow_custom_value=False),
                label=f"{prefix}.base")
        els.add("model.refresh", gr.Button(L("training.refresh"), size="sm", scale=1, min_width=80),
                value="training.refresh")
    els.add("model.facts", gr.Markdown(elem_id=f"{elem_prefix}-base-facts"))
    els.add("model.picked", gr.State(""))


def model_picker(els: Elements, name: str, label_key: str, elem_id: str):
    """A checkpoint dropdown with Refresh. Elements: `name`, `name`.refresh."""
    L = els.ctx.page.text
    with gr.Row(equal_height=False):
        els.add(name, gr.Dropdown([], label=L(label_key), scale=4, elem_id=elem_id, allow_custom_value=False),
                label=label_key)
        els.add(f"{name}.refresh", gr.Button(L("training.refresh"), size="sm", scale=1, min_width=80),
                value="training.refresh")


def run_buttons(els: Elements, prefix: str, elem_prefix: str, resume: bool = False) -> gr.Column:
    """Start, Stop (enabled only while a job runs), Continue (with `resume`), the status line
    and the live stats.  Returns an empty column for the settings saved by name."""
    L = els.ctx.page.text
    for name in STATE:
        els.add(name, gr.State(""))
    if "train.snapshots" not in els:  # (a tab whose settings did not place it: here, before Start)
        with gr.Row():
            snapshots_setting(els, elem_prefix)
    with gr.Row():
        els.add("run.start", gr.Button(L("training.start"), variant="primary", elem_id=f"{elem_prefix}-start"),
                value="training.start")
        els.add("run.stop", gr.Button(L("training.stop"), variant="secondary", interactive=False,
                                      elem_id=f"{elem_prefix}-stop"), value="training.stop")
        if resume:
            els.add("run.resume", gr.Button(L("training.resume"), interactive=False, elem_id=f"{elem_prefix}-resume"),
                    value="training.resume")
    els.add("run.status", gr.Markdown(elem_id=f"{elem_prefix}-status"))  # next to Start: what the click did
    saved = gr.Column()
    els.add("run.stats", gr.Markdown(elem_id=f"{elem_prefix}-stats"))
    return saved


def finetune_settings(els: Elements, elem_prefix: str, defaults: TrainSettings):
    """The training settings of a finetuning tab (elements: FINETUNE_TRAIN's, keep_best and
    patience), showing `defaults`: the core's for the task, so the page and the CLI agree."""
    page, d = els.ctx.page, defaults
    page.add(gr.Markdown(page.text("training.train_head")), value="training.train_head")
    with gr.Row():
        els.number("train.epochs", "training.epochs", d.epochs, 1, MAX_EPOCHS, elem_id=f"{elem_prefix}-epochs")
        els.number("train.max_steps", "training.max_steps", d.max_steps or 0, 0, MAX_STEPS,
                   elem_id=f"{elem_prefix}-max-steps")
        els.number("train.batch", "training.batch", d.batch_size, 1, MAX_BATCH, elem_id=f"{elem_prefix}-batch")
    with gr.Row():
        els.number("train.lr", "training.lr", d.lr, 0, MAX_LR, integer=False, elem_id=f"{elem_prefix}-lr")
        els.number("train.eval_every", "training.eval_every", d.eval_every, 0, MAX_EVERY,
                   elem_id=f"{elem_prefix}-eval")
        els.number("train.seed", "training.seed", d.seed, 0, MAX_TRAIN_SEED, elem_id=f"{elem_prefix}-seed")
    with gr.Row(equal_height=True):  # the best evaluation's weights are kept; patience stops a run early
        els.add("train.keep_best", gr.Checkbox(bool(getattr(d, "keep_best", True)),
                                               label=page.text("training.keep_best"),
                                               elem_id=f"{elem_prefix}-keep-best"), label="training.keep_best")
        els.number("train.patience", "training.patience", getattr(d, "patience", 0), 0, TRAIN_LIMITS["patience"],
                   elem_id=f"{elem_prefix}-patience")
        snapshots_setting(els, elem_prefix, d)


def snapshots_setting(els: Elements, elem_prefix: str, defaults: TrainSettings | None = None):
    """Keep snapshots along the run (to watch it learn in Generate's Look inside): automatic (the
    core's default: on for small models), on or off.  Element: train.snapshots."""
    page = els.ctx.page
    start = snapshots_value((defaults or TrainSettings()).snapshots)
    choices = [(f"training.snapshots_{k}", k) for k in SNAPSHOTS]
    return els.add("train.snapshots", gr.Dropdown([(page.text(key), k) for key, k in choices], value=start,
                                                  label=page.text("training.snapshots"),
                                                  info=page.text("training.snapshots_info"),
                                                  elem_id=f"{elem_prefix}-snapshots", allow_custom_value=False),
                   label="training.snapshots", info="training.snapshots_info", choices=choices)


def snapshots_value(setting) -> str:
    """TrainSettings.snapshots as the dropdown shows it."""
    return next((k for k, v in SNAPSHOTS.items() if v is setting), "auto")


def snapshots_of(value, lang="en") -> bool | None:
    """The dropdown's value as TrainSettings.snapshots (any endpoint can send anything)."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or value not in SNAPSHOTS:
        raise PocketLLMError(t(lang, "training.bad_snapshots"))
    return SNAPSHOTS[value]


def carry_snapshots(tab: "TrainingTab"):
    """A tab that lays out train.snapshots gets it carried both ways: into the settings built from its
    form (its own `settings_of` need not know it) and back into the form from a run's settings.  It
    joins the tab's `extra` (API: after the language, so a call that leaves it out gets the default)."""
    if "train.snapshots" not in tab.els or "train.snapshots" in tab.form:
        return  # no such box, or the tab's own settings_of reads it
    if "train.snapshots" not in tab.extra:  # a tab may place it among its extras (settings added after it)
        tab.extra = [*tab.extra, "train.snapshots"]
    settings_of, form_of = tab.settings_of, tab.form_of

    def with_snapshots(v: dict):
        settings = settings_of(v)
        if "train.snapshots" not in v:  # (a saved setting, an API call that leaves it out): the tab's own
            return settings
        train = dataclasses.replace(settings.train, snapshots=snapshots_of(v["train.snapshots"], v.get("lang")))
        return dataclasses.replace(settings, train=train)

    def with_snapshots_shown(settings) -> dict:
        train = getattr(settings, "train", None)
        shown = form_of(settings)
        return {**shown, "train.snapshots": snapshots_value(train.snapshots)} if train is not None else shown

    tab.settings_of, tab.form_of = with_snapshots, with_snapshots_shown


def finetune_train(els: Elements, v: dict, defaults: TrainSettings, **fixed) -> TrainSettings:
    """The finetuning tab's TrainSettings: its boxes (each checked, in the page's language) over the
    task's `defaults` (the core's), so what the page does not show is what the CLI does."""
    values = {field: els.read(v, name) for name, field in FINETUNE_TRAIN.items()}
    values["max_steps"] = values["max_steps"] or None  # 0: all the epochs
    # Not among the API's form values (they came later): a call that leaves them out gets the defaults.
    keep_best = bool(v.get("train.keep_best", defaults.keep_best))
    patience = els.read(v, "train.patience", default=0) if "train.patience" in v else defaults.patience
    return dataclasses.replace(defaults, **values, checkpoint_minutes=CHECKPOINT_MINUTES, keep_best=keep_best,
                               patience=patience, **fixed)


def finetune_values(train: TrainSettings) -> dict:
    return {**{name: getattr(train, field) or 0 for name, field in FINETUNE_TRAIN.items()},
            "train.keep_best": bool(train.keep_best), "train.patience": train.patience or 0}


def picked_model(els: Elements, v: dict, missing: str):
    """The checkpoint picked in "try it", loaded (only a checkpoint of the folder); `missing`:
    the text key that asks to pick one."""
    if not v["try.model"]:
        raise PocketLLMError(t(v["lang"], missing))
    return els.ctx.state.load(v["try.model"], v["lang"])


def epoch_of(view) -> int:
    return (view.last_step or {}).get("epoch", 0) + 1


def download_button(els: Elements, prefix: str, elem_prefix: str):
    L = els.ctx.page.text
    els.add("run.download", gr.DownloadButton(L(f"{prefix}.download"), visible=False,
                                              elem_id=f"{elem_prefix}-download"), label=f"{prefix}.download")


def command_box(els: Elements, elem_id: str):
    L = els.ctx.page.text
    with els.ctx.page.add(gr.Accordion(L("training.cli_head"), open=False), label="training.cli_head"):
        els.add("run.cli", gr.Code(language="shell", show_label=False, elem_id=elem_id, interactive=False,
                                   wrap_lines=True))


# ---- the tab's description ----------------------------------------------------------------
@dataclass
class TrainingTab:
    """What a training tab tells `wire_training` about itself."""
    kind: str                                   # the run folder's task ("pretrain", ...)
    els: Elements
    form: list[str]                             # the settings' elements, in the API's order
    settings_of: Callable[[dict], object]       # form values (and "lang") -> the core's settings
    form_of: Callable[[object], dict]           # settings -> form values (only what is known)
    settings_of_run: Callable[[object], object]  # a RunView -> its settings
    prepare: Callable                           # prepare_pretraining, ...
    draw: Callable[[object, dict], dict]        # a RunView, the tick's values -> the tab's live outputs
    blank: Callable[[dict], dict]               # the tick's values -> the live outputs when there is no run
    live: list[str]                             # the elements draw / blank fill, in the poll's API order
    extra: list[str] = field(default_factory=list)  # settings after the form (API: after lang; not saved by name)
    watch: list[str] = field(default_factory=list)  # more inputs of the tick (the poll's API: lang, then these)
    stats: Callable[[object, str], str] = None  # a RunView, lang -> the stats line's tab-specific end
    status: Callable[[object, str], str] = None  # a RunView, lang -> the status line (default: status_line)
    loaders: list = field(default_factory=list)  # (fn, outputs): computed from the form on load / language
    offer: tuple | None = None                  # (element, choices(state)): a finished run's model offered there
    saved_settings: gr.Column | None = None     # where the settings saved by name go

    @property
    def prefix(self) -> str:
        return self.kind


def stats_line(view, lang, extra: str = "") -> str:
    last = view.last_step
    if not last:
        return ""
    started = view.of_kind("started")
    total = started[-1].get("total_steps") if started else None
    budget = started[-1].get("budget_s") if started else None
    numbers = dict(step=last["step"], rate=f"{last['tokens_per_s']:,.0f}", elapsed=clock(last["elapsed"]),
                   eta=clock(last["eta"]) if view.status == "running" else "—", loss=f"{last['train_loss']:.3f}")
    if total is None and budget:  # a time budget: the clock ends the run, not a step count
        return t(lang, "training.stats_budget", minutes=f"{budget / 60:g}", **numbers) + extra
    return t(lang, "training.stats", total="?" if total is None else total, **numbers) + extra


def command_text(tab: TrainingTab, values: dict) -> str:
    """The command line of the form's settings (the core's `to_argv`), one flag a line; a
    comment when a value cannot be shown yet (Start says what is wrong)."""
    try:
        settings = tab.settings_of(values)
        settings.train.validate()  # the core's ranges: the page leaves them to it (a step count of -5)
        return shell_lines(["python", "-m", "pocketllm", *to_argv(settings)])
    except (PocketLLMError, ValueError, TypeError, OverflowError, OSError):
        return "# " + t(values.get("lang"), "training.cli_fix")


def buttons(tab: TrainingTab, view) -> dict:
    """Start while nothing runs, Stop while something does, Continue when the run shown can go on."""
    busy = tab.els.ctx.state.runner.current is not None
    out = {"run.start": gr.update(interactive=not busy),
           "run.stop": gr.update(interactive=busy, variant="stop" if busy else "secondary")}
    if "run.resume" in tab.els:
        out["run.resume"] = gr.update(interactive=not busy and view is not None and view.can_resume)
    return out


def button_names(tab: TrainingTab) -> list[str]:
    return [n for n in ("run.start", "run.stop", "run.resume") if n in tab.els]


def form_values(tab: TrainingTab, view) -> dict:
    """The form's values for the run in `view` (what its run.json says)."""
    try:
        return tab.form_of(tab.settings_of_run(view))
    except (ValueError, TypeError, OSError):  # an old or hand-edited run.json: the form stays
        return {}


def shown_form(tab: TrainingTab, values: dict, lang) -> dict:
    """`values` for the page: a base model the page lists only since it was built comes with
    the refreshed choices."""
    if "model.base" in values:
        return {**values, "model.base": gr.update(choices=base_choices(tab.els.ctx.state, lang),
                                                  value=values["model.base"])}
    return values


# ---- wiring -------------------------------------------------------------------------------
def wire_upload(els: Elements, api_name: str, suffixes: list[str], then=None, reset: dict | None = None):
    """An upload is kept (named by content) and picked; `then` = (fn, inputs, outputs) runs after."""
    state = els.ctx.state

    def on_upload(v):
        if not v["data.upload"]:
            return {}
        return {"data.uploaded": kept_upload(state, v["data.upload"], suffixes, v["lang"]),
                "data.source": "upload", **(reset or {})}

    event = els.on(els["data.upload"].upload, on_upload, ["data.upload", "lang"],
                   ["data.uploaded", "data.source", *(reset or {})], api_name=api_name)
    if then:
        fn, inputs, outputs = then
        event.then(els.handler(fn, inputs, outputs), [els[n] for n in inputs], [els[n] for n in outputs])


def kept_upload(state, path, suffixes: list[str], lang) -> str:
    """`keep_upload`, with a copy that failed (a full disk: nothing is kept) said as the page says it:
    the upload could not be saved, why, and what to do, in the page's language."""
    try:
        return keep_upload(state, path, suffixes, fallback="data")
    except (PocketLLMError, OSError) as exc:
        refusal = upload_refusal(exc, path, lang)
        if refusal is None:
            raise
        raise refusal from None


def on_form_change(els: Elements, kind, names: list[str], fn, inputs: list[str], outputs: list[str],
                   status: str | None = None):
    """`fn` when any of `names` changes, except while a fresh page is still loading: its load fills
    the form with the settings of the run it shows and computes `fn` from those (`wire_training`);
    a result from the form's defaults could land after it."""
    def unless_loading(v):
        return fn(v) if v["run.loaded"] else {}
    unless_loading.__name__ = fn.__name__
    els.on([els[n].change for n in names], unless_loading, [*inputs, "run.loaded"], outputs, status=status,
           show_progress="hidden", trigger_mode="always_last")


def wire_base_picker(els: Elements, kind, api_name: str) -> list:
    """Refresh (and opening the tab) fill the base-model dropdown; a choice shows its facts.
    Until the learner picks a base by hand, the newest trained model is the choice (a model
    pretrained a minute ago, not the fresh random one the page started with).  Returns both as
    the tab's loaders: on load they follow the base of the run on view, not the form's default."""
    state = els.ctx.state

    def on_refresh(v):
        choices = base_choices(state, v["lang"])
        current = v["model.base"] if v.get("model.picked") else None
        chosen = default_base(choices, current)
        # The facts come along: a value set by a handler fires no change event when the browser
        # already shows it, and the facts of the page's first choice would stay.
        return {"model.base": gr.update(choices=choices, value=chosen),
                "model.facts": base_facts(state, chosen, v["lang"])}

    def on_facts(v):
        return {"model.facts": base_facts(state, v["model.base"], v["lang"])}

    refresh_io = (["model.base", "model.picked", "lang"], ["model.base", "model.facts"])
    els.on(els["model.refresh"].click, on_refresh, *refresh_io, api_name=api_name)
    if els.ctx.tab is not None:
        els.on(els.ctx.tab.select, on_refresh, *refresh_io, show_progress="hidden")
    els["model.base"].input(lambda: "yes", None, els["model.picked"], show_progress="hidden")
    on_form_change(els, kind, ["model.base"], on_facts, ["model.base", "lang"], ["model.facts"])
    return [(on_refresh, ["model.base", "model.facts"])]  # (its facts are the chosen base's)


def wire_model_picker(els: Elements, name: str, choices: Callable, api_name: str):
    """Refresh (and page load) fill the dropdown: the current choice stays while it is offered."""
    state = els.ctx.state

    def on_refresh(v):
        return {name: choice_update(choices(state), v[name])}

    els.on(els[f"{name}.refresh"].click, on_refresh, [name], [name], api_name=api_name)
    els.on_load(on_refresh, [name], [name])


def wire_training(tab: TrainingTab):
    """Start, Stop, the live view, the form of the run on view, the command line, saved settings."""
    carry_snapshots(tab)
    els, ctx, state, kind = tab.els, tab.els.ctx, tab.els.ctx.state, tab.kind
    timer = gr.Timer(1.0)

    def on_start(v):
        settings = dataclasses.replace(tab.settings_of(v), run_dir=str(default_run_dir(kind, state.checkpoints)))
        return launch(state, kind, lambda stop_event: tab.prepare(settings, stop_event), v["lang"], tab.prefix)

    def on_stop(v):
        return {"run.status": stop_job(state, v["lang"])}

    # API: the form's values, then the language (as gradio_client calls it); the status comes back.
    settings_in = [*tab.form, "lang", *tab.extra]
    els.on(els["run.start"].click, on_start, settings_in, ["run.dir", "run.status"], status="run.status",
           api_name=f"{kind}_start", concurrency_limit=1, concurrency_id="start_job")
    els.on(els["run.stop"].click, on_stop, ["lang"], ["run.status"], api_name=f"{kind}_stop", concurrency_limit=None)

    # ---- the live view: the run folder, read every second ----------------------------------
    def on_tick(v):
        lang, shown = v["lang"], v["run.dir"]
        current = follow(state, kind, shown)
        if not current:
            sig = f"none|{lang}|{state.runner.current is not None}"
            if sig == v["run.seen"]:
                return {}
            return {"run.dir": "", "run.seen": sig, **tab.blank(v), "run.stats": "", "run.status": "",
                    "run.download": gr.update(value=None, visible=False), **buttons(tab, None)}
        sig = tick_signature(state, current, lang)
        if sig == v["run.seen"]:
            return {}
        view = state.run_view(Path(current))
        model = ended_model(state, view)
        out = {"run.dir": current, "run.seen": sig, **tab.draw(view, v),
               "run.stats": stats_line(view, lang, tab.stats(view, lang) if tab.stats and view.last_step else ""),
               "run.status": tab.status(view, lang) if tab.status else status_line(view, lang, tab.prefix),
               "run.download": gr.update(value=str(download_copy(state, view, model)) if model else None,
                                         visible=model is not None),
               **buttons(tab, view)}
        if current != shown:  # another run came into view (a reload, a run started elsewhere)
            out.update(shown_form(tab, form_values(tab, view), lang))
        if tab.offer and model is not None and str(model) != v["run.offered"]:
            name, choices = tab.offer  # the new model, offered once in the "try it" section
            out.update({"run.offered": str(model), name: choice_update(choices(state), str(model))})
        return out

    tick_outputs = [*STATE, *tab.live, *tab.form, *tab.extra, *button_names(tab)]
    els.on(timer.tick, on_tick, ["run.dir", "run.seen", "run.offered", "lang", *tab.watch], tick_outputs,
           show_progress="hidden", concurrency_limit=None, api_name=f"{kind}_poll")
    ctx.lang.change(lambda: "", None, els["run.seen"])  # redrawn in the new language on the next tick

    # ---- the command line ------------------------------------------------------------------
    def on_cli(v):
        return {"run.cli": command_text(tab, v)}

    els.on([els[n].change for n in (*tab.form, *tab.extra)], on_cli, settings_in, ["run.cli"],
           show_progress="hidden", trigger_mode="always_last", api_name=f"{kind}_command")

    # ---- the form on load: the run on view's settings first, then what follows from them --------
    def on_load(v):
        out = {}
        if not v["run.loaded"]:  # a fresh page (not a language switch): the settings of the run it shows
            current = follow(state, kind, v["run.dir"])
            if current:
                filled = form_values(tab, state.run_view(Path(current)))
                if "model.picked" in els and "model.base" in filled:
                    filled["model.picked"] = "yes"  # the run's base stays on view
                v = {**v, **filled}  # what follows is computed from them, not from the values sent
                out = {"run.dir": current, **shown_form(tab, filled, v["lang"])}
        for fn, _ in loaders:  # (one return: a generator's later Plot and Dataframe updates were lost)
            try:
                out.update(fn(v))
            except Exception:  # noqa: BLE001  (one part failing must not keep the form from working)
                log.exception("a part of the %s tab could not be filled in on load", kind)
        return {**out, "run.loaded": "yes"}

    loaders = [*tab.loaders, (on_cli, ["run.cli"])]
    picked = ["model.picked"] if "model.picked" in els else []
    outputs = list(dict.fromkeys(["run.dir", *tab.form, *tab.extra, *(n for _, names in loaders for n in names),
                                  *picked, "run.loaded"]))
    els.on_load(on_load, ["run.dir", "run.loaded", *settings_in, *picked], outputs)

    # ---- settings saved by name (ui/experiments.py lays them out) -------------------------------
    if tab.saved_settings is not None:
        def to_settings(*values):
            *values, lang = values
            return tab.settings_of({**dict(zip(tab.form, values)), "lang": lang})

        def fill(settings) -> list:
            filled = shown_form(tab, tab.form_of(settings), ctx.page.lang)
            return [filled.get(n, gr.skip()) for n in tab.form]

        with tab.saved_settings:
            settings_section(ctx, kind, [els[n] for n in tab.form], to_settings, fill)
