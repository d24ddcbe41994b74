"""Snapshots along a run: the model kept at a few log-spaced steps, to watch it learn.

A run that keeps snapshots writes, into `<run>/snapshots/`:

- `header.json` once: the model's config, its task, its tokenizer, the plan and the cap;
- `step-000050.safetensors` at each planned step: the weights alone, in bfloat16 (half the
  bytes of float32; the views a snapshot feeds — next token, attention, logit lens — do not
  need more).  The safetensors header holds only the step and the tokens seen.

The planned steps are 0, 10, 20, 50, 100, then doubling (200, 400, 800, ...), and the last
step: early steps are where the model changes most.  The plan is capped by count and by
bytes (`MAX_COUNT`, `MAX_BYTES`): when it would hold more, the middle steps are thinned
evenly and the first and last kept; whatever happens, no snapshot is written that would
take the folder past either cap.  Snapshots are on by default for models of at most
`AUTO_MAX_PARAMETERS` parameters (`TrainSettings.snapshots=None`), and can be forced on or
off.  They live in the run folder, so deleting the run deletes them.

    load_snapshot(run_dir, 50)   # a Checkpoint, float32, ready for pocketllm.inspect
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import PocketLLMError
from ..files import JSON_DEPTH_LIMIT, atomic_write, json_depth, write_json_atomic

SNAPSHOT_DIR = "snapshots"
HEADER_FILE = "header.json"
FORMAT = "pocketllm-snapshots-1"
AUTO_MAX_PARAMETERS = 50_000_000   # snapshots on by default up to this many parameters
MAX_COUNT = 16                      # snapshots per run at most ...
MAX_BYTES = 512 * 2**20             # ... and bytes of them at most (a 50 M model: 100 MB each)
EARLY_STEPS = (0, 10, 20, 50, 100)  # then doubling
SNAPSHOT_DTYPE = torch.bfloat16
HEADER_CHARS = 32 * 2**20           # header.json holds a trained tokenizer: a few MB at most
_NAME = re.compile(r"^step-(\d{6,10})\.safetensors$")


def snapshot_name(step: int) -> str:
    return f"step-{step:06d}.safetensors"


def log_spaced_steps(total: int) -> list[int]:
    """0, 10, 20, 50, 100, 200, 400, ... below `total`, and `total` itself."""
    steps, k = [], 0
    while True:
        step = EARLY_STEPS[k] if k < len(EARLY_STEPS) else EARLY_STEPS[-1] * 2 ** (k - len(EARLY_STEPS) + 1)
        if step >= total:
            break
        steps.append(step)
        k += 1
    return steps + [total]


def snapshot_bytes(model) -> int:
    """The bytes of one snapshot of `model` (its weights in bfloat16; a tied head once)."""
    return sum(t.numel() * (2 if t.is_floating_point() else t.element_size())
               for t in _tensors_to_keep(model, convert=False).values())


def plan_steps(total: int, bytes_each: int, max_count: int = MAX_COUNT, max_bytes: int = MAX_BYTES) -> list[int]:
    """The log-spaced steps of a run of `total` steps, thinned to fit the cap (first and last kept)."""
    steps = log_spaced_steps(total)
    fits = min(max_count, max_bytes // max(1, bytes_each))
    if fits >= len(steps):
        return steps
    if fits <= 0:
        return []
    if fits == 1:
        return [steps[-1]]
    picks = sorted({round(i * (len(steps) - 1) / (fits - 1)) for i in range(fits)})
    return [steps[i] for i in picks]


def wanted(setting: bool | None, parameters: int) -> bool:
    """Keep snapshots?  The setting when given; else only for small models."""
    return bool(setting) if setting is not None else parameters <= AUTO_MAX_PARAMETERS


@dataclass
class SnapshotPlan:
    """What a run keeps: steps, one snapshot's bytes, the cap."""
    steps: list[int]
    bytes_each: int
    max_count: int = MAX_COUNT
    max_bytes: int = MAX_BYTES

    def describe(self) -> str:
        """One line for a log: the steps, the size, and the cap."""
        if not self.steps:
            return (f"snapshots: none (one takes {self.bytes_each / 2**20:.1f} MB, more than the cap of "
                    f"{self.max_bytes / 2**20:.0f} MB)")
        return (f"snapshots at steps {', '.join(map(str, self.steps))}: {self.bytes_each / 2**20:.1f} MB each, "
                f"{len(self.steps) * self.bytes_each / 2**20:.1f} MB in all (cap: {self.max_count} files, "
                f"{self.max_bytes / 2**20:.0f} MB)")


