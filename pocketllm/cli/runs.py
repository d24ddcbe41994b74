"""`runs`: list run folders, or compare a few of them side by side (table + HTML plot)."""
from __future__ import annotations

from pathlib import Path

from ..files import atomic_write


def register(sub):
    p = sub.add_parser("runs", help="list training runs, or compare several (--compare RUN RUN ...)",
                       description="Without --compare: the run folders in the checkpoints folder, newest first. "
                                   "With --compare: a table of the settings that differ and each run's final/best "
                                   "validation figures, and an HTML plot of their validation curves.")
    p.add_argument("--checkpoints", default=None, help="the checkpoints folder (default: checkpoints/)")
    p.add_argument("--compare", nargs="+", metavar="RUN", default=None,
                   help="run folders (paths, or names inside the checkpoints folder)")
    p.add_argument("--x", default="tokens_seen", choices=("step", "tokens_seen", "elapsed"),
                   help="the plot's x axis (default tokens_seen)")
    p.add_argument("--y", default="bits_per_char", choices=("loss", "bits_per_char"),
                   help="validation loss in nats per token, or bits per character (default; fair across "
                        "tokenizers)")
    p.add_argument("--html", default="compare.html", help="where to write the plot (default compare.html)")
    p.set_defaults(run=run)


def run(args):
    from ..compare import compare_runs
    from ..jobs import list_runs, read_run
    from ..tasks.run_setup import DEFAULT_CHECKPOINTS
    root = Path(args.checkpoints or DEFAULT_CHECKPOINTS)
    if not args.compare:
        for d in list_runs(root):
            view = read_run(d)
            scores, basis = view.saved_scores()  # the saved weights' figures, not the last evaluation's
            figure = ", ".join(f"val {k} {scores[k]:{f}}" for k, f in
                               (("accuracy", ".2%"), ("bits_per_char", ".3f"), ("loss", ".3f"))
                               if isinstance(scores.get(k), (int, float)))
            figure = figure.replace("bits_per_char", "bits/char") + (f" ({basis})" if figure else "")
            print(f"{d.name:<36} {view.settings.get('task', '?'):<9} {view.status:<12} {figure}")
        return 0
    dirs = [Path(r) if Path(r).is_dir() else root / r for r in args.compare]
    comparison = compare_runs(dirs)
    rows = comparison.table()
    from ..report_card import card_figures
    figures = [card_figures(run.card) for run in comparison.runs]  # the report cards' headline figures
    for row, figure in zip(rows, figures):
        row.update({f"card: {name}": figure.get(name) for f in figures for name in f})
    columns = list(rows[0])
    cells = [[_show(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    if comparison.same:
        print(f"\nthe same in every run: {len(comparison.same)} settings (e.g. "
              + ", ".join(f"{k}={_show(v)}" for k, v in list(comparison.same.items())[:4]) + ")")
    _write_plot(comparison, args.x, args.y, Path(args.html))
    print(f"plot: {args.html}")
    return 0


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _write_plot(comparison, x: str, y: str, path: Path):
    import plotly.graph_objects as go
    titles = {"step": "step", "tokens_seen": "tokens seen", "elapsed": "seconds",
              "loss": "validation loss (nats/token)", "bits_per_char": "validation bits per character"}
    fig = go.Figure()
    for run in comparison.runs:
        points = [(a, b) for a, b in zip(run.x[x], run.val[y]) if b is not None]
        fig.add_trace(go.Scatter(x=[a for a, _ in points], y=[b for _, b in points], mode="lines+markers",
                                 name=run.name))
    fig.update_layout(xaxis_title=titles[x], yaxis_title=titles[y], template="plotly_white")
    # offline: the plot carries its own script; written whole, like every file PocketLLM writes
    atomic_write(path, lambda tmp: fig.write_html(str(tmp), include_plotlyjs=True))
