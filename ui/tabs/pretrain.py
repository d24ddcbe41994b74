"""Pretrain tab: a corpus and the tokenizer that reads it (with a preview of its tokens), a
model size, hyper-parameters; Start / Stop / Resume; the live loss plot (nats per token or
bits per character), speed and samples read from the run folder; the checkpoint to
download; and the command line that repeats the run."""
from __future__ import annotations

import codecs
import json
from pathlib import Path

import gradio as gr

from pocketllm import (BUNDLED_CORPORA, DEFAULT_KIND, DEFAULT_VOCAB_SIZE, STATE_FILE, TOKENIZER_KINDS, ModelConfig,
                       PocketLLMError, PretrainSettings, TrainSettings, default_run_dir, gpt2_tokenizer, inspect,
                       list_presets, load_corpus, prepare_pretraining)

import hashlib

from .. import plots
from ..experiments import compare_runs_section, settings_section
from ..errors import friendly
from ..i18n import t
from ..limits import (MAX_BATCH, MAX_CONTEXT, MAX_EVERY, MAX_HEADS, MAX_LAYERS, MAX_LR, MAX_STEPS, MAX_TRAIN_SEED,
                      MAX_VOCAB, MAX_WIDTH, Number, real, whole)
from ..runs import (CHECKPOINT_MINUTES, clock, ended_model, follow, keep_upload, launch, safe_cli, shell_lines,
                    status_line, stop_job,
                    tick_signature)

KIND = "pretrain"
CUSTOM = "custom"
DTYPES = ["auto", "fp32", "bf16"]
PREVIEW_CHARS = 300        # shown as coloured tokens
PREVIEW_TEXT_CHARS = 20_000  # the longest / most used tokens are counted on the corpus's start
TOKENIZER_ORDER = ("bpe", "char", "gpt2")  # as the page lists them
EVAL_BATCHES = 5  # the app evaluates on fewer batches than the CLI's default, to stay lively on a CPU


# ---- the memory estimate -------------------------------------------------------
def _gb(n: float) -> str:
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def config_from(preset, layers, heads, width, context, dropout, lang="en") -> ModelConfig:
    """The model the boxes describe; a number out of range is refused first, in the page's
    language (the core checks again), so a huge width never reaches the core."""
    if preset and preset != CUSTOM:
        base = ModelConfig.load(preset)
        if context is None or context == "":
            return base
        context = whole(context, 2, MAX_CONTEXT, "pretrain.context", lang)
        if context > base.context_length:  # its position table has no rows beyond it
            raise PocketLLMError(t(lang, "pretrain.context_too_long", preset=preset, context=context,
                                   max=base.context_length))
        return base.replace(context_length=context)
    return ModelConfig(context_length=whole(context, 2, MAX_CONTEXT, "pretrain.context", lang),
                       emb_dim=whole(width, 1, MAX_WIDTH, "pretrain.width", lang),
                       num_heads=whole(heads, 1, MAX_HEADS, "pretrain.heads", lang),
                       num_layers=whole(layers, 1, MAX_LAYERS, "pretrain.layers", lang),
                       drop_rate=real(dropout, 0, 1, "pretrain.dropout", lang))


def tokenizer_choice(kind, vocab, lang="en") -> tuple[str, int | None]:
    """(kind, vocabulary size or None) from the widgets: None = the kind's default size
    (char: every character); gpt2 has a fixed vocabulary, so its size is never sent."""
    kind = kind if kind in TOKENIZER_KINDS else DEFAULT_KIND
    if kind == "gpt2" or vocab is None or vocab == "":
        return kind, None
    return kind, whole(vocab, 1, MAX_VOCAB, "pretrain.vocab", lang)


def default_vocab(kind):
    """What the vocabulary box shows for a kind just picked (None: empty)."""
    return DEFAULT_VOCAB_SIZE.get(kind)