class SnapshotWriter:
    """Writes a run's snapshots at the planned steps, never past the cap."""

    def __init__(self, run_dir, model, total_steps: int | None, task: dict, tokenizer=None,
                 max_count: int = MAX_COUNT, max_bytes: int = MAX_BYTES):
        self.folder = Path(run_dir) / SNAPSHOT_DIR
        bytes_each = snapshot_bytes(model)
        if total_steps is None:  # a time budget: the log-spaced steps that fit, one place kept for the last
            fits = min(max_count, max_bytes // max(1, bytes_each)) - 1
            steps = log_spaced_steps(2 ** 31)[:max(0, fits)]
        else:
            steps = plan_steps(total_steps, bytes_each, max_count, max_bytes)
        self.plan = SnapshotPlan(steps, bytes_each, max_count, max_bytes)
        self._header = {"format": FORMAT, "config": model.cfg.to_dict(), "task": task,
                        "tokenizer": tokenizer.to_spec() if tokenizer is not None else None,  # None: read as GPT-2
                        "dtype": str(SNAPSHOT_DTYPE).removeprefix("torch."), "planned": self.plan.steps,
                        "bytes_each": self.plan.bytes_each,
                        "cap": {"count": max_count, "bytes": max_bytes}}
        self._header_written = False

    def due(self, step: int, last: bool = False) -> bool:
        """Is `step` planned (or the last step of the run) and not yet kept?"""
        return (step in self.plan.steps or last) and not (self.folder / snapshot_name(step)).is_file()

    def write(self, model, step: int, tokens_seen: int, last: bool = False) -> dict | None:
        """Keep the model of `step` if it is planned (or the last) and fits the cap: {"step", "path", "bytes"}
        or None."""
        if not self.due(step, last):
            return None
        have = existing_snapshots(self.folder.parent)
        used = sum(p.stat().st_size for _, p in have)
        if len(have) + 1 > self.plan.max_count or used + self.plan.bytes_each > self.plan.max_bytes:
            return None  # e.g. a resumed run with a longer plan: the cap holds
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._header_written:
            write_json_atomic(self.folder / HEADER_FILE, self._header)
            self._header_written = True
        tensors = _tensors_to_keep(model, convert=True)
        path = self.folder / snapshot_name(step)
        meta = {"pocketllm_snapshot": FORMAT, "step": str(step), "tokens_seen": str(tokens_seen)}
        atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
        return {"step": step, "path": str(path), "bytes": path.stat().st_size}


def _tensors_to_keep(model, convert: bool) -> dict:
    out = {}
    tied = getattr(model, "is_tied", False)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name == "out_head.weight" and tied:
                continue  # the same tensor as tok_emb.weight
            if convert:
                tensor = tensor.detach().to("cpu")
                if tensor.is_floating_point():
                    tensor = tensor.to(SNAPSHOT_DTYPE)
                tensor = tensor.contiguous()
            out[name] = tensor
    return out


# ---- reading ------------------------------------------------------------------------

def existing_snapshots(run_dir) -> list[tuple[int, Path]]:
    """(step, path) of every snapshot in the run folder, by step."""
    folder = Path(run_dir) / SNAPSHOT_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def snapshot_steps(run_dir) -> list[int]:
    return [step for step, _ in existing_snapshots(run_dir)]


def read_snapshot_header(run_dir) -> dict:
    """The run's header.json (config, task, tokenizer spec, plan, cap), checked before it is parsed."""
    path = Path(run_dir) / SNAPSHOT_DIR / HEADER_FILE
    if not path.is_file():
        raise PocketLLMError("{path} is missing: this run kept no snapshots (they are on by default for models "
                             "of up to {limit:,} parameters; --snapshots turns them on).",
                             code="snapshots.none", path=str(path), limit=AUTO_MAX_PARAMETERS)
    if path.stat().st_size > HEADER_CHARS:
        raise PocketLLMError("{path} is damaged.", code="snapshots.damaged", path=str(path))
    text = path.read_text(encoding="utf-8")
    try:
        if json_depth(text) > JSON_DEPTH_LIMIT:
            raise ValueError("nests too deep")
        header = json.loads(text)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError("not a snapshots header")
    except ValueError:
        raise PocketLLMError("{path} is damaged.", code="snapshots.damaged", path=str(path)) from None
    return header


def load_snapshot(run_dir, step: int, device="cpu"):
    """The model of `step` as a Checkpoint (float32, eval mode), with the run's tokenizer and task."""
    from ..checkpoint import Checkpoint, build_model, check_shapes, check_tokenizer_fits
    from ..config import ModelConfig
    from ..tokenizer import tokenizer_from_spec
    header = read_snapshot_header(run_dir)
    found = dict(existing_snapshots(run_dir))
    if step not in found:
        raise PocketLLMError("This run has no snapshot of step {step}; it has steps {steps}.",
                             code="snapshots.no_step", step=step,
                             steps=", ".join(map(str, sorted(found))) or "(none)")
    path = found[step]
    config = ModelConfig.from_dict(header["config"], source=f"{path.parent.name}/{HEADER_FILE}")
    tokenizer = tokenizer_from_spec(header.get("tokenizer") or {"kind": "gpt2"})
    if header.get("tokenizer"):  # as a checkpoint without one: a bare model, read as GPT-2
        check_tokenizer_fits(tokenizer, config, path.name)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            check_shapes(config, {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}, path.name)
            tensors = {k: f.get_tensor(k).float() if f.get_slice(k).get_dtype() in ("BF16", "F16", "F32")
                       else f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise PocketLLMError("{name} could not be read ({detail}); it may be truncated.",
                             code="snapshots.unreadable", name=path.name, detail=str(exc)) from None
    task = header.get("task") or {"type": "pretrain"}
    model = build_model(config, tensors, task, source=path.name)
    model.to(device).eval()
    facts = {"steps": step, "tokens_seen": int(meta.get("tokens_seen", 0) or 0), "snapshot": True}
    return Checkpoint(model, config, task, facts, path=path, source="pocketllm-snapshot", tokenizer=tokenizer)


def snapshots_size(run_dir) -> int:
    return sum(p.stat().st_size for _, p in existing_snapshots(run_dir))


def describe_snapshots(run_dir) -> str:
    have = existing_snapshots(run_dir)
    if not have:
        return "no snapshots"
    return (f"{len(have)} snapshots (steps {', '.join(str(s) for s, _ in have)}), "
            f"{snapshots_size(run_dir) / 2**20:.1f} MB")


__all__ = ["SNAPSHOT_DIR", "AUTO_MAX_PARAMETERS", "MAX_COUNT", "MAX_BYTES", "SnapshotPlan", "SnapshotWriter",
           "log_spaced_steps", "plan_steps", "snapshot_bytes", "wanted", "existing_snapshots", "snapshot_steps",
           "read_snapshot_header", "load_snapshot", "describe_snapshots", "snapshots_size", "snapshot_name"]
