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

from pocketllm import PRECISIONS, Sampling, Tokenizer, inspect, stream

from .. import plots
from ..errors import friendly
from ..i18n import t
from ..limits import (INSIDE_CHARS, MAX_HEADS, MAX_LAYERS, MAX_SAMPLING_SEED, MAX_VOCAB, PROMPT_CHARS, Number,
                      Slider, real, text_cap, whole)

PRESETS = {  # name -> temperature, top-k (0 = off), top-p (1 = off)
    "greedy": (0.0, 0, 1.0),
    "balanced": (0.7, 40, 0.95),
    "creative": (1.1, 0, 0.98),
}
GENERATES = ("language_model", "instruct")
CANDIDATES = 15
# Attention and logit lens read at most this many tokens (the prompt's end): their cost
# grows with tokens² (600 MB for GPT-2 124M at 1024 tokens) and a bigger map is unreadable.
INSIDE_TOKENS = 64
CACHED_MAPS = 4
MAX_NEW = 500  # the slider's end: tokens generated at a time


def model_choices(state) -> list[tuple[str, str]]:
    return [(f"{r['name']}  ·  {r['parameters'] / 1e6:.1f}M", r["path"])
            for r in state.models_table() if r["task"] in GENERATES]


def sampling(temperature, top_k, top_p, seed=None, valid_utf8=True, lang="en") -> Sampling:
    """The sliders as the core's Sampling; a value past a slider's range is refused in the
    page's language (the core checks again)."""
    top_k = whole(top_k, 0, MAX_VOCAB, "generate.top_k", lang, default=0)
    top_p = real(top_p, 0, 1, "generate.top_p", lang, default=1.0)
    seed = None if seed is None or seed == "" else whole(seed, 0, MAX_SAMPLING_SEED, "generate.seed", lang)
    return Sampling(temperature=real(temperature, 0, 2, "generate.temperature", lang, default=0.0),
                    top_k=top_k or None, top_p=top_p if top_p < 1.0 else None, seed=seed,
                    valid_utf8=valid_utf8 is not False)


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


