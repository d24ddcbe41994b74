"""Generate tab: pick a checkpoint, write a prompt, set the sampling sliders, read the
streamed text; and "Look inside": tokens, next-token candidates that follow the
sliders, attention maps, the logit lens and the parameter map.  Every text is read
and written with the checkpoint's own tokenizer (gpt2, bpe or char).

Every widget is named once ("sample.min_p", see `ui/elements.py`) and every handler takes
and returns a dict keyed by those names.  The sampling widgets are one value, the core's
`Sampling`: `widget_values(Sampling())` is where they start (as the command line does) and
`sampling_of(values)` is the one way back."""
from __future__ import annotations

import codecs
import inspect as python_inspect
import re
import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr

from pocketllm import (PRECISIONS, SNAPSHOTS_AUTO_MAX_PARAMETERS, PocketLLMError, Sampling, TaskKind, Tokenizer,
                       generate_explained, inspect, list_runs, load_sampling_preset, load_snapshot, phase_change,
                       probe_timeline, read_header, read_run, sampling_presets, save_sampling_preset, snapshot_steps,
                       stream, task_kind)

from .. import plots
from ..elements import LANG, Elements, choice_update
from ..experiments import compare_models_section, follow_language, say
from ..i18n import LANGS, t, t_plain
from ..limits import (INSIDE_CHARS, MAX_HEADS, MAX_LAYERS, MAX_SAMPLING_SEED, PROMPT_CHARS, Slider, real, text_cap,
                      whole)

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
# As many new tokens as the core makes when not told (the command line's default too).
DEFAULT_NEW = python_inspect.signature(stream).parameters["max_new_tokens"].default

# The sampling sliders: name -> (low, high, step, label key, info key, elem_id).  The range is the
# widget's own; where each one starts is Sampling()'s value (`widget_values`).
SLIDERS = {
    "sample.temperature": (0.0, 2.0, 0.05, "generate.temperature", "generate.temperature_info", "gen-temperature"),
    "sample.top_k": (0, TOP_K_SLIDER, 1, "generate.top_k", "generate.top_k_info", "gen-top-k"),
    "sample.top_p": (0.05, 1.0, 0.01, "generate.top_p", "generate.top_p_info", "gen-top-p"),
    "sample.repetition_penalty": (1.0, MAX_REPETITION_PENALTY, 0.05, "exp.repetition_penalty",
                                  "exp.repetition_penalty_info", "gen-rep-penalty"),
    "sample.min_p": (0.0, 1.0, 0.01, "exp.min_p", "exp.min_p_info", "gen-min-p"),
}
WHOLE = {"sample.top_k"}
# What a sampler preset fills in (and what Save preset reads), in the API's order.
PRESET_FIELDS = ["sample.temperature", "sample.top_k", "sample.top_p", "sample.repetition_penalty", "sample.min_p",
                 "sample.stop"]


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


def widget_values(s: Sampling) -> dict:
    """A Sampling as the widgets show it: the core's None is a slider's "off" end (top-k 0,
    top-p 1, min-p 0); a value past a slider's range shows at its end."""
    shown = {"sample.temperature": s.temperature, "sample.top_k": s.top_k or 0,
             "sample.top_p": 1.0 if s.top_p is None else s.top_p,
             "sample.repetition_penalty": s.repetition_penalty, "sample.min_p": s.min_p or 0.0}
    return {**{name: min(max(value, SLIDERS[name][0]), SLIDERS[name][1]) for name, value in shown.items()},
            "sample.stop": "\n".join(s.stop), "sample.seed": "" if s.seed is None else str(s.seed),
            "sample.valid_utf8": s.valid_utf8}


def sampling_of(v: dict) -> Sampling:
    """THE way from the page to the core's Sampling: the sampling elements' values, by name.
    An element not in `v` (an event that does not read it) keeps Sampling()'s default.  Each
    value is checked against its widget (type and range) in the page's language; the core
    checks what the values mean together."""
    lang = v.get(LANG, "en")
    start = widget_values(Sampling())

    def slider(name):
        low, high, _, key, _, _ = SLIDERS[name]
        check = whole if name in WHOLE else real
        return check(v.get(name, start[name]), low, high, key, lang, default=start[name])

    top_k, top_p, min_p = slider("sample.top_k"), slider("sample.top_p"), slider("sample.min_p")
    seed = v.get("sample.seed", start["sample.seed"])
    seed = seed.strip() if isinstance(seed, str) else seed
    return Sampling(temperature=slider("sample.temperature"), top_k=top_k or None,
                    top_p=top_p if top_p < 1.0 else None, min_p=min_p or None,
                    repetition_penalty=slider("sample.repetition_penalty"),
                    seed=None if seed is None or seed == "" else whole(seed, 0, MAX_SAMPLING_SEED, "generate.seed", lang),
                    valid_utf8=v.get("sample.valid_utf8", start["sample.valid_utf8"]) is not False,
                    stop=stop_strings(v.get("sample.stop", start["sample.stop"]), lang))


def max_new_of(v: dict) -> int:
    return whole(v.get("gen.max_new"), 1, MAX_NEW, "generate.max_new", v.get(LANG, "en"), default=DEFAULT_NEW)


def preset_choices(state, lang) -> list[tuple[str, str]]:
    """The sampler presets for the dropdown: the core's built-ins (named in the page's language), then the user's."""
    return [(t(lang, f"exp.preset_builtin_{n}") if n in BUILTIN_PRESETS else n, n)
            for n in sampling_presets(state.checkpoints)]