def corpus_path(source, uploaded) -> str:
    if source == "upload":
        if not uploaded:
            raise PocketLLMError("No corpus uploaded yet.")
        return uploaded
    return str(BUNDLED_CORPORA[source])


# ---- the command line ------------------------------------------------------------
@safe_cli
def cli_command(ctx, source, uploaded, tok_kind, vocab, preset, layers, heads, width, context, dropout, steps,
                batch, lr, eval_every, sample_every, seed, dtype) -> str:
    try:
        data = corpus_path(source, uploaded)
    except PocketLLMError:
        data = "your_corpus.txt"
    lines = []
    args = ["python", "-m", "pocketllm", "pretrain"]
    if preset and preset != CUSTOM:
        args += ["--config", preset]
        try:
            longest = ModelConfig.load(preset).context_length
            if context and int(context) > longest:
                lines.append(f"# the context length of {preset} is at most {longest}")
            elif context and int(context) != longest:
                args += ["--context_length", str(int(context))]
        except (PocketLLMError, ValueError):
            pass
    else:
        try:
            cfg = config_from(CUSTOM, layers, heads, width, context, dropout)
            lines.append("cat > my_config.json <<'EOF'\n" + json.dumps(cfg.to_dict()) + "\nEOF")
        except (PocketLLMError, ValueError, TypeError):
            lines.append("# my_config.json: fix the model settings first")
        args += ["--config", "my_config.json"]
    args += ["--data_path", data]
    try:
        kind, size = tokenizer_choice(tok_kind, vocab)
        args += ["--tokenizer", kind] + (["--vocab_size", str(size)] if size is not None else [])
    except PocketLLMError:
        lines.append("# --vocab_size: fix the vocabulary size first")
    args += ["--max_steps", str(int(steps or 0)), "--batch_size", str(int(batch or 0)),
             "--lr", f"{float(lr or 0):g}", "--eval_every", str(int(eval_every or 0)),
             "--eval_batches", str(EVAL_BATCHES), "--sample_every", str(int(sample_every or 0)),
             "--seed", str(int(seed or 0)),
             "--dtype", dtype or "auto", "--run_dir", str(ctx.state.checkpoints / "my-run")]
    lines.append(shell_lines(args))
    return "\n".join(lines)


# ---- reading a run ----------------------------------------------------------------
def _stats(view, lang) -> str:
    last = view.last_step
    started = view.of_kind("started")
    if not last:
        return ""
    total = started[-1]["total_steps"] if started else "?"
    return t(lang, "pretrain.stats", step=last["step"], total=total, tokens=f"{last['tokens_seen']:,}",
             rate=f"{last['tokens_per_s']:,.0f}", elapsed=clock(last["elapsed"]),
             eta=clock(last["eta"]) if view.status == "running" else "—",
             loss=f"{last['train_loss']:.3f}")


def _samples(view, lang) -> str:
    samples = view.of_kind("sample")
    if not samples:
        return t(lang, "pretrain.no_samples")
    parts = []
    for s in reversed(samples[-20:]):
        head = t(lang, "pretrain.sample_head", step=s["step"], tokens=f"{s['tokens_seen']:,}")
        text = (s["prompt"] + s["text"]).replace("```", "ʼʼʼ")
        parts.append(f"**{head}**\n```text\n{text}\n```")
    return "\n\n".join(parts)


FORM_SIZE = 17  # the widgets a run's settings fill in (see `form_of`)
STEPS_AT = 10   # where the steps are among them


