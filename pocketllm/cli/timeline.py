"""`inspect --run RUN --steps all`: the same view at every snapshot of a run — watch it learn.

For each step the run kept (training/snapshots.py), the model of that step answers the same
prompt; then the probes of the run (pocketllm/probes.py) as a table: held-out bits per
character, the loss on repeated random tokens (first and second time) and the best
induction score, evaluation by evaluation.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import PocketLLMError

TIMELINE_VIEWS = ("next",)


def register(sub):
    """Adds --run and --steps to `inspect` (registered before this module: modules go by name), which
    then shows the timeline when --run is given and its usual views otherwise."""
    from . import inspect as inspect_command
    p = sub.choices["inspect"]
    add_timeline_args(p.add_argument_group("a run's timeline: the model at each step it kept"))

    def run(args):
        return run_timeline(args) if args.run_folder else inspect_command.run(args)
    p.set_defaults(run=run)


def add_timeline_args(p):
    p.add_argument("--run", dest="run_folder", default=None,
                   help="a run folder: show the view for the model at each step the run kept (its snapshots/)")
    p.add_argument("--steps", default="all",
                   help="with --run: all (default), or steps separated by commas, e.g. 0,100,400")


def chosen_steps(text: str, have: list[int]) -> list[int]:
    if text.strip().lower() == "all":
        return have
    try:
        wanted = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise PocketLLMError("--steps takes all, or whole numbers separated by commas (got {got}).",
                             code="inspect.bad_steps", got=text) from None
    missing = [s for s in wanted if s not in have]
    if missing:
        raise PocketLLMError("This run has no snapshot of step {step}; it has steps {steps}.",
                             code="snapshots.no_step", step=missing[0],
                             steps=", ".join(map(str, have)) or "(none)")
    return wanted


def run_timeline(args) -> int:
    from .. import inspect as look
    from ..jobs import read_run
    from ..probes import timeline
    from ..training.snapshots import load_snapshot, snapshot_steps
    from .inspect import percent, table, tail
    from ._common import sampling_from_args
    run_dir = Path(args.run_folder)
    if not run_dir.is_dir():
        raise PocketLLMError("Run folder not found: {path}.", code="compare.not_found", path=str(run_dir))
    what = TIMELINE_VIEWS[0] if args.what == "all" else args.what
    if what not in TIMELINE_VIEWS:
        raise PocketLLMError("With --run, --what is one of {views} (got {what}).", code="inspect.timeline_view",
                             views=", ".join(TIMELINE_VIEWS), what=what)
    view = read_run(run_dir)
    steps = chosen_steps(args.steps, snapshot_steps(run_dir))
    if not steps:
        load_snapshot(run_dir, 0)  # says why there are none
    prompt = args.prompt
    if prompt is None:  # the run's first held-out prompt, else its sample prompt
        shown = next((p["prompts"][0]["prompt"] for p in view.probes if p.get("prompts")), None)
        prompt = shown if shown is not None else view.settings.get("sample_prompt") or ""
    sampling = sampling_from_args(args)
    top = max(1, min(args.top, 8))
    rows = []
    for step in steps:
        ckpt = load_snapshot(run_dir, step)
        res = look.next_token(ckpt, prompt, sampling, n=top)
        rows.append([str(step), f"{ckpt.facts.get('tokens_seen', 0):,}"]
                    + [f"{c.label} {percent(c.prob)}" for c in res.candidates]
                    + [f"{res.entropy:.2f}"])
    print(f"== next token after {tail(prompt, 40)!r}, at each step the run kept ({run_dir.name}) ==")
    print(table(["step", "tokens seen"] + [f"#{i}" for i in range(1, top + 1)] + ["entropy (bits)"], rows,
                ">>" + "<" * top + ">"))
    points = timeline(view.events)
    if points:
        print("\n== probes at each evaluation: held-out bits/char; loss on random tokens seen once, then again "
              "(an induction head makes the second much lower); best induction score ==")
        body = [[str(p["step"]), _num(p["val_bits_per_char"], ".3f"), _num(p["loss_first"], ".3f"),
                 _num(p["loss_second"], ".3f"), _num(p["best_induction"], ".3f"), _num(p["entropy"], ".2f")]
                for p in points]
        print(table(["step", "val bits/char", "loss 1st", "loss 2nd", "induction", "entropy"], body))
        from ..probes import PHASE_INDUCTION, phase_change
        change = phase_change(view.probes)
        if change:
            print(f"\nthe repeated-text loss fell to half the first time's at step {change['step']} "
                  f"({change['loss_first']:.2f} → {change['loss_second']:.2f} nats): induction heads formed.")
        else:
            print("\nno phase change: the repeated-text loss never halved together with an induction head "
                  f"scoring {PHASE_INDUCTION} or more — no induction head formed in this run (a longer run, or more "
                  "layers, is needed).")
    return 0


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)
