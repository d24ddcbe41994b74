"""Generate tab: pick a checkpoint, write a prompt, set the sampling sliders, read the
streamed text; and "Look inside": tokens, next-token candidates that follow the
sliders, attention maps, the logit lens and the parameter map.  Every text is read
and written with the checkpoint's own tokenizer (gpt2, bpe or char)."""
from __future__ import annotations

import codecs
import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr

import re

from pocketllm import (PRECISIONS, PocketLLMError, Sampling, TaskKind, Tokenizer, generate_explained, inspect,
                       load_sampling_preset, sampling_presets, save_sampling_preset, stream, task_kind)

from .. import plots
from ..errors import friendly
from ..i18n import t
from ..limits import (INSIDE_CHARS, MAX_HEADS, MAX_LAYERS, MAX_SAMPLING_SEED, MAX_VOCAB, PROMPT_CHARS, Number,
                      Slider, real, text_cap, whole)
from ..experiments import compare_models_section

BUILTIN_PRESETS = ("greedy", "balanced", "creative")  # the core's built-in sampler presets, named in the page
MAX_STOPS, STOP_CHARS = 16, 200  # the core's limits on stop strings
MAX_REPETITION_PENALTY = 10.0
TOP_K_SLIDER = 200
CANDIDATES = 15
# Attention and logit lens read at most this many tokens (the prompt's end): their cost
# grows with tokens² (600 MB for GPT-2 124M at 1024 tokens) and a bigger map is unreadable.
INSIDE_TOKENS = 64
CACHED_MAPS = 4
MAX_NEW = 500  # the slider's end: tokens generated at a time


WRITERS = [kind for kind in TaskKind if kind.generates]  # the kinds whose models write text


def short_name(name: str) -> str:
    """A checkpoint as a picker shows it: a run's `<run>/model.safetensors` as `<run>`, any
    other file without its suffix (the whole name did not fit the box)."""
    name = name.removesuffix(".safetensors")
    return name.removesuffix("/model")


def model_choices(state) -> list[tuple[str, str]]:
    return [(f"{short_name(r['name'])} · {r['parameters'] / 1e6:.1f}M", r["path"])
            for r in state.models_table() if task_kind(r["task"]) in WRITERS]


def stop_strings(text, lang="en") -> tuple:
    """The stop-strings box (comma- or newline-separated) as a tuple; too many or too long
    ones are refused in the page's language."""
    if text is None or text == "":
        return ()
    if not isinstance(text, str) or len(text) > MAX_STOPS * (STOP_CHARS + 1):
        raise PocketLLMError(t(lang, "exp.too_many_stops", n=MAX_STOPS, chars=STOP_CHARS))
    stops = tuple(dict.fromkeys(s for s in re.split(r"[,\n]", text.replace("\r", "")) if s.strip()))
    if len(stops) > MAX_STOPS or any(len(s) > STOP_CHARS for s in stops):
        raise PocketLLMError(t(lang, "exp.too_many_stops", n=MAX_STOPS, chars=STOP_CHARS))
    return stops


def sampling(temperature, top_k, top_p, seed=None, valid_utf8=True, lang="en", repetition_penalty=1.0, min_p=0.0,
             stop="") -> Sampling:
    """The sliders as the core's Sampling; a value past a slider's range is refused in the
    page's language (the core checks again)."""
    top_k = whole(top_k, 0, MAX_VOCAB, "generate.top_k", lang, default=0)
    top_p = real(top_p, 0, 1, "generate.top_p", lang, default=1.0)
    seed = None if seed is None or seed == "" else whole(seed, 0, MAX_SAMPLING_SEED, "generate.seed", lang)
    min_p = real(min_p, 0, 1, "exp.min_p", lang, default=0.0)
    return Sampling(temperature=real(temperature, 0, 2, "generate.temperature", lang, default=0.0),
                    top_k=top_k or None, top_p=top_p if top_p < 1.0 else None, seed=seed,
                    valid_utf8=valid_utf8 is not False,
                    repetition_penalty=real(repetition_penalty, 1, MAX_REPETITION_PENALTY,
                                            "exp.repetition_penalty", lang, default=1.0),
                    min_p=min_p or None, stop=stop_strings(stop, lang))


def preset_choices(state, lang) -> list[tuple[str, str]]:
    """The sampler presets for the dropdown: the core's built-ins (named in the page's language), then the user's."""
    return [(t(lang, f"exp.preset_builtin_{n}") if n in BUILTIN_PRESETS else n, n)
            for n in sampling_presets(state.checkpoints)]


