"""Pretrain tab: a corpus and the tokenizer that reads it (with a preview of its tokens), a
model size, hyper-parameters; Start / Stop / Continue; the live loss plot (nats per token or
bits per character), speed and samples read from the run folder; the checkpoint to
download; and the command line that repeats the run.  Built from `ui/training_parts.py`."""
from __future__ import annotations

import codecs
import dataclasses
from pathlib import Path

import gradio as gr

from pocketllm import (BUNDLED_CORPORA, DEFAULT_KIND, DEFAULT_RECIPE, DEFAULT_VOCAB_SIZE, OPTIMIZERS, RECIPES,
                       SCHEDULES, TOKENIZER_KINDS, ModelConfig, PocketLLMError, PretrainSettings, TaskKind,
                       apply_recipe, gpt2_tokenizer, inspect, list_presets, load_corpus, prepare_pretraining,
                       save_shape)
from pocketllm.training.recipes import recipe_of

from .. import plots
from ..elements import Elements
from ..errors import message_of
from ..experiments import compare_runs_section
from ..i18n import t
from ..markup import fenced
from ..limits import (MAX_BATCH, MAX_CONTEXT, MAX_EVERY, MAX_HEADS, MAX_LAYERS, MAX_LR, MAX_MINUTES, MAX_STEPS,
                      MAX_TRAIN_SEED, MAX_VOCAB, MAX_WIDTH)
from ..runs import CHECKPOINT_MINUTES, follow, launch, source_values
from ..training_parts import (TrainingTab, chosen_file, command_box, data_source, download_button, form_values,
                              on_form_change, run_buttons,
                              wire_training, wire_upload)

KIND = TaskKind.PRETRAIN
CUSTOM = "custom"
DTYPES = ["auto", "fp32", "bf16"]
PREVIEW_CHARS = 300        # shown as coloured tokens
PREVIEW_TEXT_CHARS = 20_000  # the longest / most used tokens are counted on the corpus's start
TOKENIZER_ORDER = ("bpe", "char", "gpt2")  # as the page lists them
ARCH_ORDER = ("gpt2", "llama", "qwen3")     # the families the core builds (config.ARCHS), as the page lists them
SOURCES = [("pretrain.src_zh", "zh_classics"), ("pretrain.src_en", "shakespeare"), ("pretrain.src_upload", "upload")]
SHAPE = {"model.layers": "num_layers", "model.heads": "num_heads", "model.width": "emb_dim",
         "model.context": "context_length", "model.dropout": "drop_rate"}
TRAIN = {"train.steps": "max_steps", "train.batch": "batch_size", "train.lr": "lr", "train.eval_every": "eval_every",
         "train.sample_every": "sample_every", "train.seed": "seed"}
FORM = ["data.source", "data.uploaded", "tok.kind", "tok.vocab", "model.preset", *SHAPE, *TRAIN, "train.dtype"]
# The recipe's boxes beyond the form's (training settings fields; a recipe fills them, and the rest it names).
RECIPE_TRAIN = {"train.minutes": "max_minutes", "train.optimizer": "optimizer", "train.schedule": "schedule"}
# After the form in the API (calls that predate them keep working: the preset's own family, the default recipe).
EXTRA = ["model.arch", "train.recipe", *RECIPE_TRAIN]


def _gb(n: float) -> str:
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def corpus_path(v) -> str:
    return chosen_file(v, BUNDLED_CORPORA, "pretrain.preview_need_upload")


def shape_from(els, v) -> ModelConfig:
    """The shape the boxes describe (the preset's own family); every number is checked first, in
    the page's language (a width of 10**12 is answered at once).  A preset's context longer than
    its position table is the core's to refuse."""
    preset = v["model.preset"]
    if preset and preset != CUSTOM:
        base = ModelConfig.load(preset)
        if v["model.context"] in (None, ""):
            return base
        return base.replace(context_length=els.read(v, "model.context"))
    return ModelConfig(**{field: els.read(v, name) for name, field in SHAPE.items()})


