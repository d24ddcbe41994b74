"""Plotly figures (and one HTML strip) built from event records and inspect data.

Nothing here computes model facts: it draws what the core returned.  Every
figure uses a font family with CJK glyphs so Chinese labels render, and a
compact height that fits a laptop screen.  Axis labels for token positions
are prefixed with the position ("3:的") because the same token can appear twice
and plotly merges equal category labels.
"""
from __future__ import annotations

import html

import plotly.graph_objects as go

from pocketllm import inspect

from .i18n import t, t_plain  # t_plain: plotly and our HTML escape on their own; t: the notes (Markdown)

FONT = "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, Source Han Sans SC, sans-serif"
BLUE, ORANGE, GREY, RED, GREEN = "#2563eb", "#ea580c", "#9ca3af", "#dc2626", "#16a34a"
PURPLE = "#9333ea"


def _layout(fig: go.Figure, title: str, height: int = 360, **extra) -> go.Figure:
    # Title on the first line, legend on the second, so they never overlap.
    fig.update_layout(title=dict(text=title, x=0.01, y=0.98, yanchor="top", font=dict(size=15)), height=height,
                      font=dict(family=FONT, size=12), template="plotly_white",
                      margin=dict(l=60, r=20, t=78, b=48),
                      legend=dict(orientation="h", yanchor="bottom", y=1.01, xanchor="left", x=0),
                      **extra)
    return fig


def empty_figure(message: str, height: int = 300) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14, color=GREY),
                       xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, "", height)


def positions(labels: list[str]) -> list[str]:
    """Unique axis labels: "0:␣the", "1:的(1/2)", ..."""
    return [f"{i}:{label}" for i, label in enumerate(labels)]


# ---- training ----------------------------------------------------------------

LOSS_UNITS = ("nats", "bits")  # nats per token (what training minimises), bits per character