def form_of(state, settings: dict) -> list:
    """Updates that make the form show a run's settings (its run.json): the corpus, the
    tokenizer, the model shape and the training settings, in the order of the tab's
    `form` list.  What the run.json does not say (or names a file the page cannot pick)
    stays as it is."""
    keep = gr.skip()
    out = [keep] * FORM_SIZE
    if not settings:
        return out
    data = settings.get("data_path")
    bundled = {str(Path(p).resolve()): name for name, p in BUNDLED_CORPORA.items()}
    if data and str(Path(data).resolve()) in bundled:
        out[0:2] = [bundled[str(Path(data).resolve())], keep]
    elif data and Path(data).resolve().parent == state.corpora and Path(data).is_file():
        out[0:2] = ["upload", str(Path(data).resolve())]
    kind = settings.get("tokenizer")
    if kind in TOKENIZER_KINDS:
        size = settings.get("vocab_size") if kind != "gpt2" else None
        out[2:4] = [kind, gr.update(value=size, visible=kind != "gpt2")]
    shape = settings.get("model_config") or {}
    if shape:
        preset = settings.get("config")
        out[4] = preset if preset in list_presets() else CUSTOM
        out[5:10] = [shape.get("num_layers", keep), shape.get("num_heads", keep), shape.get("emb_dim", keep),
                     shape.get("context_length", keep), shape.get("drop_rate", keep)]
    train = settings.get("train") or {}
    for i, name in enumerate(("max_steps", "batch_size", "lr", "eval_every", "sample_every", "seed", "dtype")):
        if train.get(name) is not None:
            out[STEPS_AT + i] = train[name]
    return out


def _resumable(ctx) -> Path | None:
    """The newest stopped (or interrupted) pretraining run that can continue."""
    for run_dir in ctx.state.runs(KIND):
        view = ctx.state.run_view(run_dir)
        model = view.model_path
        if view.status in ("stopped", "interrupted") and model and model.is_file() \
                and (run_dir / STATE_FILE).is_file():
            return run_dir
    return None


