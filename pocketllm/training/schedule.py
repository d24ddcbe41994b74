"""Learning-rate schedules: how the rate moves from the first step to the last.

- "cosine" (the classic recipe): linear warm-up, then a cosine decay to a floor.  Warm-up keeps the
  first, noisy updates small while Adam's statistics settle; the cosine lets the rate fall smoothly
  so the end of training fine-tunes.
- "wsd" (warm-up, stable, decay; the speedruns' choice): linear warm-up, then the peak rate for
  most of the run, then a straight line down to the floor over the last `cooldown` share.  Most of
  the progress is made at the high rate; the cooldown at the end is what settles the loss.

A run is planned in steps, or on a time budget (`--max_minutes`): then the position in the run is the
share of the budget spent, and the same curves are drawn over it (in thousandths: `BUDGET_UNITS`).
"""
import math

SCHEDULES = ("cosine", "wsd")
BUDGET_UNITS = 1000  # a time-budget run is planned as if it had this many "steps" of equal time


def learning_rate(step: int, total_steps: int, max_lr: float, warmup_steps: int,
                  min_lr: float, kind: str = "cosine", cooldown: float = 0.5) -> float:
    """The rate for optimizer step `step` (0-based) of `total_steps`."""
    if warmup_steps > 0 and step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if kind == "wsd":
        decay_steps = max(1.0, cooldown * (total_steps - warmup_steps))
        left = total_steps - 1 - step  # steps after this one: 0 at the last step, which gets the floor
        return min_lr + (max_lr - min_lr) * min(1.0, max(0.0, left / decay_steps))
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))