def smoothed(values: list[float], weight: float = 0.9) -> list[float]:
    """An exponential moving average with its start-up bias removed (TensorBoard's smoothing):
    the trend of a noisy per-batch curve."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** i))
    return out


def _trend(fig, x, y, name, color, smooth: bool):
    """A per-batch curve: with `smooth`, its trend as the line and the raw values faint beneath."""
    if smooth and len(y) > 2:
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, line=dict(color=color, width=1),
                                 opacity=0.25, showlegend=False, hoverinfo="skip"))
        y = smoothed(y)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, line=dict(color=color)))


def loss_figure(events: list[dict], lang="en", unit: str = "nats", x: str = "tokens_seen",
                smooth: bool = False) -> go.Figure:
    """Train loss of every step and validation loss of every evaluation, against `x`
    ("tokens_seen", or "step" where another chart of the run is drawn against steps).

    unit "bits": the evaluations' bits per character instead (train and validation), which
    do not depend on the tokenizer, so runs with different tokenizers compare fairly."""
    if unit == "bits":
        return _bits_figure(events, lang)
    steps = [e for e in events if e["kind"] == "step"]
    evals = [e for e in events if e["kind"] == "eval" and "loss" in e.get("val", {})]
    if not steps and not evals:
        return empty_figure(t_plain(lang, "plots.no_points"))
    fig = go.Figure()
    _trend(fig, [e[x] for e in steps], [e["train_loss"] for e in steps],
           t_plain(lang, "plots.train_loss_smoothed" if smooth else "plots.train_loss"), BLUE, smooth)
    if evals:
        fig.add_trace(go.Scatter(x=[e[x] for e in evals], y=[e["val"]["loss"] for e in evals],
                                 mode="lines+markers", name=t_plain(lang, "plots.val_loss"),
                                 line=dict(color=ORANGE)))
    fig.update_xaxes(title=t_plain(lang, "plots.step" if x == "step" else "plots.tokens_seen"))
    fig.update_yaxes(title=t_plain(lang, "plots.loss"))
    return _layout(fig, t_plain(lang, "plots.loss_title_steps" if x == "step" else "plots.loss_title"))


def _bits_figure(events: list[dict], lang) -> go.Figure:
    evals = [e for e in events if e["kind"] == "eval"]
    val = [e for e in evals if e.get("val_bits_per_char") is not None]
    train = [e for e in evals if (e.get("train") or {}).get("bits_per_char") is not None]
    if not val and not train:
        has_steps = any(e["kind"] == "step" for e in events)
        return empty_figure(t_plain(lang, "plots.no_bits" if has_steps else "plots.no_points"))
    fig = go.Figure()
    if train:
        fig.add_trace(go.Scatter(x=[e["tokens_seen"] for e in train], y=[e["train"]["bits_per_char"] for e in train],
                                 mode="lines+markers", name=t_plain(lang, "plots.train_bits"), line=dict(color=BLUE)))
    if val:
        fig.add_trace(go.Scatter(x=[e["tokens_seen"] for e in val], y=[e["val_bits_per_char"] for e in val],
                                 mode="lines+markers", name=t_plain(lang, "plots.val_bits"), line=dict(color=ORANGE)))
    fig.update_xaxes(title=t_plain(lang, "plots.tokens_seen"))
    fig.update_yaxes(title=t_plain(lang, "plots.bits_per_char"))
    return _layout(fig, t_plain(lang, "plots.bits_title"))


def accuracy_figure(events: list[dict], lang="en", metric: str = "accuracy", title: str = "") -> go.Figure:
    """`metric` (from `eval` events' train/val dicts, and `step` events' metrics) against the
    step, as a percentage: each batch's value smoothed (raw faint beneath), and the evaluations."""
    steps = [e for e in events if e["kind"] == "step" and metric in e.get("metrics", {})]
    evals = [e for e in events if e["kind"] == "eval"]
    if not steps and not any(metric in e.get("val", {}) for e in evals):
        return empty_figure(t_plain(lang, "plots.no_points"))
    fig = go.Figure()
    if steps:
        _trend(fig, [e["step"] for e in steps], [e["metrics"][metric] for e in steps],
               t_plain(lang, "plots.batch_smoothed"), GREY, True)
    for split, color in (("train", BLUE), ("val", ORANGE)):
        pts = [e for e in evals if metric in e.get(split, {})]
        if pts:
            fig.add_trace(go.Scatter(x=[e["step"] for e in pts], y=[e[split][metric] for e in pts],
                                     mode="lines+markers", name=t_plain(lang, f"plots.{split}"),
                                     line=dict(color=color)))
    fig.update_xaxes(title=t_plain(lang, "plots.step"))
    fig.update_yaxes(title=title or metric, tickformat=".0%", rangemode="tozero")
    return _layout(fig, title or metric)


# ---- look inside ---------------------------------------------------------------

_STRIP_COLORS = ("#dbeafe", "#fde68a", "#bbf7d0", "#fbcfe8", "#e9d5ff", "#fed7aa")


def token_strip(view, lang="en") -> str:
    """The prompt as coloured tokens (HTML).  A character split over several tokens
    shows once, with a dashed border; hovering a token shows its id and bytes."""
    if view is None or not view.tokens:
        return f"<div class='pl-strip'><i>{html.escape(t_plain(lang, 'plots.no_tokens'))}</i></div>"
    spans = []
    for unit in view.units:
        infos = [view.tokens[i] for i in unit.tokens]
        tip = " · ".join(f"#{i.index} id {i.id} [{i.bytes}]" for i in infos)
        color = _STRIP_COLORS[unit.index % len(_STRIP_COLORS)]
        border = "1px dashed #6b7280" if unit.partial else "1px solid transparent"
        dim = "opacity:0.45;" if infos[-1].index < view.dropped else ""
        spans.append(f"<span class='pl-tok' title='{html.escape(tip)}' style='background:{color};"
                     f"border:{border};{dim}'>{html.escape(unit.label)}</span>")
    note = t_plain(lang, "plots.strip_note", n=len(view.tokens), units=len(view.units))
    return ("<div class='pl-strip'>" + "<wbr>".join(spans) + "</div>"  # a line may break between tokens
            f"<div class='pl-strip-note'>{html.escape(note)}</div>")


