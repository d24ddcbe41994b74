"""The "learn by experiment" parts the tabs share: compare runs (Pretrain), compare models
(Generate), chat (Instruct), training settings saved by name (the three training tabs), and a
finished model's report card said in the page's words (Weights, compare models).

Each `*_section(...)` lays out its widgets where it is called and wires its events on named
elements (`ui/elements.py`: "runs.picked", "chat.history", ...; handlers take and return
dicts); the work is the core's (`compare_runs`, `stream`, `chat`, `save_training_preset`, ...).
"""
from __future__ import annotations

import html
import random
import time
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pandas as pd

from pocketllm import (BUNDLED_CORPORA, PocketLLMError, Sampling, TaskKind, chat, compare_runs, list_runs,
                       load_training_preset, prepare_pretraining, race_settings, save_training_preset, stream,
                       task_kind, training_presets)
from pocketllm.jobs import JobBusy
from pocketllm.tasks.language_modeling import RACE_MINUTES as CORE_RACE_MINUTES

from . import plots
from .describe import shape_text, tokenizer_text
from .elements import LANG, Elements
from .i18n import LANGS, t, t_plain
from .markup import Markup, escape, table_cell
from .runs import busy_message
from .limits import MAX_SAMPLING_SEED, PROMPT_CHARS, real, text_cap, whole

MAX_COMPARED_MODELS = 4
MAX_COMPARED_RUNS = 8
X_AXES = ("step", "tokens_seen", "elapsed")
Y_UNITS = ("loss", "bits_per_char")
RACE_MINUTES = CORE_RACE_MINUTES  # each recipe's training time in the race (the core's: the leaderboard's budget)
RACE_REFRESH_S = 5.0     # the race's plot is redrawn this often while it runs
RACE_CORPUS = {"zh": "zh_classics", "en": "shakespeare"}  # the bundled text in the page's language


# ---- status lines that follow a language switch ---------------------------------------------
# A status line keeps what it said ([[text key, values], ...]) in a State beside it, named
# "<line>_said", so a language switch says it again in the new language.
def say(said, lang) -> Markup:
    return Markup(" ".join(t(lang, key, **values) for key, values in said or []))


def said_again(shown, said, lang) -> str | None:
    """`said` in `lang`, if the line still shows what was said (not an error or a cleared line since)."""
    if not said or shown not in {say(said, other) for other in LANGS}:
        return None
    return say(said, lang)


def follow_language(els: Elements, lines: list[str]):
    """Each status line in `lines` gets its "<line>_said" State and is said again on a language switch."""
    for line in lines:
        els.add(f"{line}_said", gr.State(None))

    def on_lang(v):
        out = {}
        for line in lines:
            again = said_again(v[line], v[f"{line}_said"], v[LANG])
            if again is not None:
                out[line] = again
        return out

    els.on_load(on_lang, [*(n for line in lines for n in (line, f"{line}_said")), LANG], lines)


# ---- report cards (pocketllm/report_card.py: a finished run's figures) ------------------------
# The card's figures, in the order the page lists them: (key, how the value is written).
CARD_FIGURES = (("val_bits_per_char", "{:.3f}"), ("val_loss", "{:.3f}"), ("repeated_4grams", "{:.1%}"),
                ("distinct_2", "{:.2f}"), ("test_accuracy", "{:.1%}"), ("macro_f1", "{:.3f}"),
                ("val_accuracy", "{:.1%}"), ("exact_match", "{:.1%}"), ("empty_answers", "{:.1%}"))
# The one figure a table shows, per kind of model: held-out bits/char, test accuracy, exact match.
CARD_HEADLINES = ("val_bits_per_char", "test_accuracy", "val_accuracy", "exact_match")
CARD_COUNTS = {"val_loss": "val_windows", "test_accuracy": "test_examples", "exact_match": "test_answers",
               "repeated_4grams": "samples"}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def card_of(facts) -> dict:
    card = (facts or {}).get("report_card") if isinstance(facts, dict) else None
    return card if isinstance(card, dict) else {}


def card_short(card: dict, lang) -> str:
    """The card's headline figure as plain text ("bits/char 2.314", "测试准确率 91.2%"); "" for none."""
    for key in CARD_HEADLINES:
        if _number(card.get(key)):
            return t_plain(lang, f"exp.card_short_{key}", value=dict(CARD_FIGURES)[key].format(card[key]))
    return ""