def build(ctx):
    page, state = ctx.page, ctx.state
    L = page.text

    page.add(gr.Markdown(L("generate.intro")), value="generate.intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            with gr.Row(equal_height=False):
                model = page.add(gr.Dropdown([], label=L("generate.model"), scale=4, elem_id="gen-model",
                                             allow_custom_value=False),
                                 label="generate.model")
                refresh = page.add(gr.Button(L("generate.refresh"), scale=1, size="sm"), value="generate.refresh")
            prompt = page.add(gr.Textbox(L("generate.default_prompt"), lines=4, label=L("generate.prompt"),
                                         elem_id="gen-prompt", max_length=PROMPT_CHARS), label="generate.prompt")
            with gr.Row():
                preset_buttons = {name: page.add(gr.Button(L(f"generate.preset_{name}"), size="sm",
                                                           elem_id=f"gen-preset-{name}"),
                                                 value=f"generate.preset_{name}") for name in PRESETS}
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
                stop = page.add(gr.Button(L("generate.stop"), variant="stop", elem_id="gen-stop"),
                                value="generate.stop")
        with gr.Column(scale=3, min_width=320):
            output = page.add(gr.Textbox(label=L("generate.output"), lines=14, max_lines=30, interactive=False,
                                         elem_id="gen-output"), label="generate.output")
            note = gr.Markdown(elem_id="gen-note")

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
            params_plot = gr.Plot(show_label=False, elem_id="gen-params")
        with gr.Row():
            layer = page.add(Slider(1, 12, value=1, step=1, label=L("generate.layer"), elem_id="gen-layer"),
                             label="generate.layer")
            head = page.add(gr.Dropdown([(L("generate.mean_heads"), 0)], value=0, label=L("generate.head"),
                                        elem_id="gen-head"), label="generate.head")
        with gr.Row(equal_height=False):
            attn_plot = gr.Plot(show_label=False, elem_id="gen-attention")
            lens_plot = gr.Plot(show_label=False, elem_id="gen-lens")
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
    @friendly(outputs=2, status=1)
    def on_generate(path, prompt, temperature, top_k, top_p, max_new, seed, lang, precision="fp32", valid_utf8=True):
        if precision not in PRECISIONS:
            precision = "fp32"
        cfg = sampling(temperature, top_k, top_p, seed, valid_utf8, lang)
        max_new = whole(max_new, 1, MAX_NEW, "generate.max_new", lang, default=80)
        ckpt = load(path, lang, precision)
        tok = ckpt.tokenizer
        # The model reads the prompt's end: a huge prompt is cut before it is tokenized.
        prompt, cut = text_cap(prompt, PROMPT_CHARS)
        note_text = prompt_note(prompt, ckpt.config.context_length, lang, tok)
        if cut:
            note_text = t(lang, "common.text_cut", limit=f"{PROMPT_CHARS:,}", cut=f"{cut:,}") + " " + note_text
        text = ""
        yield text, note_text
        for piece in stream(ckpt, prompt, max_new, cfg):  # the checkpoint's own tokenizer
            text += piece
            yield text, note_text
        # Counted by encoding the text again (the stream gives text, not ids): the number generated,
        # unless the model wrote pieces its tokenizer would have merged.
        yield text, note_text + " " + t(lang, "generate.done", n=len(tok.encode(text)), kind=tok.kind)

    gen = go.click(on_generate, [model, prompt, temperature, top_k, top_p, max_new, seed, ctx.lang, precision,
                                 valid_utf8],
                   [output, note], api_name="generate", concurrency_id="model_cpu")
    stop.click(None, None, None, cancels=[gen])

    for name, values in PRESETS.items():
        preset_buttons[name].click(lambda v=values: v, None, [temperature, top_k, top_p],
                                   api_name=f"preset_{name}")

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

    def next_token(ckpt, prompt, temperature, top_k, top_p, valid_utf8, lang="en"):
        s = sampling(temperature, top_k, top_p, None, valid_utf8, lang)  # validated as generation would
        return inspect.next_token(ckpt, prompt or "", s.temperature, s.top_k, s.top_p, n=CANDIDATES,
                                  valid_utf8=valid_utf8 is not False)  # the (looked-at part of the) prompt

    def looked_at(prompt) -> tuple[str, int]:
        """What Look inside reads: the prompt's last INSIDE_CHARS characters (a bigger view is
        unreadable and slow to send), and how many characters before them were left out."""
        return text_cap(prompt, INSIDE_CHARS)

    @friendly(outputs=10, status=2)
    def on_look(path, prompt, temperature, top_k, top_p, layer_n, head_n, lang, valid_utf8=True):
        sampling(temperature, top_k, top_p, None, valid_utf8, lang)  # validate the sliders as generation would
        ckpt = load(path, lang)
        cfg = ckpt.config
        prompt, chars_cut = looked_at(prompt)
        view = inspect.tokens(prompt, ckpt, context_length=cfg.context_length)  # its own tokenizer
        nt = next_token(ckpt, prompt, temperature, top_k, top_p, valid_utf8, lang)
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
    def on_next(on, path, prompt, temperature, top_k, top_p, lang, valid_utf8=True):
        if not on:
            return gr.skip(), gr.skip()
        nt = next_token(load(path, lang), looked_at(prompt)[0], temperature, top_k, top_p, valid_utf8, lang)
        return plots.next_token_figure(nt, lang), plots.next_token_note(nt, lang)

    @friendly(outputs=1)
    def on_attention(on, path, prompt, layer_n, head_n, lang):
        if not on:
            return gr.skip()
        maps, _, _ = attention_maps(path, looked_at(prompt)[0], lang)  # cached: a picker change only re-slices
        layer_n = min(whole(layer_n, 1, MAX_LAYERS, "generate.layer", lang, default=1), maps.num_layers)
        head_n = whole(head_n, 0, MAX_HEADS, "generate.head", lang, default=0)
        return plots.attention_figure(maps, layer_n, head_n if 0 < head_n <= maps.num_heads else None, lang)

    look.click(on_look, [model, prompt, temperature, top_k, top_p, layer, head, ctx.lang, valid_utf8],
               [looked, strip, inside_note, next_plot, next_note, params_plot, layer, head, attn_plot, lens_plot],
               api_name="look_inside", concurrency_id="model_cpu")
    next_inputs = [looked, model, prompt, temperature, top_k, top_p, ctx.lang, valid_utf8]
    for slider in (temperature, top_k, top_p, valid_utf8):
        slider.change(on_next, next_inputs, [next_plot, next_note], show_progress="hidden",
                      trigger_mode="always_last", concurrency_id="model_cpu")
    temperature.release(on_next, next_inputs, [next_plot, next_note], show_progress="hidden", api_name="next_token",
                        trigger_mode="always_last", concurrency_id="model_cpu")
    for picker in (layer, head):
        picker.change(on_attention, [looked, model, prompt, layer, head, ctx.lang], attn_plot,
                      show_progress="hidden", trigger_mode="always_last", concurrency_id="model_cpu")
