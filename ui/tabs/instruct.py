"""Instruct tab: instruction records (bundled tasks or an uploaded JSON / JSON Lines) shown with
the prompt template applied; a base model, template, masking and LoRA; Start / Stop with the
live loss and answers read from the run folder; the held-out answers (expected vs generated)
with the exact-match score; a panel to give an instruction and read the streamed response;
the checkpoint to download; and the command line that repeats the run."""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pandas as pd

from pocketllm import (DEFAULT_INSTRUCTIONS, TEMPLATES, InstructSettings, PocketLLMError, Sampling, TrainSettings,
                       default_run_dir, get_template, load_instructions, prepare_instruction, respond, template_of)

import dataclasses

from .. import plots
from ..experiments import chat_section, settings_section
from ..errors import friendly
from ..i18n import t
from ..limits import (MAX_BATCH, MAX_CONTEXT, MAX_EPOCHS, MAX_EVERY, MAX_LORA_ALPHA, MAX_LORA_RANK, MAX_LR,
                      MAX_STEPS, MAX_TEST_GENERATE, MAX_TRAIN_SEED, PROMPT_CHARS, Number, Slider, real, text_cap,
                      whole)
from ..runs import (CHECKPOINT_MINUTES, saved_source_and_base, base_choices, base_facts, base_model, clock, default_base, ended_model,
                    follow, keep_upload, launch, safe_cli, shell_lines, split_base, status_line, stop_job,
                    tick_signature, wire_base_picker)

KIND = "instruct"
SHOWN_RECORDS = 3
SHOWN_PROBLEMS = 8
ANSWERS = ("instruct", "language_model")
MAX_NEW = 300  # tokens of an answer in the panel


def data_path(source, uploaded) -> str:
    if source == "upload":
        if not uploaded:
            raise PocketLLMError("No records uploaded yet: upload a JSON or JSON Lines file, or pick the bundled set.")
        return uploaded
    return str(DEFAULT_INSTRUCTIONS)


def fence(text: str) -> str:
    return "```text\n" + text.replace("```", "ʼʼʼ") + "\n```"


@safe_cli
def cli_command(state, source, uploaded, base, template, mask, lora, rank, alpha, max_length, epochs, max_steps,
                batch, lr, eval_every, sample_every, test_generate, seed) -> str:
    try:
        data = data_path(source, uploaded)
    except PocketLLMError:
        data = "your_records.json"
    args = ["python", "-m", "pocketllm", "instruct-train", "--data_path", data]
    try:
        base_path, preset = split_base(base)
    except PocketLLMError:
        base_path, preset = None, "cpu-tiny"
    args += ["--base_model", base_path] if base_path else ["--config", preset]
    args += ["--template", template or "alpaca"]
    if mask:
        args.append("--mask_prompt")
    if lora:
        args += ["--lora_rank", str(int(rank or 8)), "--lora_alpha", f"{float(alpha or 16):g}"]
    if int(max_length or 0) > 0:
        args += ["--max_length", str(int(max_length))]
    args += ["--epochs", str(int(epochs or 1))]
    if int(max_steps or 0) > 0:
        args += ["--max_steps", str(int(max_steps))]
    args += ["--batch_size", str(int(batch or 8)), "--lr", f"{float(lr or 0):g}",
             "--eval_every", str(int(eval_every or 0)), "--sample_every", str(int(sample_every or 0)),
             "--test_generate", str(int(test_generate or 0)), "--seed", str(int(seed or 0)),
             "--run_dir", str(state.checkpoints / "my-instruct")]
    return shell_lines(args)


# ---- reading a run ---------------------------------------------------------------------
def stats_line(view, lang) -> str:
    last = view.last_step
    if not last:
        return ""
    started = view.of_kind("started")
    total = started[-1]["total_steps"] if started else "?"
    evals = [e for e in view.of_kind("eval") if "loss" in e.get("val", {})]
    val = t(lang, "instruct.stats_val", loss=f"{evals[-1]['val']['loss']:.3f}") if evals else ""
    return t(lang, "instruct.stats", step=last["step"], total=total, epoch=last["epoch"] + 1,
             rate=f"{last['tokens_per_s']:,.0f}", elapsed=clock(last["elapsed"]),
             eta=clock(last["eta"]) if view.status == "running" else "—", loss=f"{last['train_loss']:.3f}", val=val)