def sliders_of(s: Sampling) -> tuple:
    """A Sampling as the widgets show it: temperature, top-k, top-p, repetition penalty, min-p, stop strings."""
    return (s.temperature, s.top_k or 0, s.top_p if s.top_p is not None else 1.0, s.repetition_penalty,
            s.min_p or 0.0, "\n".join(s.stop))


def prompt_note(prompt: str, context: int, lang, tok: Tokenizer) -> str:
    n = len(tok.encode(prompt or ""))
    if n == 0:
        return t(lang, "generate.note_empty")
    if n > context:
        return t(lang, "generate.note_long", n=n, context=context, dropped=n - context)
    return t(lang, "generate.note_ok", n=n, context=context)


def prompt_tail(prompt: str, tok: Tokenizer, n: int = INSIDE_TOKENS) -> tuple[str, int]:
    """The end of `prompt` that is at most `n` tokens of `tok` (the model's tokenizer),
    cut at a character boundary, and how many tokens were left out before it."""
    ids = tok.encode(prompt or "")
    if len(ids) <= n:
        return prompt or "", 0
    for keep in range(n, 0, -1):
        raw = b"".join(tok.token_bytes(i) for i in ids[-keep:])
        # Skip a character's tail bytes left by the cut; keep only whole characters.
        text = codecs.getincrementaldecoder("utf-8")(errors="ignore").decode(raw.lstrip(bytes(range(0x80, 0xC0))),
                                                                             final=True)
        fed = len(tok.encode(text))
        if fed <= n:
            return text, len(ids) - fed
    return "", len(ids)


class AttentionCache:
    """The last few attention maps, by (model file, its version, prompt): moving the
    block / head pickers only re-slices them."""

    def __init__(self, size: int = CACHED_MAPS):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, prompt: str, compute):
        key = (str(path), path.stat().st_mtime_ns, prompt)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        maps = compute()
        with self._lock:
            self._items[key] = maps
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return maps


def caption(page, key):
    """One line under a chart that says what to look for."""
    return page.add(gr.Markdown(page.text(key), elem_classes=["pl-caption"]), value=key)


class StopFlags:
    """One stop flag per browser session: Stop asks the running generation to end after
    its current token, so it can say how far it got (cancelling it would say nothing)."""

    def __init__(self):
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str) -> threading.Event:
        with self._lock:
            flag = self._flags[session] = threading.Event()
            return flag

    def stop(self, session: str) -> bool:
        with self._lock:
            flag = self._flags.get(session)
        if flag is None:
            return False
        flag.set()
        return True

    def done(self, session: str, flag: threading.Event):
        with self._lock:
            if self._flags.get(session) is flag:
                del self._flags[session]


