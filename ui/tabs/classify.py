"""Classify tab: a table of labelled texts (bundled spam data or an uploaded CSV/TSV) with its
class balance; a base model and what trains; Start / Stop with live loss and accuracy read
from the run folder; the test report and confusion matrix; a box to classify a message;
the checkpoint to download; and the command line that repeats the run."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from pocketllm import (DEFAULT_TABLE, ClassifySettings, PocketLLMError, TrainSettings, classify, default_run_dir,
                       prepare_classification, read_table)

import dataclasses

from .. import plots
from ..experiments import settings_section
from ..errors import friendly
from ..i18n import t
from ..limits import (COLUMN_CHARS, MAX_BATCH, MAX_CONTEXT, MAX_EPOCHS, MAX_EVERY, MAX_LAYERS, MAX_LORA_ALPHA,
                      MAX_LORA_RANK, MAX_LR, MAX_STEPS, MAX_TRAIN_SEED, PROMPT_CHARS, Number,
                      real, text_cap, whole)
from ..runs import (CHECKPOINT_MINUTES, saved_source_and_base, base_choices, base_facts, base_model, clock, default_base, ended_model,
                    follow, keep_upload, launch, safe_cli, shell_lines, split_base, status_line, stop_job,
                    tick_signature, wire_base_picker)

KIND = "classify"
TRAINABLE = ["head", "last", "all", "lora"]
PREVIEW_ROWS = 6
TEXT_PREVIEW = 120


# ---- the table ---------------------------------------------------------------------
def table_path(source, uploaded) -> str:
    if source == "upload":
        if not uploaded:
            raise PocketLLMError("No table uploaded yet: upload a CSV or TSV file, or pick the bundled one.")
        return uploaded
    return str(DEFAULT_TABLE)


def column_names(table) -> list[str]:
    """Every column of the table, as read_table names them (header names, or "column N")."""
    return list(table.columns)


def column_spec(value):
    if value in (None, ""):
        return None
    return str(value)[:COLUMN_CHARS]  # a name typed in the box: echoed in messages, so kept short


# ---- the command line -----------------------------------------------------------------
@safe_cli
def cli_command(state, source, uploaded, text_col, label_col, balance, base, trainable, last_n, rank, alpha,
                max_length, epochs, max_steps, batch, lr, eval_every, seed) -> str:
    try:
        data = table_path(source, uploaded)
    except PocketLLMError:
        data = "your_table.csv"
    args = ["python", "-m", "pocketllm", "classify-train", "--data_path", data]
    if column_spec(text_col):
        args += ["--text_column", text_col]
    if column_spec(label_col):
        args += ["--label_column", label_col]
    if balance:
        args.append("--balance")
    try:
        base_path, preset = split_base(base)
    except PocketLLMError:
        base_path, preset = None, "cpu-tiny"
    args += ["--base_model", base_path] if base_path else ["--config", preset]
    spec = trainable_spec(trainable, last_n)
    args += ["--trainable", spec]
    if spec == "lora":
        args += ["--lora_rank", str(int(rank or 8)), "--lora_alpha", f"{float(alpha or 16):g}"]
    if int(max_length or 0) > 0:
        args += ["--max_length", str(int(max_length))]
    args += ["--epochs", str(int(epochs or 1))]
    if int(max_steps or 0) > 0:
        args += ["--max_steps", str(int(max_steps))]
    args += ["--batch_size", str(int(batch or 8)), "--lr", f"{float(lr or 0):g}",
             "--eval_every", str(int(eval_every or 0)), "--seed", str(int(seed or 0)),
             "--run_dir", str(state.checkpoints / "my-classifier")]
    return shell_lines(args)


def trainable_spec(kind, last_n) -> str:
    if kind == "last":
        return f"last:{max(1, int(last_n or 1))}"
    return kind or "last"


# ---- reading a run ----------------------------------------------------------------------
def stats_line(view, lang) -> str:
    last = view.last_step
    if not last:
        return ""
    started = view.of_kind("started")
    total = started[-1]["total_steps"] if started else "?"
    evals = [e for e in view.of_kind("eval") if "accuracy" in e.get("val", {})]
    acc = t(lang, "classify.stats_acc", acc=f"{evals[-1]['val']['accuracy']:.1%}") if evals else ""
    return t(lang, "classify.stats", step=last["step"], total=total, epoch=last["epoch"] + 1,
             rate=f"{last['tokens_per_s']:,.0f}", elapsed=clock(last["elapsed"]),
             eta=clock(last["eta"]) if view.status == "running" else "—", loss=f"{last['train_loss']:.3f}",
             acc=acc)


def run_results(view) -> dict:
    end = view.end or {}
    return end.get("results") or view.results


def report_parts(results: dict, lang):
    """(summary markdown, per-class table, confusion figure) of a finished run."""
    report = results.get("test")
    if not report:
        empty = pd.DataFrame(columns=[t(lang, f"classify.col_{c}") for c in
                                      ("class", "precision", "recall", "f1", "support")])
        return t(lang, "classify.no_results"), empty, plots.confusion_figure(None, lang)
    val = results.get("val_accuracy")
    summary = t(lang, "classify.report", acc=f"{report['accuracy']:.2%}", n=report["examples"],
                f1=f"{report['macro_f1']:.3f}", val=f"{val:.2%}" if val is not None else "—")
    rows = [{t(lang, "classify.col_class"): name,
             t(lang, "classify.col_precision"): round(m["precision"], 3),
             t(lang, "classify.col_recall"): round(m["recall"], 3),
             t(lang, "classify.col_f1"): round(m["f1"], 3),
             t(lang, "classify.col_support"): m["support"]} for name, m in report["per_class"].items()]
    return summary, pd.DataFrame(rows), plots.confusion_figure(report, lang)


def accuracy_figure(events, lang):
    fig = plots.accuracy_figure(events, lang)
    if fig.data:  # the shared figure is titled with the metric's key; say it in the page's language
        fig.update_layout(title_text=t(lang, "classify.plot_accuracy"))
        fig.update_yaxes(title=t(lang, "classify.plot_accuracy"))
    return fig


def classifier_choices(state) -> list[tuple[str, str]]:
    return [(f"{r['name']}  ·  {r['score'] or r['created']}", r["path"])
            for r in state.models_table() if r["task"] == "classifier"]


# ---- building the tab ----------------------------------------------------------------------
def build(ctx):
    page, state = ctx.page, ctx.state
    L = page.text
    choices0 = base_choices(state, page.lang)

    page.add(gr.Markdown(L("classify.intro")), value="classify.intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            page.add(gr.Markdown(L("classify.data_head")), value="classify.data_head")
            source = page.add(gr.Radio([(L("classify.src_bundled"), "bundled"), (L("classify.src_upload"), "upload")],
                                       value="bundled", label=L("classify.source"), elem_id="cls-source"),
                              label="classify.source",
                              choices=[("classify.src_bundled", "bundled"), ("classify.src_upload", "upload")])
            upload = page.add(gr.File(label=L("classify.upload"), file_types=[".csv", ".tsv", ".txt"],
                                      type="filepath", elem_id="cls-upload"), label="classify.upload")
            uploaded = gr.State("")
            with gr.Row():
                text_col = page.add(gr.Dropdown([(L("classify.detected"), "")], value="", label=L("classify.text_column"),
                                                elem_id="cls-text-col", allow_custom_value=True), label="classify.text_column")
                label_col = page.add(gr.Dropdown([(L("classify.detected"), "")], value="",
                                                 label=L("classify.label_column"), elem_id="cls-label-col",
                                                 allow_custom_value=True),
                                     label="classify.label_column")
            balance = page.add(gr.Checkbox(False, label=L("classify.balance"), elem_id="cls-balance"),
                               label="classify.balance")
            preview = gr.Markdown(elem_id="cls-preview")
            balance_plot = gr.Plot(show_label=False, elem_id="cls-balance-plot")
            examples = gr.Dataframe(interactive=False, wrap=True, max_height=260, elem_id="cls-examples")
        with gr.Column(scale=4, min_width=300):
            page.add(gr.Markdown(L("classify.model_head")), value="classify.model_head")
            with gr.Row(equal_height=False):
                base = page.add(gr.Dropdown(choices0, value=default_base(choices0), label=L("classify.base"),
                                            scale=4, elem_id="cls-base", allow_custom_value=False), label="classify.base")
                refresh = page.add(gr.Button(L("classify.refresh"), size="sm", scale=1, min_width=80),
                                   value="classify.refresh")
            facts = gr.Markdown(elem_id="cls-base-facts")
            trainable = page.add(gr.Radio([(L(f"classify.tr_{k}"), k) for k in TRAINABLE], value="last",
                                          label=L("classify.trainable"), elem_id="cls-trainable"),
                                 label="classify.trainable", choices=[(f"classify.tr_{k}", k) for k in TRAINABLE])
            with gr.Row():
                last_n = page.add(Number(1, label=L("classify.last_n"), precision=0, minimum=1, maximum=MAX_LAYERS,
                                            elem_id="cls-last-n"), label="classify.last_n")
                rank = page.add(Number(8, label=L("classify.lora_rank"), precision=0, minimum=1, maximum=MAX_LORA_RANK,
                                          elem_id="cls-rank"), label="classify.lora_rank")
                alpha = page.add(Number(16, label=L("classify.lora_alpha"), minimum=0, maximum=MAX_LORA_ALPHA,
                                        elem_id="cls-alpha"),
                                 label="classify.lora_alpha")
            max_length = page.add(Number(0, label=L("classify.max_length"), precision=0, minimum=0, maximum=MAX_CONTEXT,
                                            elem_id="cls-max-length"), label="classify.max_length")
            page.add(gr.Markdown(L("classify.train_head")), value="classify.train_head")
            with gr.Row():
                epochs = page.add(Number(1, label=L("classify.epochs"), precision=0, minimum=1, maximum=MAX_EPOCHS,
                                            elem_id="cls-epochs"), label="classify.epochs")
                max_steps = page.add(Number(0, label=L("classify.max_steps"), precision=0, minimum=0, maximum=MAX_STEPS,
                                               elem_id="cls-max-steps"), label="classify.max_steps")
                batch = page.add(Number(8, label=L("classify.batch"), precision=0, minimum=1, maximum=MAX_BATCH,
                                           elem_id="cls-batch"), label="classify.batch")
            with gr.Row():
                lr = page.add(Number(5e-4, label=L("classify.lr"), minimum=0, maximum=MAX_LR, elem_id="cls-lr"), label="classify.lr")
                eval_every = page.add(Number(20, label=L("classify.eval_every"), precision=0, minimum=0, maximum=MAX_EVERY,
                                                elem_id="cls-eval"), label="classify.eval_every")
                seed = page.add(Number(123, label=L("classify.seed"), precision=0, minimum=0, maximum=MAX_TRAIN_SEED,
                                     elem_id="cls-seed"),
                                label="classify.seed")
            with gr.Row():
                start = page.add(gr.Button(L("classify.start"), variant="primary", elem_id="cls-start"),
                                 value="classify.start")
                stop = page.add(gr.Button(L("classify.stop"), variant="stop", elem_id="cls-stop"),
                                value="classify.stop")
            status = gr.Markdown(elem_id="cls-status")  # next to Start: what the click did
            saved_settings = gr.Column()  # settings saved by name: filled in below
            stats = gr.Markdown(elem_id="cls-stats")

    with gr.Row(equal_height=False):
        loss_plot = gr.Plot(plots.empty_figure(L("plots.no_points")), show_label=False, elem_id="cls-loss")
        acc_plot = gr.Plot(plots.empty_figure(L("plots.no_points")), show_label=False, elem_id="cls-accuracy")
    page.add(gr.Markdown(L("classify.results_head")), value="classify.results_head")
    report_md = gr.Markdown(L("classify.no_results"), elem_id="cls-report")
    with gr.Row(equal_height=False):
        per_class = gr.Dataframe(interactive=False, elem_id="cls-per-class")
        confusion = gr.Plot(plots.confusion_figure(None, page.lang), show_label=False, elem_id="cls-confusion")
    download = page.add(gr.DownloadButton(L("classify.download"), visible=False, elem_id="cls-download"),
                        label="classify.download")

    page.add(gr.Markdown(L("classify.try_head")), value="classify.try_head")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            with gr.Row(equal_height=False):
                classifier = page.add(gr.Dropdown([], label=L("classify.classifier"), scale=4, elem_id="cls-model",
                                                  allow_custom_value=False), label="classify.classifier")
                refresh_cls = page.add(gr.Button(L("classify.refresh"), size="sm", scale=1, min_width=80),
                                       value="classify.refresh")
            message = page.add(gr.Textbox(lines=3, label=L("classify.message"),
                                          placeholder=L("classify.message_placeholder"), elem_id="cls-message",
                                          max_length=PROMPT_CHARS),
                               label="classify.message", placeholder="classify.message_placeholder")
            go = page.add(gr.Button(L("classify.go"), variant="primary", elem_id="cls-go"), value="classify.go")
        with gr.Column(scale=2, min_width=260):
            result = page.add(gr.Label(label=L("classify.result"), elem_id="cls-result"), label="classify.result")
            result_note = gr.Markdown(elem_id="cls-result-note")
    with page.add(gr.Accordion(L("classify.cli_head"), open=False), label="classify.cli_head"):
        cli = gr.Code(language="shell", show_label=False, elem_id="cls-cli", interactive=False)

    run_dir = gr.State("")
    seen = gr.State("")
    offered = gr.State("")
    timer = gr.Timer(1.0)

    data_inputs = [source, uploaded, text_col, label_col, balance]
    setting_inputs = [*data_inputs, base, trainable, last_n, rank, alpha, max_length, epochs, max_steps, batch,
                      lr, eval_every, seed]

    # ---- data -------------------------------------------------------------------------
    @friendly(outputs=4)
    def on_upload(path, lang):
        if not path:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        kept = keep_upload(state, path, [".csv", ".tsv", ".txt"], fallback="data")
        # A new file: its columns are detected afresh.
        return kept, "upload", gr.update(value=""), gr.update(value="")

    def preview_outputs(message, lang):
        return (message, plots.empty_figure(t(lang, "plots.no_points"), height=240), pd.DataFrame(),
                gr.skip(), gr.skip())

    @friendly(outputs=5, status=0)
    def on_preview(source, uploaded, text_col, label_col, balance, lang):
        if source == "upload" and not uploaded:
            return preview_outputs(t(lang, "classify.preview_need_upload"), lang)
        path = table_path(source, uploaded)
        try:
            table = read_table(path, column_spec(text_col), column_spec(label_col))
        except PocketLLMError as exc:
            gr.Warning(str(exc), title=t(lang, "common.warning_title"))
            return preview_outputs(t(lang, "classify.preview_problem", message=str(exc)), lang)
        before = table.balance()
        lines = [t(lang, "classify.preview", name=Path(path).name, rows=f"{table.rows:,}",
                   examples=f"{len(table):,}", classes=len(table.labels), text=table.text_column,
                   label=table.label_column, delimiter={",": "comma", "\t": "tab"}.get(table.delimiter,
                                                                                      table.delimiter),
                   header=t(lang, "classify.header_yes" if table.header else "classify.header_no"))]
        if table.dropped:
            lines.append(t(lang, "classify.dropped",
                           items=", ".join(f"{n} × {why}" for why, n in table.dropped.items())))
        else:
            lines.append(t(lang, "classify.dropped_none"))
        after = None
        smallest, largest = min(before.values()), max(before.values())
        if balance:
            after = {name: smallest for name in before}
            lines.append(t(lang, "classify.balanced_to", n=f"{smallest:,}", total=f"{smallest * len(before):,}"))
        elif largest > 1.5 * smallest:
            lines.append(t(lang, "classify.unbalanced_note", ratio=f"{largest / max(1, smallest):.1f}"))
        sample = pd.DataFrame({t(lang, "classify.col_label"): [table.labels[i] for i in table.label_ids[:PREVIEW_ROWS]],
                               t(lang, "classify.col_text"): [s if len(s) <= TEXT_PREVIEW else s[:TEXT_PREVIEW] + "…"
                                                             for s in table.texts[:PREVIEW_ROWS]]})
        names = column_names(table)
        detected = [(t(lang, "classify.detected"), "")] + [(n, n) for n in names]
        return ("\n\n".join(lines), plots.class_balance_figure(before, after, lang), sample,
                gr.update(choices=detected, value=text_col if text_col in names else ""),
                gr.update(choices=detected, value=label_col if label_col in names else ""))

    preview_outputs_list = [preview, balance_plot, examples, text_col, label_col]
    preview_inputs = [*data_inputs, ctx.lang]
    upload.upload(on_upload, [upload, ctx.lang], [uploaded, source, text_col, label_col],
                  api_name="classify_upload") \
        .then(on_preview, preview_inputs, preview_outputs_list)
    source.input(on_preview, preview_inputs, preview_outputs_list)
    gr.on([text_col.input, label_col.input, balance.input], on_preview, preview_inputs, preview_outputs_list,
          show_progress="hidden")
    # The API's preview takes the same inputs (tests and scripts).
    preview_api = gr.Button(visible=False)
    preview_api.click(on_preview, preview_inputs, preview_outputs_list, api_name="classify_preview")

    # ---- model --------------------------------------------------------------------------
    on_refresh = wire_base_picker(state, ctx, base, refresh, facts, api_name="classify_bases")
    for comp in setting_inputs:
        comp.change(lambda *a: cli_command(state, *a), setting_inputs, cli, show_progress="hidden")

    # ---- start and stop -----------------------------------------------------------------
    def settings_of(source, uploaded, text_col, label_col, balance, base, trainable, last_n, rank, alpha,
                    max_length, epochs, max_steps, batch, lr, eval_every, seed, lang) -> ClassifySettings:
        data = table_path(source, uploaded)
        base_path, preset = base_model(state, base, lang)
        train = TrainSettings(epochs=whole(epochs, 1, MAX_EPOCHS, "classify.epochs", lang, default=1),
                              max_steps=whole(max_steps, 0, MAX_STEPS, "classify.max_steps", lang, default=0) or None,
                              batch_size=whole(batch, 1, MAX_BATCH, "classify.batch", lang, default=8),
                              lr=real(lr, 0, MAX_LR, "classify.lr", lang, default=5e-4),
                              eval_every=whole(eval_every, 0, MAX_EVERY, "classify.eval_every", lang, default=0),
                              eval_batches=5, sample_every=0,
                              seed=whole(seed, 0, MAX_TRAIN_SEED, "classify.seed", lang, default=123),
                              checkpoint_minutes=CHECKPOINT_MINUTES)
        last_n = whole(last_n, 1, MAX_LAYERS, "classify.last_n", lang, default=1)
        settings = ClassifySettings(
            data_path=data, text_column=column_spec(text_col), label_column=column_spec(label_col),
            balance=bool(balance), base_model=base_path, config=preset,
            trainable=trainable_spec(trainable, last_n),
            lora_rank=whole(rank, 1, MAX_LORA_RANK, "classify.lora_rank", lang, default=8),
            lora_alpha=real(alpha, 0, MAX_LORA_ALPHA, "classify.lora_alpha", lang, default=16.0),
            max_length=whole(max_length, 0, MAX_CONTEXT, "classify.max_length", lang, default=0) or None,
            train=train)
        return settings

    @friendly(outputs=2, status=1)
    def on_start(source, uploaded, text_col, label_col, balance, base, trainable, last_n, rank, alpha,
                 max_length, epochs, max_steps, batch, lr, eval_every, seed, lang):
        settings = dataclasses.replace(settings_of(source, uploaded, text_col, label_col, balance, base, trainable,
                                                   last_n, rank, alpha, max_length, epochs, max_steps, batch, lr,
                                                   eval_every, seed, lang),
                                       run_dir=str(default_run_dir(KIND, state.checkpoints)))
        return launch(state, KIND, lambda stop_event: prepare_classification(settings, stop_event), lang,
                      "classify")

    def fill_form(settings: ClassifySettings) -> list:
        """The saved settings in the form's widgets (`setting_inputs`, in order)."""
        keep = gr.skip()
        source_values, base_value = saved_source_and_base(state, settings, DEFAULT_TABLE)
        kind, _, n = (settings.trainable or "last").partition(":")
        tr = settings.train
        return [*source_values, settings.text_column or keep, settings.label_column or keep, bool(settings.balance),
                base_value, kind, int(n) if n.isdigit() else keep, settings.lora_rank, settings.lora_alpha,
                settings.max_length or 0, tr.epochs, tr.max_steps or 0, tr.batch_size, tr.lr, tr.eval_every,
                tr.seed]

    with saved_settings:
        settings_section(ctx, KIND, setting_inputs, settings_of, fill_form)

    start.click(on_start, [*setting_inputs, ctx.lang], [run_dir, status], api_name="classify_start",
                concurrency_limit=1, concurrency_id="start_job")
    stop.click(lambda lang: stop_job(state, lang, "classify"), ctx.lang, status, api_name="classify_stop",
               concurrency_limit=None)

    # ---- the live view ----------------------------------------------------------------------
    def on_tick(current, last_seen, offered_path, lang):
        current = follow(state, KIND, current)
        if not current:
            sig = f"none|{lang}"
            if sig == last_seen:
                return [gr.skip()] * 12
            summary, table, cm = report_parts({}, lang)
            empty = plots.empty_figure(t(lang, "plots.no_points"))
            return ("", sig, offered_path, empty, empty, "", "", summary, table, cm,
                    gr.update(visible=False), gr.skip())
        sig = tick_signature(state, current, lang)
        if sig == last_seen:
            return [gr.skip()] * 12
        view = state.run_view(Path(current))
        model = ended_model(state, view)
        ended = model is not None
        summary, table, cm = report_parts(run_results(view) if ended else {}, lang)
        pick = gr.skip()
        if ended and str(model) != offered_path:  # offer the new classifier in the "try" box once
            offered_path = str(model)
            pick = gr.update(choices=classifier_choices(state), value=str(model))
        return (current, sig, offered_path, plots.loss_figure(view.events, lang),
                accuracy_figure(view.events, lang), stats_line(view, lang), status_line(view, lang, "classify"),
                summary, table, cm, gr.update(value=str(model) if ended else None, visible=ended), pick)

    tick_outputs = [run_dir, seen, offered, loss_plot, acc_plot, stats, status, report_md, per_class, confusion,
                    download, classifier]
    timer.tick(on_tick, [run_dir, seen, offered, ctx.lang], tick_outputs, show_progress="hidden",
               concurrency_limit=None, api_name="classify_poll")
    ctx.lang.change(lambda: "", None, seen)  # redraw in the new language on the next tick

    # ---- classify a message --------------------------------------------------------------------
    def on_refresh_cls(current):
        choices = classifier_choices(state)
        paths = [p for _, p in choices]
        return gr.update(choices=choices, value=current if current in paths else (paths[0] if paths else None))

    @friendly(outputs=2, status=1)
    def on_classify(path, text, lang):
        if not path:
            raise PocketLLMError(t(lang, "classify.no_classifier"))
        ckpt = state.load(path, lang)  # only a checkpoint of the folder
        if ckpt.task_type != "classifier":
            raise PocketLLMError(t(lang, "classify.not_a_classifier", name=Path(path).name, task=ckpt.task_type))
        text, cut = text_cap(text, PROMPT_CHARS, keep="start")
        if not text.strip():
            raise PocketLLMError(t(lang, "classify.empty_message"))
        out = classify(ckpt, text, ckpt.task.get("labels"))  # with the checkpoint's own tokenizer
        note = t(lang, "common.text_cut_start", limit=f"{PROMPT_CHARS:,}", cut=f"{cut:,}") if cut else ""
        return dict(out["probs"]), note  # gr.Label shows the best one on top and every class's bar

    refresh_cls.click(on_refresh_cls, classifier, classifier, api_name="classify_models")
    go.click(on_classify, [classifier, message, ctx.lang], [result, result_note], api_name="classify_message",
             concurrency_id="model_cpu")
    message.submit(on_classify, [classifier, message, ctx.lang], [result, result_note], concurrency_id="model_cpu")

    ctx.on_load(on_preview, preview_inputs, preview_outputs_list)
    ctx.on_load(lambda v, lang: base_facts(state, v, lang), [base, ctx.lang], facts)
    ctx.on_load(on_refresh, [base, ctx.lang], base)
    ctx.on_load(on_refresh_cls, classifier, classifier)
    ctx.on_load(lambda *a: cli_command(state, *a), setting_inputs, cli)