def run_status(view, lang) -> str:
    started = view.of_kind("started")
    last = view.last_step or {}
    if view.status == "running" and started and last.get("step") == started[-1]["total_steps"] \
            and view.of_kind("checkpoint"):
        return t(lang, "instruct.status_answering", name=view.run_dir.name, step=last["step"])
    return status_line(view, lang, "instruct")


def samples_md(view, lang) -> str:
    samples = view.of_kind("sample")
    if not samples:
        return t(lang, "instruct.no_samples")
    return "\n\n".join(f"**{t(lang, 'instruct.sample_head', step=s['step'])}**\n{fence(s['prompt'] + s['text'])}"
                       for s in reversed(samples[-10:]))


def results_parts(view, lang):
    """(summary markdown, expected-vs-generated table) of a finished run."""
    end = view.end or {}
    results = end.get("results") or view.results
    columns = [t(lang, f"instruct.col_{c}") for c in ("instruction", "input", "expected", "generated", "correct")]
    answers = []
    path = results.get("responses_path")
    if path and Path(path).is_file():
        try:
            answers = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            answers = []
    if not results or "exact_match" not in results:
        return t(lang, "instruct.no_results"), pd.DataFrame(columns=columns)

    def loss(key):
        return f"{results[key]:.3f}" if key in results else "—"

    summary = t(lang, "instruct.results", em=f"{results['exact_match']:.1%}", n=results.get("test_generated", 0),
                val=loss("val_loss"), test=loss("test_loss"))
    rows = [[a["instruction"], a.get("input", ""), a["expected"], a["generated"], "✓" if a["correct"] else "✗"]
            for a in answers]
    return summary, pd.DataFrame(rows, columns=columns)


def model_choices(state) -> list[tuple[str, str]]:
    rows = state.models_table()
    ordered = [r for r in rows if r["task"] == "instruct"] + [r for r in rows if r["task"] == "language_model"]
    return [(f"{r['name']}  ·  {r['task']}", r["path"]) for r in ordered]