CHIP_CHARS = 24  # a longer token (a line of "=====" in GPT-2's vocabulary) is shown cut, whole on hover


def _chips(items) -> str:
    out = []
    for i, text in enumerate(items):
        shown = text if len(text) <= CHIP_CHARS else text[:CHIP_CHARS - 1] + "…"
        out.append(f"<span class='pl-tok' title='{html.escape(text)}' "
                   f"style='background:{_STRIP_COLORS[i % len(_STRIP_COLORS)]}'>{html.escape(shown)}</span>")
    return "<wbr>".join(out)


def tokenizer_html(view, tokens_per_char: float | None = None, lang="en") -> str:
    """A tokenizer at work on the corpus (an `inspect.TokenizerView`): its kind and size,
    tokens per character, the first lines as coloured tokens, its longest and most used
    tokens.  `tokens_per_char`: of the whole corpus when known (the view's own is of the
    text it was given)."""
    tpc = view.tokens_per_char if tokens_per_char is None else tokens_per_char
    head = t_plain(lang, "plots.tok_head", kind=t_plain(lang, f"plots.tok_kind_{view.kind}"), vocab=f"{view.vocab_size:,}",
             tpc=f"{tpc:.2f}")
    parts = [f"<div class='pl-tok-head'><b>{html.escape(head)}</b></div>", token_strip(view.sample, lang)]
    if view.unseen_chars:
        pieces = t_plain(lang, "plots.tok_pieces", n=f"{view.unseen_chars:,}", chars=f"{view.characters:,}")
        parts.append(f"<div class='pl-strip-note'>{html.escape(pieces)}</div>")
    if view.longest and max(len(x) for x in view.longest) > 1:  # a character vocabulary: all as long
        parts.append(f"<div class='pl-strip'><span class='pl-tok-what'>{html.escape(t_plain(lang, 'plots.tok_longest'))}"
                     f"</span> {_chips(view.longest)}</div>")
    if view.most_used:
        used = [f"{text} ×{n:,}" for text, n in view.most_used]
        parts.append(f"<div class='pl-strip'><span class='pl-tok-what'>{html.escape(t_plain(lang, 'plots.tok_most_used'))}"
                     f"</span> {_chips(used)}</div>")
    return "<div class='pl-tokenizer'>" + "".join(parts) + "</div>"


def _cut_mark(c) -> str:
    if c.kept:
        return ""
    return "  ⊘" if c.cut_by == "utf8" else "  ✂"