def default_preset(state) -> str | None:
    """The preset the sliders start as: the built-in one that is Sampling()'s defaults."""
    return next((n for n in sampling_presets(state.checkpoints)
                 if n in BUILTIN_PRESETS and load_sampling_preset(n, state.checkpoints) == Sampling()), None)


# ---- the prompt a model starts with ---------------------------------------------------------
def corpus_prompt(path) -> str | None:
    """The start the model's own corpus suggests: the sample prompt its pretraining used (in
    the checkpoint's facts, or its run folder's settings), None when neither says."""
    try:
        facts = read_header(path).get("facts") or {}
    except (PocketLLMError, OSError, ValueError):
        return None
    said = facts.get("sample_prompt") if isinstance(facts, dict) else None
    if not isinstance(said, str) or not said.strip():
        said = read_run(Path(path).parent).settings.get("sample_prompt")
    if not isinstance(said, str) or not said.strip():
        return None
    return text_cap(said, PROMPT_CHARS, keep="start")[0]


def example_prompts() -> set:
    return {t(lang, "generate.default_prompt") for lang in LANGS}


def prompt_note(prompt: str, context: int, tok: Tokenizer) -> list:
    """[text key, values] of the line that says how much of the prompt the model reads."""
    n = len(tok.encode(prompt or ""))
    if n == 0:
        return ["generate.note_empty", {}]
    if n > context:
        return ["generate.note_long", {"n": n, "context": context, "dropped": n - context}]
    return ["generate.note_ok", {"n": n, "context": context}]


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


def chart(els: Elements, name: str, elem_id: str, caption_key: str, between=None):
    """A chart, (`between`: what stands under it first,) and its caption."""
    els.add(name, gr.Plot(show_label=False, elem_id=elem_id))
    if between is not None:
        between()
    caption(els.ctx.page, caption_key)


def head_pickers(els: Elements, prefix: str, elem_prefix: str, layers: int):
    """The attention map's block slider and head picker (0 = the mean of the heads): `prefix`.layer / .head."""
    L = els.ctx.page.text
    with gr.Row():
        els.add(f"{prefix}.layer", Slider(1, layers, value=1, step=1, label=L("generate.layer"),
                                          elem_id=f"{elem_prefix}-layer"), label="generate.layer")
        els.add(f"{prefix}.head", gr.Dropdown([(L("generate.mean_heads"), 0)], value=0, label=L("generate.head"),
                                              elem_id=f"{elem_prefix}-head"), label="generate.head")


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


def with_session(handler, inputs: list[str]):
    """`handler` (an `Elements.handler` over `inputs` and then "gen.session") with the browser
    session's id as "gen.session": Stop ends this session's generation, not another's.  The
    signature says `request: gr.Request` after the inputs, so Gradio passes the request there;
    a direct call with fewer values leaves the rest to the handler's defaults."""
    def run(*args):
        request = args[len(inputs)] if len(args) > len(inputs) else None
        values = list(args[:len(inputs)]) + [None] * max(0, len(inputs) - len(args))
        yield from handler(*values, getattr(request, "session_hash", None) or "api")
    params = [python_inspect.Parameter(name.replace(".", "_"), python_inspect.Parameter.POSITIONAL_OR_KEYWORD)
              for name in inputs]
    params.append(python_inspect.Parameter("request", python_inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                           annotation=gr.Request))
    run.__signature__ = python_inspect.Signature(params)
    run.__annotations__ = {"request": gr.Request}
    run.__name__ = handler.__name__
    return run