def build(ctx):
    page, state = ctx.page, ctx.state
    L = page.text

    page.add(gr.Markdown(L("generate.intro")), value="generate.intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            with gr.Row(equal_height=False):
                model = page.add(gr.Dropdown([], label=L("generate.model"), scale=5, elem_id="gen-model",
                                             allow_custom_value=False),
                                 label="generate.model")
                refresh = page.add(gr.Button(L("generate.refresh"), scale=1, size="sm", min_width=60),
                                   value="generate.refresh")
            prompt = page.add(gr.Textbox(L("generate.default_prompt"), lines=4, label=L("generate.prompt"),
                                         elem_id="gen-prompt", max_length=PROMPT_CHARS), label="generate.prompt")
            with gr.Row(equal_height=True):
                preset = page.add(gr.Dropdown(preset_choices(state, page.lang), value=None, label=L("exp.preset"),
                                              info=L("exp.preset_info"), elem_id="gen-preset", scale=2,
                                              allow_custom_value=False),
                                  label="exp.preset", info="exp.preset_info")
                preset_name = page.add(gr.Textbox(label=L("exp.preset_name"), placeholder=L("exp.preset_name_placeholder"),
                                                  max_length=40, elem_id="gen-preset-name", scale=2),
                                       label="exp.preset_name", placeholder="exp.preset_name_placeholder")
                preset_save = page.add(gr.Button(L("exp.preset_save"), size="sm", elem_id="gen-preset-save", scale=1),
                                       value="exp.preset_save")
            temperature = page.add(Slider(0, 2, value=0.7, step=0.05, label=L("generate.temperature"),
                                             info=L("generate.temperature_info"), elem_id="gen-temperature"),
                                   label="generate.temperature", info="generate.temperature_info")
            top_k = page.add(Slider(0, 200, value=40, step=1, label=L("generate.top_k"),
                                       info=L("generate.top_k_info"), elem_id="gen-top-k"),
                             label="generate.top_k", info="generate.top_k_info")
            top_p = page.add(Slider(0.05, 1.0, value=0.95, step=0.01, label=L("generate.top_p"),
                                       info=L("generate.top_p_info"), elem_id="gen-top-p"),
                             label="generate.top_p", info="generate.top_p_info")
            with gr.Row():
                rep_penalty = page.add(Slider(1.0, MAX_REPETITION_PENALTY, value=1.0, step=0.05,
                                              label=L("exp.repetition_penalty"), info=L("exp.repetition_penalty_info"),
                                              elem_id="gen-rep-penalty"),
                                       label="exp.repetition_penalty", info="exp.repetition_penalty_info")
                min_p = page.add(Slider(0.0, 1.0, value=0.0, step=0.01, label=L("exp.min_p"), info=L("exp.min_p_info"),
                                        elem_id="gen-min-p"), label="exp.min_p", info="exp.min_p_info")
            stops = page.add(gr.Textbox("", label=L("exp.stop"), info=L("exp.stop_info"), lines=1,
                                        max_length=MAX_STOPS * (STOP_CHARS + 1), elem_id="gen-stop-strings"),
                             label="exp.stop", info="exp.stop_info")
            with gr.Row():
                max_new = page.add(Slider(1, MAX_NEW, value=80, step=1, label=L("generate.max_new"),
                                             elem_id="gen-max-new"), label="generate.max_new")
                seed = page.add(Number(123, label=L("generate.seed"), precision=0, info=L("generate.seed_info"),
                                       minimum=0, maximum=MAX_SAMPLING_SEED, elem_id="gen-seed"),
                                label="generate.seed", info="generate.seed_info")
            valid_utf8 = page.add(gr.Checkbox(True, label=L("generate.valid_utf8"), info=L("generate.valid_utf8_info"),
                                              elem_id="gen-utf8"),
                                  label="generate.valid_utf8", info="generate.valid_utf8_info")
            precision = page.add(gr.Radio([(L(f"generate.precision_{p}"), p) for p in PRECISIONS], value="fp32",
                                          label=L("generate.precision"), info=L("generate.precision_info"),
                                          elem_id="gen-precision"),
                                 label="generate.precision", info="generate.precision_info",
                                 choices=[(f"generate.precision_{p}", p) for p in PRECISIONS])
            with gr.Row():
                go = page.add(gr.Button(L("generate.go"), variant="primary", elem_id="gen-go"), value="generate.go")
                stop = page.add(gr.Button(L("generate.stop"), variant="stop", elem_id="gen-stop", interactive=False),
                                value="generate.stop")  # enabled only while a generation runs
        with gr.Column(scale=3, min_width=320):
            output = page.add(gr.Textbox(label=L("generate.output"), lines=14, max_lines=30, interactive=False,
                                         elem_id="gen-output"), label="generate.output")
            note = gr.Markdown(elem_id="gen-note")
            probs = page.add(gr.Button(L("exp.probs"), size="sm", elem_id="gen-probs"), value="exp.probs")
            with page.add(gr.Accordion(L("exp.probs_head"), open=False, elem_id="gen-probs-box"),
                          label="exp.probs_head") as probs_box:
                page.add(gr.Markdown(L("exp.probs_intro")), value="exp.probs_intro")
                probs_view = gr.HTML(elem_id="gen-probs-view")

    with page.add(gr.Accordion(L("generate.inside_head"), open=False, elem_id="gen-inside"),
                  label="generate.inside_head"):
        page.add(gr.Markdown(L("generate.inside_intro")), value="generate.inside_intro")
        look = page.add(gr.Button(L("generate.look"), variant="primary", elem_id="gen-look"), value="generate.look")
        strip = gr.HTML(elem_id="gen-strip")
        inside_note = gr.Markdown(elem_id="gen-inside-note")
        with gr.Row(equal_height=False):
            with gr.Column():
                next_plot = gr.Plot(show_label=False, elem_id="gen-next")
                next_note = gr.Markdown(elem_id="gen-next-note")
                caption(page, "generate.caption_next")
            with gr.Column():
                params_plot = gr.Plot(show_label=False, elem_id="gen-params")
                caption(page, "generate.caption_params")
        with gr.Row():
            layer = page.add(Slider(1, 12, value=1, step=1, label=L("generate.layer"), elem_id="gen-layer"),
                             label="generate.layer")
            head = page.add(gr.Dropdown([(L("generate.mean_heads"), 0)], value=0, label=L("generate.head"),
                                        elem_id="gen-head"), label="generate.head")
        with gr.Row(equal_height=False):
            with gr.Column():
                attn_plot = gr.Plot(show_label=False, elem_id="gen-attention")
                caption(page, "generate.caption_attention")
            with gr.Column():
                lens_plot = gr.Plot(show_label=False, elem_id="gen-lens")
                caption(page, "generate.caption_lens")
    looked = gr.State(False)

    # ---- models -------------------------------------------------------------------
    def on_refresh(current):
        choices = model_choices(state)
        paths = [p for _, p in choices]
        value = current if current in paths else (paths[0] if paths else None)
        return gr.update(choices=choices, value=value)

    refresh.click(on_refresh, model, model, api_name="generate_models")
    ctx.on_load(on_refresh, model, model)

    def default_prompt(current, lang):
        """The example prompt in the page's language, unless the user wrote their own."""
        untouched = current in (None, "", t("en", "generate.default_prompt"), t("zh", "generate.default_prompt"))
        return t(lang, "generate.default_prompt") if untouched else gr.skip()

    ctx.on_load(default_prompt, [prompt, ctx.lang], prompt)

    def load(path, lang, precision="fp32"):
        if not path:
            raise gr.Error(t(lang, "generate.no_model"), title=t(lang, "common.error_title"))
        return state.load(path, lang, precision)  # only a checkpoint of the folder

    # ---- generation -------------------------------------------------------------------
    stop_flags = StopFlags()

    @friendly(outputs=2, status=1)
    def on_generate(path, prompt, temperature, top_k, top_p, max_new, seed, lang, precision="fp32", valid_utf8=True,
                    repetition_penalty=1.0, min_p=0.0, stop="", request: gr.Request = None):
        if precision not in PRECISIONS:
            precision = "fp32"
        cfg = sampling(temperature, top_k, top_p, seed, valid_utf8, lang, repetition_penalty, min_p, stop)
        max_new = whole(max_new, 1, MAX_NEW, "generate.max_new", lang, default=80)
        ckpt = load(path, lang, precision)
        tok = ckpt.tokenizer
        # The model reads the prompt's end: a huge prompt is cut before it is tokenized.
        prompt, cut = text_cap(prompt, PROMPT_CHARS)
        note_text = prompt_note(prompt, ckpt.config.context_length, lang, tok)
        if cut:
            note_text = t(lang, "common.text_cut", limit=f"{PROMPT_CHARS:,}", cut=f"{cut:,}") + " " + note_text
        session = getattr(request, "session_hash", None) or "api"
        flag = stop_flags.start(session)
        text = ""
        yield text, note_text
        pieces = stream(ckpt, prompt, max_new, cfg)  # the checkpoint's own tokenizer
        try:
            for piece in pieces:
                text += piece
                if flag.is_set():
                    break
                yield text, note_text
        finally:
            stop_flags.done(session, flag)
        done = "generate.stopped" if flag.is_set() else "generate.done"
        yield text, note_text + " " + t(lang, done, n=pieces.new_tokens, kind=tok.kind)

    gen_inputs = [model, prompt, temperature, top_k, top_p, max_new, seed, ctx.lang, precision, valid_utf8,
                  rep_penalty, min_p, stops]
    running = [go, stop]

    def busy(on: bool):
        return gr.update(interactive=not on), gr.update(interactive=on)

    go.click(lambda: busy(True), None, running, queue=False, show_progress="hidden") \
        .then(on_generate, gen_inputs, [output, note], api_name="generate", concurrency_id="model_cpu") \
        .then(lambda: busy(False), None, running, queue=False, show_progress="hidden")

    def on_stop(request: gr.Request = None):
        stop_flags.stop(getattr(request, "session_hash", None) or "api")

    stop.click(on_stop, None, None, api_name="generate_stop", queue=False)
    # The last generation's counts no longer apply to an edited prompt (cleared in the browser).
    prompt.input(None, None, note, js="() => ''", show_progress="hidden", trigger_mode="multiple")

    # ---- the per-token view: the same generation, each token with its probability ----------------
    @friendly(outputs=3, status=2)
    def on_probs(path, prompt, temperature, top_k, top_p, max_new, seed, lang, valid_utf8=True,
                 repetition_penalty=1.0, min_p=0.0, stop=""):
        cfg = sampling(temperature, top_k, top_p, seed, valid_utf8, lang, repetition_penalty, min_p, stop)
        max_new = whole(max_new, 1, MAX_NEW, "generate.max_new", lang, default=80)
        ckpt = load(path, lang)
        prompt, _ = text_cap(prompt, PROMPT_CHARS)
        tokens = generate_explained(ckpt, prompt, max_new, cfg, top=5)
        return plots.token_probs_html(tokens, lang), gr.update(open=True), gr.skip()

    sampling_inputs = [temperature, top_k, top_p, max_new, seed]
    probs.click(on_probs, [model, prompt, *sampling_inputs, ctx.lang, valid_utf8, rep_penalty, min_p, stops],
                [probs_view, probs_box, note], api_name="token_probs", concurrency_id="model_cpu")

    # ---- sampler presets (the core's: built-ins and the user's) -------------------------------------
    preset_outputs = [temperature, top_k, top_p, rep_penalty, min_p, stops, note]

    @friendly(outputs=len(preset_outputs), status=len(preset_outputs) - 1)
    def on_preset(name, lang):
        if not name:
            return [gr.skip()] * len(preset_outputs)
        s = load_sampling_preset(name, state.checkpoints)
        values = list(sliders_of(s))
        values[1] = min(values[1], TOP_K_SLIDER)
        values[3] = min(values[3], MAX_REPETITION_PENALTY)
        return (*values, t(lang, "exp.preset_loaded", name=name))

    @friendly(outputs=3, status=2)
    def on_preset_save(name, temperature, top_k, top_p, repetition_penalty, min_p, stop, lang):
        cfg = sampling(temperature, top_k, top_p, None, True, lang, repetition_penalty, min_p, stop)
        name = (name or "").strip()
        save_sampling_preset(name, cfg, state.checkpoints)
        return (gr.update(choices=preset_choices(state, lang), value=name), gr.update(value=""),
                t(lang, "exp.preset_saved", name=name))

    preset.input(on_preset, [preset, ctx.lang], preset_outputs, api_name="sampler_preset_load")
    preset_save.click(on_preset_save, [preset_name, temperature, top_k, top_p, rep_penalty, min_p, stops, ctx.lang],
                      [preset, preset_name, note], api_name="sampler_preset_save")

    def on_presets_refresh(current, lang):
        choices = preset_choices(state, lang)
        return gr.update(choices=choices, value=current if current in [v for _, v in choices] else None)

    ctx.on_load(on_presets_refresh, [preset, ctx.lang], preset)

    # ---- compare models --------------------------------------------------------------------------
    compare_models_section(ctx, load, model_choices, prompt,
                           [temperature, top_k, top_p, max_new, seed, valid_utf8, rep_penalty, min_p, stops],
                           sampling, MAX_NEW)

    # ---- look inside --------------------------------------------------------------------
    def head_choices(n, lang):
        return [(t(lang, "generate.mean_heads"), 0)] + [(t(lang, "generate.head_n", n=i), i)
                                                        for i in range(1, n + 1)]

    maps_cache = AttentionCache()

    def attention_maps(path, prompt, lang):
        """(attention maps of the prompt's last INSIDE_TOKENS tokens, tokens left out)."""
        ckpt = load(path, lang)
        tail, cut = prompt_tail(prompt or "", ckpt.tokenizer)
        maps = maps_cache.get(Path(path).resolve(), tail, lambda: inspect.attention(ckpt, tail))
        return maps, tail, cut

    def next_token(ckpt, prompt, temperature, top_k, top_p, valid_utf8, lang="en", repetition_penalty=1.0, min_p=0.0):
        s = sampling(temperature, top_k, top_p, None, valid_utf8, lang, repetition_penalty, min_p)  # as generation
        return inspect.next_token(ckpt, prompt or "", s, n=CANDIDATES)  # the (looked-at part of the) prompt

    def looked_at(prompt) -> tuple[str, int]:
        """What Look inside reads: the prompt's last INSIDE_CHARS characters (a bigger view is
        unreadable and slow to send), and how many characters before them were left out."""
        return text_cap(prompt, INSIDE_CHARS)

    @friendly(outputs=10, status=2)
    def on_look(path, prompt, temperature, top_k, top_p, layer_n, head_n, lang, valid_utf8=True,
                repetition_penalty=1.0, min_p=0.0):
        sampling(temperature, top_k, top_p, None, valid_utf8, lang, repetition_penalty, min_p)  # as generation would
        ckpt = load(path, lang)
        cfg = ckpt.config
        prompt, chars_cut = looked_at(prompt)
        view = inspect.tokens(prompt, ckpt, context_length=cfg.context_length)  # its own tokenizer
        nt = next_token(ckpt, prompt, temperature, top_k, top_p, valid_utf8, lang, repetition_penalty, min_p)
        maps, tail, cut = attention_maps(path, prompt, lang)
        layer_n = min(whole(layer_n, 1, MAX_LAYERS, "generate.layer", lang, default=1), cfg.num_layers)
        head_n = whole(head_n, 0, MAX_HEADS, "generate.head", lang, default=0)
        head_n = head_n if 0 < head_n <= cfg.num_heads else 0
        lens = inspect.logit_lens(ckpt, tail)
        pm = inspect.parameter_map(ckpt)
        return (True, plots.token_strip(view, lang), inside_text(nt, cut, lang, chars_cut),
                plots.next_token_figure(nt, lang), plots.next_token_note(nt, lang), plots.parameter_map_figure(pm, lang),
                gr.update(maximum=max(2, cfg.num_layers), value=layer_n, interactive=cfg.num_layers > 1),
                gr.update(choices=head_choices(cfg.num_heads, lang), value=head_n),
                plots.attention_figure(maps, layer_n, head_n or None, lang), plots.logit_lens_figure(lens, lang))

    def inside_text(nt, cut, lang, chars_cut=0) -> str:
        notes = []
        if chars_cut:
            notes.append(t(lang, "generate.inside_chars", limit=f"{INSIDE_CHARS:,}", cut=f"{chars_cut:,}"))
        if nt.empty_prompt:
            notes.append(t(lang, "generate.note_empty"))
        if nt.dropped:
            notes.append(t(lang, "generate.inside_dropped", dropped=nt.dropped))
        if cut:
            notes.append(t(lang, "generate.inside_tail", n=INSIDE_TOKENS, cut=cut))
        return " ".join(notes)

    @friendly(outputs=2, status=1)
    def on_next(on, path, prompt, temperature, top_k, top_p, lang, valid_utf8=True, repetition_penalty=1.0, min_p=0.0):
        if not on:
            return gr.skip(), gr.skip()
        nt = next_token(load(path, lang), looked_at(prompt)[0], temperature, top_k, top_p, valid_utf8, lang,
                        repetition_penalty, min_p)
        return plots.next_token_figure(nt, lang), plots.next_token_note(nt, lang)

    @friendly(outputs=1)
    def on_attention(on, path, prompt, layer_n, head_n, lang):
        if not on:
            return gr.skip()
        maps, _, _ = attention_maps(path, looked_at(prompt)[0], lang)  # cached: a picker change only re-slices
        layer_n = min(whole(layer_n, 1, MAX_LAYERS, "generate.layer", lang, default=1), maps.num_layers)
        head_n = whole(head_n, 0, MAX_HEADS, "generate.head", lang, default=0)
        return plots.attention_figure(maps, layer_n, head_n if 0 < head_n <= maps.num_heads else None, lang)

    look.click(on_look, [model, prompt, temperature, top_k, top_p, layer, head, ctx.lang, valid_utf8, rep_penalty, min_p],
               [looked, strip, inside_note, next_plot, next_note, params_plot, layer, head, attn_plot, lens_plot],
               api_name="look_inside", concurrency_id="model_cpu")
    next_inputs = [looked, model, prompt, temperature, top_k, top_p, ctx.lang, valid_utf8, rep_penalty, min_p]
    for slider in (temperature, top_k, top_p, valid_utf8, rep_penalty, min_p):
        slider.change(on_next, next_inputs, [next_plot, next_note], show_progress="hidden",
                      trigger_mode="always_last", concurrency_id="model_cpu")
    temperature.release(on_next, next_inputs, [next_plot, next_note], show_progress="hidden", api_name="next_token",
                        trigger_mode="always_last", concurrency_id="model_cpu")
    for picker in (layer, head):
        picker.change(on_attention, [looked, model, prompt, layer, head, ctx.lang], attn_plot,
                      show_progress="hidden", trigger_mode="always_last", concurrency_id="model_cpu")