def card_rows(card: dict, lang) -> list[tuple[str, str]]:
    """(what, value) of every figure of the card, in the page's language (values are numbers)."""
    rows = []
    for key, form in CARD_FIGURES:
        if not _number(card.get(key)):
            continue
        value = form.format(card[key])
        count = CARD_COUNTS.get(key)
        if count and _number(card.get(count)):
            value = t(lang, f"exp.card_of_{count}", value=value, n=f"{card[count]:,}")
        rows.append((t(lang, f"exp.card_{key}"), value))
    return rows


def card_markdown(card: dict, lang) -> str:
    """The whole card as Markdown (a table of its figures, and a classifier's confusion matrix)."""
    rows = card_rows(card, lang)
    if not rows:
        return ""
    lines = [t(lang, "exp.card_head"), "", f"| {t(lang, 'exp.card_figure')} | |", "|---|---:|"]
    lines += [f"| {what} | {value} |" for what, value in rows]
    matrix = card.get("confusion_matrix") if isinstance(card.get("confusion_matrix"), dict) else {}
    labels, cells = matrix.get("labels") or [], matrix.get("rows_true_cols_predicted") or []
    if labels and cells and len(labels) == len(cells) and len(labels) <= 20:
        lines += ["", t(lang, "exp.card_confusion"), "",
                  "| " + " | ".join([t(lang, "exp.card_true_predicted"), *(table_cell(x) for x in labels)]) + " |",
                  "|---|" + "---:|" * len(labels)]
        lines += ["| " + " | ".join([table_cell(label), *(table_cell(c) for c in row)]) + " |"
                  for label, row in zip(labels, cells) if isinstance(row, (list, tuple))]
    if card.get("sampling") and "repeated_4grams" in card:
        lines += ["", t(lang, "exp.card_sampling")]
    return "\n".join(lines)


# ---- compare models (Generate) -----------------------------------------------------------
def model_head(ckpt, name: str, lang) -> str:
    """The column head of a compared model: its shape, tokenizer, training facts and report card."""
    facts = ckpt.facts or {}
    bpc = facts.get("val_bits_per_char")
    if facts.get("steps") is not None:
        shown = t(lang, "exp.facts", steps=f"{facts['steps']:,}", bpc=f"{bpc:.3f}" if bpc is not None else "—")
    else:
        shown = t(lang, "exp.facts_none")
    card = card_short(card_of(facts), lang)
    if card:
        shown = Markup(f"{shown}  \n{t(lang, 'exp.card_in_head', card=card)}")
    return t(lang, "exp.model_head", name=name, shape=shape_text(ckpt.config, lang),
             tokenizer=tokenizer_text(ckpt.tokenizer, lang), facts=shown)


