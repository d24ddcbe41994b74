"""Where and in what precision to train: CUDA, Apple MPS or CPU; bf16 where it pays."""
from __future__ import annotations

import os
import time
from contextlib import nullcontext

import torch

from ..errors import PocketLLMError


def pick_device(name: str | None = None) -> torch.device:
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PocketLLMError("Unknown device {name}; use auto, cpu, cuda, cuda:N or mps.",
                             code="train.unknown_device", name=repr(name)) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PocketLLMError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu.",
                             code="train.no_cuda")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise PocketLLMError("--device mps was asked for, but Apple MPS is not available; use --device cpu.",
                             code="train.no_mps")
    return device


def cpu_has_fast_bf16() -> bool:
    """AVX512-BF16 or AMX: the CPU multiplies bf16 natively (oneDNN uses it)."""
    cpu = getattr(torch.backends, "cpu", None)
    capability = cpu.get_cpu_capability() if cpu else ""
    flags = ""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read(1 << 16)
    except OSError:
        pass
    return "avx512_bf16" in flags or "amx_bf16" in flags or "AMX" in capability


DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
          "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


def pick_dtype(name: str | None, device: torch.device) -> torch.dtype:
    """The autocast precision: bf16 where the hardware has it, else fp32."""
    if name in (None, "", "auto"):
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if device.type == "cpu" and cpu_has_fast_bf16():
            return torch.bfloat16
        return torch.float32
    if name not in DTYPES:
        raise PocketLLMError("Unknown dtype {name}; use auto, fp32, bf16 or fp16.", code="train.unknown_dtype",
                             name=repr(name))
    dtype = DTYPES[name]
    if dtype == torch.float16 and device.type == "cpu":
        raise PocketLLMError("fp16 training needs a GPU; on the CPU use bf16 or fp32.", code="train.fp16_on_cpu")
    return dtype


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed precision: weights stay fp32, matmuls run in `dtype`."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def busy_cores(seconds: float = 0.25) -> float | None:
    """How many cores other programs keep busy right now (Linux; None elsewhere).

    Sampled from /proc/stat while this process sleeps, so our own work does not count.
    """
    def read():
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:9]]
        return sum(values), values[3] + values[4]  # all, idle + iowait
    try:
        total0, idle0 = read()
        time.sleep(seconds)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (1 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # respects taskset / container CPU sets
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def set_threads(world_size: int = 1, threads: int = 0) -> int:
    """Pick and set the CPU threads for this process; returns how many.

    PyTorch's thread team waits at the end of every operation for its slowest
    member.  When another program already keeps a core busy, a thread placed
    there is descheduled and the whole team waits: on a 2-core machine with
    one core taken, 2 threads train 2× slower than 1.  So by default we leave
    out the cores that other programs are using when training starts.
    """
    if threads > 0:
        torch.set_num_threads(threads)
        return threads
    cores = usable_cores()
    share = max(1, cores // max(1, world_size))
    if world_size == 1 and cores > 1:
        busy = busy_cores()
        if busy is not None:
            share = max(1, min(share, round(cores - busy)))
    torch.set_num_threads(share)
    return share


def available_memory(device: torch.device) -> int | None:
    """Bytes this process could still use on `device` (None when it cannot be told)."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(config, batch_size: int, seq_len: int, device: torch.device,
                         already_allocated: bool = False):
    """Refuse, before allocating, a model and batch whose estimate exceeds the free memory."""
    free = available_memory(device)
    if free is None:
        return
    need = config.training_memory(batch_size, seq_len)
    total = need["total"] - (need["weights"] if already_allocated else 0)
    if total > free:
        gb = 1 << 30
        raise PocketLLMError(
            "Training this model would need about {total_gb} GB (weights, gradients and optimizer "
            "{states_gb} GB, activations for batch {batch_size} × {seq_len} tokens {activations_gb} GB) "
            "but only {free_gb} GB is free on {device}. Lower --batch_size or --context_length, or choose a "
            "smaller model (fewer layers, a narrower width).", code="train.out_of_memory_estimate",
            total_gb=f"{total / gb:.1f}", states_gb=f"{need['states'] / gb:.1f}", batch_size=batch_size,
            seq_len=seq_len, activations_gb=f"{need['activations'] / gb:.1f}", free_gb=f"{free / gb:.1f}",
            device=device.type)


class ThreadTuner:
    """Re-choose the CPU thread count while training, by timing steps (threads=0, one process).

    The count picked at the start (`set_threads`) is right only while the machine stays as it was:
    a neighbour that wakes later takes a core, and a team of 2 threads then waits at every operation
    for its descheduled member (measured 2026-12-05 on 2 shared cores: 4.8 s a step on 2 threads,
    6× slower than the same run on 1).  So every `every_s` seconds of training the tuner tries each
    other count for `trial_steps` steps and keeps the count with the lowest median time per token.
    What a trial can lose is bounded: `trial_steps` slow steps per `every_s` seconds, and less while
    trials keep confirming the count (the wait between them doubles, up to 4 × `every_s`).
    """

    def __init__(self, start: int, cores: int, every_s: float = 30.0, trial_steps: int = 3,
                 set_count=torch.set_num_threads):
        self.options = list(range(1, cores + 1)) if cores <= 4 else sorted({max(1, cores // 2), cores})
        self.current, self.best = start, start
        self.every_s, self.trial_steps, self.set_count = every_s, trial_steps, set_count
        self.times: dict[int, list[float]] = {}   # threads -> recent seconds per token
        self.since_trial, self.wait = 0.0, every_s
        self.trial: list[int] = []                # counts still to try in this round
        self.changes = 0

    def after_step(self, seconds: float, tokens: int) -> int:
        """Record a step's time; returns the thread count for the next step (and sets it)."""
        per_token = seconds / max(1, tokens)
        recent = self.times.setdefault(self.current, [])
        recent.append(per_token)
        del recent[:-self.trial_steps]
        self.since_trial += seconds
        if self.trial and len(recent) >= self.trial_steps:  # this count's trial is done
            self.trial.pop(0)
            if self.trial:
                self._use(self.trial[0])
            else:  # the round is over: the fastest count, and the time to the next round
                before = self.best
                self._use(self._fastest())
                self.wait = self.every_s if self.best != before else min(4 * self.every_s, 2 * self.wait)
                self.since_trial = 0.0
        elif not self.trial and self.since_trial >= self.wait and len(self.options) > 1:
            self.since_trial = 0.0
            self.trial = [n for n in self.options if n != self.current]
            for n in self.trial:
                self.times[n] = []
            self._use(self.trial[0])
        return self.current

    def _fastest(self) -> int:
        medians = {n: sorted(t)[len(t) // 2] for n, t in self.times.items() if t}
        best = min(medians, key=medians.get)
        if best != self.best:
            self.changes += 1
            self.best = best
        return best

    def _use(self, count: int):
        if count != self.current:
            self.current = count
            self.set_count(count)