# ---- building the tab -----------------------------------------------------------------
def build(ctx):
    page, state = ctx.page, ctx.state
    L = page.text
    presets = list_presets()
    start_preset = "cpu-tiny" if "cpu-tiny" in presets else presets[0]
    base = ModelConfig.load(start_preset)

    page.add(gr.Markdown(L("pretrain.intro")), value="pretrain.intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            page.add(gr.Markdown(L("pretrain.data_head")), value="pretrain.data_head")
            source = page.add(gr.Radio([(L("pretrain.src_zh"), "zh_classics"), (L("pretrain.src_en"), "shakespeare"),
                                        (L("pretrain.src_upload"), "upload")], value="zh_classics",
                                       label=L("pretrain.source")),
                              label="pretrain.source",
                              choices=[("pretrain.src_zh", "zh_classics"), ("pretrain.src_en", "shakespeare"),
                                       ("pretrain.src_upload", "upload")])
            upload = page.add(gr.File(label=L("pretrain.upload"), file_types=[".txt"], type="filepath",
                                      elem_id="pretrain-upload"), label="pretrain.upload")
            uploaded = gr.State("")
            tok_kind = page.add(gr.Radio([(L(f"pretrain.tok_{k}"), k) for k in TOKENIZER_ORDER], value=DEFAULT_KIND,
                                         label=L("pretrain.tokenizer"), info=L("pretrain.tokenizer_info"),
                                         elem_id="pretrain-tokenizer"),
                                label="pretrain.tokenizer", info="pretrain.tokenizer_info",
                                choices=[(f"pretrain.tok_{k}", k) for k in TOKENIZER_ORDER])
            vocab = page.add(Number(default_vocab(DEFAULT_KIND), label=L("pretrain.vocab"),
                                       info=L("pretrain.vocab_info"), precision=0, elem_id="pretrain-vocab",
                                       minimum=1, maximum=MAX_VOCAB,
                                       visible=DEFAULT_KIND != "gpt2"),
                             label="pretrain.vocab", info="pretrain.vocab_info")
            preview = gr.Markdown(elem_id="pretrain-preview")
        with gr.Column(scale=1, min_width=280):
            page.add(gr.Markdown(L("pretrain.model_head")), value="pretrain.model_head")
            preset = page.add(gr.Dropdown([(p, p) for p in presets] + [(L("pretrain.custom"), CUSTOM)],
                                          value=start_preset, label=L("pretrain.preset")),
                              label="pretrain.preset",
                              choices=[(p, p) for p in presets] + [("pretrain.custom", CUSTOM)])
            with gr.Row():
                layers = page.add(Number(base.num_layers, label=L("pretrain.layers"), precision=0, minimum=1,
                                         maximum=MAX_LAYERS, elem_id="pretrain-layers"),
                                  label="pretrain.layers")
                heads = page.add(Number(base.num_heads, label=L("pretrain.heads"), precision=0, minimum=1,
                                        maximum=MAX_HEADS, elem_id="pretrain-heads"),
                                 label="pretrain.heads")
                width = page.add(Number(base.emb_dim, label=L("pretrain.width"), precision=0, minimum=1,
                                        maximum=MAX_WIDTH, elem_id="pretrain-width"),
                                 label="pretrain.width")
            with gr.Row():
                context = page.add(Number(base.context_length, label=L("pretrain.context"), precision=0,
                                          minimum=2, maximum=MAX_CONTEXT, elem_id="pretrain-context"), label="pretrain.context")
                dropout = page.add(Number(base.drop_rate, label=L("pretrain.dropout"), minimum=0, maximum=1,
                                          elem_id="pretrain-dropout"),
                                   label="pretrain.dropout")
            model_facts = gr.Markdown(elem_id="pretrain-facts")
        with gr.Column(scale=1, min_width=280):
            page.add(gr.Markdown(L("pretrain.train_head")), value="pretrain.train_head")
            with gr.Row():
                steps = page.add(Number(100, label=L("pretrain.steps"), precision=0, minimum=1, maximum=MAX_STEPS,
                                           elem_id="pretrain-steps"), label="pretrain.steps")
                batch = page.add(Number(8, label=L("pretrain.batch"), precision=0, minimum=1, maximum=MAX_BATCH,
                                           elem_id="pretrain-batch"), label="pretrain.batch")
                lr = page.add(Number(1e-3, label=L("pretrain.lr"), minimum=0, maximum=MAX_LR), label="pretrain.lr")
            with gr.Row():
                eval_every = page.add(Number(25, label=L("pretrain.eval_every"), precision=0, minimum=0, maximum=MAX_EVERY,
                                                elem_id="pretrain-eval"), label="pretrain.eval_every")
                sample_every = page.add(Number(50, label=L("pretrain.sample_every"), precision=0, minimum=0,
                                               maximum=MAX_EVERY,
                                                  elem_id="pretrain-sample"), label="pretrain.sample_every")
                seed = page.add(Number(123, label=L("pretrain.seed"), precision=0, minimum=0,
                                       maximum=MAX_TRAIN_SEED, elem_id="pretrain-seed"), label="pretrain.seed")
            dtype = page.add(gr.Dropdown(DTYPES, value="auto", label=L("pretrain.dtype")), label="pretrain.dtype")

    tok_preview = gr.HTML(elem_id="pretrain-tokens")  # full width: a long token stays on one line
    with gr.Row():
        start = page.add(gr.Button(L("pretrain.start"), variant="primary", elem_id="pretrain-start"),
                         value="pretrain.start")
        stop = page.add(gr.Button(L("pretrain.stop"), variant="stop", elem_id="pretrain-stop"),
                        value="pretrain.stop")
        resume = page.add(gr.Button(L("pretrain.resume"), elem_id="pretrain-resume"), value="pretrain.resume")
    status = gr.Markdown(elem_id="pretrain-status")
    saved_settings = gr.Column()  # settings saved by name: filled in below, once the form's handlers exist
    stats = gr.Markdown(elem_id="pretrain-stats")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            loss_unit = page.add(gr.Radio([(L("pretrain.unit_nats"), "nats"), (L("pretrain.unit_bits"), "bits")],
                                          value="nats", label=L("pretrain.loss_unit"), elem_id="pretrain-unit"),
                                 label="pretrain.loss_unit",
                                 choices=[("pretrain.unit_nats", "nats"), ("pretrain.unit_bits", "bits")])
            loss_plot = gr.Plot(plots.empty_figure(L("plots.no_points")), elem_id="pretrain-loss",
                                show_label=False)
        with gr.Column(scale=2):
            page.add(gr.Markdown(L("pretrain.samples_head")), value="pretrain.samples_head")
            samples = gr.Markdown(elem_id="pretrain-samples", max_height=360)
    download = page.add(gr.DownloadButton(L("pretrain.download"), visible=False, elem_id="pretrain-download"),
                        label="pretrain.download")
    with page.add(gr.Accordion(L("pretrain.cli_head"), open=False), label="pretrain.cli_head"):
        cli = gr.Code(language="shell", show_label=False, elem_id="pretrain-cli", interactive=False)
    compare_runs_section(ctx)

    run_dir = gr.State("")
    seen = gr.State("")
    timer = gr.Timer(1.0)

    model_inputs = [preset, layers, heads, width, context, dropout]
    tokenizer_inputs = [source, uploaded, tok_kind, vocab]
    setting_inputs = [source, uploaded, tok_kind, vocab, *model_inputs, steps, batch, lr, eval_every, sample_every, seed,
                      dtype]
    form = setting_inputs  # what a run's settings fill in when it comes into view (`form_of`), in this order
    assert len(form) == FORM_SIZE and form[STEPS_AT] is steps

    # ---- corpus -----------------------------------------------------------------
    @friendly(outputs=2)
    def on_upload(path, lang):
        if not path:
            return gr.skip(), gr.skip()
        return keep_upload(state, path, [".txt"], fallback="corpus"), "upload"

    def preview_tokenizer(path, kind, vocab, lang="en"):
        """The tokenizer a run on this corpus would get (learned once per corpus, kind and size)."""
        kind, size = tokenizer_choice(kind, vocab, lang)
        return state.tokenizers.get(path, kind, size)

    def corpus_head(path) -> str:
        with open(path, "rb") as fh:  # the first few KB only: a corpus may be 2 GB
            raw = fh.read(PREVIEW_TEXT_CHARS * 4)
        # Not final: a character cut by the read stays out instead of turning into "�".
        return codecs.getincrementaldecoder("utf-8-sig")(errors="replace").decode(raw, final=False)[:PREVIEW_TEXT_CHARS]

    @friendly(outputs=2, status=0)
    def on_preview(source, uploaded, context, kind, vocab, lang):
        """The corpus in numbers, and the chosen tokenizer at work on its first lines."""
        if source == "upload" and not uploaded:
            return t(lang, "pretrain.preview_need_upload"), ""
        path = corpus_path(source, uploaded)
        if context is None or context == "" or (isinstance(context, (int, float)) and context < 2):
            return t(lang, "pretrain.bad_context"), ""
        ctx_len = whole(context, 2, MAX_CONTEXT, "pretrain.context", lang)
        try:  # learned on the training part, as the run will (a vocabulary size of 3 is refused here)
            tok, extra = preview_tokenizer(path, kind, vocab, lang)
        except PocketLLMError as exc:
            return t(lang, "pretrain.preview_problem", message=str(exc)), ""
        if "view" not in extra:  # the same corpus start, the same tokenizer: the same view
            extra["view"] = inspect.tokenizer_view(tok, corpus_head(path), sample_chars=PREVIEW_CHARS)
        view = extra["view"]
        try:
            with state.token_cache_lock:
                corpus = load_corpus(path, ctx_len, state.token_cache, tok)  # checks the text is UTF-8
        except PocketLLMError as exc:
            gr.Warning(str(exc), title=t(lang, "common.warning_title"))
            return t(lang, "pretrain.preview_problem", message=str(exc)), plots.tokenizer_html(view, None, lang)
        s = corpus.summary()
        text = t(lang, "pretrain.preview", name=Path(path).name, chars=f"{s['characters']:,}",
                 tokens=f"{s['tokens']:,}", tpc=f"{s['tokens_per_char']:.2f}", train=f"{s['train_windows']:,}",
                 val=f"{s['val_windows']:,}", context=ctx_len)
        return text, plots.tokenizer_html(view, s["tokens_per_char"], lang)

    preview_inputs = [source, uploaded, context, tok_kind, vocab, ctx.lang]
    preview_outputs = [preview, tok_preview]
    upload.upload(on_upload, [upload, ctx.lang], [uploaded, source], api_name="pretrain_upload") \
        .then(on_preview, preview_inputs, preview_outputs)
    source.change(on_preview, preview_inputs, preview_outputs, api_name="pretrain_preview")
    for comp in (context, tok_kind, vocab):
        comp.change(on_preview, preview_inputs, preview_outputs, show_progress="hidden", trigger_mode="always_last")

    # ---- tokenizer ----------------------------------------------------------------
    def on_kind_picked(kind):
        """A kind picked by hand: its usual vocabulary size (gpt2's is fixed: no box)."""
        return gr.update(value=default_vocab(kind), visible=kind != "gpt2")

    tok_kind.input(on_kind_picked, tok_kind, vocab, show_progress="hidden")
    tok_kind.change(lambda kind: gr.update(visible=kind != "gpt2"), tok_kind, vocab, show_progress="hidden")

    # ---- model ------------------------------------------------------------------
    def on_preset(name):
        if not name or name == CUSTOM:
            return [gr.skip()] * 5
        cfg = ModelConfig.load(name)
        return cfg.num_layers, cfg.num_heads, cfg.emb_dim, cfg.context_length, cfg.drop_rate

    def to_custom():
        return CUSTOM

    def vocab_size_of(source, uploaded, kind, vocab, lang="en") -> int:
        """Rows of the embedding and output head: the size of the tokenizer the run would learn."""
        if tokenizer_choice(kind, vocab, lang)[0] == "gpt2":
            return gpt2_tokenizer().vocab_size
        return preview_tokenizer(corpus_path(source, uploaded), kind, vocab, lang)[0].vocab_size

    def on_facts(preset, layers, heads, width, context, dropout, batch, source, uploaded, kind, vocab, lang):
        """The parameter count and memory estimate.  Every number is checked first (a width of
        10**12 is answered at once), before a tokenizer is learned for the vocabulary size."""
        try:
            cfg = config_from(preset, layers, heads, width, context, dropout, lang)
            batch = whole(batch, 1, MAX_BATCH, "pretrain.batch", lang, default=1)
            tokenizer_choice(kind, vocab, lang)
            cfg = cfg.replace(vocab_size=vocab_size_of(source, uploaded, kind, vocab, lang))
            mem = cfg.training_memory(batch)
        except (PocketLLMError, ValueError, TypeError, OSError, OverflowError) as exc:
            return t(lang, "pretrain.facts_invalid", message=str(exc))
        return t(lang, "pretrain.facts", params=f"{mem['parameters']:,}", weights=_gb(mem["weights"]),
                 states=_gb(mem["states"]), acts=_gb(mem["activations"]), total=_gb(mem["total"]),
                 batch=batch, vocab=f"{cfg.vocab_size:,}")

    preset.input(on_preset, preset, [layers, heads, width, context, dropout])
    for box in (layers, heads, width, dropout):
        box.input(to_custom, None, preset)
    facts_inputs = [*model_inputs, batch, *tokenizer_inputs, ctx.lang]
    for comp in (*model_inputs, batch, *tokenizer_inputs):
        comp.change(on_facts, facts_inputs, model_facts, show_progress="hidden", trigger_mode="always_last")
    facts_api = gr.Button(visible=False)  # the same facts for scripts and tests
    facts_api.click(on_facts, facts_inputs, model_facts, api_name="pretrain_facts")
    for comp in setting_inputs:
        comp.change(lambda *a: cli_command(ctx, *a), setting_inputs, cli, show_progress="hidden")

    # ---- start, stop, resume ------------------------------------------------------
    def train_settings(steps, batch, lr, eval_every, sample_every, seed, dtype, lang) -> TrainSettings:
        return TrainSettings(max_steps=whole(steps, 1, MAX_STEPS, "pretrain.steps", lang),
                             batch_size=whole(batch, 1, MAX_BATCH, "pretrain.batch", lang),
                             lr=real(lr, 0, MAX_LR, "pretrain.lr", lang),
                             eval_every=whole(eval_every, 0, MAX_EVERY, "pretrain.eval_every", lang, default=0),
                             sample_every=whole(sample_every, 0, MAX_EVERY, "pretrain.sample_every", lang, default=0),
                             seed=whole(seed, 0, MAX_TRAIN_SEED, "pretrain.seed", lang, default=123),
                             dtype=dtype or "auto", eval_batches=EVAL_BATCHES,
                             checkpoint_minutes=CHECKPOINT_MINUTES)

    @friendly(outputs=2, status=1)
    def on_start(source, uploaded, tok_kind, vocab, preset, layers, heads, width, context, dropout, steps, batch, lr,
                 eval_every, sample_every, seed, dtype, lang):
        data = corpus_path(source, uploaded)
        cfg = config_from(preset, layers, heads, width, context, dropout, lang)
        train = train_settings(steps, batch, lr, eval_every, sample_every, seed, dtype, lang)
        kind, size = tokenizer_choice(tok_kind, vocab, lang)
        if kind != "gpt2":  # a bad vocabulary size or too short a text: said now, not as a failed run
            preview_tokenizer(data, kind, size, lang)
        out = default_run_dir(KIND, state.checkpoints)

        def prepare(stop_event):
            if preset and preset != CUSTOM:
                config, ctx_len = preset, cfg.context_length
            else:  # the edited shape, saved in the run folder like any config file
                out.mkdir(parents=True, exist_ok=True)
                config = str(out / "model_config.json")
                Path(config).write_text(json.dumps(cfg.to_dict(), indent=2))
                ctx_len = None
            settings = PretrainSettings(data_path=data, config=config, tokenizer=kind, vocab_size=size,
                                        context_length=ctx_len, run_dir=str(out), train=train)
            return prepare_pretraining(settings, stop_event)

        return launch(state, KIND, prepare, lang, "pretrain")

    @friendly(outputs=2 + FORM_SIZE, status=1)
    def on_resume(steps, lang):
        steps = whole(steps, 1, MAX_STEPS, "pretrain.steps", lang)
        run = _resumable(ctx)
        if run is None:
            raise PocketLLMError(t(lang, "pretrain.nothing_to_resume"))
        view = state.run_view(run)
        done = view.resume_step  # the last save: where the resumed run really starts
        if steps <= done:
            raise PocketLLMError(t(lang, "pretrain.resume_more_steps", step=done))
        settings = PretrainSettings(resume=str(view.model_path), run_dir=str(run),
                                    train=TrainSettings(max_steps=steps, checkpoint_minutes=CHECKPOINT_MINUTES))
        shown, message = launch(state, KIND, lambda stop_event: prepare_pretraining(settings, stop_event), lang,
                                "pretrain")
        if isinstance(shown, str):  # it runs: the form shows the run's tokenizer (a model keeps its own)
            filled = form_of(state, view.settings)
            filled[STEPS_AT] = gr.skip()  # the steps just asked for, not the run's old ones
            return (shown, message, *filled)
        return (shown, message, *[gr.skip()] * FORM_SIZE)

    def on_stop(lang):
        return stop_job(state, lang, "pretrain")

    # ---- settings saved by name -----------------------------------------------------------
    def settings_of(source, uploaded, tok_kind, vocab, preset, layers, heads, width, context, dropout, steps, batch,
                    lr, eval_every, sample_every, seed, dtype, lang) -> PretrainSettings:
        """The form as the core's PretrainSettings (no run folder: a recipe to run again)."""
        data = corpus_path(source, uploaded)
        cfg = config_from(preset, layers, heads, width, context, dropout, lang)
        train = train_settings(steps, batch, lr, eval_every, sample_every, seed, dtype, lang)
        kind, size = tokenizer_choice(tok_kind, vocab, lang)
        if preset and preset != CUSTOM:
            config, ctx_len = preset, cfg.context_length
        else:  # an edited shape is a config file, as a run keeps it; named by its content
            text = json.dumps(cfg.to_dict(), indent=2)
            shapes = state.checkpoints / "presets" / "pretrain-shapes"
            shapes.mkdir(parents=True, exist_ok=True)
            path = shapes / f"{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
            if not path.is_file():
                path.write_text(text, encoding="utf-8")
            config, ctx_len = str(path), None
        return PretrainSettings(data_path=data, config=config, tokenizer=kind, vocab_size=size,
                                context_length=ctx_len, train=train)

    def fill_form(settings: PretrainSettings) -> list:
        data = settings.to_dict()
        shape = ModelConfig.load(settings.config)
        if settings.context_length:
            shape = shape.replace(context_length=settings.context_length)
        data["model_config"] = shape.to_dict()
        return form_of(state, data)

    with saved_settings:
        settings_section(ctx, KIND, form, settings_of, fill_form)

    start.click(on_start, [*setting_inputs, ctx.lang], [run_dir, status], api_name="pretrain_start",
                concurrency_limit=1, concurrency_id="start_job")
    resume.click(on_resume, [steps, ctx.lang], [run_dir, status, *form], api_name="pretrain_resume",
                 concurrency_id="start_job")
    stop.click(on_stop, ctx.lang, status, api_name="pretrain_stop", concurrency_limit=None)

    # ---- the live view: read the run folder every second ------------------------------------
    def on_tick(current, last_seen, lang, unit="nats"):
        shown = current
        current = follow(state, KIND, current)
        if not current:  # nothing to show yet, but in the page's language
            sig = f"none|{lang}"
            if sig == last_seen:
                return [gr.skip()] * len(tick_outputs)
            return ("", sig, plots.empty_figure(t(lang, "plots.no_points")), "", t(lang, "pretrain.no_samples"),
                    gr.update(visible=False), "", *[gr.skip()] * FORM_SIZE)
        sig = tick_signature(state, current, lang)
        if sig == last_seen:
            return [gr.skip()] * len(tick_outputs)
        view = state.run_view(Path(current))
        model = ended_model(state, view)
        ended = model is not None
        # Another run came into view (a reload, a run started elsewhere): the form shows its settings.
        filled = form_of(state, view.settings) if current != shown else [gr.skip()] * FORM_SIZE
        return (current, sig, plots.loss_figure(view.events, lang, unit), _stats(view, lang), _samples(view, lang),
                gr.update(value=str(model) if ended else None, visible=ended), status_line(view, lang, "pretrain"),
                *filled)

    def on_unit(current, lang, unit):
        if not current:
            return plots.empty_figure(t(lang, "plots.no_points"))
        return plots.loss_figure(state.run_view(Path(current)).events, lang, unit)

    tick_outputs = [run_dir, seen, loss_plot, stats, samples, download, status, *form]
    timer.tick(on_tick, [run_dir, seen, ctx.lang, loss_unit], tick_outputs, show_progress="hidden",
               concurrency_limit=None, api_name="pretrain_poll")
    loss_unit.change(on_unit, [run_dir, ctx.lang, loss_unit], loss_plot, show_progress="hidden")
    ctx.lang.change(lambda: "", None, seen)  # redraw in the new language on the next tick

    ctx.on_load(on_facts, facts_inputs, model_facts)
    ctx.on_load(lambda *a: cli_command(ctx, *a), setting_inputs, cli)
    ctx.on_load(on_preview, preview_inputs, preview_outputs)