def compare_models_section(els: Elements, inputs: list[str], read, model_choices):
    """Pick 2-4 checkpoints; they continue the tab's prompt with the same sampling and seed,
    streamed side by side.  `inputs` are the tab's elements the comparison reads (the prompt,
    the sliders), in the API's order; `read(values)` turns them into (prompt, max new
    tokens, Sampling)."""
    page, state = els.ctx.page, els.ctx.state
    L = page.text
    with page.add(gr.Accordion(L("exp.compare_models_head"), open=False, elem_id="gen-compare"),
                  label="exp.compare_models_head"):
        page.add(gr.Markdown(L("exp.compare_models_intro")), value="exp.compare_models_intro")
        with gr.Row(equal_height=True):
            els.add("compare.models", gr.Dropdown([], value=[], multiselect=True, max_choices=MAX_COMPARED_MODELS,
                                                  label=L("exp.compare_models"), elem_id="gen-compare-models", scale=4,
                                                  allow_custom_value=False), label="exp.compare_models")
            els.add("compare.go", gr.Button(L("exp.compare_go"), variant="primary", elem_id="gen-compare-go", scale=1),
                    value="exp.compare_go")
        els.add("compare.status", gr.Markdown(elem_id="gen-compare-status"))
        with gr.Row(equal_height=False):
            for i in range(MAX_COMPARED_MODELS):
                with els.add(f"compare.column.{i}", gr.Column(visible=False, min_width=220)):
                    els.add(f"compare.head.{i}", gr.Markdown(elem_id=f"gen-compare-head-{i}"))
                    els.add(f"compare.text.{i}", gr.Textbox(show_label=False, lines=10, max_lines=24,
                                                            interactive=False, elem_id=f"gen-compare-text-{i}"))
    slots = range(MAX_COMPARED_MODELS)
    follow_language(els, ["compare.status"])

    def on_compare(v):
        lang = v[LANG]
        paths = v["compare.models"]
        paths = [p for p in paths if p] if isinstance(paths, list) else []
        if not 2 <= len(paths) <= MAX_COMPARED_MODELS:
            raise PocketLLMError(t(lang, "exp.compare_need", n=len(paths)))
        prompt, max_new, sampling = read(v)
        if sampling.seed is None:  # "the same seed" for every model, even when the box is empty
            sampling = replace(sampling, seed=random.randint(0, MAX_SAMPLING_SEED))
        prompt, _ = text_cap(prompt, PROMPT_CHARS)
        ckpts = [state.load(p, lang) for p in paths]  # only checkpoints of the folder
        n = len(ckpts)
        heads = {f"compare.head.{i}": model_head(c, Path(p).relative_to(state.checkpoints).as_posix(), lang)
                 for i, (c, p) in enumerate(zip(ckpts, paths))}
        heads.update({f"compare.head.{i}": "" for i in slots if i >= n})
        outs = [""] * MAX_COMPARED_MODELS
        texts = lambda: {f"compare.text.{i}": outs[i] for i in slots}  # noqa: E731
        yield {**{f"compare.column.{i}": gr.update(visible=i < n) for i in slots}, **heads, **texts(),
               "compare.status": ""}
        streams = [stream(c, prompt, max_new, sampling) for c in ckpts]
        alive = list(range(n))
        while alive:  # one piece from each model in turn: the columns grow together
            for i in list(alive):
                try:
                    outs[i] += next(streams[i])
                except StopIteration:
                    alive.remove(i)
            yield texts()
        said = [["exp.compare_done", {"n": n}]]
        yield {**heads, **texts(), "compare.status": say(said, lang), "compare.status_said": said}

    outputs = [*(f"compare.column.{i}" for i in slots), *(f"compare.head.{i}" for i in slots),
               *(f"compare.text.{i}" for i in slots), "compare.status", "compare.status_said"]
    els.on(els["compare.go"].click, on_compare, ["compare.models", *inputs, LANG], outputs, status="compare.status",
           api_name="compare_models", concurrency_id="model_cpu")

    def on_refresh(v):
        choices = model_choices(state)
        paths = {p for _, p in choices}
        return {"compare.models": gr.update(choices=choices,
                                            value=[p for p in (v["compare.models"] or []) if p in paths])}

    els.on(els["compare.models"].focus, on_refresh, ["compare.models"], ["compare.models"], show_progress="hidden",
           api_name="compare_models_list")
    els.on_load(on_refresh, ["compare.models"], ["compare.models"])


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
    els = Elements(ctx)
    with page.add(gr.Accordion(L("exp.compare_runs_head"), open=False, elem_id="pretrain-compare"),
                  label="exp.compare_runs_head"):
        page.add(gr.Markdown(L("exp.compare_runs_intro")), value="exp.compare_runs_intro")
        with gr.Row(equal_height=True):
            els.add("runs.picked", gr.Dropdown([], value=[], multiselect=True, max_choices=MAX_COMPARED_RUNS,
                                               label=L("exp.runs"), elem_id="compare-runs", scale=4,
                                               allow_custom_value=False), label="exp.runs")
            els.add("runs.refresh", gr.Button(L("exp.runs_refresh"), size="sm", scale=1, elem_id="compare-refresh"),
                    value="exp.runs_refresh")
        with gr.Row():
            els.add("runs.x", gr.Radio([(L(f"exp.x_{x}"), x) for x in X_AXES], value=X_AXES[0], label=L("exp.x_axis"),
                                       elem_id="compare-x"),
                    label="exp.x_axis", choices=[(f"exp.x_{x}", x) for x in X_AXES])
            els.add("runs.y", gr.Radio([(L(f"exp.y_{y}"), y) for y in Y_UNITS], value=Y_UNITS[0],
                                       label=L("exp.y_unit"), elem_id="compare-y"),
                    label="exp.y_unit", choices=[(f"exp.y_{y}", y) for y in Y_UNITS])
            els.add("runs.go", gr.Button(L("exp.runs_go"), variant="primary", elem_id="compare-go"),
                    value="exp.runs_go")
        with gr.Row(equal_height=True):
            els.add("runs.race", gr.Button(L("exp.race"), scale=1, elem_id="compare-race"), value="exp.race")
            page.add(gr.Markdown(L("exp.race_about"), elem_id="compare-race-about"), value="exp.race_about")
        els.add("runs.status", gr.Markdown(elem_id="compare-status"))
        els.add("runs.plot", gr.Plot(plots.empty_figure(L("plots.no_points")), show_label=False,
                                     elem_id="compare-plot"))
        els.add("runs.table", gr.Dataframe(interactive=False, wrap=True, elem_id="compare-table"))
    follow_language(els, ["runs.status"])

    def on_compare(v):
        lang = v[LANG]
        chosen = v["runs.picked"]
        chosen = [c for c in chosen if c] if isinstance(chosen, list) else []
        if not 1 <= len(chosen) <= MAX_COMPARED_RUNS:
            raise PocketLLMError(t(lang, "exp.runs_need", n=len(chosen)))
        known = {value for _, value in run_choices(state)}
        for c in chosen:  # only run folders of the checkpoints folder, whatever the page sends
            if c not in known:
                raise PocketLLMError(t(lang, "exp.runs_unknown", name=str(c)[:80]))
        x = v["runs.x"] if v["runs.x"] in X_AXES else X_AXES[0]
        unit = v["runs.y"] if v["runs.y"] in Y_UNITS else Y_UNITS[0]
        comparison = compare_runs([state.checkpoints / c for c in chosen])
        said = [["exp.runs_done", {"n": len(chosen), "d": len(comparison.differing)}]]
        return {"runs.plot": plots.compare_runs_figure(comparison, x, unit, lang),
                "runs.table": comparison_table(comparison, lang), "runs.status": say(said, lang),
                "runs.status_said": said}

    def on_refresh(v):
        choices = run_choices(state)
        values = {c for _, c in choices}
        return {"runs.picked": gr.update(choices=choices, value=[c for c in (v["runs.picked"] or []) if c in values])}

    def on_race(v):
        """The worked example: classic, then the default recipe, the same minutes each on one bundled text,
        drawn against time while they train (a job of two runs: Stop ends it)."""
        lang = v[LANG]
        name = f"race-{time.strftime('%Y%m%d-%H%M%S')}"
        plan = race_settings(BUNDLED_CORPORA[RACE_CORPUS.get(lang, "zh_classics")], state.checkpoints,
                             RACE_MINUTES, name=name)
        try:
            job = state.runner.start_series(TaskKind.PRETRAIN,
                                            [lambda stop, s=s: prepare_pretraining(s, stop) for s in plan])
        except JobBusy:
            raise PocketLLMError(busy_message(state.runner.current, lang)) from None
        picked = [Path(s.run_dir).name for s in plan]
        yield {"runs.picked": gr.update(choices=run_choices(state), value=picked), "runs.x": "elapsed",
               "runs.y": "bits_per_char"}
        while True:
            alive = job.alive  # read before drawing: the last drawing comes after the end
            comparison = compare_runs([state.checkpoints / p for p in picked])
            said = race_said(comparison, job, alive)
            yield {"runs.plot": plots.compare_runs_figure(comparison, "elapsed", "bits_per_char", lang),
                   "runs.table": comparison_table(comparison, lang), "runs.status": say(said, lang),
                   "runs.status_said": said}
            if not alive:
                return
            time.sleep(RACE_REFRESH_S)

    io = (["runs.picked", "runs.x", "runs.y", LANG], ["runs.plot", "runs.table", "runs.status", "runs.status_said"])
    els.on(els["runs.race"].click, on_race, [LANG], ["runs.picked", "runs.x", "runs.y", *io[1]], status="runs.status",
           api_name="compare_race", show_progress="minimal")
    els.on(els["runs.go"].click, on_compare, *io, status="runs.status", api_name="compare_runs")
    els.on([els["runs.x"].change, els["runs.y"].change], on_compare, *io, status="runs.status",
           show_progress="hidden")
    els.on(els["runs.refresh"].click, on_refresh, ["runs.picked"], ["runs.picked"], api_name="compare_runs_list")
    els.on_load(on_refresh, ["runs.picked"], ["runs.picked"])


