"""The "learn by experiment" parts the tabs share: compare runs (Pretrain), compare models
(Generate), chat (Instruct) and training settings saved by name (the three training tabs).

Each `*_section(ctx, ...)` lays out its widgets where it is called and wires its events;
the work is the core's (`compare_runs`, `stream`, `chat`, `save_training_preset`, ...).
"""
from __future__ import annotations

import random
from pathlib import Path

import gradio as gr
import pandas as pd

from pocketllm import (PocketLLMError, Sampling, TaskKind, chat, compare_runs, list_runs,
                       load_training_preset, save_training_preset, stream, task_kind, training_presets)

from . import plots
from .describe import shape_text, tokenizer_text
from .errors import friendly
from .i18n import t
from .limits import MAX_SAMPLING_SEED, PROMPT_CHARS, real, text_cap, whole

MAX_COMPARED_MODELS = 4
MAX_COMPARED_RUNS = 8
X_AXES = ("step", "tokens_seen", "elapsed")
Y_UNITS = ("loss", "bits_per_char")


# ---- compare models (Generate) -----------------------------------------------------------
def model_head(ckpt, name: str, lang) -> str:
    """The column head of a compared model: its shape, tokenizer and training facts."""
    facts = ckpt.facts or {}
    bpc = facts.get("val_bits_per_char")
    if facts.get("steps") is not None:
        shown = t(lang, "exp.facts", steps=f"{facts['steps']:,}", bpc=f"{bpc:.3f}" if bpc is not None else "—")
    else:
        shown = t(lang, "exp.facts_none")
    return t(lang, "exp.model_head", name=name, shape=shape_text(ckpt.config, lang),
             tokenizer=tokenizer_text(ckpt.tokenizer, lang), facts=shown)


def compare_models_section(ctx, load, model_choices, prompt, sampling_inputs, sampling, max_new_limit):
    """Pick 2-4 checkpoints; they continue `prompt` with the same sampling (the tab's sliders,
    `sampling_inputs`: temperature, top-k, top-p, max new, seed, valid UTF-8, repetition
    penalty, min-p, stop strings) and seed, streamed side by side."""
    page, state = ctx.page, ctx.state
    L = page.text
    with page.add(gr.Accordion(L("exp.compare_models_head"), open=False, elem_id="gen-compare"),
                  label="exp.compare_models_head"):
        page.add(gr.Markdown(L("exp.compare_models_intro")), value="exp.compare_models_intro")
        with gr.Row(equal_height=True):
            models = page.add(gr.Dropdown([], value=[], multiselect=True, max_choices=MAX_COMPARED_MODELS,
                                          label=L("exp.compare_models"), elem_id="gen-compare-models", scale=4,
                                          allow_custom_value=False), label="exp.compare_models")
            go = page.add(gr.Button(L("exp.compare_go"), variant="primary", elem_id="gen-compare-go", scale=1),
                          value="exp.compare_go")
        status = gr.Markdown(elem_id="gen-compare-status")
        columns, heads, texts = [], [], []
        with gr.Row(equal_height=False):
            for i in range(MAX_COMPARED_MODELS):
                with gr.Column(visible=False, min_width=220) as col:
                    heads.append(gr.Markdown(elem_id=f"gen-compare-head-{i}"))
                    texts.append(gr.Textbox(show_label=False, lines=10, max_lines=24, interactive=False,
                                            elem_id=f"gen-compare-text-{i}"))
                columns.append(col)
    n_out = 3 * MAX_COMPARED_MODELS + 1

    @friendly(outputs=n_out, status=n_out - 1)
    def on_compare(paths, prompt, temperature, top_k, top_p, max_new, seed, valid_utf8, repetition_penalty, min_p,
                   stop, lang):
        paths = [p for p in (paths or []) if p] if isinstance(paths, list) else []
        if not 2 <= len(paths) <= MAX_COMPARED_MODELS:
            raise PocketLLMError(t(lang, "exp.compare_need", n=len(paths)))
        if seed is None or seed == "":  # "the same seed" for every model, even when the box is empty
            seed = random.randint(0, MAX_SAMPLING_SEED)
        cfg = sampling(temperature, top_k, top_p, seed, valid_utf8, lang, repetition_penalty, min_p, stop)
        max_new = whole(max_new, 1, max_new_limit, "generate.max_new", lang, default=80)
        prompt, _ = text_cap(prompt, PROMPT_CHARS)
        ckpts = [load(p, lang) for p in paths]  # only checkpoints of the folder
        shown = [model_head(c, Path(p).relative_to(state.checkpoints).as_posix(), lang) for c, p in zip(ckpts, paths)]
        n = len(ckpts)
        cols = [gr.update(visible=i < n) for i in range(MAX_COMPARED_MODELS)]
        head_out = shown + [""] * (MAX_COMPARED_MODELS - n)
        outs = [""] * MAX_COMPARED_MODELS
        yield (*cols, *head_out, *outs, "")
        streams = [stream(c, prompt, max_new, cfg) for c in ckpts]
        alive = list(range(n))
        while alive:  # one piece from each model in turn: the columns grow together
            for i in list(alive):
                try:
                    outs[i] += next(streams[i])
                except StopIteration:
                    alive.remove(i)
            yield (*[gr.skip()] * MAX_COMPARED_MODELS, *[gr.skip()] * MAX_COMPARED_MODELS, *outs, "")
        yield (*[gr.skip()] * MAX_COMPARED_MODELS, *head_out, *outs, t(lang, "exp.compare_done", n=n))

    go.click(on_compare, [models, prompt, *sampling_inputs, ctx.lang], [*columns, *heads, *texts, status],
             api_name="compare_models", concurrency_id="model_cpu")

    def on_refresh(current):
        choices = model_choices(state)
        paths = {p for _, p in choices}
        return gr.update(choices=choices, value=[p for p in (current or []) if p in paths])

    models.focus(on_refresh, models, models, show_progress="hidden", api_name="compare_models_list")
    ctx.on_load(on_refresh, models, models)
    return models


