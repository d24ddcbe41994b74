"""Classify tab: a table of labelled texts (bundled spam data or an uploaded CSV/TSV) with its
class balance; a base model and what trains; Start / Stop with live loss and accuracy (both
against steps) read from the run folder; the test report and confusion matrix; a box to
classify a message; the checkpoint to download; and the command line that repeats the run.
Built from `ui/training_parts.py`."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from pocketllm import (DEFAULT_TABLE, ClassifySettings, PocketLLMError, TaskKind, classify, prepare_classification,
                       read_table, task_kind)

from .. import plots
from ..elements import Elements
from ..errors import message_of
from ..i18n import t
from ..limits import (COLUMN_CHARS, MAX_CONTEXT, MAX_LAYERS, MAX_LORA_ALPHA, MAX_LORA_RANK, PROMPT_CHARS,
                      text_cap)
from ..runs import base_model, base_value, ended_model, source_values
from ..training_parts import (FINETUNE_TRAIN, TrainingTab, chosen_file, command_box, epoch_of, finetune_columns,
                              finetune_settings, finetune_train, finetune_values, picked_model, run_buttons,
                              try_columns, wire_base_picker, wire_model_picker, wire_training, wire_upload)

KIND = TaskKind.CLASSIFY
TRAINABLE = ["auto", "head", "last", "all", "lora"]  # auto: the core's choice for the base's size
PREVIEW_ROWS = 6
TEXT_PREVIEW = 120
METRICS = ("precision", "recall", "f1")
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "bar"}
FORM = ["data.source", "data.uploaded", "data.text_column", "data.label_column", "data.balance", "model.base",
        "model.trainable", "model.last_n", "model.lora_rank", "model.lora_alpha", "model.max_length", *FINETUNE_TRAIN]


def table_path(v) -> str:
    return chosen_file(v, {"bundled": DEFAULT_TABLE}, "classify.preview_need_upload")


def column_spec(value):
    if value in (None, ""):
        return None
    return str(value)[:COLUMN_CHARS]  # a name typed in the box: echoed in messages, so kept short


def trainable_spec(kind, last_n) -> str | None:
    """The core's `trainable` for the radio's choice (None: the core decides by the base's size)."""
    if kind == "last":
        return f"last:{max(1, int(last_n or 1))}"
    return None if kind in (None, "", "auto") else kind


def percent(x) -> str:
    """Every score of the tab in one format."""
    return "—" if x is None else f"{x:.1%}"


def report_parts(results: dict, lang) -> dict:
    """The summary, per-class table and confusion matrix of a finished run (blank without one)."""
    columns = [t(lang, f"classify.col_{c}") for c in ("class", *METRICS, "support")]
    report = results.get("test")
    if not report:
        return {"results.summary": t(lang, "classify.no_results"), "results.per_class": pd.DataFrame(columns=columns),
                "results.confusion": plots.confusion_figure(None, lang)}
    summary = t(lang, "classify.report", acc=percent(report["accuracy"]), n=report["examples"],
                f1=percent(report["macro_f1"]), val=percent(results.get("val_accuracy")))
    supports = [m["support"] for m in report["per_class"].values()]
    chance = max(supports) / max(1, sum(supports)) if supports else 0.0  # always answering the commonest class
    if report["accuracy"] <= chance + 0.05:
        summary += t(lang, "classify.near_chance", chance=percent(chance))
    grew = results.get("new_tokens") or {}
    if grew.get("added"):
        before, after = grew["tokens_per_char"]
        summary += t(lang, "classify.grew", added=f"{grew['added']:,}", before=f"{before:.2f}", after=f"{after:.2f}")
    rows = [[name, *(percent(m[k]) for k in METRICS), m["support"]] for name, m in report["per_class"].items()]
    return {"results.summary": summary, "results.per_class": pd.DataFrame(rows, columns=columns),
            "results.confusion": plots.confusion_figure(report, lang)}


NEW_TOKEN_SIZES = (1000, 2000, 4000, 8000)  # the box's numbers, beside automatic and none


def new_tokens_value(n: int | None) -> str:
    return "auto" if n is None else str(n)


def new_tokens_of(value) -> int | None:
    """The box's value as the core's `new_tokens`: None for automatic, else the number (checked by the core)."""
    if value in (None, "", "auto"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return value  # the core's coded message says what is wrong


def new_tokens_choices(L) -> list[tuple[str, str]]:
    """(label, value) for the new-words box; with L=None the labels are string keys or plain numbers."""
    name = (lambda key: key) if L is None else L
    return [(name("classify.new_tokens_auto"), "auto"), (name("classify.new_tokens_off"), "0"),
            *((f"{n:,}", str(n)) for n in NEW_TOKEN_SIZES)]


def classifier_choices(state) -> list[tuple[str, str]]:
    return [(f"{r['name']}  ·  {r['created']}", r["path"])  # (the catalog's score is English only)
            for r in state.models_table() if task_kind(r["task"]) is TaskKind.CLASSIFY]


# ---- building the tab ----------------------------------------------------------------------
def build(ctx):
    page, state = ctx.page, ctx.state
    L = page.text
    els = Elements(ctx)

    data_column, model_column = finetune_columns(els, "classify", "cls", [".csv", ".tsv", ".txt"])
    with data_column:
        with gr.Row():
            for name, elem in (("data.text_column", "cls-text-col"), ("data.label_column", "cls-label-col")):
                key = name.replace("data.", "classify.")
                els.add(name, gr.Dropdown([(L("classify.detected"), "")], value="", label=L(key), elem_id=elem,
                                          allow_custom_value=True), label=key)
        els.add("data.balance", gr.Checkbox(False, label=L("classify.balance"), elem_id="cls-balance"),
                label="classify.balance")
        els.add("data.preview", gr.Markdown(elem_id="cls-preview"))
        els.add("data.balance_plot", gr.Plot(show_label=False, elem_id="cls-balance-plot"))
        els.add("data.examples", gr.Dataframe(interactive=False, wrap=True, max_height=260, elem_id="cls-examples"))
    defaults = ClassifySettings()  # every box starts from the core's settings
    start_kind, _, start_n = (defaults.trainable or "auto").partition(":")
    with model_column:
        els.add("model.trainable", gr.Radio([(L(f"classify.tr_{k}"), k) for k in TRAINABLE], value=start_kind,
                                            label=L("classify.trainable"), elem_id="cls-trainable"),
                label="classify.trainable", choices=[(f"classify.tr_{k}", k) for k in TRAINABLE])
        with gr.Row():
            els.number("model.last_n", "classify.last_n", int(start_n or 1), 1, MAX_LAYERS, elem_id="cls-last-n")
            els.number("model.lora_rank", "classify.lora_rank", defaults.lora_rank, 1, MAX_LORA_RANK,
                       elem_id="cls-rank")
            els.number("model.lora_alpha", "classify.lora_alpha", defaults.lora_alpha, 0, MAX_LORA_ALPHA,
                       integer=False, elem_id="cls-alpha")
        els.number("model.max_length", "classify.max_length", defaults.max_length or 0, 0, MAX_CONTEXT,
                   elem_id="cls-max-length")
        els.add("model.new_tokens", gr.Dropdown(new_tokens_choices(L), value=new_tokens_value(defaults.new_tokens),
                                                label=L("classify.new_tokens"), elem_id="cls-new-tokens"),
                label="classify.new_tokens", choices=new_tokens_choices(None))
        finetune_settings(els, "cls", defaults.train)
        saved_settings = run_buttons(els, "classify", "cls")

    with gr.Row(equal_height=False):
        els.add("live.loss", gr.Plot(plots.empty_figure(L("plots.no_points")), show_label=False, elem_id="cls-loss"))
        els.add("live.accuracy", gr.Plot(plots.empty_figure(L("plots.no_points")), show_label=False,
                                         elem_id="cls-accuracy"))
    page.add(gr.Markdown(L("classify.results_head")), value="classify.results_head")
    els.add("results.summary", gr.Markdown(L("classify.no_results"), elem_id="cls-report"))
    with gr.Row(equal_height=False):
        els.add("results.per_class", gr.Dataframe(interactive=False, elem_id="cls-per-class"))
        els.add("results.confusion", gr.Plot(plots.confusion_figure(None, page.lang), show_label=False,
                                             elem_id="cls-confusion"))
    try_left, try_right = try_columns(els, "classify", "cls", "classify.classifier", scales=(3, 2))
    with try_left:
        els.add("try.message", gr.Textbox(lines=3, label=L("classify.message"),
                                          placeholder=L("classify.message_placeholder"), elem_id="cls-message",
                                          max_length=PROMPT_CHARS),
                label="classify.message", placeholder="classify.message_placeholder")
        els.add("try.go", gr.Button(L("classify.go"), variant="primary", elem_id="cls-go"), value="classify.go")
    with try_right:
        els.add("try.result", gr.Label(label=L("classify.result"), elem_id="cls-result"), label="classify.result")
        els.add("try.note", gr.Markdown(elem_id="cls-result-note"))
    command_box(els, "cls-cli")

    # ---- data -------------------------------------------------------------------------
    def preview_blank(message, lang) -> dict:
        return {"data.preview": message, "data.examples": pd.DataFrame(),
                "data.balance_plot": plots.empty_figure(t(lang, "plots.no_points"), height=240)}

    def on_preview(v):
        lang = v["lang"]
        if v["data.source"] == "upload" and not v["data.uploaded"]:
            return preview_blank(t(lang, "classify.preview_need_upload"), lang)
        path = table_path(v)
        text_col, label_col = v["data.text_column"], v["data.label_column"]
        try:
            table = read_table(path, column_spec(text_col), column_spec(label_col))
        except PocketLLMError as exc:
            gr.Warning(message_of(exc, lang), title=t(lang, "common.warning_title"))
            return preview_blank(t(lang, "classify.preview_problem", message=message_of(exc, lang)), lang)
        before = table.balance()
        lines = [t(lang, "classify.preview", name=Path(path).name, rows=f"{table.rows:,}",
                   examples=f"{len(table):,}", classes=len(table.labels), text=table.text_column,
                   label=table.label_column,
                   delimiter=t(lang, f"classify.delim_{DELIMITERS[table.delimiter]}") if table.delimiter in DELIMITERS
                   else table.delimiter,
                   header=t(lang, "classify.header_yes" if table.header else "classify.header_no"))]
        if v["data.source"] == "bundled":
            lines.append(t(lang, "classify.bundled_note"))
        if table.dropped:
            lines.append(t(lang, "classify.dropped",
                           items=", ".join(f"{n} × {why}" for why, n in table.dropped.items())))
        else:
            lines.append(t(lang, "classify.dropped_none"))
        after = None
        smallest, largest = min(before.values()), max(before.values())
        if v["data.balance"]:
            after = {name: smallest for name in before}
            lines.append(t(lang, "classify.balanced_to", n=f"{smallest:,}", total=f"{smallest * len(before):,}"))
        elif largest > 1.5 * smallest:
            lines.append(t(lang, "classify.unbalanced_note", ratio=f"{largest / max(1, smallest):.1f}"))
        sample = pd.DataFrame({t(lang, "classify.col_label"): [table.labels[i] for i in table.label_ids[:PREVIEW_ROWS]],
                               t(lang, "classify.col_text"): [s if len(s) <= TEXT_PREVIEW else s[:TEXT_PREVIEW] + "…"
                                                             for s in table.texts[:PREVIEW_ROWS]]})
        names = list(table.columns)
        detected = [(t(lang, "classify.detected"), "")] + [(n, n) for n in names]
        return {"data.preview": "\n\n".join(lines),
                "data.balance_plot": plots.class_balance_figure(before, after, lang),
                "data.examples": sample,
                "data.text_column": gr.update(choices=detected, value=text_col if text_col in names else ""),
                "data.label_column": gr.update(choices=detected, value=label_col if label_col in names else "")}

    preview_io = (["data.source", "data.uploaded", "data.text_column", "data.label_column", "data.balance", "lang"],
                  ["data.preview", "data.balance_plot", "data.examples", "data.text_column", "data.label_column"])
    # A new file: its columns are detected afresh.
    wire_upload(els, "classify_upload", [".csv", ".tsv", ".txt"], then=(on_preview, *preview_io),
                reset={"data.text_column": gr.update(value=""), "data.label_column": gr.update(value="")})
    els.on([els[n].input for n in ("data.source", "data.text_column", "data.label_column", "data.balance")],
           on_preview, *preview_io, status="data.preview", show_progress="hidden")
    preview_api = gr.Button(visible=False)  # the same preview for tests and scripts
    els.on(preview_api.click, on_preview, *preview_io, status="data.preview", api_name="classify_preview")
    base_loaders = wire_base_picker(els, KIND, "classify_bases")

    # ---- the form and the core's settings -----------------------------------------------
    def settings_of(v) -> ClassifySettings:
        base_path, preset = base_model(state, v["model.base"], v["lang"])
        return ClassifySettings(
            data_path=table_path(v), text_column=column_spec(v["data.text_column"]),
            label_column=column_spec(v["data.label_column"]), balance=bool(v["data.balance"]),
            base_model=base_path, config=preset,
            trainable=trainable_spec(v["model.trainable"], els.read(v, "model.last_n", default=1)),
            lora_rank=els.read(v, "model.lora_rank", default=defaults.lora_rank),
            lora_alpha=els.read(v, "model.lora_alpha", default=defaults.lora_alpha),
            max_length=els.read(v, "model.max_length", default=0) or None,
            new_tokens=new_tokens_of(v.get("model.new_tokens")),  # (absent where only the form is read)
            train=finetune_train(els, v, defaults.train))

    def form_of(settings: ClassifySettings) -> dict:
        kind, _, n = (settings.trainable or "auto").partition(":")
        out = {**source_values(state, settings.data_path, {"bundled": DEFAULT_TABLE}), **base_value(settings),
               "data.balance": bool(settings.balance), "model.trainable": kind,
               "model.lora_rank": settings.lora_rank, "model.lora_alpha": settings.lora_alpha,
               "model.max_length": settings.max_length or 0, "model.new_tokens": new_tokens_value(settings.new_tokens),
               **finetune_values(settings.train)}
        if settings.text_column:
            out["data.text_column"] = settings.text_column
        if settings.label_column:
            out["data.label_column"] = settings.label_column
        if n.isdigit():
            out["model.last_n"] = int(n)
        return out

    def draw(view, v) -> dict:
        lang, ended = v["lang"], ended_model(state, view) is not None
        results = ((view.end or {}).get("results") or view.results) if ended else {}
        return {"live.loss": plots.loss_figure(view.events, lang, x="step", smooth=True),
                "live.accuracy": plots.accuracy_figure(view.events, lang, title=t(lang, "classify.plot_accuracy")),
                **report_parts(results, lang)}

    def blank(v) -> dict:
        empty = plots.empty_figure(t(v["lang"], "plots.no_points"))
        return {"live.loss": empty, "live.accuracy": empty, **report_parts({}, v["lang"])}

    def stats(view, lang) -> str:
        evals = [e for e in view.of_kind("eval") if "accuracy" in e.get("val", {})]
        acc = t(lang, "classify.stats_acc", acc=percent(evals[-1]["val"]["accuracy"])) if evals else ""
        return t(lang, "classify.stats_epoch", epoch=epoch_of(view)) + acc

    wire_training(TrainingTab(
        kind=KIND, els=els, form=FORM, settings_of=settings_of, form_of=form_of,
        settings_of_run=lambda view: ClassifySettings.from_dict(view.settings),
        prepare=prepare_classification, draw=draw, blank=blank,
        live=["live.loss", "live.accuracy", "run.stats", "run.status", "results.summary", "results.per_class",
              "results.confusion", "run.download", "try.model"],
        # API order: what came later goes later (a call that leaves the newest out gets its default)
        extra=["train.keep_best", "train.patience", "train.snapshots", "model.new_tokens"], stats=stats,
        loaders=[(on_preview, preview_io[1]), *base_loaders], offer=("try.model", classifier_choices),
        saved_settings=saved_settings))

    # ---- classify a message --------------------------------------------------------------------
    def on_classify(v):
        lang, ckpt = v["lang"], picked_model(els, v, "classify.no_classifier")
        if task_kind(ckpt.task_type) is not TaskKind.CLASSIFY:
            raise PocketLLMError(t(lang, "classify.not_a_classifier", name=Path(v["try.model"]).name,
                                   task=ckpt.task_type))
        text, cut = text_cap(v["try.message"], PROMPT_CHARS, keep="start")
        if not text.strip():
            raise PocketLLMError(t(lang, "classify.empty_message"))
        out = classify(ckpt, text, ckpt.task.get("labels"))  # with the checkpoint's own tokenizer
        note = t(lang, "common.text_cut_start", limit=f"{PROMPT_CHARS:,}", cut=f"{cut:,}") if cut else ""
        return {"try.result": dict(out["probs"]), "try.note": note}  # the best on top, every class's bar

    wire_model_picker(els, "try.model", classifier_choices, "classify_models")
    classify_io = (["try.model", "try.message", "lang"], ["try.result", "try.note"])
    els.on(els["try.go"].click, on_classify, *classify_io, status="try.note", api_name="classify_message",
           concurrency_id="model_cpu")
    els.on(els["try.message"].submit, on_classify, *classify_io, status="try.note", concurrency_id="model_cpu")