def race_said(comparison, job, alive: bool) -> list:
    """What the race's status line says: which run trains now, or each run's final bits per character."""
    if alive:
        now = next((i for i, r in enumerate(comparison.runs) if r.name == job.name), 0)
        return [["exp.race_running", {"name": job.name, "done": now + 1, "n": len(comparison.runs)}]]
    finals = [r.final.get("bits_per_char") for r in comparison.runs]
    if job.status != "finished" or any(f is None for f in finals):
        return [["exp.race_failed" if job.status == "failed" else "exp.race_stopped", {}]]
    first = finals[0]
    parts = ", ".join(f"{r.name.rsplit('-', 1)[-1]} {f:.3f}" + (f" ({(f - first) / first:+.1%})" if i else "")
                      for i, (r, f) in enumerate(zip(comparison.runs, finals)))
    return [["exp.race_done", {"results": parts}]]


# ---- chat (Instruct) -------------------------------------------------------------------------
def _text_of(content) -> str:
    """A chat message's text, as Gradio sends it (a string, or a list of text parts): the text the
    page showed, unescaped (`shown_message`)."""
    if isinstance(content, str):
        return html.unescape(content)
    if isinstance(content, dict):
        return _text_of(str(content.get("text") or content.get("value") or ""))
    if isinstance(content, (list, tuple)):
        return "".join(_text_of(c) for c in content)
    return ""