# ---- compare runs (Pretrain) ---------------------------------------------------------------
def run_choices(state) -> list[tuple[str, str]]:
    """Every run folder of the checkpoints folder (any kind), newest first, by its path inside it."""
    out = []
    for run in list_runs(state.checkpoints):
        rel = Path(run).resolve().relative_to(state.checkpoints.resolve()).as_posix()
        out.append((rel, rel))
    return out


def _cell(value):
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return "—" if value is None else value


def comparison_table(comparison, lang) -> pd.DataFrame:
    rows = comparison.table()
    columns = list(rows[0]) if rows else ["run"]
    named = [t(lang, f"exp.col_{c}") if t(lang, f"exp.col_{c}") != f"exp.col_{c}" else c for c in columns]
    return pd.DataFrame([[_cell(r.get(c)) for c in columns] for r in rows], columns=named)


def compare_runs_section(ctx):
    page, state = ctx.page, ctx.state
    L = page.text
    with page.add(gr.Accordion(L("exp.compare_runs_head"), open=False, elem_id="pretrain-compare"),
                  label="exp.compare_runs_head"):
        page.add(gr.Markdown(L("exp.compare_runs_intro")), value="exp.compare_runs_intro")
        with gr.Row(equal_height=True):
            runs = page.add(gr.Dropdown([], value=[], multiselect=True, max_choices=MAX_COMPARED_RUNS,
                                        label=L("exp.runs"), elem_id="compare-runs", scale=4,
                                        allow_custom_value=False), label="exp.runs")
            refresh = page.add(gr.Button(L("exp.runs_refresh"), size="sm", scale=1, elem_id="compare-refresh"),
                               value="exp.runs_refresh")
        with gr.Row():
            x_axis = page.add(gr.Radio([(L(f"exp.x_{x}"), x) for x in X_AXES], value="step", label=L("exp.x_axis"),
                                       elem_id="compare-x"),
                              label="exp.x_axis", choices=[(f"exp.x_{x}", x) for x in X_AXES])
            y_unit = page.add(gr.Radio([(L(f"exp.y_{y}"), y) for y in Y_UNITS], value="loss", label=L("exp.y_unit"),
                                       elem_id="compare-y"),
                              label="exp.y_unit", choices=[(f"exp.y_{y}", y) for y in Y_UNITS])
            go = page.add(gr.Button(L("exp.runs_go"), variant="primary", elem_id="compare-go"), value="exp.runs_go")
        status = gr.Markdown(elem_id="compare-status")
        plot = gr.Plot(plots.empty_figure(L("plots.no_points")), show_label=False, elem_id="compare-plot")
        table = gr.Dataframe(interactive=False, wrap=True, elem_id="compare-table")

    @friendly(outputs=3, status=2)
    def on_compare(chosen, x, unit, lang):
        chosen = [c for c in (chosen or []) if c] if isinstance(chosen, list) else []
        if not 1 <= len(chosen) <= MAX_COMPARED_RUNS:
            raise PocketLLMError(t(lang, "exp.runs_need", n=len(chosen)))
        known = {v for _, v in run_choices(state)}
        for c in chosen:  # only run folders of the checkpoints folder, whatever the page sends
            if c not in known:
                raise PocketLLMError(t(lang, "exp.runs_unknown", name=str(c)[:80]))
        x = x if x in X_AXES else "step"
        unit = unit if unit in Y_UNITS else "loss"
        comparison = compare_runs([state.checkpoints / c for c in chosen])
        return (plots.compare_runs_figure(comparison, x, unit, lang), comparison_table(comparison, lang),
                t(lang, "exp.runs_done", n=len(chosen), d=len(comparison.differing)))

    def on_refresh(current):
        choices = run_choices(state)
        values = {v for _, v in choices}
        return gr.update(choices=choices, value=[c for c in (current or []) if c in values])

    go.click(on_compare, [runs, x_axis, y_unit, ctx.lang], [plot, table, status], api_name="compare_runs")
    for radio in (x_axis, y_unit):
        radio.change(on_compare, [runs, x_axis, y_unit, ctx.lang], [plot, table, status], show_progress="hidden")
    refresh.click(on_refresh, runs, runs, api_name="compare_runs_list")
    ctx.on_load(on_refresh, runs, runs)