def next_token_figure(nt, lang="en") -> go.Figure:
    """The top candidates: the model's own probability (temperature 1, grey), and
    what sampling draws from after temperature / top-k / top-p (blue).  Cut
    candidates are red, marked ✂ and say which filter cut them; candidates the
    valid-UTF-8 rule removed (they would start with half a character) are purple,
    marked ⊘."""
    cands = list(nt.candidates)
    labels = [f"{c.rank}. {c.label}" + _cut_mark(c) for c in cands]
    colors = [GREY if c.kept else (PURPLE if c.cut_by == "utf8" else RED) for c in cands]
    hover = [t_plain(lang, "plots.cut_utf8") if c.cut_by == "utf8" else
             t_plain(lang, "plots.cut_by", by=c.cut_by) if c.cut_by else "" for c in cands]
    hover = [h + ("<br>" if h else "") + t_plain(lang, "exp.logits_hover", before=f"{c.logit:.2f}",
                                           after=f"{c.penalized_logit:.2f}")
             if _penalized(c) else h for h, c in zip(hover, cands)]
    fig = go.Figure()
    # Grey, red and purple bars are one series (the model's probability) coloured by what happened
    # to each candidate; the red and purple legend entries are empty series in the same slot, last.
    fig.add_trace(go.Bar(y=labels, x=[c.prob for c in cands], orientation="h", offsetgroup="model",
                         name=t_plain(lang, "plots.prob_before"), marker=dict(color=colors), hovertext=hover))
    fig.add_trace(go.Bar(y=labels, x=[c.prob_after for c in cands], orientation="h", offsetgroup="after",
                         name=t_plain(lang, "plots.prob_after"), marker=dict(color=BLUE)))
    for color, key in ((RED, "generate.legend_cut"), (PURPLE, "generate.legend_utf8")):
        if color in colors:
            fig.add_trace(go.Bar(y=[labels[0]], x=[None], orientation="h", offsetgroup="model",
                                 name=t_plain(lang, key), marker=dict(color=color), hoverinfo="skip"))
    fig.update_yaxes(autorange="reversed", type="category")
    # The axis follows the data: a flat distribution's bars (a few %) stay readable.
    top = max([c.prob for c in cands] + [c.prob_after for c in cands] + [0.01])
    fig.update_xaxes(title=t_plain(lang, "plots.probability"), range=[0, min(1.0, top * 1.12)],
                     tickformat=".0%" if top >= 0.05 else ".1%")  # (an untrained model's 0.03 %: not "0% 0% 1%")
    title = t_plain(lang, "plots.next_title", kept=nt.kept_tokens, mass=f"{nt.kept_mass:.0%}",
              h=bits_text(nt.entropy), h_after=bits_text(nt.entropy_after))
    # Up to four legend entries wrap in a half-width column: below the axis, never over the title.
    fig = _layout(fig, title, height=max(360, 26 * len(cands) + 190), barmode="group")
    return fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0),
                             margin=dict(t=48, b=130))


def bits_text(bits: float) -> str:
    """An entropy in bits, two decimals: a one-hot's (-1e-7 after rounding errors) is "0.00", not "-0.00"."""
    return f"{max(float(bits), 0.0) + 0.0:.2f}"


def _penalized(c) -> bool:
    after = getattr(c, "penalized_logit", None)
    return after is not None and abs(after - c.logit) > 1e-6


def next_token_note(nt, lang="en") -> str:
    """Lines on the penalties (how many candidates they lowered) and the valid-UTF-8 rule."""
    lowered = sum(1 for c in nt.candidates if _penalized(c))
    penalty = t(lang, "exp.penalty_note", n=lowered) if lowered else ""
    utf8 = _utf8_note(nt, lang)
    return "  \n".join(x for x in (penalty, utf8) if x)


def _utf8_note(nt, lang="en") -> str:
    if not nt.sampling.valid_utf8:
        return t(lang, "plots.utf8_off")
    if getattr(nt, "utf8_removed", 0):
        mass = nt.utf8_removed_mass
        share = f"{mass:.1%}" if mass >= 0.001 or mass == 0 else "<0.1%"
        return t(lang, "plots.utf8_removed", n=f"{nt.utf8_removed:,}", mass=share)
    return ""


