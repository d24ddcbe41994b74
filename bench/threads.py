"""Threads on a shared CPU: what the Trainer's thread tuner (threads left to it) gains when a neighbour wakes.

    python bench/threads.py                       # the default run's recipe, 1 minute each, 2 rounds
    python bench/threads.py --minutes 2 --repeats 3

Each round trains the default recipe (`python -m pocketllm pretrain`, no evaluations or samples) for the
same minutes of step time three ways — threads left to the Trainer (`--threads 0`: picked from the load at
the start, then re-chosen by timing steps), and pinned to all cores and to one — in turn, the order
alternating between rounds.  A third of the way into each run a neighbour wakes: a busy loop on one core
for the rest of the run (what another program on a laptop does).  Reported: tokens trained in the budget
(medians over rounds) and their ratio to the best and the worst pinned count.  The tuner should never
lose more than it could gain: close to the best pinned count, far above the worst.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUSY = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    pass\n"


def one_run(threads: int, minutes: float, out: Path, neighbour_after: float) -> dict:
    run_dir = out / f"threads{threads}-{time.strftime('%H%M%S')}"
    cmd = [sys.executable, "-m", "pocketllm", "pretrain", "--max_minutes", str(minutes), "--threads", str(threads),
           "--eval_every", "1000000000", "--eval_batches", "1", "--sample_every", "0", "--no-snapshots",
           "--run_dir", str(run_dir), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    neighbour = []

    def wake():  # once the run has started training: a busy core for the rest of it
        events = run_dir / "events.jsonl"
        while proc.poll() is None and not (events.is_file() and '"kind": "step"' in events.read_text()):
            time.sleep(0.2)
        time.sleep(neighbour_after)
        if proc.poll() is None:
            neighbour.append(subprocess.Popen([sys.executable, "-c", BUSY.format(s=minutes * 60 * 2)]))
    waker = threading.Thread(target=wake, daemon=True)
    waker.start()
    _, err = proc.communicate()
    waker.join(5)
    for n in neighbour:
        n.kill()
    if proc.returncode != 0:
        return {"threads": threads, "error": err[-600:]}
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    steps = [e for e in events if e["kind"] == "step"]
    started = next(e for e in events if e["kind"] == "started")
    return {"threads": threads, "tokens": steps[-1]["tokens_seen"], "steps": steps[-1]["step"],
            "start_threads": started.get("threads"), "neighbour": bool(neighbour)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    out = Path(a.out or tempfile.mkdtemp(prefix="pocketllm-threads-"))
    cores = len(os.sched_getaffinity(0))
    modes = [0, cores, 1]
    print(f"{cores} cores, load {os.getloadavg()[0]:.2f}; {a.minutes:g} min each, neighbour after "
          f"{a.minutes * 20:g} s", flush=True)
    results = []
    for rep in range(a.repeats):
        for threads in (modes if rep % 2 == 0 else modes[::-1]):
            r = one_run(threads, a.minutes, out, neighbour_after=a.minutes * 60 / 3)
            print(json.dumps(r), flush=True)
            results.append(r)
    med = {m: statistics.median([r["tokens"] for r in results if r["threads"] == m and "tokens" in r] or [0])
           for m in modes}
    pinned = [m for m in modes if m != 0]
    best, worst = max(med[m] for m in pinned), min(med[m] for m in pinned)
    print("\n| threads | tokens trained (median) | vs best pinned | vs worst pinned |\n|---|---|---|---|")
    for m in modes:
        name = "left to the Trainer (0)" if m == 0 else f"pinned to {m}"
        print(f"| {name} | {med[m]:,.0f} | {med[m] / best:.2f}× | {med[m] / worst:.2f}× |")


if __name__ == "__main__":
    main()