def shown_message(role: str, text: str) -> dict:
    """A chat message for the Chatbot, which renders Markdown and HTML: the text escaped, so a
    message or an answer shows as typed, never as markup (`_text_of` reads it back)."""
    return {"role": role, "content": escape(text)}


def shown_history(history) -> list[dict]:
    """The Chatbot's messages as the page sent them back, each escaped again (idempotent for what
    this page showed; a call through the API may send any text)."""
    return [shown_message(m["role"], _text_of(m.get("content"))) for m in history or []
            if isinstance(m, dict) and m.get("role") in ("user", "assistant")]


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
    """A multi-turn chat with the model picked in `model`, with the tab's temperature and length
    (the tab's components, named here "chat.model", "chat.temperature", "chat.max_new")."""
    page, state = ctx.page, ctx.state
    L = page.text
    els = Elements(ctx)
    els.add("chat.model", model)
    els.add("chat.temperature", temperature)
    els.add("chat.max_new", max_new)
    with page.add(gr.Accordion(L("exp.chat_head"), open=False, elem_id="ins-chat-box"), label="exp.chat_head"):
        page.add(gr.Markdown(L("exp.chat_intro")), value="exp.chat_intro")
        els.add("chat.history", gr.Chatbot(label=L("exp.chat"), height=360, elem_id="ins-chat", feedback_options=None),
                label="exp.chat")
        with gr.Row(equal_height=True):
            els.add("chat.message", gr.Textbox(label=L("exp.chat_message"), lines=1, scale=5, max_length=PROMPT_CHARS,
                                               elem_id="ins-chat-message"), label="exp.chat_message")
            els.add("chat.send", gr.Button(L("exp.chat_send"), variant="primary", scale=1, elem_id="ins-chat-send"),
                    value="exp.chat_send")
            els.add("chat.clear", gr.Button(L("exp.chat_clear"), scale=1, elem_id="ins-chat-clear"),
                    value="exp.chat_clear")
        els.add("chat.note", gr.Markdown(elem_id="ins-chat-note"))
    follow_language(els, ["chat.note"])

    def on_chat(v):
        lang = v[LANG]
        path = v["chat.model"]
        if not path:
            raise PocketLLMError(t(lang, "instruct.no_model"))
        text, _ = text_cap(v["chat.message"], PROMPT_CHARS, keep="start")
        if not (text or "").strip():
            raise PocketLLMError(t(lang, "exp.chat_empty"))
        temp = real(v["chat.temperature"], 0, 2, "instruct.temperature", lang, default=Sampling().temperature)
        length = whole(v["chat.max_new"], 1, max_new_limit, "instruct.max_new", lang, default=max_new.value)
        ckpt = state.load(path, lang)  # only a checkpoint of the folder
        if task_kind(ckpt.task_type) is TaskKind.CLASSIFY:
            raise PocketLLMError(is_classifier(lang, Path(path).name))
        history = v["chat.history"]
        shown_prompt, pieces = chat(ckpt, turns_of(history), text, Sampling(temperature=temp), length)
        if shown_prompt.dropped_turns:
            said = [["exp.chat_dropped", {"n": shown_prompt.dropped_turns, "kept": shown_prompt.kept_turns}]]
        else:
            said = [["exp.chat_ok", {"tokens": shown_prompt.tokens, "kept": shown_prompt.kept_turns}]]
        note = say(said, lang)
        messages = shown_history(history)
        messages += [shown_message("user", text), shown_message("assistant", "")]
        yield {"chat.history": messages, "chat.message": "", "chat.note": note, "chat.note_said": said}
        answer = ""
        for piece in pieces:
            answer += piece
            messages[-1] = shown_message("assistant", answer)
            yield {"chat.history": messages}
        yield {"chat.history": messages, "chat.message": "", "chat.note": note}  # (the API's answer: all of it)

    io = (["chat.model", "chat.history", "chat.message", "chat.temperature", "chat.max_new", LANG],
          ["chat.history", "chat.message", "chat.note", "chat.note_said"])
    els.on(els["chat.send"].click, on_chat, *io, status="chat.note", api_name="chat", concurrency_id="model_cpu")
    els.on(els["chat.message"].submit, on_chat, *io, status="chat.note", concurrency_id="model_cpu")
    els.on(els["chat.clear"].click,
           lambda v: {"chat.history": [], "chat.message": "", "chat.note": "", "chat.note_said": None}, [],
           ["chat.history", "chat.message", "chat.note", "chat.note_said"], api_name="chat_clear")