def attention_figure(maps, layer: int, head: int | None, lang="en") -> go.Figure:
    """Block `layer` (1-based), head `head` (1-based; None = mean over heads)."""
    z = maps.matrix(layer, head)
    ticks = positions(maps.labels)
    fig = go.Figure(go.Heatmap(z=z, x=ticks, y=ticks, colorscale="Blues", zmin=0, zmax=1,
                               colorbar=dict(title=t_plain(lang, "generate.attention_weight")),
                               hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title=t_plain(lang, "plots.query"), type="category")
    fig.update_xaxes(title=t_plain(lang, "plots.key"), type="category", tickangle=-45)
    which = t_plain(lang, "plots.mean_heads") if head is None else t_plain(lang, "plots.head_n", n=head)
    size = min(620, 160 + 22 * len(ticks))
    return _layout(fig, t_plain(lang, "plots.attention_title", layer=layer, which=which), height=size)


def logit_lens_figure(lens, lang="en") -> go.Figure:
    """Rows: embeddings, block 1..L; columns: prompt positions; cell: the token that
    layer would predict next (text) and its probability (colour)."""
    ticks = positions(lens.labels)[getattr(lens, "first", 0):]  # the positions the lens covers (the last ones)
    rows = [t_plain(lang, "plots.embeddings") if name == "embeddings"
            else t_plain(lang, "plots.block_n", n=name.split()[-1]) for name in lens.layers]
    # Each cell names a token: at many positions the names are shortened, then left to the
    # hover, so they never overlap.
    n = len(ticks)
    keep = 6 if n <= 12 else 3 if n <= 24 else 0
    cells = [[label if len(label) <= keep else label[:max(keep - 1, 1)] + "…" for label in row]
             for row in lens.top1_labels] if keep else None
    fig = go.Figure(go.Heatmap(z=lens.top1_probs, x=ticks, y=rows, customdata=lens.top1_labels,
                               text=cells, texttemplate="%{text}" if keep else None,
                               textfont=dict(family=FONT, size=11 if n <= 12 else 9),
                               colorscale="YlOrRd", zmin=0, zmax=1, colorbar=dict(title=t_plain(lang, "plots.probability")),
                               hovertemplate="%{y} @ %{x}: %{customdata} (%{z:.2f})<extra></extra>"))
    fig.update_xaxes(type="category", tickangle=-45, title=t_plain(lang, "plots.position"))
    fig.update_yaxes(type="category")
    height = min(620, 140 + 34 * len(rows))
    return _layout(fig, t_plain(lang, "plots.lens_title"), height=height)


def parameter_map_figure(pm, lang="en") -> go.Figure:
    """Parameters per component (bars), with bytes and share in the hover."""
    comps = pm.components
    names = [t_plain(lang, f"plots.comp_{c['component']}") for c in comps]
    fig = go.Figure(go.Bar(
        x=names, y=[c["parameters"] for c in comps], marker=dict(color=BLUE),
        text=[f"{c['share']:.1%}" for c in comps], textposition="outside", cliponaxis=False,
        customdata=[[c["bytes"] / 2**20, ", ".join(c["dtypes"])] for c in comps],
        hovertemplate="%{x}: %{y:,} (%{customdata[0]:.1f} MB, %{customdata[1]})<extra></extra>"))
    fig.update_yaxes(title=t_plain(lang, "plots.parameters"), range=[0, 1.15 * max(c["parameters"] for c in comps)])
    title = t_plain(lang, "plots.params_title", total=f"{pm.total_parameters:,}",
              mb=f"{pm.total_bytes / 2**20:.1f}", gflops=f"{pm.flops_per_token / 1e9:.3f}")
    return _layout(fig, title, height=340)


# ---- watch it learn: the timeline of a run -------------------------------------------------

def timeline_figure(points: list[dict], step: int | None = None, change: dict | None = None,
                    snapshots: list[int] | None = None, lang="en") -> go.Figure:
    """The run's probes against the step (`pocketllm.probe_timeline`): validation bits per
    character and the loss on repeated random tokens (the second time; the first, faint) on the
    left axis, the best head's induction score (0-1) on the right; the snapshots as ticks at the
    bottom, the step on view as a line, and the phase change (`pocketllm.phase_change`) named."""
    if not points:
        return empty_figure(t_plain(lang, "plots.tl_no_probes"), height=260)
    fig = go.Figure()
    x = [p["step"] for p in points]

    def series(key, name, color, axis="y", dash=None, width=2, opacity=1.0):
        pts = [(a, p[key]) for a, p in zip(x, points) if p.get(key) is not None]
        if pts:
            fig.add_trace(go.Scatter(x=[a for a, _ in pts], y=[b for _, b in pts], mode="lines+markers", yaxis=axis,
                                     name=t_plain(lang, name), opacity=opacity, marker=dict(size=5),
                                     line=dict(color=color, dash=dash, width=width)))

    series("val_bits_per_char", "plots.tl_val_bits", ORANGE)
    series("loss_first", "plots.tl_loss_first", GREY, dash="dot", width=1, opacity=0.8)
    series("loss_second", "plots.tl_loss_second", BLUE)
    series("best_induction", "plots.tl_induction", GREEN, axis="y2")
    if snapshots:
        fig.add_trace(go.Scatter(x=snapshots, y=[0] * len(snapshots), mode="markers", yaxis="y2",
                                 name=t_plain(lang, "plots.tl_snapshots"),
                                 marker=dict(symbol="triangle-up", size=9, color=PURPLE)))
    if change is not None:
        fig.add_vline(x=change["step"], line=dict(color=RED, dash="dash", width=1.5))
        fig.add_annotation(x=change["step"], y=1.0, yref="paper", yanchor="bottom", showarrow=False, xanchor="left",
                           text=t_plain(lang, "plots.tl_phase", step=change["step"]), font=dict(color=RED, size=12))
    if step is not None:  # the step on view: a line, named at its top (left of it near the end)
        fig.add_vline(x=step, line=dict(color="#111827", width=2))
        near_end = step > 0.8 * max(x + (snapshots or []))
        fig.add_annotation(x=step, y=1.0, yref="paper", yanchor="top", xanchor="right" if near_end else "left",
                           showarrow=False, text=t_plain(lang, "plots.tl_here", step=step), font=dict(size=11),
                           bgcolor="rgba(255,255,255,0.85)")
    fig.update_xaxes(title=t_plain(lang, "plots.step"), rangemode="tozero")
    fig.update_yaxes(title=t_plain(lang, "plots.tl_left"), rangemode="tozero")
    fig.update_layout(yaxis2=dict(title=t_plain(lang, "plots.tl_right"), overlaying="y", side="right",
                                  range=[-0.02, 1.02], showgrid=False, tickformat=".1f"))
    fig = _layout(fig, t_plain(lang, "plots.tl_title"), height=320)
    return fig.update_layout(margin=dict(l=60, r=60, t=78, b=48))


# ---- finetuning (classify tab) -------------------------------------------------------

def class_balance_figure(before: dict, after: dict | None = None, lang="en") -> go.Figure:
    """Examples per class in the file (and after balancing, when asked)."""
    if not before:
        return empty_figure(t_plain(lang, "plots.no_points"), height=240)
    names = list(before)
    fig = go.Figure(go.Bar(x=names, y=[before[n] for n in names], name=t_plain(lang, "classify.plot_before"),
                           marker=dict(color=BLUE), text=[before[n] for n in names], textposition="outside",
                           cliponaxis=False))
    if after:
        fig.add_trace(go.Bar(x=names, y=[after.get(n, 0) for n in names], name=t_plain(lang, "classify.plot_after"),
                             marker=dict(color=ORANGE), text=[after.get(n, 0) for n in names],
                             textposition="outside", cliponaxis=False))
    fig.update_xaxes(type="category")
    fig.update_yaxes(title=t_plain(lang, "classify.plot_examples"), range=[0, 1.2 * max(before.values())])
    return _layout(fig, t_plain(lang, "classify.plot_balance"), height=260, barmode="group")


def confusion_figure(report: dict | None, lang="en") -> go.Figure:
    """The confusion matrix of a classification report (rows: true label, columns: predicted)."""
    cm = (report or {}).get("confusion_matrix")
    if not cm:
        return empty_figure(t_plain(lang, "classify.no_results").strip("_"), height=300)
    labels, matrix = cm["labels"], cm["rows_true_cols_predicted"]
    totals = [max(1, sum(row)) for row in matrix]
    share = [[v / total for v in row] for row, total in zip(matrix, totals)]  # colour: share of the true class
    fig = go.Figure(go.Heatmap(z=share, x=labels, y=labels, text=matrix, texttemplate="%{text}",
                               textfont=dict(family=FONT, size=14), colorscale="Blues", zmin=0, zmax=1,
                               showscale=False,
                               hovertemplate="%{y} → %{x}: %{text} (%{z:.0%})<extra></extra>"))
    fig.update_xaxes(type="category", title=t_plain(lang, "classify.plot_predicted"), side="bottom")
    fig.update_yaxes(type="category", title=t_plain(lang, "classify.plot_true"), autorange="reversed")
    return _layout(fig, t_plain(lang, "classify.plot_confusion"), height=min(520, 200 + 40 * len(labels)))


# ---- experiments: compare runs, per-token probabilities --------------------------------

_RUN_COLORS = (BLUE, ORANGE, GREEN, PURPLE, RED, "#0891b2", "#ca8a04", "#4b5563")


def compare_runs_figure(comparison, x: str = "step", unit: str = "loss", lang="en") -> go.Figure:
    """The validation curves of the compared runs (a `pocketllm.Comparison`) on one plot:
    x is "step", "tokens_seen" or "elapsed"; unit "loss" (nats per token) or "bits_per_char"."""
    fig = go.Figure()
    for i, run in enumerate(comparison.runs):
        pts = [(a, b) for a, b in zip(run.x.get(x, []), run.val.get(unit, [])) if b is not None]
        if not pts:
            continue
        fig.add_trace(go.Scatter(x=[a for a, _ in pts], y=[b for _, b in pts], mode="lines+markers", name=run.name,
                                 line=dict(color=_RUN_COLORS[i % len(_RUN_COLORS)])))
    if not fig.data:
        return empty_figure(t_plain(lang, "exp.runs_no_points"))
    fig.update_xaxes(title=t_plain(lang, f"exp.x_{x}"))
    fig.update_yaxes(title=t_plain(lang, f"exp.y_{unit}"))
    return _layout(fig, t_plain(lang, "exp.runs_title", unit=t_plain(lang, f"exp.y_{unit}")), height=380)


def _prob_color(p: float) -> str:
    """Red (a surprise) through yellow to green (sure)."""
    p = min(1.0, max(0.0, p))
    hue = int(120 * p)
    return f"hsl({hue}, 85%, 82%)"


def token_probs_html(tokens, lang="en") -> str:
    """Generated tokens (`pocketllm.GeneratedToken`s) coloured by their probability; the
    title (hover) lists the alternatives the model weighed."""
    if not tokens:
        return f"<div class='pl-strip'><i>{html.escape(t_plain(lang, 'exp.probs_none'))}</i></div>"
    spans = []
    for tok in tokens:
        # One line per alternative: a newline or a space among them is drawn (↵, ␣), not a blank line.
        tip = f"{inspect.visible(tok.label)}: {tok.prob:.1%}\n" + "\n".join(
            f"{inspect.visible(label)}: {p:.1%}" for label, p in tok.top)
        shown = tok.piece if tok.piece else "·"
        spans.append(f"<span class='pl-tok pl-prob' title='{html.escape(tip)}' data-prob='{tok.prob:.4f}' "
                     f"style='background:{_prob_color(tok.prob)}'>{html.escape(shown)}</span>")
    mean = sum(tok.prob for tok in tokens) / len(tokens)
    note = t_plain(lang, "exp.probs_legend", n=len(tokens), mean=f"{mean:.0%}")
    return ("<div class='pl-strip pl-probs'>" + "".join(spans) + "</div>"
            f"<div class='pl-strip-note'>{html.escape(note)}</div>")
