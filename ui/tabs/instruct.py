"""Instruct tab: instruction records (bundled tasks or an uploaded JSON / JSON Lines) shown with
the prompt template applied; a base model, template, masking and LoRA; Start / Stop with the
live loss and answers read from the run folder; the held-out answers (expected vs generated)
with the exact-match score; a panel to give an instruction and read the streamed response;
the checkpoint to download; and the command line that repeats the run.  Built from
`ui/training_parts.py`."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from pocketllm import (ANSWER_TOKENS, DEFAULT_INSTRUCTIONS, DEFAULT_TEMPLATE, TEMPLATES, USUAL_LORA_RANK, InstructSettings, PocketLLMError, Sampling, TaskKind,
                       get_template, load_instructions, prepare_instruction, read_test_responses, respond, task_kind,
                       template_of)

from .. import plots
from ..elements import Elements
from ..core_errors import say
from ..errors import message_of
from ..experiments import chat_section
from ..i18n import t
from ..markup import fenced
from ..limits import (MAX_CONTEXT, MAX_EVERY, MAX_LORA_ALPHA, MAX_LORA_RANK, MAX_TEST_GENERATE, PROMPT_CHARS, Slider,
                      real, text_cap, whole)
from ..runs import base_model, base_value, ended_model, source_values, status_line
from ..training_parts import (TrainingTab, chosen_file, command_box, epoch_of, finetune_columns,
                              finetune_settings, finetune_train, finetune_values, picked_model, run_buttons,
                              try_columns, wire_base_picker, wire_model_picker, wire_training, wire_upload)

KIND = TaskKind.INSTRUCT
SHOWN_RECORDS = 3
SHOWN_PROBLEMS = 8
MAX_NEW = 300  # tokens of an answer in the panel
COLUMNS = ("instruction", "input", "expected", "generated", "correct")
WIDTHS = ["27%", "15%", "24%", "24%", "10%"]  # the held-out table fits a 1366 px screen
FORM = ["data.source", "data.uploaded", "model.base", "model.template", "model.mask", "model.lora", "model.lora_rank",
        "model.lora_alpha", "model.max_length", "train.epochs", "train.max_steps", "train.batch", "train.lr",
        "train.eval_every", "train.sample_every", "train.test_generate", "train.seed"]


def data_path(v) -> str:
    return chosen_file(v, {"bundled": DEFAULT_INSTRUCTIONS}, "instruct.preview_need_upload")


def results_parts(results: dict, lang) -> dict:
    """The exact-match summary and the expected-vs-generated table (blank before a run ends)."""
    columns = [t(lang, f"instruct.col_{c}") for c in COLUMNS]
    if "exact_match" not in results:
        return {"results.summary": t(lang, "instruct.no_results"), "results.answers": pd.DataFrame(columns=columns)}

    def loss(key):
        return f"{results[key]:.3f}" if key in results else "—"

    summary = t(lang, "instruct.results", em=f"{results['exact_match']:.1%}", n=results.get("test_generated", 0),
                val=loss("val_loss"), test=loss("test_loss"))
    empty = t(lang, "instruct.empty_cell")  # an answer of only spaces or newlines would look like no row at all
    rows = [[a["instruction"], a.get("input", ""), a["expected"], a["generated"] if a["generated"].strip() else empty,
             "✓" if a["correct"] else "✗"] for a in read_test_responses(results.get("responses_path"))]
    return {"results.summary": summary, "results.answers": pd.DataFrame(rows, columns=columns)}


def model_choices(state) -> list[tuple[str, str]]:
    rows = state.models_table()
    ordered = [r for kind in (TaskKind.INSTRUCT, TaskKind.PRETRAIN) for r in rows if task_kind(r["task"]) is kind]
    return [(f"{r['name']}  ·  {r['created']}", r["path"]) for r in ordered]


# ---- building the tab --------------------------------------------------------------------
def build(ctx):
    page, state = ctx.page, ctx.state
    L = page.text
    els = Elements(ctx)

    defaults = InstructSettings()  # every box starts from the core's settings
    data_column, model_column = finetune_columns(els, "instruct", "ins", [".json", ".jsonl"])
    with data_column:
        els.add("data.preview", gr.Markdown(elem_id="ins-preview", max_height=520))
    with model_column:
        els.add("model.template", gr.Radio([(L(f"instruct.tpl_{k}"), k) for k in TEMPLATES],
                                           value=defaults.template or DEFAULT_TEMPLATE,
                                           label=L("instruct.template"), elem_id="ins-template"),
                label="instruct.template", choices=[(f"instruct.tpl_{k}", k) for k in TEMPLATES])
        els.add("model.mask", gr.Checkbox(defaults.mask_prompt, label=L("instruct.mask_prompt"), elem_id="ins-mask"),
                label="instruct.mask_prompt")
        els.add("model.lora", gr.Checkbox(defaults.lora_rank > 0, label=L("instruct.lora"), elem_id="ins-lora"),
                label="instruct.lora")
        with gr.Row():
            els.number("model.lora_rank", "instruct.lora_rank", defaults.lora_rank or USUAL_LORA_RANK, 1,
                       MAX_LORA_RANK, elem_id="ins-rank")
            els.number("model.lora_alpha", "instruct.lora_alpha", defaults.lora_alpha, 0, MAX_LORA_ALPHA,
                       integer=False, elem_id="ins-alpha")
            els.number("model.max_length", "instruct.max_length", defaults.max_length or 0, 0, MAX_CONTEXT,
                       elem_id="ins-max-length")
        finetune_settings(els, "ins", defaults.train)
        with gr.Row():
            els.number("train.sample_every", "instruct.sample_every", defaults.train.sample_every, 0, MAX_EVERY,
                       elem_id="ins-sample")
            els.number("train.test_generate", "instruct.test_generate", defaults.test_generate, 0, MAX_TEST_GENERATE,
                       elem_id="ins-test-generate")
        saved_settings = run_buttons(els, "instruct", "ins")

    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            els.add("live.loss", gr.Plot(plots.empty_figure(L("plots.no_points")), show_label=False,
                                         elem_id="ins-loss"))
        with gr.Column(scale=2):
            page.add(gr.Markdown(L("instruct.samples_head")), value="instruct.samples_head")
            els.add("live.samples", gr.Markdown(elem_id="ins-samples", max_height=360))
    page.add(gr.Markdown(L("instruct.results_head")), value="instruct.results_head")
    els.add("results.summary", gr.Markdown(L("instruct.no_results"), elem_id="ins-results"))
    els.add("results.answers", gr.Dataframe(interactive=False, wrap=True, max_height=360, column_widths=WIDTHS,
                                            elem_id="ins-answers"))
    try_left, try_right = try_columns(els, "instruct", "ins", "instruct.model")
    with try_left:
        els.add("try.instruction", gr.Textbox(L("instruct.instruction_default"), lines=2,
                                              label=L("instruct.instruction"), elem_id="ins-instruction",
                                              max_length=PROMPT_CHARS),
                label="instruct.instruction", value="instruct.instruction_default")  # follows the language
        els.add("try.input", gr.Textbox(L("instruct.input_default"), lines=2, label=L("instruct.input"),
                                        elem_id="ins-input", max_length=PROMPT_CHARS), label="instruct.input")
        with gr.Row():
            els.add("try.temperature", Slider(0, 2, value=Sampling().temperature, step=0.05,
                                              label=L("instruct.temperature"),
                                              info=L("instruct.temperature_info"), elem_id="ins-temperature"),
                    label="instruct.temperature", info="instruct.temperature_info")
            els.add("try.max_new", Slider(1, MAX_NEW, value=ANSWER_TOKENS, step=1, label=L("instruct.max_new"),
                                          elem_id="ins-max-new"), label="instruct.max_new")
        with gr.Row():
            els.add("try.go", gr.Button(L("instruct.go"), variant="primary", elem_id="ins-go"), value="instruct.go")
            els.add("try.stop", gr.Button(L("instruct.stop_answer"), interactive=False, elem_id="ins-stop-answer"),
                    value="instruct.stop_answer")
    with try_right:
        els.add("try.response", gr.Textbox(label=L("instruct.response"), lines=6, max_lines=20, interactive=False,
                                           elem_id="ins-response"), label="instruct.response")
        els.add("try.note", gr.Markdown(elem_id="ins-response-note"))
        with page.add(gr.Accordion(L("instruct.prompt_shown"), open=False), label="instruct.prompt_shown"):
            els.add("try.prompt", gr.Code(language=None, show_label=False, interactive=False, elem_id="ins-prompt"))
    chat_section(ctx, els["try.model"], els["try.temperature"], els["try.max_new"], MAX_NEW,
                 lambda lang, name: t(lang, "instruct.is_classifier", name=name))
    command_box(els, "ins-cli")

    # ---- data ------------------------------------------------------------------------------
    def on_preview(v):
        lang = v["lang"]
        if v["data.source"] == "upload" and not v["data.uploaded"]:
            return {"data.preview": t(lang, "instruct.preview_need_upload")}
        path = data_path(v)
        try:
            data = load_instructions(path)
        except PocketLLMError as exc:
            gr.Warning(message_of(exc, lang), title=t(lang, "common.warning_title"))
            return {"data.preview": t(lang, "instruct.preview_problem", message=message_of(exc, lang))}
        s = data.summary()
        parts = [t(lang, "instruct.preview", name=Path(path).name, total=f"{s['records']:,}",
                   valid=f"{s['valid']:,}", distinct=f"{s['distinct_prompts']:,}", invalid=s["invalid"])]
        if data.problems:
            shown = data.problems[:SHOWN_PROBLEMS]
            parts.append(t(lang, "instruct.problems", n=len(shown)) + "\n" + "\n".join(f"- {say(p, lang)}" for p in shown))
        tpl = get_template(v["model.template"] or "alpaca")
        n = min(SHOWN_RECORDS, len(data.records))
        parts.append(t(lang, "instruct.formatted", n=n, template=tpl.name))
        for r in data.records[:n]:
            parts.append(fenced(tpl.prompt(r.instruction, r.input) + r.output + "<|endoftext|>"))
        return {"data.preview": "\n\n".join(parts)}

    preview_io = (["data.source", "data.uploaded", "model.template", "lang"], ["data.preview"])
    wire_upload(els, "instruct_upload", [".json", ".jsonl"], then=(on_preview, *preview_io))
    els.on([els["data.source"].input, els["model.template"].input], on_preview, *preview_io, status="data.preview",
           show_progress="hidden")
    preview_api = gr.Button(visible=False)
    els.on(preview_api.click, on_preview, *preview_io, status="data.preview", api_name="instruct_preview")
    base_loaders = wire_base_picker(els, KIND, "instruct_bases")

    # ---- the form and the core's settings ----------------------------------------------------
    def settings_of(v) -> InstructSettings:
        base_path, preset = base_model(state, v["model.base"], v["lang"])
        return InstructSettings(
            data_path=data_path(v), template=v["model.template"] or DEFAULT_TEMPLATE, mask_prompt=bool(v["model.mask"]),
            max_length=els.read(v, "model.max_length", default=0) or None,
            test_generate=els.read(v, "train.test_generate", default=0), base_model=base_path, config=preset,
            lora_rank=els.read(v, "model.lora_rank", default=USUAL_LORA_RANK) if v["model.lora"] else 0,
            lora_alpha=els.read(v, "model.lora_alpha", default=defaults.lora_alpha),
            train=finetune_train(els, v, defaults.train,
                                 sample_every=els.read(v, "train.sample_every", default=0)))

    def form_of(settings: InstructSettings) -> dict:
        return {**source_values(state, settings.data_path, {"bundled": DEFAULT_INSTRUCTIONS}), **base_value(settings),
                "model.template": settings.template or DEFAULT_TEMPLATE, "model.mask": bool(settings.mask_prompt),
                "model.lora": settings.lora_rank > 0, "model.lora_rank": settings.lora_rank or USUAL_LORA_RANK,
                "model.lora_alpha": settings.lora_alpha, "model.max_length": settings.max_length or 0,
                **finetune_values(settings.train), "train.sample_every": settings.train.sample_every,
                "train.test_generate": settings.test_generate}

    def samples_md(view, lang) -> str:
        samples = view.of_kind("sample")
        if not samples:
            return t(lang, "instruct.no_samples")
        return "\n\n".join(f"**{t(lang, 'instruct.sample_head', step=s['step'])}**\n{fenced(s['prompt'] + s['text'])}"
                           for s in reversed(samples[-10:]))

    def draw(view, v) -> dict:
        lang, ended = v["lang"], ended_model(state, view) is not None
        results = ((view.end or {}).get("results") or view.results) if ended else {}
        return {"live.loss": plots.loss_figure(view.events, lang, x="step", smooth=True),
                "live.samples": samples_md(view, lang), **results_parts(results, lang)}

    def blank(v) -> dict:
        lang = v["lang"]
        return {"live.loss": plots.empty_figure(t(lang, "plots.no_points")),
                "live.samples": t(lang, "instruct.no_samples"),
                **results_parts({}, lang)}

    def stats(view, lang) -> str:
        evals = [e for e in view.of_kind("eval") if "loss" in e.get("val", {})]
        val = t(lang, "instruct.stats_val", loss=f"{evals[-1]['val']['loss']:.3f}") if evals else ""
        return t(lang, "instruct.stats_epoch", epoch=epoch_of(view)) + val

    def status(view, lang) -> str:
        started, last = view.of_kind("started"), view.last_step or {}
        if view.status == "running" and started and last.get("step") == started[-1]["total_steps"] \
                and view.of_kind("checkpoint"):
            return t(lang, "instruct.status_answering", name=view.run_dir.name, step=last["step"])
        return status_line(view, lang, KIND)

    wire_training(TrainingTab(
        kind=KIND, els=els, form=FORM, settings_of=settings_of, form_of=form_of,
        settings_of_run=lambda view: InstructSettings.from_dict(view.settings),
        prepare=prepare_instruction, draw=draw, blank=blank,
        live=["live.loss", "run.stats", "run.status", "live.samples", "results.summary", "results.answers",
              "run.download", "try.model"],
        extra=["train.keep_best", "train.patience"], stats=stats, status=status,
        loaders=[(on_preview, preview_io[1]), *base_loaders], offer=("try.model", model_choices),
        saved_settings=saved_settings))

    # ---- give an instruction ---------------------------------------------------------------------
    def on_respond(v):
        lang = v["lang"]
        temp = real(v["try.temperature"], 0, 2, "instruct.temperature", lang, default=0.0)
        max_new = whole(v["try.max_new"], 1, MAX_NEW, "instruct.max_new", lang, default=ANSWER_TOKENS)
        ckpt = picked_model(els, v, "instruct.no_model")
        if task_kind(ckpt.task_type) is TaskKind.CLASSIFY:
            raise PocketLLMError(t(lang, "instruct.is_classifier", name=Path(v["try.model"]).name))
        # The model reads the prompt's end (its context); a huge text is cut before it is tokenized.
        instruction, cut_i = text_cap(v["try.instruction"], PROMPT_CHARS, keep="start")
        input_text, cut_x = text_cap(v["try.input"], PROMPT_CHARS, keep="start")
        cut = (t(lang, "common.text_cut_start", limit=f"{PROMPT_CHARS:,}", cut=f"{cut_i + cut_x:,}") + " "
               if cut_i or cut_x else "")
        tpl = template_of(ckpt.task, ckpt.tokenizer)
        prompt = tpl.prompt(instruction, input_text)
        sampling = Sampling(temperature=temp, seed=123) if temp > 0 else Sampling()
        pieces = respond(ckpt, instruction, input_text, tpl, sampling, max_new)  # its tokenizer
        text = ""
        yield {"try.response": text, "try.prompt": prompt, "try.note": cut}
        for piece in pieces:
            text += piece
            yield {"try.response": text, "try.prompt": prompt, "try.note": cut}
        yield {"try.response": text, "try.prompt": prompt,
               "try.note": cut + t(lang, "instruct.done" if text.strip() else "instruct.empty_answer")}

    wire_model_picker(els, "try.model", model_choices, "instruct_models")
    answer = els.on(els["try.go"].click, on_respond,
                    ["try.model", "try.instruction", "try.input", "try.temperature", "try.max_new", "lang"],
                    ["try.response", "try.prompt", "try.note"], status="try.note", api_name="instruct_respond",
                    concurrency_id="model_cpu")
    # Stop can act only while an answer streams.
    stop, off = els["try.stop"], gr.update(interactive=False, variant="secondary")
    els["try.go"].click(lambda: gr.update(interactive=True, variant="stop"), None, stop, queue=False)
    answer.then(lambda: off, None, stop)
    stop.click(lambda: off, None, stop, cancels=[answer])
