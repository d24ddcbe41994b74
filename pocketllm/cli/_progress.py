"""Turning training events into a terminal progress bar (tqdm) and log lines."""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

from tqdm import tqdm


# Ctrl-C, and what `timeout`, `kill`, `docker stop` (SIGTERM) and a closed terminal (SIGHUP) send.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextmanager
def ctrl_c_stops(stop_event: threading.Event):
    """The first Ctrl-C, SIGTERM or SIGHUP asks the loop to finish its step, save and stop;
    a second one aborts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def restore():
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def handler(signum, _frame):
        if stop_event.is_set():
            restore()
            raise KeyboardInterrupt
        stop_event.set()
        if signum == getattr(signal, "SIGHUP", None):
            _detach_from_closed_terminal()
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        try:
            tqdm.write(f"{name}: stopping after this step and saving a checkpoint (Ctrl-C again to abort)...")
        except (OSError, ValueError):
            pass  # nowhere to say it

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        restore()


def _detach_from_closed_terminal():
    """After a hang-up, writing to the terminal fails: send what would go there to /dev/null
    (output redirected to a file keeps going there), so the run can still save."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    for fd in (1, 2):
        try:
            if os.isatty(fd):
                os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)


def follow(events, quiet: bool = False, silent: bool = False) -> dict:
    """Consume a Trainer's events, drawing a bar; return the last end event as a dict.

    silent: print nothing at all (the other processes of a torchrun job).
    """
    bar = None
    end = {}
    for event in events:
        d = event.to_dict()
        kind = d["kind"]
        if silent:
            end = d if kind in ("finished", "stopped", "failed") else end
            continue
        if kind == "started":
            bar = tqdm(total=d["total_steps"], initial=d["start_step"], unit="step", disable=quiet,
                       dynamic_ncols=True, file=sys.stderr)
            where = d["device"] + (f", {d['threads']} threads" if d["device"] == "cpu" and d.get("threads") else "")
            plan = (f"{d['total_steps']} steps" if d.get("total_steps") is not None
                    else f"{(d.get('budget_s') or 0) / 60:g} minutes of training"
                    + (f" or {d['step_cap']:,} steps, whichever comes first" if d.get("step_cap") else ""))
            tqdm.write(f"training {d['parameters']:,} parameters on {where} ({d['dtype']}), "
                       f"{plan}, {d['tokens_per_step']:,} tokens per step"
                       + (f", {d['world_size']} processes" if d["world_size"] > 1 else ""))
        elif kind == "step" and bar is not None:
            bar.update(d["step"] - bar.n)
            extras = {k: f"{v:.3f}" for k, v in d["metrics"].items()}
            bar.set_postfix(loss=f"{d['train_loss']:.3f}", tok_s=f"{d['tokens_per_s']:,.0f}",
                            lr=f"{d['lr']:.1e}", **extras, refresh=False)
        elif kind == "eval":
            parts = [f"{split} {k} {v:.2%}" if k == "accuracy" else f"{split} {k} {v:.4f}"
                     for split in ("train", "val") for k, v in d[split].items() if k in ("loss", "accuracy")]
            if d.get("val_bits_per_char") is not None:  # comparable across tokenizers
                parts.append(f"val bits/char {d['val_bits_per_char']:.3f}")
            tqdm.write(f"step {d['step']:>5}  " + "  ".join(parts))
        elif kind == "sample":
            tqdm.write(f"step {d['step']:>5}  sample: {d['prompt']}{d['text']}".replace("\n", " ⏎ "))
        elif kind == "checkpoint":
            tqdm.write(f"step {d['step']:>5}  saved {d['path']}")
        elif kind in ("finished", "stopped", "failed"):
            end = d
    if bar is not None:
        bar.close()
    return end