def arch_choice(v, shape: ModelConfig) -> str | None:
    """The family the picker names when it is not the shape's own (the settings' `arch`: `--arch`),
    else None."""
    arch = v.get("model.arch")
    return arch if arch in ARCH_ORDER and arch != shape.arch else None


def config_from(els, v) -> ModelConfig:
    """The model the form describes: the boxes' shape built from the picked family's parts."""
    shape = shape_from(els, v)
    arch = arch_choice(v, shape)
    return shape.with_arch(arch) if arch else shape


def tokenizer_choice(els, v) -> tuple[str, int | None]:
    """(kind, vocabulary size or None = the kind's default); gpt2's size is fixed, never sent."""
    kind = v["tok.kind"] if v["tok.kind"] in TOKENIZER_KINDS else DEFAULT_KIND
    if kind == "gpt2" or v["tok.vocab"] in (None, ""):
        return kind, None
    return kind, els.read(v, "tok.vocab")


def samples_md(view, lang) -> str:
    samples = view.of_kind("sample")
    if not samples:
        return t(lang, "pretrain.no_samples")
    parts = []
    for s in reversed(samples[-20:]):
        head = t(lang, "pretrain.sample_head", step=s["step"], tokens=f"{s['tokens_seen']:,}")
        parts.append(f"**{head}**\n{fenced(s['prompt'] + s['text'])}")
    return "\n\n".join(parts)