def layout(els: Elements, state):
    """The widgets, named once; each starts from the core's defaults."""
    page = els.ctx.page
    L = page.text
    start = widget_values(Sampling())
    page.add(gr.Markdown(L("generate.intro")), value="generate.intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            with gr.Row(equal_height=False):
                els.add("gen.model", gr.Dropdown([], label=L("generate.model"), scale=5, elem_id="gen-model",
                                                 allow_custom_value=False), label="generate.model")
                els.add("gen.refresh", gr.Button(L("generate.refresh"), scale=1, size="sm", min_width=60),
                        value="generate.refresh")
            els.add("gen.prompt", gr.Textbox(L("generate.default_prompt"), lines=4, label=L("generate.prompt"),
                                             elem_id="gen-prompt", max_length=PROMPT_CHARS), label="generate.prompt")
            # Right under the prompt: the button and the text it makes are in one view on a laptop.
            with gr.Row():
                els.add("gen.go", gr.Button(L("generate.go"), variant="primary", elem_id="gen-go"), value="generate.go")
                els.add("gen.stop", gr.Button(L("generate.stop"), variant="stop", elem_id="gen-stop", interactive=False),
                        value="generate.stop")  # enabled only while a generation runs
            with gr.Row(equal_height=True):
                els.add("preset.pick", gr.Dropdown(preset_choices(state, page.lang), value=default_preset(state),
                                                   label=L("exp.preset"), info=L("exp.preset_info"),
                                                   elem_id="gen-preset", scale=2, allow_custom_value=False),
                        label="exp.preset", info="exp.preset_info")
                els.add("preset.name", gr.Textbox(label=L("exp.preset_name"),
                                                  placeholder=L("exp.preset_name_placeholder"), max_length=40,
                                                  elem_id="gen-preset-name", scale=2),
                        label="exp.preset_name", placeholder="exp.preset_name_placeholder")
                els.add("preset.save", gr.Button(L("exp.preset_save"), size="sm", elem_id="gen-preset-save", scale=1),
                        value="exp.preset_save")

            def slider(name):
                low, high, step, key, info, elem_id = SLIDERS[name]
                els.add(name, Slider(low, high, value=start[name], step=step, label=L(key), info=L(info),
                                     elem_id=elem_id), label=key, info=info)

            for name in ("sample.temperature", "sample.top_k", "sample.top_p"):
                slider(name)
            with gr.Row():
                slider("sample.repetition_penalty")
                slider("sample.min_p")
            els.add("sample.stop", gr.Textbox(start["sample.stop"], label=L("exp.stop"), info=L("exp.stop_info"),
                                              lines=1, max_length=MAX_STOPS * (STOP_CHARS + 1),
                                              elem_id="gen-stop-strings"), label="exp.stop", info="exp.stop_info")
            with gr.Row():
                els.add("gen.max_new", Slider(1, MAX_NEW, value=DEFAULT_NEW, step=1, label=L("generate.max_new"),
                                              elem_id="gen-max-new"), label="generate.max_new")
                # A text box: empty is the core's None, a new seed every time (a number box cannot be empty).
                els.add("sample.seed", gr.Textbox(start["sample.seed"], label=L("generate.seed"),
                                                  info=L("generate.seed_info"), max_length=40,
                                                  placeholder=L("generate.seed_placeholder"), elem_id="gen-seed"),
                        label="generate.seed", info="generate.seed_info", placeholder="generate.seed_placeholder")
            els.add("sample.valid_utf8", gr.Checkbox(start["sample.valid_utf8"], label=L("generate.valid_utf8"),
                                                     info=L("generate.valid_utf8_info"), elem_id="gen-utf8"),
                    label="generate.valid_utf8", info="generate.valid_utf8_info")
            els.add("gen.precision", gr.Radio([(L(f"generate.precision_{p}"), p) for p in PRECISIONS],
                                              value=PRECISIONS[0], label=L("generate.precision"),
                                              info=L("generate.precision_info"), elem_id="gen-precision"),
                    label="generate.precision", info="generate.precision_info",
                    choices=[(f"generate.precision_{p}", p) for p in PRECISIONS])
        with gr.Column(scale=3, min_width=320):
            els.add("gen.output", gr.Textbox(label=L("generate.output"), lines=12, max_lines=30, interactive=False,
                                             elem_id="gen-output"), label="generate.output")
            els.add("gen.note", gr.Markdown(elem_id="gen-note"))
            els.add("gen.probs", gr.Button(L("exp.probs"), size="sm", elem_id="gen-probs"), value="exp.probs")
            with els.add("gen.probs_box", gr.Accordion(L("exp.probs_head"), open=False, elem_id="gen-probs-box"),
                         label="exp.probs_head"):
                page.add(gr.Markdown(L("exp.probs_intro")), value="exp.probs_intro")
                els.add("gen.probs_view", gr.HTML(elem_id="gen-probs-view"))
    els.add("gen.auto_prompt", gr.State(None))  # the prompt the page wrote (a person's own is never replaced)
    els.add("gen.session", gr.State(None))

    # ---- compare models --------------------------------------------------------------------------
    compare_models_section(els, ["gen.prompt", "sample.temperature", "sample.top_k", "sample.top_p", "gen.max_new",
                                 "sample.seed", "sample.valid_utf8", "sample.repetition_penalty", "sample.min_p",
                                 "sample.stop"],
                           lambda v: (v["gen.prompt"], max_new_of(v), sampling_of(v)), model_choices)

    with els.add("inside.box", gr.Accordion(L("generate.inside_head"), open=False, elem_id="gen-inside"),
                 label="generate.inside_head"):
        page.add(gr.Markdown(L("generate.inside_intro")), value="generate.inside_intro")
        els.add("inside.look", gr.Button(L("generate.look"), variant="primary", elem_id="gen-look"),
                value="generate.look")
        els.add("inside.strip", gr.HTML(elem_id="gen-strip"))
        els.add("inside.note", gr.Markdown(elem_id="gen-inside-note"))
        with gr.Row(equal_height=False):
            with gr.Column():
                chart(els, "inside.next", "gen-next", "generate.caption_next",
                      lambda: els.add("inside.next_note", gr.Markdown(elem_id="gen-next-note")))
            with gr.Column():
                chart(els, "inside.params", "gen-params", "generate.caption_params")
        head_pickers(els, "inside", "gen", layers=12)
        with gr.Row(equal_height=False):
            with gr.Column():
                chart(els, "inside.attention", "gen-attention", "generate.caption_attention")
            with gr.Column():
                chart(els, "inside.lens", "gen-lens", "generate.caption_lens")
        timeline_layout(els)
    els.add("inside.looked", gr.State(False))
    follow_language(els, ["gen.note", "inside.note"])  # (their "…_said" States)


# The inputs of the API's events, in their order (gradio_client calls them by position).
GENERATE_IN = ["gen.model", "gen.prompt", "sample.temperature", "sample.top_k", "sample.top_p", "gen.max_new",
               "sample.seed", LANG, "gen.precision", "sample.valid_utf8", "sample.repetition_penalty", "sample.min_p",
               "sample.stop"]
PROBS_IN = ["gen.model", "gen.prompt", "sample.temperature", "sample.top_k", "sample.top_p", "gen.max_new",
            "sample.seed", LANG, "sample.valid_utf8", "sample.repetition_penalty", "sample.min_p", "sample.stop"]
LOOK_IN = ["gen.model", "gen.prompt", "sample.temperature", "sample.top_k", "sample.top_p", "inside.layer",
           "inside.head", LANG, "sample.valid_utf8", "sample.repetition_penalty", "sample.min_p"]
NEXT_IN = ["inside.looked", "gen.model", "gen.prompt", "sample.temperature", "sample.top_k", "sample.top_p", LANG,
           "sample.valid_utf8", "sample.repetition_penalty", "sample.min_p"]


def build(ctx):
    state = ctx.state
    els = Elements(ctx)
    layout(els, state)

    def load(path, lang, precision="fp32"):
        if not path:
            raise gr.Error(t(lang, "generate.no_model"), title=t(lang, "common.error_title"))
        return state.load(path, lang, precision)  # only a checkpoint of the folder

    # ---- models and the prompt they start with ------------------------------------------------
    def model_prompt(path, lang) -> str:
        """The prompt a model starts with: its corpus's, else the page's example."""
        try:
            found = corpus_prompt(state.checkpoint(path, lang)) if path else None
        except PocketLLMError:
            found = None
        return found or t(lang, "generate.default_prompt")

    def prompt_for(v, path) -> dict:
        """The model's prompt, unless the person wrote their own."""
        if v["gen.prompt"] not in (None, "", v["gen.auto_prompt"], *example_prompts()):
            return {}
        prompt = model_prompt(path, v[LANG])
        return {"gen.prompt": prompt, "gen.auto_prompt": prompt}

    def on_refresh(v):
        """The picker refilled; it keeps its model while that is still there."""
        return {"gen.model": choice_update(model_choices(state), v["gen.model"])}

    def on_models(v):
        update = on_refresh(v)["gen.model"]
        return {"gen.model": update, **prompt_for(v, update["value"])}

    def on_model_picked(v):
        return prompt_for(v, v["gen.model"])

    els.on(els["gen.refresh"].click, on_refresh, ["gen.model"], ["gen.model"], api_name="generate_models")
    els.on_load(on_models, ["gen.model", "gen.prompt", "gen.auto_prompt", LANG],
                ["gen.model", "gen.prompt", "gen.auto_prompt"])
    els.on(els["gen.model"].change, on_model_picked, ["gen.model", "gen.prompt", "gen.auto_prompt", LANG],
           ["gen.prompt", "gen.auto_prompt"], show_progress="hidden")

    # ---- generation -------------------------------------------------------------------
    stop_flags = StopFlags()

    def on_generate(v):
        lang = v[LANG]
        cfg = sampling_of(v)
        max_new = max_new_of(v)
        ckpt = load(v["gen.model"], lang, v["gen.precision"] if v["gen.precision"] in PRECISIONS else PRECISIONS[0])
        tok = ckpt.tokenizer
        # The model reads the prompt's end: a huge prompt is cut before it is tokenized.
        prompt, cut = text_cap(v["gen.prompt"], PROMPT_CHARS)
        said = [["common.text_cut", {"limit": f"{PROMPT_CHARS:,}", "cut": f"{cut:,}"}]] if cut else []
        said.append(prompt_note(prompt, ckpt.config.context_length, tok))
        flag = stop_flags.start(v["gen.session"])
        text = ""
        yield {"gen.output": text, "gen.note": say(said, lang), "gen.note_said": said}
        pieces = stream(ckpt, prompt, max_new, cfg)  # the checkpoint's own tokenizer
        try:
            for piece in pieces:
                text += piece
                if flag.is_set():
                    break
                yield {"gen.output": text}
        finally:
            stop_flags.done(v["gen.session"], flag)
        said.append(["generate.stopped" if flag.is_set() else "generate.done",
                     {"n": pieces.new_tokens, "kind": tok.kind}])
        yield {"gen.output": text, "gen.note": say(said, lang), "gen.note_said": said}

    def busy(on: bool):
        return gr.update(interactive=not on), gr.update(interactive=on)

    running = [els["gen.go"], els["gen.stop"]]
    generate = els.handler(on_generate, [*GENERATE_IN, "gen.session"], ["gen.output", "gen.note", "gen.note_said"],
                           status="gen.note")
    els["gen.go"].click(lambda: busy(True), None, running, queue=False, show_progress="hidden") \
        .then(with_session(generate, GENERATE_IN), [els[n] for n in GENERATE_IN],
              [els["gen.output"], els["gen.note"], els["gen.note_said"]], api_name="generate",
              concurrency_id="model_cpu") \
        .then(lambda: busy(False), None, running, queue=False, show_progress="hidden")

    def on_stop(request: gr.Request = None):
        stop_flags.stop(getattr(request, "session_hash", None) or "api")

    els["gen.stop"].click(on_stop, None, None, api_name="generate_stop", queue=False)
    # The last generation's counts no longer apply to an edited prompt (cleared in the browser).
    els["gen.prompt"].input(None, None, els["gen.note"], js="() => ''", show_progress="hidden",
                            trigger_mode="multiple")

    # ---- the per-token view: the same generation, each token with its probability ----------------
    def on_probs(v):
        cfg = sampling_of(v)
        max_new = max_new_of(v)
        ckpt = load(v["gen.model"], v[LANG])
        prompt, _ = text_cap(v["gen.prompt"], PROMPT_CHARS)
        tokens = generate_explained(ckpt, prompt, max_new, cfg, top=5)
        return {"gen.probs_view": plots.token_probs_html(tokens, v[LANG]), "gen.probs_box": gr.update(open=True)}

    els.on(els["gen.probs"].click, on_probs, PROBS_IN, ["gen.probs_view", "gen.probs_box", "gen.note"],
           status="gen.note", api_name="token_probs", concurrency_id="model_cpu")

    # ---- sampler presets (the core's: built-ins and the user's) -------------------------------------
    def on_preset(v):
        name = v["preset.pick"]
        if not name:
            return {}
        shown = widget_values(load_sampling_preset(name, state.checkpoints))
        said = [["exp.preset_loaded", {"name": name}]]
        return {**{n: shown[n] for n in PRESET_FIELDS}, "gen.note": say(said, v[LANG]), "gen.note_said": said}

    def on_preset_save(v):
        cfg = sampling_of(v)
        name = (v["preset.name"] or "").strip()
        save_sampling_preset(name, cfg, state.checkpoints)
        said = [["exp.preset_saved", {"name": name}]]
        return {"preset.pick": gr.update(choices=preset_choices(state, v[LANG]), value=name), "preset.name": "",
                "gen.note": say(said, v[LANG]), "gen.note_said": said}

    els.on(els["preset.pick"].input, on_preset, ["preset.pick", LANG], [*PRESET_FIELDS, "gen.note", "gen.note_said"],
           status="gen.note", api_name="sampler_preset_load")
    els.on(els["preset.save"].click, on_preset_save, ["preset.name", *PRESET_FIELDS, LANG],
           ["preset.pick", "preset.name", "gen.note", "gen.note_said"], status="gen.note",
           api_name="sampler_preset_save")

    def on_presets(v):
        choices = preset_choices(state, v[LANG])
        names = [n for _, n in choices]
        return {"preset.pick": gr.update(choices=choices, value=v["preset.pick"] if v["preset.pick"] in names
                                         else default_preset(state))}

    els.on_load(on_presets, ["preset.pick", LANG], ["preset.pick"])

    # ---- look inside --------------------------------------------------------------------
    maps_cache = AttentionCache()

    def attention_maps(path, prompt, lang):
        """(attention maps of the prompt's last INSIDE_TOKENS tokens, tokens left out)."""
        ckpt = load(path, lang)
        tail, cut = prompt_tail(prompt or "", ckpt.tokenizer)
        maps = maps_cache.get(Path(path).resolve(), tail, lambda: inspect.attention(ckpt, tail))
        return maps, tail, cut

    def looked_at(prompt) -> tuple[str, int]:
        """What Look inside reads: the prompt's last INSIDE_CHARS characters (a bigger view is
        unreadable and slow to send), and how many characters before them were left out."""
        return text_cap(prompt, INSIDE_CHARS)

    def picked(v, num_layers, num_heads) -> tuple[int, int]:
        """The block (1-based) and head (0 = the mean of all heads) the pickers say, within the model."""
        lang = v[LANG]
        layer_n = min(whole(v["inside.layer"], 1, MAX_LAYERS, "generate.layer", lang, default=1), num_layers)
        head_n = whole(v["inside.head"], 0, MAX_HEADS, "generate.head", lang, default=0)
        return layer_n, head_n if 0 < head_n <= num_heads else 0

    def on_look(v):
        lang = v[LANG]
        cfg_sampling = sampling_of(v)  # as generation would
        ckpt = load(v["gen.model"], lang)
        cfg = ckpt.config
        prompt, chars_cut = looked_at(v["gen.prompt"])
        view = inspect.tokens(prompt, ckpt, context_length=cfg.context_length)  # its own tokenizer
        nt = inspect.next_token(ckpt, prompt or "", cfg_sampling, n=CANDIDATES)
        maps, tail, cut = attention_maps(v["gen.model"], prompt, lang)
        layer_n, head_n = picked(v, cfg.num_layers, cfg.num_heads)
        said = inside_said(nt, cut, chars_cut)
        return {"inside.looked": True, "inside.strip": plots.token_strip(view, lang),
                "inside.note": say(said, lang), "inside.note_said": said,
                "inside.next": plots.next_token_figure(nt, lang), "inside.next_note": plots.next_token_note(nt, lang),
                "inside.params": plots.parameter_map_figure(inspect.parameter_map(ckpt), lang),
                "inside.layer": gr.update(maximum=max(2, cfg.num_layers), value=layer_n,
                                          interactive=cfg.num_layers > 1),
                "inside.head": gr.update(choices=head_choices(cfg.num_heads, lang), value=head_n),
                "inside.attention": plots.attention_figure(maps, layer_n, head_n or None, lang),
                "inside.lens": plots.logit_lens_figure(inspect.logit_lens(ckpt, tail), lang)}

    def on_next(v):
        if not v["inside.looked"]:
            return {}
        nt = inspect.next_token(load(v["gen.model"], v[LANG]), looked_at(v["gen.prompt"])[0] or "", sampling_of(v),
                                n=CANDIDATES)
        return {"inside.next": plots.next_token_figure(nt, v[LANG]), "inside.next_note": plots.next_token_note(nt, v[LANG])}

    def on_attention(v):
        if not v["inside.looked"]:
            return {}
        maps, _, _ = attention_maps(v["gen.model"], looked_at(v["gen.prompt"])[0], v[LANG])  # cached: only re-sliced
        layer_n, head_n = picked(v, maps.num_layers, maps.num_heads)
        return {"inside.attention": plots.attention_figure(maps, layer_n, head_n or None, v[LANG])}

    els.on(els["inside.look"].click, on_look, LOOK_IN,
           ["inside.looked", "inside.strip", "inside.note", "inside.next", "inside.next_note", "inside.params",
            "inside.layer", "inside.head", "inside.attention", "inside.lens", "inside.note_said"],
           status="inside.note", api_name="look_inside", concurrency_id="model_cpu")
    next_out = ["inside.next", "inside.next_note"]
    els.on([els[n].change for n in (*SLIDERS, "sample.valid_utf8")], on_next, NEXT_IN, next_out,
           status="inside.next_note", show_progress="hidden", trigger_mode="always_last", concurrency_id="model_cpu")
    els.on(els["sample.temperature"].release, on_next, NEXT_IN, next_out, status="inside.next_note",
           show_progress="hidden", api_name="next_token", trigger_mode="always_last", concurrency_id="model_cpu")
    els.on([els["inside.layer"].change, els["inside.head"].change], on_attention,
           ["inside.looked", "gen.model", "gen.prompt", "inside.layer", "inside.head", LANG], ["inside.attention"],
           show_progress="hidden", trigger_mode="always_last", concurrency_id="model_cpu")
    wire_timeline(els, state, picked)


def head_choices(n, lang):
    return [(t(lang, "generate.mean_heads"), 0)] + [(t(lang, "generate.head_n", n=i), i) for i in range(1, n + 1)]


def inside_said(nt, cut, chars_cut=0) -> list:
    """[[text key, values], ...] of the lines above Look inside's charts."""
    said = []
    if chars_cut:
        said.append(["generate.inside_chars", {"limit": f"{INSIDE_CHARS:,}", "cut": f"{chars_cut:,}"}])
    if nt.empty_prompt:
        said.append(["generate.note_empty", {}])
    if nt.dropped:
        said.append(["generate.inside_dropped", {"dropped": nt.dropped}])
    if cut:
        said.append(["generate.inside_tail", {"n": INSIDE_TOKENS, "cut": cut}])
    return said


# ---- watch it learn: every view along a run (its snapshots) ------------------------------------
# The timeline's inputs, in the API's order: the run, the snapshot on view (1 = the first), the prompt,
# the attention pickers, the language.  The next-token chart shows the model's own odds (temperature 1,
# no filters: what it learned, not what a sampler would draw).
TIMELINE_IN = ["tl.run", "tl.step", "tl.prompt", "tl.layer", "tl.head", LANG]
TIMELINE_VIEWS = ["tl.step_note", "tl.chart", "tl.next", "tl.attention", "tl.lens"]
TIMELINE_RUN_OUT = ["tl.step", "tl.prompt", "tl.layer", "tl.head", "tl.note", *TIMELINE_VIEWS]
PLAY_SECONDS = 1.5
CACHED_SNAPSHOTS = 8
CACHED_SNAPSHOT_PARAMETERS = 200_000_000  # (800 MB of float32 weights at most)


def timeline_runs(state) -> list[Path]:
    """The run folders of models that write text (a pretraining or instruction run), newest first."""
    return [run for kind in WRITERS for run in list_runs(state.checkpoints, kind.value)]


def timeline_choices(state, lang) -> list[tuple[str, str]]:
    """(label, the run's path inside the checkpoints folder): its name and how many snapshots it kept."""
    root = state.checkpoints.resolve()
    runs = sorted(timeline_runs(state), key=lambda r: (r / "run.json").stat().st_mtime, reverse=True)
    out = []
    for run in runs:
        rel = run.resolve().relative_to(root).as_posix()
        n = len(snapshot_steps(run))
        out.append((t_plain(lang, "generate.tl_run_label" if n else "generate.tl_run_none", name=rel, n=n), rel))
    return out


def timeline_run_dir(state, value) -> Path | None:
    """The run folder the picker names, if it is one of the listed runs (any string can be sent)."""
    if not value or not isinstance(value, str):
        return None
    try:
        wanted = (state.checkpoints / value).resolve()
    except (OSError, ValueError):
        return None
    return next((run.resolve() for run in timeline_runs(state) if run.resolve() == wanted), None)


class SnapshotCache:
    """The last few snapshots loaded, by run and step (a file that changed since is read again): a
    slider moved back and forth loads each step once.  Bounded by count and by parameters."""

    def __init__(self, size: int = CACHED_SNAPSHOTS, parameters: int = CACHED_SNAPSHOT_PARAMETERS):
        self.size, self.parameters = size, parameters
        self._items: OrderedDict = OrderedDict()  # (run, step) -> (checkpoint, its file's mtime, parameters)
        self._lock = threading.Lock()

    @staticmethod
    def _version(path) -> int | None:
        try:
            return Path(path).stat().st_mtime_ns
        except OSError:
            return None

    def get(self, run_dir: Path, step: int):
        key = (str(run_dir), int(step))
        with self._lock:
            item = self._items.get(key)
        if item is not None and self._version(item[0].path) == item[1]:
            with self._lock:
                self._items.move_to_end(key)
            return item[0]
        ckpt = load_snapshot(run_dir, step)  # says why when the step is not there
        size = sum(q.numel() for q in ckpt.model.parameters())
        with self._lock:
            self._items[key] = (ckpt, self._version(ckpt.path), size)
            self._items.move_to_end(key)
            while len(self._items) > 1 and (len(self._items) > self.size
                                            or sum(i[2] for i in self._items.values()) > self.parameters):
                self._items.popitem(last=False)
        return ckpt


def timeline_layout(els: Elements):
    """The timeline: a run, its probes' chart, a slider over the steps it kept (and Play), the prompt, and
    the next-token chart, the logit lens and the attention maps of the model at that step."""
    page = els.ctx.page
    L = page.text
    with els.add("tl.box", gr.Accordion(L("generate.tl_head"), open=False, elem_id="gen-timeline"),
                 label="generate.tl_head"):
        page.add(gr.Markdown(L("generate.tl_intro")), value="generate.tl_intro")
        with gr.Row(equal_height=False):
            els.add("tl.run", gr.Dropdown([], label=L("generate.tl_run"), scale=5, elem_id="gen-tl-run",
                                          allow_custom_value=False), label="generate.tl_run")
            els.add("tl.refresh", gr.Button(L("generate.refresh"), scale=1, size="sm", min_width=60),
                    value="generate.refresh")
        els.add("tl.note", gr.Markdown(elem_id="gen-tl-note"))
        els.add("tl.chart", gr.Plot(show_label=False, elem_id="gen-tl-chart"))
        caption(page, "generate.caption_tl_chart")
        with gr.Row(equal_height=True):
            els.add("tl.step", Slider(1, 2, value=1, step=1, label=L("generate.tl_step"),
                                      info=L("generate.tl_step_info"), elem_id="gen-tl-step", scale=5,
                                      interactive=False), label="generate.tl_step", info="generate.tl_step_info")
            els.add("tl.play", gr.Button(L("generate.tl_play"), scale=1, min_width=80, elem_id="gen-tl-play"),
                    value="generate.tl_play")
        els.add("tl.timer", gr.Timer(PLAY_SECONDS, active=False))
        els.add("tl.step_note", gr.Markdown(elem_id="gen-tl-step-note"))
        els.add("tl.prompt", gr.Textbox(label=L("generate.tl_prompt"), info=L("generate.tl_prompt_info"), lines=1,
                                        max_length=INSIDE_CHARS, elem_id="gen-tl-prompt"),
                label="generate.tl_prompt", info="generate.tl_prompt_info")
        with gr.Row(equal_height=False):
            with gr.Column():
                chart(els, "tl.next", "gen-tl-next", "generate.caption_tl_next")
            with gr.Column():
                chart(els, "tl.lens", "gen-tl-lens", "generate.caption_tl_lens")
        head_pickers(els, "tl", "gen-tl", layers=2)
        chart(els, "tl.attention", "gen-tl-attention", "generate.caption_tl_attention")
    els.add("tl.playing", gr.State(False))


def wire_timeline(els: Elements, state, picked):
    """Pick a run, move the slider (or press Play): every view redraws for the model of that step."""
    snapshots = SnapshotCache()
    maps_cache = AttentionCache()
    els.guard("tl.run", lambda value: timeline_run_dir(state, value))  # a listed run folder, or None

    def run_of(v) -> Path:
        if v["tl.run"] is None:
            raise PocketLLMError(t(v[LANG], "generate.tl_pick_run"))
        return v["tl.run"]

    def on_runs(v):
        return {"tl.run": choice_update(timeline_choices(state, v[LANG]), v["tl.run"] and
                                        v["tl.run"].relative_to(state.checkpoints.resolve()).as_posix())}

    def chosen(v, steps: list[int]) -> int:
        """The step the slider names (1 = the first snapshot), within the run's steps."""
        k = whole(v["tl.step"], 1, 10**6, "generate.tl_step", v[LANG], default=1)
        return steps[min(k, len(steps)) - 1]

    def views(v, run_dir: Path, steps: list[int], view=None) -> dict:
        """The chart with the slider's place, and every view of the model at that step."""
        lang = v[LANG]
        view = view or read_run(run_dir)
        points, change = probe_timeline(view.events), phase_change(view.probes)
        if not steps:
            return {"tl.chart": plots.timeline_figure(points, None, change, [], lang), "tl.step_note": "",
                    **{n: plots.empty_figure(t_plain(lang, "generate.tl_no_snapshots_short")) for n in
                       ("tl.next", "tl.attention", "tl.lens")}}
        step = chosen(v, steps)
        ckpt = snapshots.get(run_dir, step)
        cfg = ckpt.config
        prompt, _ = text_cap(v["tl.prompt"] or "", INSIDE_CHARS)
        nt = inspect.next_token(ckpt, prompt, n=CANDIDATES)  # (the core's look-inside default)
        tail, _ = prompt_tail(prompt, ckpt.tokenizer)
        maps = maps_cache.get(ckpt.path, tail, lambda: inspect.attention(ckpt, tail))
        layer_n, head_n = picked({LANG: lang, "inside.layer": v["tl.layer"], "inside.head": v["tl.head"]},
                                 cfg.num_layers, cfg.num_heads)
        at = next((p for p in points if p["step"] == step), None)
        said = t(lang, "generate.tl_at", k=steps.index(step) + 1, n=len(steps), step=f"{step:,}",
                 tokens=f"{ckpt.facts.get('tokens_seen', 0):,}")
        if at and at.get("loss_second") is not None and at.get("loss_first"):
            said += t(lang, "generate.tl_at_probe", first=f"{at['loss_first']:.2f}", second=f"{at['loss_second']:.2f}",
                      best=f"{at['best_induction']:.2f}" if at.get("best_induction") is not None else "—")
        return {"tl.chart": plots.timeline_figure(points, step, change, steps, lang), "tl.step_note": said,
                "tl.next": plots.next_token_figure(nt, lang),
                "tl.attention": plots.attention_figure(maps, layer_n, head_n or None, lang),
                "tl.lens": plots.logit_lens_figure(inspect.logit_lens(ckpt, tail), lang)}

    def run_note(view, steps: list[int], lang) -> str:
        """What the run kept, and whether (and when) its phase change came."""
        if not steps:
            return t(lang, "generate.tl_no_snapshots", name=view.run_dir.name,
                     limit=f"{SNAPSHOTS_AUTO_MAX_PARAMETERS / 1e6:g}")
        change = phase_change(view.probes)
        if change is not None:
            return t(lang, "generate.tl_phase", step=f"{change['step']:,}", first=f"{change['loss_first']:.2f}",
                     second=f"{change['loss_second']:.2f}", layer=change.get("best_layer") or "?",
                     head=change.get("best_head") or "?",
                     best=f"{change['best']:.2f}" if change.get("best") is not None else "—")
        if view.probes:
            return t(lang, "generate.tl_no_phase", n=len(steps))
        return t(lang, "generate.tl_no_probes", n=len(steps))

    def on_run(v):
        """A run picked: the slider over its snapshots (at the first), its held-out prompt, the pickers on
        its best induction head, and every view."""
        lang = v[LANG]
        run_dir = run_of(v)
        view = read_run(run_dir)
        steps = snapshot_steps(run_dir)
        prompt = next((p["prompts"][0]["prompt"] for p in reversed(view.probes) if p.get("prompts")), None)
        if prompt is None:
            prompt = view.settings.get("sample_prompt") or t(lang, "generate.default_prompt")
        prompt = text_cap(prompt, INSIDE_CHARS, keep="start")[0]
        last = next((p.get("induction") for p in reversed(view.probes) if p.get("induction")), None) or {}
        v = {**v, "tl.step": 1, "tl.prompt": prompt, "tl.layer": last.get("best_layer", 1), "tl.head": 0}
        out = {"tl.note": run_note(view, steps, lang), "tl.prompt": prompt,
               "tl.step": gr.update(minimum=1, maximum=max(2, len(steps)), value=1, interactive=len(steps) > 1)}
        if steps:
            cfg = snapshots.get(run_dir, steps[0]).config
            out["tl.layer"] = gr.update(maximum=max(2, cfg.num_layers), value=min(v["tl.layer"], cfg.num_layers),
                                        interactive=cfg.num_layers > 1)
            out["tl.head"] = gr.update(choices=head_choices(cfg.num_heads, lang), value=0)
            v["tl.layer"] = min(v["tl.layer"], cfg.num_layers)
        return {**out, **views(v, run_dir, steps, view)}

    def on_step(v):
        run_dir = run_of(v)
        return views(v, run_dir, snapshot_steps(run_dir))

    def on_attention(v):
        run_dir = run_of(v)
        steps = snapshot_steps(run_dir)
        if not steps:
            return {}
        ckpt = snapshots.get(run_dir, chosen(v, steps))
        tail, _ = prompt_tail(text_cap(v["tl.prompt"] or "", INSIDE_CHARS)[0], ckpt.tokenizer)
        maps = maps_cache.get(ckpt.path, tail, lambda: inspect.attention(ckpt, tail))  # cached: only re-sliced
        layer_n, head_n = picked({LANG: v[LANG], "inside.layer": v["tl.layer"], "inside.head": v["tl.head"]},
                                 maps.num_layers, maps.num_heads)
        return {"tl.attention": plots.attention_figure(maps, layer_n, head_n or None, v[LANG])}

    els.on(els["tl.refresh"].click, on_runs, ["tl.run", LANG], ["tl.run"], api_name="timeline_runs")
    els.on_load(on_runs, ["tl.run", LANG], ["tl.run"])
    els.on(els["tl.run"].change, on_run, TIMELINE_IN, TIMELINE_RUN_OUT, status="tl.note", api_name="timeline_run",
           concurrency_id="model_cpu", trigger_mode="always_last")
    els.on([els["tl.step"].change, els["tl.prompt"].submit], on_step, TIMELINE_IN, TIMELINE_VIEWS,
           status="tl.step_note", api_name="timeline_step", show_progress="hidden", trigger_mode="always_last",
           concurrency_id="model_cpu")
    els.on([els["tl.layer"].change, els["tl.head"].change], on_attention, TIMELINE_IN, ["tl.attention"],
           show_progress="hidden", trigger_mode="always_last", concurrency_id="model_cpu")

    # ---- Play: the slider moves one snapshot every PLAY_SECONDS, to the last ----------------------
    def on_play(v):
        if v["tl.playing"]:
            return {"tl.playing": False, "tl.timer": gr.Timer(active=False),
                    "tl.play": gr.update(value=t_plain(v[LANG], "generate.tl_play"))}
        run_dir = run_of(v)
        n = len(snapshot_steps(run_dir))
        if n < 2:
            return {}
        k = whole(v["tl.step"], 1, 10**6, "generate.tl_step", v[LANG], default=1)
        return {"tl.playing": True, "tl.timer": gr.Timer(active=True), "tl.step": 1 if k >= n else k,
                "tl.play": gr.update(value=t_plain(v[LANG], "generate.tl_pause"))}

    def on_tick(v):
        if not v["tl.playing"] or v["tl.run"] is None:
            return {"tl.playing": False, "tl.timer": gr.Timer(active=False)}
        n = len(snapshot_steps(v["tl.run"]))
        k = whole(v["tl.step"], 1, 10**6, "generate.tl_step", v[LANG], default=1) + 1
        if k >= n:  # the last one: shown, and the play ends
            return {"tl.step": min(k, n), "tl.playing": False, "tl.timer": gr.Timer(active=False),
                    "tl.play": gr.update(value=t_plain(v[LANG], "generate.tl_play"))}
        return {"tl.step": k}

    play_out = ["tl.playing", "tl.timer", "tl.step", "tl.play"]
    els.on(els["tl.play"].click, on_play, ["tl.run", "tl.step", "tl.playing", LANG], play_out,
           api_name="timeline_play", show_progress="hidden")
    els.on(els["tl.timer"].tick, on_tick, ["tl.run", "tl.step", "tl.playing", LANG], play_out,
           show_progress="hidden", concurrency_limit=None)