# ---- chat (Instruct) -------------------------------------------------------------------------
def _text_of(content) -> str:
    """A chat message's text, as Gradio sends it (a string, or a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, (list, tuple)):
        return "".join(_text_of(c) for c in content)
    return ""


def turns_of(history) -> list[tuple[str, str]]:
    """The chatbot's messages as (user, model) pairs, for the core's `chat`."""
    pairs, user = [], None
    for m in history or []:
        if not isinstance(m, dict):
            continue
        text = _text_of(m.get("content"))
        if m.get("role") == "user":
            if user is not None:
                pairs.append((user, ""))
            user = text
        elif m.get("role") == "assistant":
            pairs.append((user or "", text))
            user = None
    return pairs


def chat_section(ctx, model, temperature, max_new, max_new_limit, is_classifier):
    """A multi-turn chat with the model picked in `model`, with the tab's temperature and length."""
    page, state = ctx.page, ctx.state
    L = page.text
    with page.add(gr.Accordion(L("exp.chat_head"), open=False, elem_id="ins-chat-box"), label="exp.chat_head"):
        page.add(gr.Markdown(L("exp.chat_intro")), value="exp.chat_intro")
        bot = page.add(gr.Chatbot(label=L("exp.chat"), height=360, elem_id="ins-chat", feedback_options=None),
                       label="exp.chat")
        with gr.Row(equal_height=True):
            message = page.add(gr.Textbox(label=L("exp.chat_message"), lines=1, scale=5, max_length=PROMPT_CHARS,
                                          elem_id="ins-chat-message"), label="exp.chat_message")
            send = page.add(gr.Button(L("exp.chat_send"), variant="primary", scale=1, elem_id="ins-chat-send"),
                            value="exp.chat_send")
            clear = page.add(gr.Button(L("exp.chat_clear"), scale=1, elem_id="ins-chat-clear"), value="exp.chat_clear")
        note = gr.Markdown(elem_id="ins-chat-note")

    @friendly(outputs=3, status=2)
    def on_chat(path, history, text, temperature, max_new, lang):
        if not path:
            raise PocketLLMError(t(lang, "instruct.no_model"))
        text, _ = text_cap(text, PROMPT_CHARS, keep="start")
        if not (text or "").strip():
            raise PocketLLMError(t(lang, "exp.chat_empty"))
        temp = real(temperature, 0, 2, "instruct.temperature", lang, default=0.0)
        max_new = whole(max_new, 1, max_new_limit, "instruct.max_new", lang, default=60)
        ckpt = state.load(path, lang)  # only a checkpoint of the folder
        if task_kind(ckpt.task_type) is TaskKind.CLASSIFY:
            raise PocketLLMError(is_classifier(lang, Path(path).name))
        sampling = Sampling(temperature=temp, seed=123) if temp > 0 else Sampling()
        turns = turns_of(history)
        shown_prompt, pieces = chat(ckpt, turns, text, sampling, max_new)
        if shown_prompt.dropped_turns:
            said = t(lang, "exp.chat_dropped", n=shown_prompt.dropped_turns, kept=shown_prompt.kept_turns)
        else:
            said = t(lang, "exp.chat_ok", tokens=shown_prompt.tokens, kept=shown_prompt.kept_turns)
        messages = [m for m in (history or []) if isinstance(m, dict)]
        messages += [{"role": "user", "content": text}, {"role": "assistant", "content": ""}]
        yield messages, "", said
        answer = ""
        for piece in pieces:
            answer += piece
            messages[-1] = {"role": "assistant", "content": answer}
            yield messages, gr.skip(), said
        yield messages, "", said

    inputs = [model, bot, message, temperature, max_new, ctx.lang]
    send.click(on_chat, inputs, [bot, message, note], api_name="chat", concurrency_id="model_cpu")
    message.submit(on_chat, inputs, [bot, message, note], concurrency_id="model_cpu")
    clear.click(lambda: ([], "", ""), None, [bot, message, note], api_name="chat_clear")