# ---- training settings by name (Pretrain, Classify, Instruct) -------------------------------------
def settings_section(ctx, kind, form, to_settings, fill):
    """A name box + Save and a dropdown + Load for the tab's settings.

    `form` is the tab's settings widgets; `to_settings(*their values, lang)` builds the core's
    settings object (checked, in the page's language) and `fill(settings)` gives one value or
    update per widget of `form`, in its order."""
    page, state = ctx.page, ctx.state
    L = page.text
    els = Elements(ctx)
    fields = [f"settings.form.{i}" for i in range(len(form))]
    for name, component in zip(fields, form):
        els.add(name, component)
    with gr.Row(equal_height=False):
        with gr.Column(min_width=200):
            els.add("settings.name", gr.Textbox(label=L("exp.settings_name"),
                                                placeholder=L("exp.settings_name_placeholder"), max_length=40,
                                                elem_id=f"{kind}-settings-name"),
                    label="exp.settings_name", placeholder="exp.settings_name_placeholder")
            els.add("settings.save", gr.Button(L("exp.settings_save"), size="sm", elem_id=f"{kind}-settings-save"),
                    value="exp.settings_save")
        with gr.Column(min_width=200):
            els.add("settings.saved", gr.Dropdown(training_presets(kind, state.checkpoints), value=None,
                                                  label=L("exp.settings_pick"), allow_custom_value=False,
                                                  elem_id=f"{kind}-settings-pick"), label="exp.settings_pick")
            els.add("settings.load", gr.Button(L("exp.settings_load"), size="sm", elem_id=f"{kind}-settings-load"),
                    value="exp.settings_load")
    els.add("settings.note", gr.Markdown(elem_id=f"{kind}-settings-note"))

    def on_save(v):
        lang = v[LANG]
        settings = to_settings(*(v[name] for name in fields), lang)
        name = (v["settings.name"] or "").strip()
        save_training_preset(kind, name, settings, state.checkpoints)
        return {"settings.saved": gr.update(choices=training_presets(kind, state.checkpoints), value=name),
                "settings.note": t(lang, "exp.settings_saved", name=name)}

    def on_load(v):
        lang, name = v[LANG], v["settings.saved"]
        if not name:
            raise PocketLLMError(t(lang, "exp.settings_none"))
        settings = load_training_preset(kind, name, state.checkpoints)
        return {**dict(zip(fields, fill(settings))), "settings.note": t(lang, "exp.settings_loaded", name=name)}

    def on_list(v):
        names = training_presets(kind, state.checkpoints)
        return {"settings.saved": gr.update(choices=names, value=v["settings.saved"] if v["settings.saved"] in names
                                            else None)}

    els.on(els["settings.save"].click, on_save, ["settings.name", *fields, LANG], ["settings.saved", "settings.note"],
           status="settings.note", api_name=f"{kind}_settings_save")
    els.on(els["settings.load"].click, on_load, ["settings.saved", LANG], [*fields, "settings.note"],
           status="settings.note", api_name=f"{kind}_settings_load")
    els.on_load(on_list, ["settings.saved"], ["settings.saved"])
