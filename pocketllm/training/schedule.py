"""Learning-rate schedule: linear warm-up, then cosine decay to a floor.

Warm-up keeps the first, noisy updates small while Adam's statistics settle;
the cosine lets the rate fall smoothly so the end of training fine-tunes.
"""
import math


def learning_rate(step: int, total_steps: int, max_lr: float, warmup_steps: int,
                  min_lr: float) -> float:
    """The rate for optimizer step `step` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))