# ---- building the tab -----------------------------------------------------------------
def build(ctx):
    page, state = ctx.page, ctx.state
    L = page.text
    els = Elements(ctx)
    presets = list_presets()
    defaults = PretrainSettings()  # the form starts from the core's settings: Start = the CLI's default run
    start_preset = defaults.config if defaults.config in presets else presets[0]
    base = ModelConfig.load(start_preset)
    if defaults.context_length:  # the default recipe's context, over the preset's
        base = base.replace(context_length=defaults.context_length)
    start_kind = defaults.tokenizer or DEFAULT_KIND
    start_arch = defaults.arch or base.arch  # the core's: the preset's own family unless the settings name one
    d = defaults.train

    page.add(gr.Markdown(L("pretrain.intro")), value="pretrain.intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            page.add(gr.Markdown(L("pretrain.data_head")), value="pretrain.data_head")
            start_source = source_values(state, defaults.data_path, BUNDLED_CORPORA).get("data.source", SOURCES[0][1])
            data_source(els, "pretrain", SOURCES, start_source, [".txt"], "pretrain")
            els.add("tok.kind", gr.Radio([(L(f"pretrain.tok_{k}"), k) for k in TOKENIZER_ORDER], value=start_kind,
                                         label=L("pretrain.tokenizer"), info=L("pretrain.tokenizer_info"),
                                         elem_id="pretrain-tokenizer"),
                    label="pretrain.tokenizer", info="pretrain.tokenizer_info",
                    choices=[(f"pretrain.tok_{k}", k) for k in TOKENIZER_ORDER])
            els.number("tok.vocab", "pretrain.vocab", defaults.vocab_size or DEFAULT_VOCAB_SIZE.get(start_kind), 1,
                       MAX_VOCAB, info="pretrain.vocab_info", elem_id="pretrain-vocab", visible=start_kind != "gpt2")
            els.add("data.preview", gr.Markdown(elem_id="pretrain-preview"))
        with gr.Column(scale=1, min_width=280):
            page.add(gr.Markdown(L("pretrain.model_head")), value="pretrain.model_head")
            choices = [(p, p) for p in presets] + [("pretrain.custom", CUSTOM)]
            els.add("model.preset", gr.Dropdown([(p, p) for p in presets] + [(L("pretrain.custom"), CUSTOM)],
                                                value=start_preset, label=L("pretrain.preset")),
                    label="pretrain.preset", choices=choices)
            with gr.Row():
                els.number("model.layers", "pretrain.layers", base.num_layers, 1, MAX_LAYERS,
                           elem_id="pretrain-layers")
                els.number("model.heads", "pretrain.heads", base.num_heads, 1, MAX_HEADS, elem_id="pretrain-heads")
                els.number("model.width", "pretrain.width", base.emb_dim, 1, MAX_WIDTH, elem_id="pretrain-width")
            with gr.Row():
                els.number("model.context", "pretrain.context", base.context_length, 2, MAX_CONTEXT,
                           elem_id="pretrain-context")
                els.number("model.dropout", "pretrain.dropout", base.drop_rate, 0, 1, integer=False,
                           elem_id="pretrain-dropout")
            els.add("model.arch", gr.Radio([(L(f"pretrain.arch_{a}"), a) for a in ARCH_ORDER], value=start_arch,
                                           label=L("pretrain.arch"), info=L("pretrain.arch_info"),
                                           elem_id="pretrain-arch"),
                    label="pretrain.arch", info="pretrain.arch_info",
                    choices=[(f"pretrain.arch_{a}", a) for a in ARCH_ORDER])
            page.add(gr.Markdown(L("pretrain.arch_about"), elem_id="pretrain-arch-about"), value="pretrain.arch_about")
            els.add("model.facts", gr.Markdown(elem_id="pretrain-facts"))
        with gr.Column(scale=1, min_width=280):
            page.add(gr.Markdown(L("pretrain.train_head")), value="pretrain.train_head")
            els.add("train.recipe", gr.Dropdown([(L(f"pretrain.recipe_{r}"), r) for r in RECIPES], value=DEFAULT_RECIPE,
                                                label=L("pretrain.recipe"), info=L("pretrain.recipe_info"),
                                                elem_id="pretrain-recipe"),
                    label="pretrain.recipe", info="pretrain.recipe_info",
                    choices=[(f"pretrain.recipe_{r}", r) for r in RECIPES])
            page.add(gr.Markdown(L("pretrain.recipe_about"), elem_id="pretrain-recipe-about"),
                     value="pretrain.recipe_about")
            with gr.Row():
                els.number("train.steps", "pretrain.steps", d.max_steps, 1, MAX_STEPS, elem_id="pretrain-steps")
                els.number("train.minutes", "pretrain.minutes", d.max_minutes, 0, MAX_MINUTES, integer=False,
                           info="pretrain.minutes_info", elem_id="pretrain-minutes")
                els.number("train.batch", "pretrain.batch", d.batch_size, 1, MAX_BATCH, elem_id="pretrain-batch")
                els.number("train.lr", "pretrain.lr", d.lr, 0, MAX_LR, integer=False, elem_id="pretrain-lr")
            with gr.Row():
                els.number("train.eval_every", "pretrain.eval_every", d.eval_every, 0, MAX_EVERY,
                           elem_id="pretrain-eval")
                els.number("train.sample_every", "pretrain.sample_every", d.sample_every, 0, MAX_EVERY,
                           elem_id="pretrain-sample")
                els.number("train.seed", "pretrain.seed", d.seed, 0, MAX_TRAIN_SEED, elem_id="pretrain-seed")
            with gr.Row():
                for name, field, choices in (("train.optimizer", "optimizer", OPTIMIZERS),
                                             ("train.schedule", "schedule", SCHEDULES)):
                    key = f"pretrain.{field}"
                    els.add(name, gr.Dropdown([(L(f"{key}_{c}"), c) for c in choices], value=getattr(d, field),
                                              label=L(key), elem_id=f"pretrain-{field}"),
                            label=key, choices=[(f"{key}_{c}", c) for c in choices])
            els.add("train.dtype", gr.Dropdown(DTYPES, value=d.dtype, label=L("pretrain.dtype")),
                    label="pretrain.dtype")

    els.add("data.tokens", gr.HTML(elem_id="pretrain-tokens"))  # full width: a long token stays on one line
    saved_settings = run_buttons(els, "pretrain", "pretrain", resume=True)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            els.add("live.unit", gr.Radio([(L("pretrain.unit_nats"), "nats"), (L("pretrain.unit_bits"), "bits")],
                                          value="nats", label=L("pretrain.loss_unit"), elem_id="pretrain-unit"),
                    label="pretrain.loss_unit",
                    choices=[("pretrain.unit_nats", "nats"), ("pretrain.unit_bits", "bits")])
            els.add("live.loss", gr.Plot(plots.empty_figure(L("plots.no_points")), elem_id="pretrain-loss",
                                         show_label=False))
        with gr.Column(scale=2):
            page.add(gr.Markdown(L("pretrain.samples_head")), value="pretrain.samples_head")
            els.add("live.samples", gr.Markdown(elem_id="pretrain-samples", max_height=360))
    download_button(els, "pretrain", "pretrain")
    command_box(els, "pretrain-cli")
    compare_runs_section(ctx)

    # ---- the corpus and its tokenizer ------------------------------------------------------
    def tokenizer_of(v):
        """The tokenizer a run on this corpus would get (learned once per corpus, kind and size)."""
        kind, size = tokenizer_choice(els, v)
        return state.tokenizers.get(corpus_path(v), kind, size)

    def corpus_head(path) -> str:
        with open(path, "rb") as fh:  # the first few KB only: a corpus may be 2 GB
            raw = fh.read(PREVIEW_TEXT_CHARS * 4)
        # Not final: a character cut by the read stays out instead of turning into "�".
        return codecs.getincrementaldecoder("utf-8-sig")(errors="replace").decode(raw, final=False)[:PREVIEW_TEXT_CHARS]

    def on_preview(v):
        """The corpus in numbers, and the chosen tokenizer at work on its first lines."""
        lang = v["lang"]
        if v["data.source"] == "upload" and not v["data.uploaded"]:
            return {"data.preview": t(lang, "pretrain.preview_need_upload"), "data.tokens": ""}
        path = corpus_path(v)
        if v["model.context"] in (None, "") or (isinstance(v["model.context"], (int, float))
                                                and v["model.context"] < 2):
            return {"data.preview": t(lang, "pretrain.bad_context"), "data.tokens": ""}
        ctx_len = els.read(v, "model.context")
        try:  # learned on the training part, as the run will (a vocabulary size of 3 is refused here)
            tok, extra = tokenizer_of(v)
        except PocketLLMError as exc:
            return {"data.preview": t(lang, "pretrain.preview_problem", message=message_of(exc, lang)),
                    "data.tokens": ""}
        if "view" not in extra:  # the same corpus start, the same tokenizer: the same view
            extra["view"] = inspect.tokenizer_view(tok, corpus_head(path), sample_chars=PREVIEW_CHARS)
        view = extra["view"]
        try:
            with state.token_cache_lock:
                corpus = load_corpus(path, ctx_len, state.token_cache, tok)  # checks the text is UTF-8
        except PocketLLMError as exc:
            gr.Warning(message_of(exc, lang), title=t(lang, "common.warning_title"))
            return {"data.preview": t(lang, "pretrain.preview_problem", message=message_of(exc, lang)),
                    "data.tokens": plots.tokenizer_html(view, None, lang)}
        s = corpus.summary()
        text = t(lang, "pretrain.preview", name=Path(path).name, chars=f"{s['characters']:,}",
                 tokens=f"{s['tokens']:,}", tpc=f"{s['tokens_per_char']:.2f}", train=f"{s['train_windows']:,}",
                 val=f"{s['val_windows']:,}", context=ctx_len)
        return {"data.preview": text, "data.tokens": plots.tokenizer_html(view, s["tokens_per_char"], lang)}

    preview_io = (["data.source", "data.uploaded", "model.context", "tok.kind", "tok.vocab", "lang"],
                  ["data.preview", "data.tokens"])
    wire_upload(els, "pretrain_upload", [".txt"], then=(on_preview, *preview_io))
    on_form_change(els, KIND, ["data.source", "model.context", "tok.kind", "tok.vocab"], on_preview, *preview_io,
                   status="data.preview")
    preview_api = gr.Button(visible=False)  # the same preview for scripts and tests
    els.on(preview_api.click, on_preview, *preview_io, status="data.preview", api_name="pretrain_preview")

    def on_kind_picked(v):
        """A kind picked by hand: its usual vocabulary size (gpt2's is fixed: no box)."""
        kind = v["tok.kind"]
        return {"tok.vocab": gr.update(value=DEFAULT_VOCAB_SIZE.get(kind), visible=kind != "gpt2")}

    els.on(els["tok.kind"].input, on_kind_picked, ["tok.kind"], ["tok.vocab"], show_progress="hidden")
    els.on(els["tok.kind"].change, lambda v: {"tok.vocab": gr.update(visible=v["tok.kind"] != "gpt2")},
           ["tok.kind"], ["tok.vocab"], show_progress="hidden")

    # ---- the model ----------------------------------------------------------------------------
    def on_preset(v):
        """A preset's sizes, and its own family in the picker (Llama 3.2 is a llama)."""
        if not v["model.preset"] or v["model.preset"] == CUSTOM:
            return {}
        cfg = ModelConfig.load(v["model.preset"])
        return {**{name: getattr(cfg, field) for name, field in SHAPE.items()}, "model.arch": cfg.arch}

    def on_facts(v):
        """The parameter count and memory estimate.  Every number is checked first, before a
        tokenizer is learned for the vocabulary size."""
        lang = v["lang"]
        try:
            cfg = config_from(els, v)
            batch = els.read(v, "train.batch", default=1)
            kind, _ = tokenizer_choice(els, v)
            size = gpt2_tokenizer().vocab_size if kind == "gpt2" else tokenizer_of(v)[0].vocab_size
            cfg = cfg.replace(vocab_size=size)
            mem = cfg.training_memory(batch)
        except (PocketLLMError, ValueError, TypeError, OSError, OverflowError) as exc:
            return {"model.facts": t(lang, "pretrain.facts_invalid", message=message_of(exc, lang))}
        return {"model.facts": t(lang, "pretrain.facts", params=f"{mem['parameters']:,}", weights=_gb(mem["weights"]),
                                 states=_gb(mem["states"]), acts=_gb(mem["activations"]), total=_gb(mem["total"]),
                                 batch=batch, vocab=f"{cfg.vocab_size:,}")}

    els.on(els["model.preset"].input, on_preset, ["model.preset"], [*SHAPE, "model.arch"])

    def on_recipe(v):
        """A recipe picked: the boxes it names take its values (the rest of it rides in the settings)."""
        name = v["train.recipe"] if v["train.recipe"] in RECIPES else DEFAULT_RECIPE
        r = apply_recipe(PretrainSettings(), name)
        out = {name_: getattr(r.train, field) for name_, field in {**TRAIN, **RECIPE_TRAIN}.items()
               if field in RECIPES[name].choices}
        preset = r.config if "config" in RECIPES[name].choices else v["model.preset"]
        shape = ModelConfig.load(preset) if preset in presets else None
        if shape is not None and preset != v["model.preset"]:  # the recipe's model size
            out.update({"model.preset": preset, **{n: getattr(shape, f) for n, f in SHAPE.items()}})
        if "context_length" in RECIPES[name].choices and shape is not None:  # its context, else the preset's
            out["model.context"] = r.context_length or shape.context_length
        if "vocab_size" in RECIPES[name].choices and v["tok.kind"] in (None, "", "bpe"):  # a bpe's size
            out["tok.vocab"] = r.vocab_size or DEFAULT_VOCAB_SIZE["bpe"]
        out["model.arch"] = r.arch or (shape.arch if shape else v["model.arch"])
        return out

    els.on(els["train.recipe"].input, on_recipe, ["train.recipe", "model.preset", "model.arch", "tok.kind"],
           ["train.steps", "train.batch", "train.lr", "train.eval_every", "train.sample_every", *RECIPE_TRAIN,
            "model.arch", "model.preset", *SHAPE, "tok.vocab"])
    for name in ("model.layers", "model.heads", "model.width", "model.dropout"):
        els.on(els[name].input, lambda v: {"model.preset": CUSTOM}, [], ["model.preset"])
    # The family comes after the language: API calls that predate it keep their places (and get the default).
    facts_in = ["model.preset", *SHAPE, "train.batch", "data.source", "data.uploaded", "tok.kind", "tok.vocab",
                "lang", "model.arch"]
    on_form_change(els, KIND, [n for n in facts_in if n != "lang"], on_facts, facts_in, ["model.facts"])
    facts_api = gr.Button(visible=False)  # the same facts for scripts and tests
    els.on(facts_api.click, on_facts, facts_in, ["model.facts"], api_name="pretrain_facts")

    # ---- the form and the core's settings ---------------------------------------------------
    def settings_of(v) -> PretrainSettings:
        cfg = shape_from(els, v)
        arch = arch_choice(v, cfg)  # the form's family, carried as the core's `arch` (the CLI's --arch)
        kind, size = tokenizer_choice(els, v)
        if kind != "gpt2":  # a bad vocabulary size or too short a text: said now, not as a failed run
            tokenizer_of(v)
        preset = v["model.preset"]
        if preset and preset != CUSTOM:
            config = preset
            context = cfg.context_length if cfg.context_length != ModelConfig.load(preset).context_length else None
        else:
            config, context = str(save_shape(cfg, state.checkpoints)), None
        # The boxes' values over the recipe's (warm-up, weight decay, Muon's rate, ...; the core's defaults
        # for what no recipe names).
        start = apply_recipe(PretrainSettings(), v.get("train.recipe") or DEFAULT_RECIPE)
        picked = {field: v[name] for name, field in RECIPE_TRAIN.items() if v.get(name) not in (None, "")}
        if "max_minutes" in picked:
            picked["max_minutes"] = els.read(v, "train.minutes")
        train = dataclasses.replace(start.train, **{field: els.read(v, name) for name, field in TRAIN.items()},
                                    **picked, dtype=v["train.dtype"] or "auto", checkpoint_minutes=CHECKPOINT_MINUTES)
        return dataclasses.replace(start, data_path=corpus_path(v), config=config, arch=arch, tokenizer=kind,
                                   vocab_size=size, context_length=context, train=train)

    def form_of(settings: PretrainSettings) -> dict:
        out = source_values(state, settings.data_path, BUNDLED_CORPORA)
        if settings.tokenizer in TOKENIZER_KINDS:
            out.update({"tok.kind": settings.tokenizer,
                        "tok.vocab": settings.vocab_size if settings.tokenizer != "gpt2" else None})
        shape = ModelConfig.load(settings.config)
        if settings.context_length:
            shape = shape.replace(context_length=settings.context_length)
        out["model.preset"] = settings.config if settings.config in presets else CUSTOM
        out.update({name: getattr(shape, field) for name, field in SHAPE.items()})
        out["model.arch"] = settings.arch or shape.arch
        out.update({name: getattr(settings.train, field) for name, field in TRAIN.items()})
        out.update({name: getattr(settings.train, field) for name, field in RECIPE_TRAIN.items()})
        out["train.dtype"] = settings.train.dtype
        if recipe_of(settings):  # the recipe the run kept (a run that changed one of its choices keeps the picker)
            out["train.recipe"] = recipe_of(settings)
        return out

    def draw(view, v) -> dict:
        return {"live.loss": plots.loss_figure(view.events, v["lang"], v["live.unit"]),
                "live.samples": samples_md(view, v["lang"])}

    def blank(v) -> dict:
        return {"live.loss": plots.empty_figure(t(v["lang"], "plots.no_points")),
                "live.samples": t(v["lang"], "pretrain.no_samples")}

    def stats(view, lang) -> str:
        last = view.last_step  # None before the first step is written
        return t(lang, "pretrain.stats_tokens", tokens=f"{last['tokens_seen']:,}") if last else ""

    def form_settings_of_run(view) -> PretrainSettings:
        return PretrainSettings.from_dict(view.settings)

    tab = TrainingTab(
        kind=KIND, els=els, form=FORM, extra=EXTRA, settings_of=settings_of, form_of=form_of,
        settings_of_run=form_settings_of_run,
        prepare=prepare_pretraining, draw=draw, blank=blank,
        live=["live.loss", "run.stats", "live.samples", "run.download", "run.status"], watch=["live.unit"],
        stats=stats, loaders=[(on_facts, ["model.facts"]), (on_preview, ["data.preview", "data.tokens"])],
        saved_settings=saved_settings)
    wire_training(tab)

    # ---- continue the run on view (stopped, interrupted or finished) to the steps set above -----
    def on_resume(v):
        lang = v["lang"]
        steps = els.read(v, "train.steps")
        current = follow(state, KIND, v["run.dir"])
        view = state.run_view(Path(current)) if current else None
        if view is None or not view.can_resume:
            raise PocketLLMError(t(lang, "pretrain.nothing_to_resume"))
        done = view.resume_step  # the last save: where the continued run really starts
        # The run's own settings (shape, tokenizer, data, schedule: its run.json); how long it goes on
        # (steps, or minutes for a run on a time budget: the core says when they are spent) and its
        # precision are the form's.
        settings = form_settings_of_run(view)
        if settings.train.max_minutes:  # a budget run: its minutes and its step cap, whichever comes first
            longer = {"max_minutes": els.read(v, "train.minutes") or settings.train.max_minutes, "max_steps": steps}
        elif steps <= done:
            raise PocketLLMError(t(lang, "pretrain.resume_more_steps", step=done, more=done + 100))
        else:
            longer = {"max_steps": steps}
        settings = dataclasses.replace(
            settings, resume=str(view.model_path), run_dir=str(view.run_dir), init_from=None,
            train=dataclasses.replace(settings.train, **longer, dtype=v.get("train.dtype") or "auto",
                                      checkpoint_minutes=CHECKPOINT_MINUTES))
        try:
            out = launch(state, KIND, lambda stop_event: prepare_pretraining(settings, stop_event), lang, KIND)
        except PocketLLMError as exc:
            if exc.code == "train.no_time_left":  # said with the form's box, not the command line's flag
                spent = float(exc.values.get("minutes", 0))
                raise PocketLLMError(t(lang, "pretrain.resume_more_minutes", minutes=f"{spent:.1f}",
                                       more=f"{spent + 1:.0f}")) from None
            raise
        if "run.dir" in out:  # it runs: the form shows the run's settings (a model keeps its tokenizer)
            out.update({k: val for k, val in form_values(tab, view).items() if k != "train.steps"})
        return out

    els.on(els["run.resume"].click, on_resume, ["train.steps", "run.dir", "lang", "train.dtype", "train.minutes"],
           ["run.dir", "run.status", *FORM, *tab.extra], status="run.status", api_name="pretrain_resume",
           concurrency_id="start_job")

    def on_unit(v):
        if not v["run.dir"]:
            return {"live.loss": plots.empty_figure(t(v["lang"], "plots.no_points"))}
        return {"live.loss": plots.loss_figure(state.run_view(Path(v["run.dir"])).events, v["lang"], v["live.unit"])}

    els.on(els["live.unit"].change, on_unit, ["run.dir", "lang", "live.unit"], ["live.loss"], show_progress="hidden")