# ---- training settings by name (Pretrain, Classify, Instruct) -------------------------------------
def settings_section(ctx, kind, form, to_settings, fill):
    """A name box + Save and a dropdown + Load for the tab's settings.

    `to_settings(*form values, lang)` builds the core's settings object (checked, in the
    page's language); `fill(settings)` returns one update per widget of `form`."""
    page, state = ctx.page, ctx.state
    L = page.text
    with gr.Row(equal_height=False):
        with gr.Column(min_width=200):
            name = page.add(gr.Textbox(label=L("exp.settings_name"), placeholder=L("exp.settings_name_placeholder"),
                                       max_length=40, elem_id=f"{kind}-settings-name"),
                            label="exp.settings_name", placeholder="exp.settings_name_placeholder")
            save = page.add(gr.Button(L("exp.settings_save"), size="sm", elem_id=f"{kind}-settings-save"),
                            value="exp.settings_save")
        with gr.Column(min_width=200):
            saved = page.add(gr.Dropdown(training_presets(kind, state.checkpoints), value=None,
                                         label=L("exp.settings_pick"), allow_custom_value=False,
                                         elem_id=f"{kind}-settings-pick"), label="exp.settings_pick")
            load = page.add(gr.Button(L("exp.settings_load"), size="sm", elem_id=f"{kind}-settings-load"),
                            value="exp.settings_load")
    note = gr.Markdown(elem_id=f"{kind}-settings-note")

    @friendly(outputs=2, status=1)
    def on_save(name, *values):
        *values, lang = values
        settings = to_settings(*values, lang)
        name = (name or "").strip()
        save_training_preset(kind, name, settings, state.checkpoints)
        return (gr.update(choices=training_presets(kind, state.checkpoints), value=name),
                t(lang, "exp.settings_saved", name=name))

    @friendly(outputs=len(form) + 1, status=len(form))
    def on_load(name, lang):
        if not name:
            raise PocketLLMError(t(lang, "exp.settings_none"))
        settings = load_training_preset(kind, name, state.checkpoints)
        return (*fill(settings), t(lang, "exp.settings_loaded", name=name))

    save.click(on_save, [name, *form, ctx.lang], [saved, note], api_name=f"{kind}_settings_save")
    load.click(on_load, [saved, ctx.lang], [*form, note], api_name=f"{kind}_settings_load")

    def on_list(current):
        names = training_presets(kind, state.checkpoints)
        return gr.update(choices=names, value=current if current in names else None)

    ctx.on_load(on_list, saved, saved)