# ---- building the tab --------------------------------------------------------------------
def build(ctx):
    page, state = ctx.page, ctx.state
    L = page.text
    choices0 = base_choices(state, page.lang)

    page.add(gr.Markdown(L("instruct.intro")), value="instruct.intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            page.add(gr.Markdown(L("instruct.data_head")), value="instruct.data_head")
            source = page.add(gr.Radio([(L("instruct.src_bundled"), "bundled"), (L("instruct.src_upload"), "upload")],
                                       value="bundled", label=L("instruct.source"), elem_id="ins-source"),
                              label="instruct.source",
                              choices=[("instruct.src_bundled", "bundled"), ("instruct.src_upload", "upload")])
            upload = page.add(gr.File(label=L("instruct.upload"), file_types=[".json", ".jsonl"], type="filepath",
                                      elem_id="ins-upload"), label="instruct.upload")
            uploaded = gr.State("")
            preview = gr.Markdown(elem_id="ins-preview", max_height=520)
        with gr.Column(scale=4, min_width=300):
            page.add(gr.Markdown(L("instruct.model_head")), value="instruct.model_head")
            with gr.Row(equal_height=False):
                base = page.add(gr.Dropdown(choices0, value=default_base(choices0), label=L("instruct.base"),
                                            scale=4, elem_id="ins-base", allow_custom_value=False), label="instruct.base")
                refresh = page.add(gr.Button(L("instruct.refresh"), size="sm", scale=1, min_width=80),
                                   value="instruct.refresh")
            facts = gr.Markdown(elem_id="ins-base-facts")
            template = page.add(gr.Radio([(L(f"instruct.tpl_{k}"), k) for k in TEMPLATES], value="alpaca",
                                         label=L("instruct.template"), elem_id="ins-template"),
                                label="instruct.template", choices=[(f"instruct.tpl_{k}", k) for k in TEMPLATES])
            mask = page.add(gr.Checkbox(False, label=L("instruct.mask_prompt"), elem_id="ins-mask"),
                            label="instruct.mask_prompt")
            lora = page.add(gr.Checkbox(False, label=L("instruct.lora"), elem_id="ins-lora"), label="instruct.lora")
            with gr.Row():
                rank = page.add(Number(8, label=L("instruct.lora_rank"), precision=0, minimum=1, maximum=MAX_LORA_RANK,
                                          elem_id="ins-rank"), label="instruct.lora_rank")
                alpha = page.add(Number(16, label=L("instruct.lora_alpha"), minimum=0, maximum=MAX_LORA_ALPHA,
                                        elem_id="ins-alpha"),
                                 label="instruct.lora_alpha")
                max_length = page.add(Number(0, label=L("instruct.max_length"), precision=0, minimum=0, maximum=MAX_CONTEXT,
                                                elem_id="ins-max-length"), label="instruct.max_length")
            page.add(gr.Markdown(L("instruct.train_head")), value="instruct.train_head")
            with gr.Row():
                epochs = page.add(Number(2, label=L("instruct.epochs"), precision=0, minimum=1, maximum=MAX_EPOCHS,
                                            elem_id="ins-epochs"), label="instruct.epochs")
                max_steps = page.add(Number(0, label=L("instruct.max_steps"), precision=0, minimum=0, maximum=MAX_STEPS,
                                               elem_id="ins-max-steps"), label="instruct.max_steps")
                batch = page.add(Number(8, label=L("instruct.batch"), precision=0, minimum=1, maximum=MAX_BATCH,
                                           elem_id="ins-batch"),
                                 label="instruct.batch")
            with gr.Row():
                lr = page.add(Number(5e-4, label=L("instruct.lr"), minimum=0, maximum=MAX_LR, elem_id="ins-lr"), label="instruct.lr")
                eval_every = page.add(Number(50, label=L("instruct.eval_every"), precision=0, minimum=0, maximum=MAX_EVERY,
                                                elem_id="ins-eval"), label="instruct.eval_every")
                seed = page.add(Number(123, label=L("instruct.seed"), precision=0, minimum=0, maximum=MAX_TRAIN_SEED,
                                     elem_id="ins-seed"),
                                label="instruct.seed")
            with gr.Row():
                sample_every = page.add(Number(50, label=L("instruct.sample_every"), precision=0, minimum=0, maximum=MAX_EVERY,
                                                  elem_id="ins-sample"), label="instruct.sample_every")
                test_generate = page.add(Number(50, label=L("instruct.test_generate"), precision=0, minimum=0,
                                                maximum=MAX_TEST_GENERATE,
                                                   elem_id="ins-test-generate"), label="instruct.test_generate")
            with gr.Row():
                start = page.add(gr.Button(L("instruct.start"), variant="primary", elem_id="ins-start"),
                                 value="instruct.start")
                stop = page.add(gr.Button(L("instruct.stop"), variant="stop", elem_id="ins-stop"),
                                value="instruct.stop")
            status = gr.Markdown(elem_id="ins-status")  # next to Start: what the click did
            saved_settings = gr.Column()  # settings saved by name: filled in below
            stats = gr.Markdown(elem_id="ins-stats")

    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            loss_plot = gr.Plot(plots.empty_figure(L("plots.no_points")), show_label=False, elem_id="ins-loss")
        with gr.Column(scale=2):
            page.add(gr.Markdown(L("instruct.samples_head")), value="instruct.samples_head")
            samples = gr.Markdown(elem_id="ins-samples", max_height=360)
    page.add(gr.Markdown(L("instruct.results_head")), value="instruct.results_head")
    results_md = gr.Markdown(L("instruct.no_results"), elem_id="ins-results")
    answers = gr.Dataframe(interactive=False, wrap=True, max_height=360, elem_id="ins-answers")
    download = page.add(gr.DownloadButton(L("instruct.download"), visible=False, elem_id="ins-download"),
                        label="instruct.download")

    page.add(gr.Markdown(L("instruct.try_head")), value="instruct.try_head")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            with gr.Row(equal_height=False):
                model = page.add(gr.Dropdown([], label=L("instruct.model"), scale=4, elem_id="ins-model",
                                             allow_custom_value=False), label="instruct.model")
                refresh_models = page.add(gr.Button(L("instruct.refresh"), size="sm", scale=1, min_width=80),
                                          value="instruct.refresh")
            instruction = page.add(gr.Textbox(L("instruct.instruction_default"), lines=2,
                                              label=L("instruct.instruction"), elem_id="ins-instruction",
                                              max_length=PROMPT_CHARS),
                                   label="instruct.instruction")
            inp = page.add(gr.Textbox(L("instruct.input_default"), lines=2, label=L("instruct.input"),
                                      elem_id="ins-input", max_length=PROMPT_CHARS), label="instruct.input")
            with gr.Row():
                temperature = page.add(Slider(0, 2, value=0, step=0.05, label=L("instruct.temperature"),
                                                 info=L("instruct.temperature_info"), elem_id="ins-temperature"),
                                       label="instruct.temperature", info="instruct.temperature_info")
                max_new = page.add(Slider(1, MAX_NEW, value=60, step=1, label=L("instruct.max_new"),
                                             elem_id="ins-max-new"), label="instruct.max_new")
            with gr.Row():
                go = page.add(gr.Button(L("instruct.go"), variant="primary", elem_id="ins-go"), value="instruct.go")
                stop_answer = page.add(gr.Button(L("instruct.stop_answer"), variant="stop", elem_id="ins-stop-answer"),
                                       value="instruct.stop_answer")
        with gr.Column(scale=1, min_width=300):
            response = page.add(gr.Textbox(label=L("instruct.response"), lines=6, max_lines=20, interactive=False,
                                           elem_id="ins-response"), label="instruct.response")
            response_note = gr.Markdown(elem_id="ins-response-note")
            with page.add(gr.Accordion(L("instruct.prompt_shown"), open=False), label="instruct.prompt_shown"):
                prompt_shown = gr.Code(language=None, show_label=False, interactive=False, elem_id="ins-prompt")
    chat_section(ctx, model, temperature, max_new, MAX_NEW,
                 lambda lang, name: t(lang, "instruct.is_classifier", name=name))
    with page.add(gr.Accordion(L("instruct.cli_head"), open=False), label="instruct.cli_head"):
        cli = gr.Code(language="shell", show_label=False, elem_id="ins-cli", interactive=False)

    run_dir = gr.State("")
    seen = gr.State("")
    offered = gr.State("")
    timer = gr.Timer(1.0)

    setting_inputs = [source, uploaded, base, template, mask, lora, rank, alpha, max_length, epochs, max_steps,
                      batch, lr, eval_every, sample_every, test_generate, seed]

    # ---- data ------------------------------------------------------------------------------
    @friendly(outputs=2)
    def on_upload(path, lang):
        if not path:
            return gr.skip(), gr.skip()
        return keep_upload(state, path, [".json", ".jsonl"], fallback="data"), "upload"

    @friendly(outputs=1, status=0)
    def on_preview(source, uploaded, template, lang):
        if source == "upload" and not uploaded:
            return t(lang, "instruct.preview_need_upload")
        path = data_path(source, uploaded)
        try:
            data = load_instructions(path)
        except PocketLLMError as exc:
            gr.Warning(str(exc), title=t(lang, "common.warning_title"))
            return t(lang, "instruct.preview_problem", message=str(exc))
        s = data.summary()
        parts = [t(lang, "instruct.preview", name=Path(path).name, total=f"{s['records']:,}",
                   valid=f"{s['valid']:,}", distinct=f"{s['distinct_prompts']:,}", invalid=s["invalid"])]
        if data.problems:
            shown = data.problems[:SHOWN_PROBLEMS]
            parts.append(t(lang, "instruct.problems", n=len(shown)) + "\n" + "\n".join(f"- {p}" for p in shown))
        tpl = get_template(template or "alpaca")
        n = min(SHOWN_RECORDS, len(data.records))
        parts.append(t(lang, "instruct.formatted", n=n, template=tpl.name))
        for r in data.records[:n]:
            parts.append(fence(tpl.prompt(r.instruction, r.input) + r.output + "<|endoftext|>"))
        return "\n\n".join(parts)

    preview_inputs = [source, uploaded, template, ctx.lang]
    upload.upload(on_upload, [upload, ctx.lang], [uploaded, source], api_name="instruct_upload") \
        .then(on_preview, preview_inputs, preview)
    gr.on([source.input, template.input], on_preview, preview_inputs, preview, show_progress="hidden")
    preview_api = gr.Button(visible=False)
    preview_api.click(on_preview, preview_inputs, preview, api_name="instruct_preview")

    # ---- model -----------------------------------------------------------------------------
    on_refresh = wire_base_picker(state, ctx, base, refresh, facts, api_name="instruct_bases")
    for comp in setting_inputs:
        comp.change(lambda *a: cli_command(state, *a), setting_inputs, cli, show_progress="hidden")

    # ---- start and stop ------------------------------------------------------------------------
    def settings_of(source, uploaded, base, template, mask, lora, rank, alpha, max_length, epochs, max_steps, batch,
                    lr, eval_every, sample_every, test_generate, seed, lang) -> InstructSettings:
        path = data_path(source, uploaded)
        base_path, preset = base_model(state, base, lang)
        train = TrainSettings(epochs=whole(epochs, 1, MAX_EPOCHS, "instruct.epochs", lang, default=1),
                              max_steps=whole(max_steps, 0, MAX_STEPS, "instruct.max_steps", lang, default=0) or None,
                              batch_size=whole(batch, 1, MAX_BATCH, "instruct.batch", lang, default=8),
                              lr=real(lr, 0, MAX_LR, "instruct.lr", lang, default=5e-4),
                              eval_every=whole(eval_every, 0, MAX_EVERY, "instruct.eval_every", lang, default=0),
                              eval_batches=5,
                              sample_every=whole(sample_every, 0, MAX_EVERY, "instruct.sample_every", lang,
                                                 default=0),
                              seed=whole(seed, 0, MAX_TRAIN_SEED, "instruct.seed", lang, default=123),
                              checkpoint_minutes=CHECKPOINT_MINUTES)
        settings = InstructSettings(
            data_path=path, template=template or "alpaca", mask_prompt=bool(mask),
            max_length=whole(max_length, 0, MAX_CONTEXT, "instruct.max_length", lang, default=0) or None,
            test_generate=whole(test_generate, 0, MAX_TEST_GENERATE, "instruct.test_generate", lang, default=0),
            base_model=base_path, config=preset,
            lora_rank=whole(rank, 1, MAX_LORA_RANK, "instruct.lora_rank", lang, default=8) if lora else 0,
            lora_alpha=real(alpha, 0, MAX_LORA_ALPHA, "instruct.lora_alpha", lang, default=16.0), train=train)
        return settings

    @friendly(outputs=2, status=1)
    def on_start(source, uploaded, base, template, mask, lora, rank, alpha, max_length, epochs, max_steps, batch,
                 lr, eval_every, sample_every, test_generate, seed, lang):
        settings = dataclasses.replace(settings_of(source, uploaded, base, template, mask, lora, rank, alpha,
                                                   max_length, epochs, max_steps, batch, lr, eval_every,
                                                   sample_every, test_generate, seed, lang),
                                       run_dir=str(default_run_dir(KIND, state.checkpoints)))
        return launch(state, KIND, lambda stop_event: prepare_instruction(settings, stop_event), lang, "instruct")

    def fill_form(settings: InstructSettings) -> list:
        """The saved settings in the form's widgets (`setting_inputs`, in order)."""
        source_values, base_value = saved_source_and_base(state, settings, DEFAULT_INSTRUCTIONS)
        tr = settings.train
        return [*source_values, base_value, settings.template or "alpaca", bool(settings.mask_prompt),
                settings.lora_rank > 0, settings.lora_rank or 8, settings.lora_alpha, settings.max_length or 0,
                tr.epochs, tr.max_steps or 0, tr.batch_size, tr.lr, tr.eval_every, tr.sample_every,
                settings.test_generate, tr.seed]

    with saved_settings:
        settings_section(ctx, KIND, setting_inputs, settings_of, fill_form)

    start.click(on_start, [*setting_inputs, ctx.lang], [run_dir, status], api_name="instruct_start",
                concurrency_limit=1, concurrency_id="start_job")
    stop.click(lambda lang: stop_job(state, lang, "instruct"), ctx.lang, status, api_name="instruct_stop",
               concurrency_limit=None)

    # ---- the live view ------------------------------------------------------------------------
    def on_tick(current, last_seen, offered_path, lang):
        current = follow(state, KIND, current)
        if not current:
            sig = f"none|{lang}"
            if sig == last_seen:
                return [gr.skip()] * 11
            summary, table = results_parts_empty(lang)
            return ("", sig, offered_path, plots.empty_figure(t(lang, "plots.no_points")), "", "",
                    t(lang, "instruct.no_samples"), summary, table, gr.update(visible=False), gr.skip())
        sig = tick_signature(state, current, lang)
        if sig == last_seen:
            return [gr.skip()] * 11
        view = state.run_view(Path(current))
        path = ended_model(state, view)
        ended = path is not None
        summary, table = results_parts(view, lang) if ended else results_parts_empty(lang)
        pick = gr.skip()
        if ended and str(path) != offered_path:  # offer the new model in the "give an instruction" panel once
            offered_path = str(path)
            pick = gr.update(choices=model_choices(state), value=str(path))
        return (current, sig, offered_path, plots.loss_figure(view.events, lang), stats_line(view, lang),
                run_status(view, lang), samples_md(view, lang), summary, table,
                gr.update(value=str(path) if ended else None, visible=ended), pick)

    def results_parts_empty(lang):
        columns = [t(lang, f"instruct.col_{c}") for c in ("instruction", "input", "expected", "generated", "correct")]
        return t(lang, "instruct.no_results"), pd.DataFrame(columns=columns)

    tick_outputs = [run_dir, seen, offered, loss_plot, stats, status, samples, results_md, answers, download, model]
    timer.tick(on_tick, [run_dir, seen, offered, ctx.lang], tick_outputs, show_progress="hidden",
               concurrency_limit=None, api_name="instruct_poll")
    ctx.lang.change(lambda: "", None, seen)

    # ---- give an instruction ---------------------------------------------------------------------
    def on_refresh_models(current):
        choices = model_choices(state)
        paths = [p for _, p in choices]
        return gr.update(choices=choices, value=current if current in paths else (paths[0] if paths else None))

    @friendly(outputs=3, status=2)
    def on_respond(path, instruction, input_text, temperature, max_new, lang):
        if not path:
            raise PocketLLMError(t(lang, "instruct.no_model"))
        temp = real(temperature, 0, 2, "instruct.temperature", lang, default=0.0)
        max_new = whole(max_new, 1, MAX_NEW, "instruct.max_new", lang, default=60)
        ckpt = state.load(path, lang)  # only a checkpoint of the folder
        if ckpt.task_type == "classifier":
            raise PocketLLMError(t(lang, "instruct.is_classifier", name=Path(path).name))
        # The model reads the prompt's end (its context); a huge text is cut before it is tokenized.
        instruction, cut_i = text_cap(instruction, PROMPT_CHARS, keep="start")
        input_text, cut_x = text_cap(input_text, PROMPT_CHARS, keep="start")
        cut = (t(lang, "common.text_cut_start", limit=f"{PROMPT_CHARS:,}", cut=f"{cut_i + cut_x:,}") + " "
               if cut_i or cut_x else "")
        tpl = template_of(ckpt.task)
        prompt = tpl.prompt(instruction, input_text)
        sampling = Sampling(temperature=temp, seed=123) if temp > 0 else Sampling()
        text, n = "", 0
        pieces = respond(ckpt, instruction, input_text, tpl, sampling, max_new)  # its tokenizer
        yield text, prompt, cut
        for piece in pieces:
            text, n = text + piece, n + 1
            yield text, prompt, cut  # streamed as changes: the prompt itself is not sent again
        yield text, prompt, cut + t(lang, "instruct.done" if text.strip() else "instruct.empty_answer", n=n)

    refresh_models.click(on_refresh_models, model, model, api_name="instruct_models")
    answer = go.click(on_respond, [model, instruction, inp, temperature, max_new, ctx.lang],
                      [response, prompt_shown, response_note],
                      api_name="instruct_respond", concurrency_id="model_cpu")
    stop_answer.click(None, None, None, cancels=[answer])

    ctx.on_load(on_preview, preview_inputs, preview)
    ctx.on_load(lambda v, lang: base_facts(state, v, lang), [base, ctx.lang], facts)
    ctx.on_load(on_refresh, [base, ctx.lang], base)
    ctx.on_load(on_refresh_models, model, model)
    ctx.on_load(lambda *a: cli_command(state, *a), setting_inputs, cli)
