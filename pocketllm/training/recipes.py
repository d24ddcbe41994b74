"""Recipes: named sets of pretraining choices, each measured against `classic` (bench/speedrun.py).

A recipe is only a starting point for the settings: `--recipe NAME` fills every field it names, and a
flag given on the command line (or a box changed on the page) still wins.  The settings object that
results is the whole truth of the run (run.json, "the same run as a command line").

`classic` is the default run as it was before any recipe existed — GPT-2 blocks, AdamW at 1e-3 with
warm-up and a cosine to a tenth, 400 steps of 8 × 256 tokens — and stays, forever, the baseline that
every other recipe is measured against.  The default recipe is the one that wins by measurement:
`speedrun` (PretrainSettings() starts from it; tests hold the two together).

A recipe on a time budget also names a number of steps: the run ends at whichever comes first
(`Trainer.step_cap`), so a quick look with a few steps stays a few steps.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass


@dataclass(frozen=True)
class Recipe:
    name: str
    about: str                                   # one sentence: what it changes and why
    choices: dict = field(default_factory=dict)  # settings field -> value (pretraining or training fields)
    # Steps a minute on one core of the bench machine (bench/speedrun.py, 2026-12-05): spaces a race's
    # evaluations so that each recipe is evaluated about as often in time.
    steps_per_minute: float = 100.0


# Far more steps than two minutes reach on a laptop (about 1,600 on one core here): the clock ends a speedrun.
SPEEDRUN_STEP_CAP = 10_000

RECIPES = {
    "classic": Recipe(
        "classic", "GPT-2 blocks, AdamW at 1e-3, 5 % warm-up then a cosine to 1e-4, 400 steps: the baseline.",
        {"config": "cpu-small", "arch": None, "context_length": None, "vocab_size": 8000, "dropout": None,
         "zero_init": False, "optimizer": "adamw", "lr": 1e-3, "schedule": "cosine", "cooldown": 0.5,
         "min_lr_ratio": 0.1, "warmup_steps": None, "weight_decay": 0.1, "max_steps": 400, "max_minutes": 0.0,
         "batch_size": 8, "eval_every": 100, "sample_every": 100}, steps_per_minute=111),
    # The best of bench/speedrun.py's candidates at 2 minutes of one core (2026-12-05, bench/README.md), and one
    # that keeps the 256-token context the rest of the default path reads (Instruct's template and turns, Classify's
    # messages): on a CPU a step is expensive, so the smaller preset's many more steps beat cpu-small's width;
    # cpu-tiny's output head is most of its work, so a 4,000-token vocabulary buys steps; 4 windows a step keep
    # the step as cheap as 8 windows of 128; Qwen3's blocks (RoPE, RMSNorm, SwiGLU, QK-norm) learn more per step;
    # the flat rate with a final cooldown ends on the budget.  Muon bought less than its Newton–Schulz steps cost.
    # Its model is a preset of its own (configs/cpu-tiny-qwen3.json: cpu-tiny --arch qwen3 --context_length 256),
    # so that naming another preset gives that preset's own model, family and context.  Its cheap steps are
    # evaluated and sampled every 200 (every 100: 15 % of the run's wall time went to them; now ~8 %).
    "speedrun": Recipe(
        "speedrun", "cpu-tiny with Qwen3's blocks at a 256-token context, 4 windows a step, a 4,000-token bpe, AdamW "
                    "at 1e-3, warm-up, flat, linear cooldown, 2 minutes: 10.5 % fewer held-out bits/char than "
                    "classic in the same time on the Chinese classics, 6.5 % on Shakespeare (medians of 2 runs).",
        {"config": "cpu-tiny-qwen3", "arch": None, "context_length": None, "vocab_size": 4000, "dropout": None,
         "zero_init": False, "optimizer": "adamw", "lr": 1e-3, "schedule": "wsd", "cooldown": 0.5,
         "min_lr_ratio": 0.1, "warmup_steps": None, "weight_decay": 0.1, "max_steps": SPEEDRUN_STEP_CAP,
         "max_minutes": 2.0, "batch_size": 4, "eval_every": 200, "sample_every": 200}, steps_per_minute=800),
}
DEFAULT_RECIPE = "speedrun"
# What a recipe says about a fresh model; a run that continues one (--resume, --init_from) keeps the model's.
FRESH_MODEL_FIELDS = frozenset({"config", "arch", "context_length", "vocab_size", "dropout", "zero_init"})


def recipe(name: str) -> Recipe:
    from ..errors import PocketLLMError
    if name not in RECIPES:
        raise PocketLLMError("Unknown recipe {name}; the recipes are {choices}.", code="train.bad_recipe",
                             name=repr(name), choices=", ".join(RECIPES))
    return RECIPES[name]


def apply_recipe(settings, name: str, keep: set | frozenset = frozenset()):
    """Set every field the recipe names on `settings` (and its nested `.train`), except those in `keep`
    (the ones the user gave).  Returns `settings`."""
    for key, value in recipe(name).choices.items():
        if key in keep:
            continue
        target = settings if _has_field(settings, key) else getattr(settings, "train", None)
        if target is None or not _has_field(target, key):
            raise KeyError(f"recipe {name} names {key}, which {type(settings).__name__} has not")
        setattr(target, key, value)
    return settings


# What a run may change and still be "that recipe": its length and how often it is looked at.
_NOT_THE_RECIPE = frozenset({"max_steps", "max_minutes", "eval_every", "sample_every"})


def recipe_of(settings) -> str | None:
    """The recipe whose choices the settings keep (a flag given beside a recipe makes them nobody's), or None."""
    for r in RECIPES.values():
        if all(getattr(settings if _has_field(settings, k) else settings.train, k) == v
               for k, v in r.choices.items() if k not in _NOT_THE_RECIPE):
            return r.name
    return None


def _has_field(obj, name: str) -> bool:
    return is_dataclass(obj) and name in {f.name for f in fields(obj)}
